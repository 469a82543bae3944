"""Each judgement's chance of applying to a case, learned from the inspected training cases.

Some key questions are ``not_applicable`` in many cases (keeping people safe where the risk of
serious harm is low, reviews early in a sentence): the planner (``serving.planning``) needs each
frame case's chance that each question applies, or its shares and their precision are those of
all cases instead of the applicable ones.

The form is a table over what every frame carries: per cell of ``rosh_level`` × a band of
``months_supervised`` (``MONTH_BANDS``, which include the six months by which a first formal
review falls due), the design-weighted share of the cell's inspected cases with a verdict on the
judgement in which it applied (sufficient or insufficient rather than ``not_applicable``).
Each cell's share is shrunk toward the judgement's overall share with a prior worth
``PRIOR_CASES`` cases, (n·share + k·overall) / (n + k), n the cell's Kish effective size, so a
cell with few cases says little. Cases in cells training never saw (or with a missing value)
get the overall share. The table is JSON-safe and travels in the bundle's metadata
(``training.bundle.CaseworkModel.applicability``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import (
    INSUFFICIENT,
    JUDGEMENTS,
    NOT_APPLICABLE,
    SUFFICIENT,
    has_verdict,
)

MONTH_BANDS: tuple[float, ...] = (3.0, 6.0, 12.0, 24.0)
"""Band edges of ``months_supervised``: [0, 3), [3, 6), [6, 12), [12, 24), 24 and over."""
PRIOR_CASES = 10.0
"""Weight of the judgement's overall share in each cell's estimate, in effective cases."""
FORM = "share applicable per rosh_level × months_supervised band, shrunk to the overall share"


def month_band(
    months: pd.Series, edges: tuple[float, ...] | list[float] = MONTH_BANDS
) -> np.ndarray:
    """Each case's band of ``months_supervised`` (0 … len(edges)), −1 where it is missing."""
    values = pd.to_numeric(months, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(values), np.digitize(values, edges), -1)


def fit_applicability(cases: pd.DataFrame, weight: np.ndarray | None = None) -> dict[str, object]:
    """The applicability table of ``cases`` (inspected), each weighing ``weight`` (default 1).

    Returns:
        ``form``, ``month_bands``, ``prior_cases``, ``cases`` (the cases with a verdict),
        ``overall`` (judgement → share applicable) and ``cells`` (judgement → RoSH level → one
        share per month band, ``None`` for a band without cases).
    """
    w = np.ones(len(cases)) if weight is None else np.asarray(weight, dtype=float)
    rosh = cases["rosh_level"].astype(str).to_numpy()
    band = month_band(cases["months_supervised"])
    overall: dict[str, float] = {}
    cells: dict[str, dict[str, list[float | None]]] = {}
    verdicts = np.zeros(len(cases), dtype=bool)
    for judgement in JUDGEMENTS:
        if judgement not in cases:
            continue
        values = cases[judgement].astype(str).to_numpy()
        seen = np.isin(values, (SUFFICIENT, INSUFFICIENT, NOT_APPLICABLE)) & (w > 0)
        seen &= band >= 0
        if not seen.any():
            continue
        verdicts |= seen
        applies = has_verdict(values).astype(float)
        sums = (
            pd.DataFrame({"rosh": rosh, "band": band, "w": w, "w2": w**2, "wa": w * applies})[seen]
            .groupby(["rosh", "band"])
            .sum()
        )
        share = float(sums["wa"].sum() / sums["w"].sum())
        effective = sums["w"] ** 2 / sums["w2"]
        shrunk = (effective * sums["wa"] / sums["w"] + PRIOR_CASES * share) / (
            effective + PRIOR_CASES
        )
        overall[judgement] = share
        cells[judgement] = {
            str(level): [
                float(shrunk[(level, b)]) if (level, b) in shrunk.index else None
                for b in range(len(MONTH_BANDS) + 1)
            ]
            for level in sorted(set(sums.index.get_level_values("rosh")))
        }
    return {
        "form": FORM,
        "month_bands": list(MONTH_BANDS),
        "prior_cases": PRIOR_CASES,
        "cases": int(verdicts.sum()),
        "overall": overall,
        "cells": cells,
    }


def applicability(table: dict[str, object], frame: pd.DataFrame) -> pd.DataFrame:
    """Each case's chance that each judgement applies under ``table``: N × 12, ``frame``'s index.

    A judgement the table does not hold (never seen in training) is taken to apply (1).
    """
    rosh = frame["rosh_level"].astype(str).to_numpy()
    band = month_band(frame["months_supervised"], table["month_bands"])
    overall, cells = table["overall"], table["cells"]
    columns = {}
    for judgement in JUDGEMENTS:
        if judgement not in overall:
            columns[judgement] = np.ones(len(frame))
            continue
        column = np.full(len(frame), float(overall[judgement]))
        for level, shares in cells[judgement].items():
            known = np.array([overall[judgement] if s is None else s for s in shares], dtype=float)
            at = (rosh == level) & (band >= 0)
            column[at] = known[band[at]]
        columns[judgement] = column
    return pd.DataFrame(columns, index=frame.index)
