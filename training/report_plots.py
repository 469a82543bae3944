"""The report's figures, each returned as a base64 PNG so the HTML needs no other file.

Figures are drawn off screen (matplotlib picks a file-only backend when there is no display) and
closed as soon as they are encoded.
"""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap

from features.contract import CATEGORIES, JUDGEMENTS
from features.pipeline import MODEL_FEATURES
from training.explain import Contributions

DPI = 80
DEPENDENCE_FEATURES = ("officer_caseload", "officer_changes", "rosh_level", "officer_grade")
_LEVELS = {f.name: CATEGORIES[f.name] for f in MODEL_FEATURES if f.name in CATEGORIES}


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
    figure.tight_layout()
    return png(figure)


def dependence(
    shap_values: dict[str, Contributions],
    X: pd.DataFrame,
    rows: np.ndarray,
    judgement_of: dict[str, str],
    turn: float | None,
) -> str:
    """Dependence plots of caseload, officer changes, RoSH and grade, coloured by the strongest
    interaction (shap's approximate interactions); each for the judgement it matters most to."""
    figure, axes = plt.subplots(2, 2, figsize=(14, 10))
    for ax, feature in zip(axes.ravel(), DEPENDENCE_FEATURES, strict=True):
        judgement = judgement_of[feature]
        values = explanation(shap_values[judgement], X)[rows]
        shap.plots.scatter(values[:, feature], color=values, ax=ax, show=False)
        ax.set_title(f"{feature} in {judgement}")
        ax.set_ylabel(f"SHAP value for {feature} (log-odds)")
        if feature in _LEVELS:
            ax.set_xticks(range(len(_LEVELS[feature])), _LEVELS[feature])
        elif feature == "officer_grade":
            ax.set_xticks([0, 1], ["PO", "PSO"])
        if feature == "officer_caseload" and turn is not None:
            ax.axvline(turn, color="black", linestyle="--", linewidth=1)
            ax.annotate(f"turns at ~{turn:.0f}", (turn, ax.get_ylim()[1]), ha="left", va="top")
    figure.tight_layout()
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
