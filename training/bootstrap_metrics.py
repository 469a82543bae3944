"""Every evaluation metric with a 95% interval from a bootstrap that resamples officers.

An officer's cases share the officer's caseload, grade and latent quality, so resampling cases
would understate the uncertainty. Each replicate reweights the cases by how often their officer
was drawn (times the design weight), and all replicates are computed at once: the cases are
sorted by score once, tied scores pooled, and the metrics of ``training.metrics.evaluate`` (AUC,
PR-AUC, Brier, ECE, precision and lift at 10% and 20%) become sums over that order. The point
estimates equal ``evaluate``'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from training.metrics import ECE_BINS, TOP_SHARES

N_BOOT = 200
METRICS: tuple[str, ...] = (
    "auc",
    "pr_auc",
    "brier",
    "ece",
    *(f"{kind}_at_{round(s * 100)}" for kind in ("precision", "lift") for s in TOP_SHARES),
)


def officer_counts(n_officers: int, n_boot: int, seed: int) -> np.ndarray:
    """How often each officer is drawn in each bootstrap replicate, ``(n_boot, officers)``.

    The officer bootstrap that metrics, gates and the truth lab share.
    """
    draws = np.random.default_rng(seed).integers(0, n_officers, (n_boot, n_officers))
    offset = draws + n_officers * np.arange(n_boot)[:, None]
    counts = np.bincount(offset.ravel(), minlength=n_boot * n_officers)
    return counts.reshape(n_boot, n_officers).astype(float)


def officer_resamples(officers: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, cases): each case's count of its officer's draws in each bootstrap replicate."""
    codes, uniques = pd.factorize(officers)
    return officer_counts(len(uniques), n_boot, seed)[:, codes]


def metrics_with_intervals(
    y: np.ndarray,
    p: np.ndarray,
    officers: np.ndarray,
    weight: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per metric: ``value``, ``low``, ``high`` (95% officer-bootstrap percentiles)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    weights = np.vstack([w, officer_resamples(np.asarray(officers), n_boot, seed) * w])
    values = _metrics(y, p, weights)
    low, high = np.nanpercentile(values[:, 1:], [2.5, 97.5], axis=1)
    return pd.DataFrame({"value": values[:, 0], "low": low, "high": high}, index=list(METRICS))


def weighted_auc(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC (ties count half) for each row of weights ``W``, in one pass.

    Equal to ``sklearn.metrics.roc_auc_score(y, p, sample_weight=W[b])`` for every row b
    (tested); sklearn would need one call per bootstrap replicate.
    """
    order = np.argsort(p, kind="stable")
    _, starts = np.unique(p[order], return_index=True)
    Wo, yo = W[:, order], y[order]
    positive = np.add.reduceat(Wo * yo, starts, axis=1)
    negative = np.add.reduceat(Wo * (1 - yo), starts, axis=1)
    return _pooled_auc(positive, negative)


def _pooled_auc(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """AUC per row from the positive and negative weight at each distinct score, ascending."""
    below = np.cumsum(negative, axis=1) - negative
    pairs = positive.sum(axis=1) * negative.sum(axis=1)
    area = (positive * (below + 0.5 * negative)).sum(axis=1)
    return np.divide(area, pairs, out=np.full(len(pairs), np.nan), where=pairs > 0)


def _metrics(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(metrics, replicates) for case weights ``weights`` (replicates, cases)."""
    order = np.argsort(-p, kind="stable")
    y, p, weights = y[order], p[order], weights[:, order]
    levels, tie = np.unique(-p, return_inverse=True)  # tied scores pooled, highest first
    pool = sparse.csr_matrix(
        (np.ones(len(p)), (np.arange(len(p)), tie)), shape=(len(p), len(levels))
    )
    pos = _pooled(weights * y, pool)  # (B, levels), descending score
    neg = _pooled(weights * (1 - y), pool)
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    total = total_pos + total_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = _pooled_auc(pos[:, ::-1], neg[:, ::-1])
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        precision = tp / np.where(tp + fp > 0, tp + fp, np.nan)
        pr_auc = np.nansum(pos / total_pos[:, None] * precision, axis=1)
        brier = (weights * (y - p) ** 2).sum(axis=1) / total
        bins = np.minimum((p * ECE_BINS).astype(int), ECE_BINS - 1)
        binned = sparse.csr_matrix(
            (np.ones(len(p)), (np.arange(len(p)), bins)), shape=(len(p), ECE_BINS)
        )
        gap = _pooled(weights * (y - p), binned)
        ece = np.abs(gap).sum(axis=1) / total
        prevalence = total_pos / total
        cumulative = np.cumsum(weights, axis=1)
        ranked = []
        for share in TOP_SHARES:
            top = (cumulative - weights) < share * total[:, None]
            ranked.append((weights * y * top).sum(axis=1) / (weights * top).sum(axis=1))
    lifts = [r / prevalence for r in ranked]
    return np.vstack([auc, pr_auc, brier, ece, *ranked, *lifts])


def _pooled(values: np.ndarray, indicator: sparse.csr_matrix) -> np.ndarray:
    """Sums of ``values`` (replicates, cases) within each column of ``indicator`` (cases, k)."""
    return np.asarray(indicator.T @ values.T).T
