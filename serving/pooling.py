"""Judged samples made ready for estimation: checked, pooled across inspections, adjusted for
cases that could not be inspected.

**Pooling.** Each inspection keeps its own strata: the stratum key is the inspection (the
``inspection_id`` column, else the file's position) plus the sample's ``stratum``, and the
variance regression is built per inspection (``serving.variance.pooled_design_matrix``), so
inspections are a further stratum level.

**Unit non-response.** A drawn case whose judgement cells all read ``not_inspected`` could not be
examined. Within each stratum key the respondents' weights are scaled up by
f_h = Σ_{drawn in h} 1/π / Σ_{respondents in h} 1/π (a weighting-class adjustment: response is
assumed to be at random within a stratum), i.e. their π becomes π/f_h, and the variance treats
response as a second phase with that rate. A stratum with no respondent is collapsed into the
respondent stratum of the same inspection whose label shares the most leading parts
(``Office A / female`` → ``Office A / male``), ties to the one with more respondents, then by
name; an inspection with no respondent at all is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import (
    INCLUSION_PROBABILITY,
    INSUFFICIENT,
    JUDGEMENTS,
    NOT_APPLICABLE,
    NOT_INSPECTED,
    SUFFICIENT,
)
from features.errors import InputError
from serving.variance import (
    ResidualVariance,
    block_variance,
    collapsed_codes,
    linearised_ratios,
    pooled_design_matrix,
)

ALLOWED = (SUFFICIENT, INSUFFICIENT, NOT_APPLICABLE, NOT_INSPECTED)
ROUNDING = 1e-9
"""π up to 1 + this is 1 (a certainty case written with rounding error)."""
INSPECTION = "inspection_key"
"""Column added to the pooled sample: which inspection a case belongs to."""


@dataclass
class JudgedDesign:
    """The inspected cases of one or more judged samples, with what estimation needs."""

    sample: pd.DataFrame
    pi: np.ndarray
    strata: np.ndarray
    variance: ResidualVariance
    judgements: list[str]

    def df(self) -> int:
        """Degrees of freedom of the whole sample: cases − strata (collapsed), at least 1."""
        return max(len(self.pi) - len(np.unique(self.strata)), 1)


def as_list(judged: pd.DataFrame | Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """One sample or several, as a list."""
    return [judged] if isinstance(judged, pd.DataFrame) else list(judged)


def prepare(
    judged: pd.DataFrame | Sequence[pd.DataFrame],
    by: str | None = None,
    sources: Sequence[str] | None = None,
) -> JudgedDesign:
    """Check and pool judged samples, drop the cases not inspected and re-weight the others."""
    samples = as_list(judged)
    if not samples:
        raise InputError("no judged sample given", source="sample")
    names = (
        list(sources)
        if sources
        else ["sample" if len(samples) == 1 else f"sample {i + 1}" for i in range(len(samples))]
    )
    judgements = [j for j in JUDGEMENTS if all(j in s.columns for s in samples)]
    if not judgements:
        raise InputError("the sample holds none of the 12 judgement columns", source=names[0])
    parts = []
    for position, (sample, name) in enumerate(zip(samples, names, strict=True)):
        check(sample, by, judgements, name)
        part = sample.reset_index(drop=True)
        fallback = f"sample {position + 1}"
        given = part["inspection_id"].astype("string") if "inspection_id" in part else None
        part[INSPECTION] = fallback if given is None else given.fillna(fallback).astype(str)
        parts.append(part)
    pooled = pd.concat(parts, ignore_index=True)
    pooled = pooled.sort_values(INSPECTION, kind="stable").reset_index(drop=True)
    key = pooled[INSPECTION] + " · " + pooled["stratum"].astype(str)
    missing = (pooled[judgements].astype(str) == NOT_INSPECTED).all(axis=1).to_numpy()
    pi = np.minimum(pd.to_numeric(pooled[INCLUSION_PROBABILITY]).to_numpy(dtype=float), 1.0)
    factors = response_factors(key, pooled[INSPECTION], pi, ~missing)
    adjusted = pi / factors
    sample = pooled[~missing].reset_index(drop=True)
    pi = adjusted[~missing]
    inspection = np.unique(sample[INSPECTION].to_numpy(), return_inverse=True)[1]
    strata = collapsed_codes(key[~missing].reset_index(drop=True))
    x = pooled_design_matrix(sample, inspection)
    z_check = linearised(sample, judgements, pi)
    variance = block_variance(sample, x, pi, z_check, response=factors[~missing])
    return JudgedDesign(sample, pi, strata, variance, judgements)


def linearised(sample: pd.DataFrame, judgements: list[str], pi: np.ndarray) -> np.ndarray:
    """ž = z/π of every judgement's overall share (one column each): what the block fpc's
    officer correlation is measured on."""
    values = sample[judgements].astype(str).to_numpy()
    return linearised_ratios(values == SUFFICIENT, values != NOT_APPLICABLE, pi)[1]


def check_by(sample: pd.DataFrame, by: str | None, source: str) -> None:
    """``by`` names a column of scalar values (the domains of an estimate)."""
    if by is None:
        return
    if by not in sample.columns:
        raise InputError(f"the judged sample lacks columns {by}", source=source)
    if sample[by].map(lambda v: isinstance(v, list | dict | set | tuple)).any():
        raise InputError("cannot group by a column of lists or mappings", source=source, column=by)


def designed(
    judged: JudgedDesign | pd.DataFrame | Sequence[pd.DataFrame],
    by: str | None = None,
) -> JudgedDesign:
    """A design already prepared (so estimates, ratings and tables of the same samples share
    one), ``by`` checked against its cases; otherwise ``prepare``'s."""
    if isinstance(judged, JudgedDesign):
        check_by(judged.sample, by, "sample")
        return judged
    return prepare(judged, by)


def check(sample: pd.DataFrame, by: str | None, judgements: list[str], source: str) -> None:
    """Columns, π, judgement values, whole-case non-response and unique case ids of one sample."""
    missing = [c for c in (INCLUSION_PROBABILITY, "stratum") if c not in sample.columns]
    if missing:
        raise InputError(f"the judged sample lacks columns {', '.join(missing)}", source=source)
    check_by(sample, by, source)
    pi = pd.to_numeric(sample[INCLUSION_PROBABILITY], errors="coerce")
    valid = (pi > 0) & (pi <= 1 + ROUNDING)
    _refuse(
        ~valid.to_numpy(dtype=bool), "must be a number in (0, 1]", source, INCLUSION_PROBABILITY
    )
    values = sample[judgements].astype(str).to_numpy()
    for j, judgement in enumerate(judgements):
        wrong = ~np.isin(values[:, j], ALLOWED)
        if wrong.any():
            raise InputError(
                f"expected one of {', '.join(ALLOWED)} (an empty cell is not a judgement)",
                source=source,
                column=judgement,
                rows=_lines(wrong),
                examples=values[wrong, j][:3].tolist(),
            )
    absent = values == NOT_INSPECTED
    _refuse(
        absent.any(axis=1) & ~absent.all(axis=1),
        f"{NOT_INSPECTED} marks a whole case: every judgement cell of the row or none",
        source,
        None,
    )
    if "case_id" in sample.columns:
        _refuse(
            sample["case_id"].duplicated(keep=False).to_numpy(),
            "case_id must be unique in a judged sample (a case counted twice biases the estimate)",
            source,
            "case_id",
        )


def response_factors(
    key: pd.Series, inspection: pd.Series, pi: np.ndarray, responded: np.ndarray
) -> np.ndarray:
    """Per case, the weighting-class factor f_h of its stratum key (module docstring)."""
    labels = key.to_numpy()
    weight = pd.Series(1.0 / pi)
    drawn = weight.groupby(labels).sum()
    answered = (weight * responded).groupby(labels).sum()
    counts = pd.Series(responded.astype(int)).groupby(labels).sum()
    home = inspection.groupby(labels).first()
    class_of = pd.Series(drawn.index, index=drawn.index)
    for empty in answered.index[answered <= 0]:
        options = [k for k in answered.index if answered[k] > 0 and home[k] == home[empty]]
        if not options:
            raise InputError(
                f"no case of inspection {home[empty]} was inspected: nothing to estimate from",
                source="sample",
                column="judgements",
            )
        class_of[empty] = min(options, key=lambda k: (-_shared(empty, k), -counts[k], k))
    factor = drawn.groupby(class_of).sum() / answered.groupby(class_of).sum()
    return factor.reindex(class_of.reindex(labels).to_numpy()).to_numpy(dtype=float)


def _shared(a: str, b: str) -> int:
    """Leading parts two stratum labels share ("Office A / female", "Office A / male": 1)."""
    count = 0
    for x, y in zip(a.split(" / "), b.split(" / "), strict=False):
        if x != y:
            break
        count += 1
    return count


def _lines(mask: np.ndarray) -> list[int]:
    return (np.flatnonzero(mask) + 2).tolist()


def _refuse(mask: np.ndarray, rule: str, source: str, column: str | None) -> None:
    if np.asarray(mask).any():
        raise InputError(rule, source=source, column=column, rows=_lines(np.asarray(mask)))
