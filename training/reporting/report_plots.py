"""The report's figures, each returned as a base64 PNG so the HTML needs no other file.

Figures are drawn off screen (matplotlib picks a file-only backend when there is no display) and
closed as soon as they are encoded.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap

from features.contract import JUDGEMENTS
from training.reporting.explain import Contributions

DPI = 80


def png(figure: plt.Figure) -> str:
    """The figure as base64 PNG text (for a ``data:`` URL); the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def explanation(c: Contributions, X: pd.DataFrame) -> shap.Explanation:
    """A ``shap.Explanation`` (log-odds) for shap's plotting functions."""
    return shap.Explanation(
        c.log_odds,
        base_values=np.full(len(X), c.base),
        data=X.to_numpy(dtype=float),
        feature_names=list(X.columns),
    )


def importance_heatmap(importance: pd.DataFrame) -> str:
    """Judgement × feature heat map of mean |SHAP| (log-odds), values printed in the cells."""
    wide = importance.pivot(index="judgement", columns="feature", values="mean_abs_shap")
    wide = wide.reindex([j for j in JUDGEMENTS if j in wide.index])
    wide = wide[wide.mean().sort_values(ascending=False).index]
    figure, ax = plt.subplots(figsize=(1.1 * wide.shape[1] + 3, 0.45 * wide.shape[0] + 1.5))
    image = ax.imshow(wide.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=40, ha="right")
    ax.set_yticks(range(wide.shape[0]), wide.index)
    threshold = np.nanmax(wide.to_numpy()) / 2
    for (i, j), value in np.ndenumerate(wide.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="black" if value > threshold else "white")  # fmt: skip
    figure.colorbar(image, ax=ax, label="mean |SHAP| (log-odds)")
    return png(figure)


def beeswarms(shap_values: dict[str, Contributions], X: pd.DataFrame, rows: np.ndarray) -> str:
    """SHAP summary (beeswarm) of every judgement model on the cases ``rows``, one panel each."""
    figure, axes = plt.subplots(4, 3, figsize=(16, 17))
    for ax, judgement in zip(axes.ravel(), JUDGEMENTS, strict=True):
        if judgement not in shap_values:
            ax.set_axis_off()
            ax.set_title(f"{judgement}: not trained")
            continue
        shap.plots.beeswarm(
            explanation(shap_values[judgement], X)[rows],
            ax=ax,
            show=False,
            plot_size=None,
            max_display=len(X.columns),
            color_bar=False,
            s=6,
        )
        ax.set_title(judgement)
        ax.set_xlabel("SHAP value (log-odds)")
    figure.tight_layout(rect=(0, 0, 0.95, 1))
    bar = figure.colorbar(
        plt.cm.ScalarMappable(cmap=shap.plots.colors.red_blue), ax=axes, fraction=0.015, pad=0.01
    )
    bar.set_ticks([0, 1], labels=["low", "high"])
    bar.set_label("feature value (categories in their contract order)")
    return png(figure)


def reliability(curves: dict[str, pd.DataFrame]) -> str:
    """Reliability curves (observed against predicted, per probability bin) of each judgement."""
    figure, axes = plt.subplots(3, 4, figsize=(16, 11), sharex=True, sharey=True)
    for ax, judgement in zip(axes.ravel(), JUDGEMENTS, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle=":")
        curve = curves.get(judgement)
        if curve is not None and len(curve):
            size = 400 * curve["weight"] / curve["weight"].sum()
            ax.plot(curve["predicted"], curve["observed"], color="tab:blue")
            ax.scatter(curve["predicted"], curve["observed"], s=size + 5, color="tab:blue")
        ax.set_title(judgement, fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("predicted P(insufficient)")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed share insufficient")
    figure.tight_layout()
    return png(figure)


SVG_COLOURS = ("#8c8c8c", "#1f77b4", "#d62728", "#2ca02c")


def svg_bars(
    labels: list[str], series: dict[str, list[float]], title: str, percent: bool = True
) -> str:
    """Grouped bars (one group per label, one bar per series) as a small inline SVG with a key.

    For the drift report: store against batch shares per category or histogram bin.
    """
    width, height, left, bottom, top = 420, 150, 36, 34, 22
    top_value = max((max(v) for v in series.values() if len(v)), default=1.0) or 1.0
    slot = (width - left - 6) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    scale = (height - bottom - top) / top_value
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}"'
        f' role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="13" font-size="12" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 4}" font-size="9" text-anchor="end">'
        f"{_tick(top_value, percent)}</text>",
    ]
    for s, (name, values) in enumerate(series.items()):
        colour = SVG_COLOURS[s % len(SVG_COLOURS)]
        key_x = width - 150 + 75 * s
        parts.append(f'<rect x="{key_x}" y="4" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{key_x + 13}" y="13" font-size="10">{html.escape(name)}</text>')
        for i, value in enumerate(values):
            x = left + i * slot + slot * 0.1 + s * bar
            h = max(value, 0.0) * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{html.escape(name)} '
                f"{html.escape(labels[i])}: {_tick(value, percent)}</title></rect>"
            )
    step = max(1, round(len(labels) / 10))
    for i, label in enumerate(labels):
        if i % step == 0:
            x = left + (i + 0.5) * slot
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 12}" font-size="9" '
                f'text-anchor="middle">{html.escape(label[:12])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def svg_intervals(
    rows: list[tuple[str, float, float, float, bool]], title: str, reference: float | None = None
) -> str:
    """Point and 95% interval per row (label, value, low, high, flagged) as an inline SVG.

    One row per group, flagged rows in red, an optional dashed reference line.
    """
    width, row_height, left, right = 470, 18, 170, 60
    height = 30 + row_height * len(rows)
    finite = [v for r in rows for v in r[1:4] if np.isfinite(v)] + (
        [] if reference is None else [reference]
    )
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (high - low) or 1.0
    low, high = low - 0.05 * span, high + 0.05 * span

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * (width - left - right)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}"'
        f' role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="13" font-size="12" font-weight="bold">{html.escape(title)}</text>',
    ]
    if reference is not None:
        parts.append(
            f'<line x1="{x(reference):.1f}" y1="18" x2="{x(reference):.1f}" y2="{height}" '
            'stroke="#999" stroke-dasharray="3,3"/>'
        )
    for i, (label, value, lo, hi, flagged) in enumerate(rows):
        y = 28 + i * row_height
        colour = SVG_COLOURS[2] if flagged else SVG_COLOURS[1]
        parts.append(
            f'<text x="{left - 6}" y="{y + 4}" font-size="10" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
        if np.isfinite(lo) and np.isfinite(hi):
            parts.append(
                f'<line x1="{x(lo):.1f}" y1="{y}" x2="{x(hi):.1f}" y2="{y}" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        if np.isfinite(value):
            parts.append(
                f'<circle cx="{x(value):.1f}" cy="{y}" r="4" fill="{colour}"><title>'
                f"{html.escape(label)}: {value:.3f} [{lo:.3f}, {hi:.3f}]</title></circle>"
                f'<text x="{width - right + 6}" y="{y + 4}" font-size="10">{value:.3f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _tick(value: float, percent: bool) -> str:
    return f"{value:.0%}" if percent else f"{value:.3g}"
