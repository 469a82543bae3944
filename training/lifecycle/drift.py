"""Drift between the training store and a new batch: PSI per feature, risk and label prevalence.

Both sides are design-weighted (1/π where ``inclusion_probability`` is present), so a batch drawn
with casework's risk-weighted sampler from an unchanged caseload shows no drift: the weights undo
the tilt. Plain numpy is enough here (a drift library would add a heavy dependency for one number).

The table's ``attrs["distributions"]`` keeps, per feature and for the predicted risk, the
weighted shares of each category (categorical features) or histogram bin (numeric ones) on both
sides; ``drift_html`` draws them as bars. Label prevalence shifts carry a 95% interval from a
bootstrap that resamples officers on both sides.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, RISK_SCORE, has_verdict
from features.pipeline import CaseFeatures
from training.bundle import CaseworkModel
from training.reporting.report_plots import svg_bars
from training.trainer import design_weights

PSI_FLAG = 0.2
SHIFT_FLAG = 0.1
BINS = 10
HISTOGRAM_BINS = 12
N_BOOT = 200
EPSILON = 1e-4


def psi(
    expected: np.ndarray,
    actual: np.ndarray,
    w_expected: np.ndarray | None = None,
    w_actual: np.ndarray | None = None,
    categorical: bool = False,
) -> float:
    """Population stability index of ``actual`` against ``expected`` (weighted shares per bin).

    Numeric values are binned at the expected side's weighted deciles; categorical ones (or
    numerics with few distinct values) by value. Missing values form a bin of their own.
    """
    expected, actual = np.asarray(expected, float), np.asarray(actual, float)
    w_e = np.ones(len(expected)) if w_expected is None else np.asarray(w_expected, float)
    w_a = np.ones(len(actual)) if w_actual is None else np.asarray(w_actual, float)
    values = np.unique(expected[~np.isnan(expected)])
    if categorical or len(values) <= BINS:
        edges = (values[:-1] + values[1:]) / 2
    else:
        order = np.argsort(expected)
        cumulative = np.cumsum(w_e[order]) / w_e.sum()
        edges = np.unique(np.interp(np.arange(1, BINS) / BINS, cumulative, expected[order]))
    share_e = _shares(expected, w_e, edges)
    share_a = _shares(actual, w_a, edges)
    return float(np.sum((share_a - share_e) * np.log(share_a / share_e)))


def _shares(x: np.ndarray, w: np.ndarray, edges: np.ndarray) -> np.ndarray:
    which = np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right"))
    counts = np.bincount(which, weights=w, minlength=len(edges) + 2)
    return np.maximum(counts / w.sum(), EPSILON)


def drift_report(
    store: pd.DataFrame, batch: pd.DataFrame, champion: CaseworkModel, seed: int = 0
) -> pd.DataFrame:
    """One row per checked quantity of the batch against the store, flagged when it drifted.

    Columns: kind, name, PSI or shift (with an interval for label prevalence), store and batch
    figure (a weighted mean; for categorical features the share of the category that moved
    most, named in ``summary``), flag. ``attrs["distributions"]`` holds the shares drawn by
    ``drift_html``.
    """
    features = CaseFeatures().fit(store)
    x_store, x_batch = features.transform(store), features.transform(batch)
    w_store, w_batch = _weights(store), _weights(batch)
    rows, distributions = [], {}
    for name in x_store.columns:
        categorical = name in features.nominal_features_ or _is_categorical(store, name)
        value = psi(x_store[name], x_batch[name], w_store, w_batch, categorical=categorical)
        if categorical:
            shares = _category_shares(store[name], batch[name], w_store, w_batch)
            moved = (shares["batch"] - shares["store"]).abs().idxmax()
            row = _row(
                "feature", name, value, shares.loc[moved, "store"], shares.loc[moved, "batch"]
            )
            row["summary"] = f"share {moved}: {shares.loc[moved, 'store']:.1%} → " + (
                f"{shares.loc[moved, 'batch']:.1%}"
            )
        else:
            if x_store[name].nunique() <= HISTOGRAM_BINS:  # few values: a bar per value
                shares = _category_shares(x_store[name], x_batch[name], w_store, w_batch)
                shares = shares.sort_index(key=lambda i: i.astype(float))
            else:
                shares = _histogram(x_store[name].to_numpy(float), x_batch[name].to_numpy(float),
                                    w_store, w_batch)  # fmt: skip
            store_mean = np.average(x_store[name], weights=w_store)
            batch_mean = np.average(x_batch[name], weights=w_batch)
            row = _row("feature", name, value, store_mean, batch_mean)
            row["summary"] = f"mean {store_mean:.3g} → {batch_mean:.3g}"
        rows.append(row)
        distributions[name] = shares
    risk_store = champion.predict(store)[RISK_SCORE].to_numpy()
    risk_batch = champion.predict(batch)[RISK_SCORE].to_numpy()
    store_mean, batch_mean = (
        np.average(risk_store, weights=w_store),
        np.average(risk_batch, weights=w_batch),
    )
    row = _row(
        "predicted risk",
        RISK_SCORE,
        psi(risk_store, risk_batch, w_store, w_batch),
        store_mean,
        batch_mean,
    )
    row["summary"] = f"mean {store_mean:.3f} → {batch_mean:.3f}"
    rows.append(row)
    distributions[RISK_SCORE] = _histogram(risk_store, risk_batch, w_store, w_batch)
    rng = np.random.default_rng(seed)
    for judgement in JUDGEMENTS:
        store_rate, store_boot = _prevalence(store, judgement, w_store, rng)
        batch_rate, batch_boot = _prevalence(batch, judgement, w_batch, rng)
        shift = batch_rate - store_rate
        low, high = np.nanpercentile(batch_boot - store_boot, [2.5, 97.5])
        row = _row(
            "label prevalence",
            judgement,
            shift,
            store_rate,
            batch_rate,
            flag=bool(abs(shift) > SHIFT_FLAG),
        )
        row |= {
            "low": round(float(low), 4),
            "high": round(float(high), 4),
            "summary": f"{store_rate:.1%} → {batch_rate:.1%}",
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["distributions"] = distributions
    return table


def verdict(report: pd.DataFrame) -> str:
    """One line: whether anything drifted, and what."""
    flagged = report[report["flag"]]
    if flagged.empty:
        return (
            f"No drift: every PSI is below {PSI_FLAG} and every label prevalence moved by less "
            f"than {SHIFT_FLAG:.0%} ({len(report)} checks)."
        )
    names = ", ".join(f"{r.name} ({r.kind})" for r in flagged.itertuples())
    return f"Drift in {len(flagged)} of {len(report)} checks: {names}."


def _weights(cases: pd.DataFrame) -> np.ndarray:
    weight = design_weights(cases)
    return np.ones(len(cases)) if weight is None else weight


def _is_categorical(cases: pd.DataFrame, name: str) -> bool:
    """Categories, flags and ordered levels (RoSH, grade, IOM) are shown as category shares."""
    column = cases[name] if name in cases else None
    return column is not None and (
        isinstance(column.dtype, pd.CategoricalDtype)
        or column.dtype == bool
        or column.dtype == object
        or pd.api.types.is_string_dtype(column)
    )


def _category_shares(
    store: pd.Series, batch: pd.Series, w_store: np.ndarray, w_batch: np.ndarray
) -> pd.DataFrame:
    """Weighted share of each category on both sides (index: category as text)."""
    shares = pd.DataFrame(
        {
            "store": pd.Series(w_store).groupby(store.astype(str).to_numpy()).sum(),
            "batch": pd.Series(w_batch).groupby(batch.astype(str).to_numpy()).sum(),
        }
    ).fillna(0.0)
    if isinstance(store.dtype, pd.CategoricalDtype):
        order = [str(c) for c in store.cat.categories if str(c) in shares.index]
        shares = shares.reindex(order + [i for i in shares.index if i not in order])
    return shares / shares.sum()


def _histogram(
    store: np.ndarray, batch: np.ndarray, w_store: np.ndarray, w_batch: np.ndarray
) -> pd.DataFrame:
    """Weighted shares in equal-width bins over both sides' range (index: bin start)."""
    both = np.concatenate([store, batch])
    both = both[np.isfinite(both)]
    edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS)
    on_store, _ = np.histogram(store, edges, weights=w_store)
    on_batch, _ = np.histogram(batch, edges, weights=w_batch)
    return pd.DataFrame(
        {"store": on_store / on_store.sum(), "batch": on_batch / on_batch.sum()},
        index=[f"{e:.3g}" for e in edges[:-1]],
    )


def _prevalence(
    cases: pd.DataFrame, judgement: str, weight: np.ndarray, rng: np.random.Generator
) -> tuple[float, np.ndarray]:
    """Weighted share insufficient among applicable cases, and its officer-bootstrap replicates."""
    values = cases[judgement].astype(str).to_numpy()
    judged = has_verdict(values)
    officers, uniques = pd.factorize(cases["officer_id"])
    w = weight * judged
    found = np.bincount(officers, weights=w * (values == INSUFFICIENT), minlength=len(uniques))
    total = np.bincount(officers, weights=w, minlength=len(uniques))
    draws = rng.integers(0, len(uniques), (N_BOOT, len(uniques)))
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = found[draws].sum(axis=1) / total[draws].sum(axis=1)
    return float(found.sum() / total.sum()), replicates


def _row(
    kind: str, name: str, value: float, store: float, batch: float, flag: bool | None = None
) -> dict[str, object]:
    return {
        "kind": kind,
        "name": name,
        "psi_or_shift": round(float(value), 4),
        "store": round(float(store), 4),
        "batch": round(float(batch), 4),
        "flag": bool(value > PSI_FLAG) if flag is None else flag,
    }


def drift_html(report: pd.DataFrame, source: str) -> str:
    """The drift report as one standalone page, for operators deciding whether to trust a batch.

    The verdict, the table (flagged rows highlighted) and store-against-batch bars for every
    feature and the predicted risk.
    """
    shown = report.drop(columns=["store", "batch"], errors="ignore")
    styled = (
        shown.style.apply(
            lambda row: ["background:#fdd" if row["flag"] else "" for _ in row], axis=1
        )
        .format(precision=4, na_rep="")
        .hide(axis="index")
    )
    charts = []
    for name, shares in report.attrs.get("distributions", {}).items():
        psi_value = report.loc[report["name"] == name, "psi_or_shift"].iloc[0]
        charts.append(
            svg_bars(
                list(map(str, shares.index)),
                {"store": shares["store"].tolist(), "batch": shares["batch"].tolist()},
                f"{name} (PSI {psi_value:.3f})",
            )
        )
    return (
        "<!doctype html><meta charset='utf-8'><title>casework drift report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:80em}td,th{padding:2px 8px}"
        ".verdict{font-size:120%;font-weight:bold}.charts svg{margin:4px}</style>"
        f"<h1>Drift: {html.escape(source)} against the training store</h1>"
        f"<p class='verdict' id='verdict'>{html.escape(verdict(report))}</p>"
        f"<p>PSI above {PSI_FLAG} (features, predicted risk) or a label prevalence shift above "
        f"{SHIFT_FLAG} is flagged. Both sides are design-weighted (1/&pi;); prevalence shifts "
        "have a 95% interval (low, high) from resampling officers.</p>"
        "<section id='checks'><h2>Checks</h2>"
        + styled.to_html()
        + "</section><section id='distributions'><h2>Store against batch</h2>"
        "<p>Share of cases per category, or per histogram bin for numeric features and the "
        "predicted risk.</p><div class='charts'>" + "".join(charts) + "</div></section>"
    )
