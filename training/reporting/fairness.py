"""Fairness audit of the risk score by gender, ethnicity and age band (fairlearn ``MetricFrame``).

The audited decision is the one casework's sampler leans on: a case is *selected* when it is
among the riskiest 20% of cases by ``risk_score`` (design-weighted when the cases carry inclusion
probabilities, exactly as the promotion gates do). A case counts as *poorly supervised* when at
least half of its applicable key judgements were found insufficient. Per group:

- selection rate: share selected;
- FPR: share selected among cases not poorly supervised; FNR: share not selected among poorly
  supervised cases; precision: share poorly supervised among selected cases;
- calibration: insufficient judgements found over those expected (the sum of
  ``p_insufficient`` over applicable judgements); 1 means calibrated for the group;
- group size (cases); groups under 50 cases are marked small and left out of the ratios.

Groupings: gender, ethnicity, age band, and gender × ethnicity (intersectional groups, many of
them small).

95% intervals are percentile bootstraps that resample cases within each group. A disparity ratio
is the lowest over the highest group value among groups of at least 50 cases; its interval is
that of the ratio between those two groups (the minimum over many noisy groups would be biased
low). Ratios below 0.8 (the four-fifths rule) are flagged. Protected characteristics are not
model inputs by default, so any disparity arrives through proxies (provider, caseload, RoSH...).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import precision_score

from features.contract import INSUFFICIENT, JUDGEMENTS, RISK_SCORE, has_verdict, score_column
from training.lifecycle.gates import AGE_BANDS, MIN_GROUP, TOP_SHARE
from training.trainer import design_weights

FLAG_BELOW = 0.8
INTERSECTION = "gender × ethnicity"
N_BOOT = 200
METRICS: tuple[str, ...] = ("selection_rate", "fpr", "fnr", "precision", "calibration")
METRIC_LABELS = {
    "selection_rate": "selection rate (riskiest 20%)",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "precision": "precision",
    "calibration": "calibration (found / expected)",
}


@dataclass(frozen=True)
class FairnessAudit:
    """Per-group metrics with intervals, and the disparity ratio of each metric."""

    groups: pd.DataFrame  # characteristic, group, n, small, <metric>, <metric>_low, _high
    disparities: pd.DataFrame  # characteristic, metric, ratio, ratio_low, ratio_high, flagged


def age_band(age: pd.Series) -> np.ndarray:
    """Age bands of the promotion gates as labels: 18-24, 25-34, 35-49, 50+."""
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_BANDS[:-2], AGE_BANDS[1:-1], strict=True)]
    labels.append(f"{AGE_BANDS[-2]}+")
    bands = pd.cut(pd.to_numeric(age), AGE_BANDS, right=False, labels=labels)
    return bands.astype(str).to_numpy()


def riskiest(risk: np.ndarray, weight: np.ndarray, share: float = TOP_SHARE) -> np.ndarray:
    """Whether each case is among the riskiest ``share`` of the (weighted) cases."""
    order = np.argsort(-risk, kind="stable")
    top = np.zeros(len(risk), dtype=bool)
    top[order[: np.searchsorted(np.cumsum(weight[order]), share * weight.sum()) + 1]] = True
    return top


def case_outcomes(cases: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per case: selected, poorly supervised, insufficient found and expected, design weight."""
    values = cases[list(JUDGEMENTS)].astype(str).to_numpy()
    judged = has_verdict(values)
    p = scores[[score_column(j) for j in JUDGEMENTS]].to_numpy(dtype=float)
    found = (values == INSUFFICIENT).sum(axis=1)
    weight = design_weights(cases)
    w = np.ones(len(cases)) if weight is None else weight
    return pd.DataFrame(
        {
            "selected": riskiest(scores[RISK_SCORE].to_numpy(dtype=float), w),
            "poor": (2 * found >= judged.sum(axis=1)) & judged.any(axis=1),
            "found": found.astype(float),
            "expected": np.where(judged, np.nan_to_num(p), 0.0).sum(axis=1),
            "weight": w,
        }
    )


def characteristics(cases: pd.DataFrame) -> dict[str, np.ndarray]:
    """The audited groupings: gender, ethnicity, age band and gender × ethnicity of each case."""
    gender = cases["gender"].astype(str).to_numpy()
    ethnicity = cases["ethnicity"].astype(str).to_numpy()
    return {
        "gender": gender,
        "ethnicity": ethnicity,
        "age band": age_band(cases["age"]),
        INTERSECTION: np.char.add(np.char.add(gender.astype(str), " × "), ethnicity.astype(str)),
    }


def audit_fairness(
    cases: pd.DataFrame, scores: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0
) -> FairnessAudit:
    """The audit of ``scores`` (CONTRACT §3, aligned with ``cases``) on judged ``cases``."""
    outcomes = case_outcomes(cases, scores)
    rng = np.random.default_rng(seed)
    group_rows, disparity_rows = [], []
    for name, labels in characteristics(cases).items():
        by_group = _metric_frame(outcomes, labels).by_group
        replicates = {}
        for group in by_group.index:
            rows = outcomes[labels == group]
            replicates[group] = _bootstrap(rows, n_boot, rng)  # (n_boot, metrics)
            with warnings.catch_warnings():  # a tiny group may have no case of a kind
                warnings.simplefilter("ignore", RuntimeWarning)
                low, high = np.nanpercentile(replicates[group], [2.5, 97.5], axis=0)
            n = int(by_group.loc[group, "n"])
            record = {"characteristic": name, "group": group, "n": n, "small": n < MIN_GROUP}
            for k, metric in enumerate(METRICS):
                record |= {
                    metric: float(by_group.loc[group, metric]),
                    f"{metric}_low": low[k],
                    f"{metric}_high": high[k],
                }
            group_rows.append(record)
        compared = by_group[by_group["n"] >= MIN_GROUP]
        for k, metric in enumerate(METRICS):
            lowest, highest = compared[metric].idxmin(), compared[metric].idxmax()
            ratio = compared.loc[lowest, metric] / compared.loc[highest, metric]
            with np.errstate(invalid="ignore", divide="ignore"):
                spread = replicates[lowest][:, k] / replicates[highest][:, k]
            ratio_low, ratio_high = np.nanpercentile(spread, [2.5, 97.5], method="nearest")
            disparity_rows.append(
                {
                    "characteristic": name,
                    "metric": metric,
                    "ratio": float(ratio),
                    "ratio_low": ratio_low,
                    "ratio_high": ratio_high,
                    "lowest": lowest,
                    "highest": highest,
                    "flagged": bool(ratio < FLAG_BELOW),
                }
            )
    return FairnessAudit(pd.DataFrame(group_rows), pd.DataFrame(disparity_rows))


def _metric_frame(outcomes: pd.DataFrame, labels: np.ndarray) -> MetricFrame:
    """fairlearn's per-group point estimates of every metric, design-weighted."""
    weight = {"sample_weight": outcomes["weight"].to_numpy()}
    return MetricFrame(
        metrics={
            "n": count,
            "selection_rate": selection_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "precision": _precision,
            "calibration": _found_over_expected,
        },
        y_true=outcomes["poor"].to_numpy(dtype=int),
        y_pred=outcomes["selected"].to_numpy(dtype=int),
        sensitive_features=pd.Series(labels, name="group"),
        sample_params={
            "selection_rate": weight,
            "fpr": weight,
            "fnr": weight,
            "precision": weight,
            "calibration": weight
            | {"found": outcomes["found"].to_numpy(), "expected": outcomes["expected"].to_numpy()},
        },
    )


def _precision(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Precision, NaN for a group with nobody selected."""
    return float(precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan))


def _found_over_expected(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    found: np.ndarray,
    expected: np.ndarray,
    sample_weight: np.ndarray,
) -> float:
    """Insufficient judgements found over those the model expected."""
    return float(np.sum(sample_weight * found) / np.sum(sample_weight * expected))


def _bootstrap(rows: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Every metric on ``n_boot`` resamples of ``rows``: each is a ratio of weighted sums."""
    w = rows["weight"].to_numpy()
    s = rows["selected"].to_numpy(dtype=float)
    y = rows["poor"].to_numpy(dtype=float)
    parts = np.column_stack(
        [
            w * s,  # selection rate
            w,
            w * s * (1 - y),  # FPR
            w * (1 - y),
            w * (1 - s) * y,  # FNR
            w * y,
            w * s * y,  # precision
            w * s,
            w * rows["found"].to_numpy(),  # calibration
            w * rows["expected"].to_numpy(),
        ]
    )
    n = len(rows)
    sums = np.stack(
        [np.bincount(rng.integers(0, n, n), minlength=n) @ parts for _ in range(n_boot)]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[:, 0::2] / sums[:, 1::2]
