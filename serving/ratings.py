"""Ratings with their probabilities: how sure a judged sample is of Outstanding … Inadequate.

A standard's rating follows its lowest key question (DOMAIN.md): ≥ 80% sufficient Outstanding,
65–80% Good, 50–65% Requires improvement, < 50% Inadequate (thresholds on the unrounded share).
Standards are the four stages (key questions: the three aims) and, as the annual report also
groups them, the three aims (key questions: the four stages).

The point rating comes from the estimated shares. Its uncertainty comes from their **joint**
design-based distribution: the 12 shares' covariance is the same linearisation as their SEs
(``serving.variance.ResidualVariance.covariance`` of all judgements' residuals together), put
on the logit scale by the delta method; draws from the multivariate t with the group's design
degrees of freedom on that scale (fixed seed, ``DRAWS`` draws) are mapped back and rated.
P(band) is the share of draws in each band, and ``p_rating_right`` is that of the point rating.
``n`` is the fewest applicable cases among the key questions; below ``MIN_RATED`` the rating
is flagged ``too_few_to_publish``.
A share of 0 or 1 (or one with zero variance) is drawn around (n·p̂ + ½)/(n + 1) with the
binomial variance of n cases, uncorrelated with the others.

P(band) says where the truth lies given the sample alone (no prior knowledge of the provider).
It is calibrated over providers whose truths spread across the bands (README: 1,000 such
populations, every bin within ±0.04), not for one fixed truth near a threshold, where half of
the confident statements across it fail whatever the method; how often a fixed provider is
rated right at a given size is ``serving.planning``'s question.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from features.contract import AIMS, JUDGEMENTS, STAGES
from serving.intervals import domain_df
from serving.pooling import JudgedDesign, designed
from serving.shares import groups_of, outcomes
from serving.variance import linearised_ratios

BANDS: tuple[str, ...] = ("Outstanding", "Good", "Requires improvement", "Inadequate")
THRESHOLDS: tuple[float, ...] = (0.80, 0.65, 0.50)
"""Lower bounds of the first three bands."""
DRAWS = 10_000
MIN_RATED = 30
"""A rating whose key questions have fewer applicable cases than this is flagged
``too_few_to_publish``: its band probabilities are over-confident (benchmarks/bench_estimate.py:
calibrated for provider types of ~35 and ~65 cases, not for regions of ~17)."""
RATING_COLUMNS: tuple[str, ...] = (
    "kind",
    "standard",
    "group",
    "key_questions",
    "shares",
    "lowest",
    "lowest_share",
    "rating",
    "p_outstanding",
    "p_good",
    "p_requires_improvement",
    "p_inadequate",
    "p_rating_right",
    "n",
    "too_few_to_publish",
)
STANDARDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    *(("stage", stage, tuple(f"{stage}_{aim}" for aim in AIMS)) for stage in STAGES),
    *(("aim", aim, tuple(f"{stage}_{aim}" for stage in STAGES)) for aim in AIMS),
)
"""(kind, standard, key questions) as the inspectorate reports them."""


def band(shares: np.ndarray) -> np.ndarray:
    """Band index (0 Outstanding … 3 Inadequate) of each share."""
    return np.searchsorted(-np.asarray(THRESHOLDS), -np.asarray(shares), side="left")


def psd_root(covariance: np.ndarray) -> np.ndarray:
    """A root R with R Rᵀ = ``covariance``, negative eigenvalues (rounding) set to 0: normal
    draws times Rᵀ have that covariance even where it is only positive semi-definite."""
    values, vectors = np.linalg.eigh(covariance)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def joint_shares(
    design: JudgedDesign, member: np.ndarray, sufficient: np.ndarray, applies: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares, their covariance and case counts of every judgement within one group, from the
    design's ``outcomes``."""
    inside = applies * member[:, None]
    shares, z_check = linearised_ratios(sufficient, inside, design.pi)
    counts = inside.sum(axis=0).astype(int)
    return shares, design.variance.covariance(z_check), counts


def draw_shares(
    shares: np.ndarray,
    covariance: np.ndarray,
    counts: np.ndarray,
    df: int,
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> np.ndarray:
    """``draws`` × k shares from the multivariate t on the logit scale (module docstring)."""
    p, cov = shares.copy(), covariance.copy()
    degenerate = ~((p > 0) & (p < 1) & (np.diag(cov) > 0))
    for j in np.flatnonzero(degenerate & (counts > 0)):
        p[j] = (counts[j] * p[j] + 0.5) / (counts[j] + 1)
        cov[j, :] = cov[:, j] = 0.0
        cov[j, j] = p[j] * (1 - p[j]) / counts[j]
    scale = 1.0 / (p * (1 - p))
    cov_logit = cov * np.outer(scale, scale)
    normal = rng.standard_normal((draws, len(p))) @ psd_root(cov_logit).T
    spread = np.sqrt(df / rng.chisquare(df, size=(draws, 1)))
    return expit(logit(p) + normal * spread)


def rate(
    judged_sample: JudgedDesign | pd.DataFrame | Sequence[pd.DataFrame],
    by: str | None = None,
    *,
    seed: int = 0,
    draws: int = DRAWS,
) -> pd.DataFrame:
    """Each standard's rating from the point estimates and P(each band), per group."""
    design = designed(judged_sample, by)
    values = None if by is None else design.sample[by]
    index = {j: design.judgements.index(j) for j in JUDGEMENTS if j in design.judgements}
    rows = []
    sufficient, applies = outcomes(design)
    for name, member in groups_of(values, len(design.pi)):
        shares, covariance, counts = joint_shares(design, member, sufficient, applies)
        judged = counts > 0
        kept = np.flatnonzero(judged)
        simulated = np.full((draws, len(shares)), np.nan)
        if len(kept):
            df = domain_df(design.strata, member)
            simulated[:, kept] = draw_shares(
                shares[kept],
                covariance[np.ix_(kept, kept)],
                counts[kept],
                df,
                np.random.default_rng(seed),
                draws,
            )
        for kind, standard, questions in STANDARDS:
            columns = [index[q] for q in questions if q in index and judged[index[q]]]
            rows.append(
                _rating_row(
                    kind, standard, name, questions, columns, design, shares, counts, simulated
                )
            )
    return pd.DataFrame(rows, columns=list(RATING_COLUMNS))


def _rating_row(
    kind: str,
    standard: str,
    group: str,
    questions: tuple[str, ...],
    columns: list[int],
    design: JudgedDesign,
    shares: np.ndarray,
    counts: np.ndarray,
    simulated: np.ndarray,
) -> dict[str, object]:
    row: dict[str, object] = {
        "kind": kind,
        "standard": standard,
        "group": group,
        "key_questions": ",".join(questions),
    }
    if not columns:
        return row
    lowest = columns[int(np.argmin(shares[columns]))]
    point = int(band(shares[lowest]))
    probabilities = np.bincount(band(simulated[:, columns].min(axis=1)), minlength=4)
    probabilities = probabilities / len(simulated)
    names = ("p_outstanding", "p_good", "p_requires_improvement", "p_inadequate")
    return row | {
        "shares": "; ".join(f"{design.judgements[c]} {shares[c]:.3f}" for c in columns),
        "lowest": design.judgements[lowest],
        "lowest_share": float(shares[lowest]),
        "rating": BANDS[point],
        **{name: float(p) for name, p in zip(names, probabilities, strict=True)},
        "p_rating_right": float(probabilities[point]),
        "n": int(counts[columns].min()),
        "too_few_to_publish": bool(counts[columns].min() < MIN_RATED),
    }
