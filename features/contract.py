"""Names and categories of the public data contract (CONTRACT.md §1–3), defined once.

Every other module (schemas, generator, feature pipeline, sampler, service) takes its column
names and allowed values from here, so the contract cannot drift between stages.
"""

from __future__ import annotations

from datetime import date
from itertools import product

import numpy as np

STAGES: tuple[str, ...] = ("assessment", "planning", "delivery", "review")
AIMS: tuple[str, ...] = ("engagement", "desistance", "safety")
JUDGEMENTS: tuple[str, ...] = tuple(f"{stage}_{aim}" for stage, aim in product(STAGES, AIMS))
"""The 12 key judgements, stage-major: assessment_engagement ... review_safety."""

SUFFICIENT, INSUFFICIENT, NOT_APPLICABLE = "sufficient", "insufficient", "not_applicable"
NOT_INSPECTED = "not_inspected"
"""A drawn case that could not be examined (CONTRACT.md §7): unit non-response in estimation,
left out of training. It fills all 12 judgements of its case."""
JUDGEMENT_VALUES: tuple[str, ...] = (SUFFICIENT, INSUFFICIENT, NOT_APPLICABLE, NOT_INSPECTED)
"""Allowed values of a judgement column (the categories of the typed frame)."""

PROVIDER_TYPES: tuple[str, ...] = ("NPS", "CRC")
GRADES: tuple[str, ...] = ("PO", "PSO")
ROSH_LEVELS: tuple[str, ...] = ("low", "medium", "high", "very_high")
REOFFENDING_LEVELS: tuple[str, ...] = ("low", "medium", "high")
SENTENCE_TYPES: tuple[str, ...] = ("community_order", "suspended_sentence_order", "licence")
GENDERS: tuple[str, ...] = ("male", "female")
ETHNICITIES: tuple[str, ...] = ("white", "black", "asian", "mixed", "other", "not_stated")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "provider_type": PROVIDER_TYPES,
    "officer_grade": GRADES,
    "rosh_level": ROSH_LEVELS,
    "reoffending_likelihood": REOFFENDING_LEVELS,
    "sentence_type": SENTENCE_TYPES,
    "gender": GENDERS,
    "ethnicity": ETHNICITIES,
}
"""Closed categories of the contract, in their natural order (ordinal ones low to high)."""

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "officer_caseload": (0, 300),
    "officer_changes": (0, 20),
    "months_supervised": (0, 120),
    "age": (18, 100),
}
"""Inclusive ranges of the contract's integer columns."""

STRING_COLUMNS: tuple[str, ...] = ("case_id", "provider", "region", "office", "officer_id")
PROTECTED: tuple[str, ...] = ("gender", "ethnicity", "age")
"""Protected characteristics: for stratification and audit, not model inputs by default."""

FRAME_COLUMNS: tuple[str, ...] = (
    "case_id",
    "provider_type",
    "provider",
    "region",
    "office",
    "officer_id",
    "officer_grade",
    "officer_caseload",
    "officer_changes",
    "rosh_level",
    "reoffending_likelihood",
    "sentence_type",
    "months_supervised",
    "iom",
    "gender",
    "ethnicity",
    "age",
)
"""Caseload frame columns (CONTRACT.md §2), in contract order."""

INSPECTED_COLUMNS: tuple[str, ...] = (
    ("case_id", "inspection_id", "inspection_date") + FRAME_COLUMNS[1:] + JUDGEMENTS
)
"""Inspected-case columns (CONTRACT.md §1), in contract order."""

INCLUSION_PROBABILITY = "inclusion_probability"
DESIGN_COLUMNS: tuple[str, ...] = (
    "stratum",
    INCLUSION_PROBABILITY,
    "design_weight",
    "risk_score",
    "reason",
    "method",
    "balance",
    "block_pi",
    "block_cases",
    "block_risk",
)
"""Columns `casework sample` adds to a selected case (CONTRACT.md §4, §7): its stratum, chance,
weight, score and reason, the method, the balancing variables (comma-separated) and the facts
about its officer × stratum block that the variance estimator uses."""
EARLIEST_INSPECTION = date(2010, 1, 1)

JUDGED_COLUMNS: tuple[str, ...] = (
    ("case_id", "office", "officer_id")
    + DESIGN_COLUMNS[:5]
    + ("inspection_id", "inspection_date")
    + tuple(c for c in FRAME_COLUMNS if c not in ("case_id", "office", "officer_id"))
    + DESIGN_COLUMNS[5:]
    + JUDGEMENTS
)
"""Judged-sample columns (CONTRACT.md §7) in file order: the sample columns of §4 first (as
`casework sample` always wrote them), the inspection, the rest of the frame, the design facts
the estimator uses, and the 12 judgements, left blank for inspectors, last."""

RISK_SCORE = "risk_score"


def score_column(judgement: str) -> str:
    """Name of the scored probability that ``judgement`` is insufficient (CONTRACT.md §3)."""
    return f"p_insufficient__{judgement}"


def has_verdict(values: np.ndarray) -> np.ndarray:
    """Where a judgement column holds a verdict: sufficient or insufficient.

    ``not_applicable``, ``not_inspected`` (a drawn case that could not be examined) and empty
    cells carry no label, so training, metrics, gates and reports all leave them out.
    """
    return np.isin(np.asarray(values).astype(str), (SUFFICIENT, INSUFFICIENT))


def truth_column(judgement: str) -> str:
    """Name of the generator's true probability that ``judgement`` is insufficient."""
    return f"p_true__{judgement}"


SCORE_COLUMNS: tuple[str, ...] = (
    ("case_id",) + tuple(score_column(j) for j in JUDGEMENTS) + (RISK_SCORE,)
)
