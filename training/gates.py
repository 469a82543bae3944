"""Promotion gates: champion and challenger scored on the same two holdouts.

A challenger is promoted only if, on both the latest temporal holdout and the fixed reference
holdout, for every judgement its AUC is not lower than the champion's by more than 0.005 and its
ECE stays below 0.03, and no fairness disparity ratio worsens by more than 0.05. Metrics are
design-weighted (1/π) when the holdout carries inclusion probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE, RISK_SCORE, score_column
from training.bundle import CaseworkModel
from training.metrics import evaluate
from training.trainer import design_weights

AUC_TOLERANCE = 0.005
ECE_LIMIT = 0.03
DISPARITY_TOLERANCE = 0.05
TOP_SHARE = 0.2
MIN_GROUP = 50
AGE_BANDS = (18, 25, 35, 50, 101)


def gate_table(
    champion: CaseworkModel, challenger: CaseworkModel, holdouts: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per holdout × check: the champion's and challenger's figure and pass/fail."""
    rows = []
    for name, cases in holdouts.items():
        if cases.empty:
            continue
        weight = design_weights(cases)
        scored = {"champion": champion.predict(cases), "challenger": challenger.predict(cases)}
        for judgement in JUDGEMENTS:
            values = cases[judgement].astype(str).to_numpy()
            judged = values != NOT_APPLICABLE
            y = (values[judged] == INSUFFICIENT).astype(float)
            if len(np.unique(y)) < 2:
                continue
            w = None if weight is None else weight[judged]
            old, new = (
                evaluate(y, s[score_column(judgement)].to_numpy()[judged], w)
                for s in scored.values()
            )
            rows.append(
                _row(
                    name,
                    f"AUC {judgement}",
                    old["auc"],
                    new["auc"],
                    new["auc"] >= old["auc"] - AUC_TOLERANCE,
                )
            )
            rows.append(
                _row(name, f"ECE {judgement}", old["ece"], new["ece"], new["ece"] < ECE_LIMIT)
            )
        for group, ratio_old in disparity_ratios(cases, scored["champion"], weight).items():
            ratio_new = disparity_ratios(cases, scored["challenger"], weight)[group]
            rows.append(
                _row(
                    name,
                    f"disparity {group}",
                    ratio_old,
                    ratio_new,
                    ratio_new >= ratio_old - DISPARITY_TOLERANCE,
                )
            )
    return pd.DataFrame(rows)


def disparity_ratios(
    cases: pd.DataFrame, scores: pd.DataFrame, weight: np.ndarray | None
) -> dict[str, float]:
    """Per protected characteristic: lowest over highest group rate of being among the riskiest
    20% (groups of at least 50 cases); 1 means every group is selected alike."""
    w = np.ones(len(cases)) if weight is None else weight
    risk = scores[RISK_SCORE].to_numpy()
    order = np.argsort(-risk, kind="stable")
    top = np.zeros(len(risk), dtype=bool)
    top[order[: np.searchsorted(np.cumsum(w[order]), TOP_SHARE * w.sum()) + 1]] = True
    groups = {
        "gender": cases["gender"].astype(str).to_numpy(),
        "ethnicity": cases["ethnicity"].astype(str).to_numpy(),
        "age band": pd.cut(cases["age"], AGE_BANDS, right=False).astype(str).to_numpy(),
    }
    ratios = {}
    for name, labels in groups.items():
        rates = [
            np.average(top[labels == g], weights=w[labels == g])
            for g in np.unique(labels)
            if (labels == g).sum() >= MIN_GROUP
        ]
        ratios[name] = min(rates) / max(rates) if len(rates) > 1 and max(rates) > 0 else 1.0
    return ratios


def passed(table: pd.DataFrame) -> bool:
    """Whether every gate holds (an empty table, with nothing to compare, does not pass)."""
    return bool(len(table)) and bool(table["pass"].all())


def _row(holdout: str, check: str, champion: float, challenger: float, ok: bool) -> dict:
    return {
        "holdout": holdout,
        "check": check,
        "champion": round(float(champion), 4),
        "challenger": round(float(challenger), 4),
        "pass": bool(ok),
    }
