"""Unbiased estimates from judged samples: Hájek ratios, design-based SEs, Wilson intervals.

For judgement j and group d, the published figure is the share sufficient among the cases where
j applies, R = Σ_U d a y / Σ_U d a (a: j applies, y: sufficient). Its Hájek estimate weights each
inspected case by 1/π (π adjusted for cases not inspected, ``serving.pooling``). The ratio is
linearised, z_k = d_k a_k (y_k − R̂) / N̂_d, and the variance of Σ z_k/π_k is the balanced-sample
residual form of ``serving.variance`` (strata, the balancing categories of balanced samples,
certainty blocks; the fpc of a case follows its officer × stratum block, from which no sample
takes two cases). The 95% interval is Wilson's score interval (``serving.intervals``, column
``ci_method``); ``n_effective`` is R̂(1 − R̂)/v (n where v carries no information) and groups of
fewer than ``MIN_PUBLISHABLE`` cases are flagged ``too_few_to_publish``.

Several judged samples (a list) are pooled as one sample with the inspections as a further
stratum level; ``rate`` (ratings with band probabilities) and ``national_tables``
(the annual report's Tables 2 and 3) work on the same pooled design.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from serving.national import national_tables
from serving.pooling import JudgedDesign, designed
from serving.ratings import rate
from serving.shares import (
    ESTIMATE_COLUMNS,
    EXTRA_COLUMNS,
    MIN_PUBLISHABLE,
    Z95,
    groups_of,
    ratio,
    table,
)
from serving.variance import BLOCK_COLUMNS, CERTAIN, ResidualVariance, design_matrix

__all__ = [
    "BLOCK_COLUMNS",
    "CERTAIN",
    "ESTIMATE_COLUMNS",
    "EXTRA_COLUMNS",
    "MIN_PUBLISHABLE",
    "Z95",
    "ResidualVariance",
    "design_matrix",
    "estimate",
    "national_tables",
    "rate",
    "ratio",
]


def estimate(
    judged_sample: JudgedDesign | pd.DataFrame | Sequence[pd.DataFrame], by: str | None = None
) -> pd.DataFrame:
    """Share sufficient per judgement, overall (group 'all') or per value of ``by``.

    A list of judged samples is pooled (each inspection's strata kept apart).
    """
    design = designed(judged_sample, by)
    values = None if by is None else design.sample[by]
    return table(design, groups_of(values, len(design.pi)), design.judgements)
