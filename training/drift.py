"""Drift between the training store and a new batch: PSI per feature, risk and label prevalence.

Both sides are design-weighted (1/π where ``inclusion_probability`` is present), so a batch drawn
with casework's risk-weighted sampler from an unchanged caseload shows no drift: the weights undo
the tilt. Plain numpy is enough here (a drift library would add a heavy dependency for one number).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE, RISK_SCORE
from features.pipeline import CaseFeatures
from training.bundle import CaseworkModel
from training.trainer import design_weights

PSI_FLAG = 0.2
BINS = 10
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


def drift_report(store: pd.DataFrame, batch: pd.DataFrame, champion: CaseworkModel) -> pd.DataFrame:
    """One row per checked quantity: kind, name, PSI or shift, store and batch figure, flag."""
    features = CaseFeatures().fit(store)
    x_store, x_batch = features.transform(store), features.transform(batch)
    w_store, w_batch = design_weights(store), design_weights(batch)
    rows = []
    for name in x_store.columns:
        value = psi(
            x_store[name],
            x_batch[name],
            w_store,
            w_batch,
            categorical=name in features.nominal_features_,
        )
        rows.append(
            _row(
                "feature",
                name,
                value,
                np.average(x_store[name], weights=w_store),
                np.average(x_batch[name], weights=w_batch),
            )
        )
    risk_store = champion.predict(store)[RISK_SCORE].to_numpy()
    risk_batch = champion.predict(batch)[RISK_SCORE].to_numpy()
    rows.append(
        _row(
            "predicted risk",
            RISK_SCORE,
            psi(risk_store, risk_batch, w_store, w_batch),
            np.average(risk_store, weights=w_store),
            np.average(risk_batch, weights=w_batch),
        )
    )
    for judgement in JUDGEMENTS:
        store_rate = _prevalence(store, judgement, w_store)
        batch_rate = _prevalence(batch, judgement, w_batch)
        shift = batch_rate - store_rate
        rows.append(
            _row(
                "label prevalence",
                judgement,
                shift,
                store_rate,
                batch_rate,
                flag=bool(abs(shift) > 0.1),
            )
        )
    return pd.DataFrame(rows)


def _prevalence(cases: pd.DataFrame, judgement: str, weight: np.ndarray | None) -> float:
    values = cases[judgement].astype(str).to_numpy()
    judged = values != NOT_APPLICABLE
    w = np.ones(len(values)) if weight is None else weight
    return float(np.average(values[judged] == INSUFFICIENT, weights=w[judged]))


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
    """The drift report as a small standalone HTML page, flagged rows highlighted."""
    styled = report.style.apply(
        lambda row: ["background:#fdd" if row["flag"] else "" for _ in row], axis=1
    ).hide(axis="index")
    return (
        "<!doctype html><meta charset='utf-8'><title>casework drift report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}</style>"
        f"<h1>Drift: {html.escape(source)} against the training store</h1>"
        f"<p>PSI above {PSI_FLAG} (features, predicted risk) or a label prevalence shift above "
        "0.1 is flagged. Both sides are design-weighted (1/&pi;).</p>" + styled.to_html()
    )
