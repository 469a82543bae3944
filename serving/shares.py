"""Design-based shares per judgement and group: the rows of the estimate table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract import NOT_APPLICABLE, SUFFICIENT
from serving.intervals import CI_METHOD, domain_df, effective_n, wilson
from serving.pooling import JudgedDesign
from serving.variance import ResidualVariance

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "judgement",
    "group",
    "n",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
)
"""The contract's columns; ``EXTRA_COLUMNS`` follow them."""
EXTRA_COLUMNS: tuple[str, ...] = ("n_effective", "df", "ci_method", "too_few_to_publish")
MIN_PUBLISHABLE = 15
"""Groups with fewer applicable cases than this are flagged ``too_few_to_publish``: below it the
interval rests on a handful of strata and the share moves by ≥ 7 points with one case."""
Z95 = 1.959963984540054


def ratio(
    sufficient: np.ndarray, applies: np.ndarray, pi: np.ndarray, variance: ResidualVariance
) -> tuple[int, float, float]:
    """n, Hájek estimate and standard error of the share sufficient among applicable cases."""
    n = int(applies.sum())
    weight = applies / pi
    total = weight.sum()
    if n == 0 or total == 0:
        return n, float("nan"), float("nan")
    share = float((weight * sufficient).sum() / total)
    z = applies * (sufficient - share) / total
    return n, share, float(np.sqrt(max(variance(z / pi), 0.0)))


def outcomes(design: JudgedDesign, judgement: str) -> tuple[np.ndarray, np.ndarray]:
    """(sufficient, applies) as 0/1 arrays for one judgement."""
    values = design.sample[judgement].astype(str).to_numpy()
    return (values == SUFFICIENT).astype(float), (values != NOT_APPLICABLE).astype(float)


def groups_of(values: pd.Series | None, size: int) -> list[tuple[str, np.ndarray]]:
    """('all', everyone) or one (name, member mask) per value of ``values``, sorted by name."""
    if values is None:
        return [("all", np.ones(size, dtype=bool))]
    present = values.dropna()
    return [
        (str(value), (values == value).to_numpy()) for value in sorted(present.unique(), key=str)
    ]


def table(
    design: JudgedDesign, groups: list[tuple[str, np.ndarray]], judgements: Sequence[str]
) -> pd.DataFrame:
    """The estimate rows of ``judgements`` × ``groups`` on one prepared design."""
    rows = []
    for judgement in judgements:
        sufficient, applies = outcomes(design, judgement)
        for name, member in groups:
            inside = applies * member
            n, share, se = ratio(sufficient, inside, design.pi, design.variance)
            df = domain_df(design.strata, inside > 0) if n else 0
            low, high = wilson(share, se, n, df)
            rows.append(
                {
                    "judgement": judgement,
                    "group": name,
                    "n": n,
                    "estimate": share,
                    "se": se,
                    "ci_low": low,
                    "ci_high": high,
                    "n_effective": effective_n(share, se, n),
                    "df": df,
                    "ci_method": CI_METHOD,
                    "too_few_to_publish": n < MIN_PUBLISHABLE,
                }
            )
    return pd.DataFrame(rows, columns=[*ESTIMATE_COLUMNS, *EXTRA_COLUMNS])
