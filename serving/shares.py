"""Design-based shares per judgement and group: the rows of the estimate table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract import NOT_APPLICABLE, SUFFICIENT
from serving.intervals import CI_METHOD, domain_df, effective_n, wilson
from serving.pooling import JudgedDesign
from serving.variance import ResidualVariance, linearised_ratios

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
    share, z_check = linearised_ratios(sufficient[:, None], applies[:, None], pi)
    n = int(applies.sum())
    if n == 0 or np.isnan(share[0]):
        return n, float("nan"), float("nan")
    return n, float(share[0]), float(np.sqrt(max(variance(z_check[:, 0]), 0.0)))


def outcomes(design: JudgedDesign) -> tuple[np.ndarray, np.ndarray]:
    """(sufficient, applies) as 0/1 matrices, one column per judgement of the design."""
    values = design.sample[design.judgements].astype(str).to_numpy()
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
    sufficient, applies = outcomes(design)
    for judgement in judgements:
        column = design.judgements.index(judgement)
        for name, member in groups:
            inside = applies[:, column] * member
            n, share, se = ratio(sufficient[:, column], inside, design.pi, design.variance)
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
