"""Evaluation metrics that can be design-weighted.

Inspected cases are drawn with unequal probabilities, so every metric takes ``weight`` (1/π) and
then describes the caseload rather than the sample; with no weight it is the plain sample figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

ECE_BINS = 10
TOP_SHARES = (0.10, 0.20)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None, bins: int = ECE_BINS
) -> float:
    """ECE over equal-width probability bins: Σ_b w_b |mean(y)_b − mean(p)_b| / Σ w."""
    w = np.ones_like(p, dtype=float) if weight is None else np.asarray(weight, dtype=float)
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    total = np.bincount(which, weights=w, minlength=bins)
    gap = np.bincount(which, weights=w * (y - p), minlength=bins)
    return float(np.abs(gap).sum() / total.sum())


def precision_at(
    y: np.ndarray, p: np.ndarray, share: float, weight: np.ndarray | None = None
) -> float:
    """Share insufficient among the riskiest ``share`` of the (weighted) cases."""
    w = np.ones_like(p, dtype=float) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(-p, kind="stable")
    cumulative = np.cumsum(w[order])
    top = order[: np.searchsorted(cumulative, share * cumulative[-1]) + 1]
    return float(np.average(y[top], weights=w[top]))


def reliability_curve(
    y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None, bins: int = ECE_BINS
) -> pd.DataFrame:
    """Per probability bin: mean predicted, observed rate and weight (for reliability plots)."""
    w = np.ones_like(p, dtype=float) if weight is None else np.asarray(weight, dtype=float)
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    total = np.bincount(which, weights=w, minlength=bins)
    keep = total > 0
    return pd.DataFrame(
        {
            "bin": np.arange(bins)[keep],
            "predicted": (
                np.bincount(which, weights=w * p, minlength=bins) / np.where(keep, total, 1)
            )[keep],
            "observed": (
                np.bincount(which, weights=w * y, minlength=bins) / np.where(keep, total, 1)
            )[keep],
            "weight": total[keep],
        }
    )


def evaluate(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> dict[str, float]:
    """Every reported metric of one model on one set of cases."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    prevalence = float(np.average(y, weights=weight))
    metrics = {
        "n": float(len(y)),
        "prevalence": prevalence,
        "auc": float(roc_auc_score(y, p, sample_weight=weight)),
        "pr_auc": float(average_precision_score(y, p, sample_weight=weight)),
        "brier": float(brier_score_loss(y, p, sample_weight=weight)),
        "ece": expected_calibration_error(y, p, weight),
    }
    for share in TOP_SHARES:
        precision = precision_at(y, p, share, weight)
        metrics[f"precision_at_{round(share * 100)}"] = precision
        metrics[f"lift_at_{round(share * 100)}"] = precision / prevalence
    return metrics
