"""Pandera schemas of the data contract (CONTRACT.md §1–2, §7) and the typed frame's dtypes.

``contract_schema`` holds the rules (closed categories, ranges, uniqueness, no empty values)
without dtypes, so it checks a freshly parsed table before its categories are closed;
``typed_schema`` adds the dtypes that ``features.validation`` returns and every later stage
relies on.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

import pandas as pd
import pandera.pandas as pa

from features.contract import (
    CATEGORIES,
    DESIGN_COLUMNS,
    EARLIEST_INSPECTION,
    FRAME_COLUMNS,
    INCLUSION_PROBABILITY,
    INSPECTED_COLUMNS,
    INTEGER_RANGES,
    JUDGED_COLUMNS,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    STRING_COLUMNS,
)

Kind = Literal["inspected", "frame", "judged"]
KINDS: tuple[Kind, ...] = ("inspected", "frame", "judged")

TEXT_COLUMNS: tuple[str, ...] = STRING_COLUMNS + ("inspection_id", "stratum")
"""Free-text identifier and name columns: non-empty strings."""
FREE_TEXT_COLUMNS: tuple[str, ...] = ("reason", "method", "balance")
"""Design facts in words: strings that may be empty (``balance`` is when nothing is balanced)."""
BOOLEAN_COLUMN = "iom"
DATE_COLUMN = "inspection_date"
DECIMAL_RANGES: dict[str, tuple[float, float | None, bool]] = {
    INCLUSION_PROBABILITY: (0.0, 1.0, False),
    "design_weight": (1.0, None, True),
    "risk_score": (0.0, 1.0, True),
    "block_pi": (0.0, None, False),
    "block_risk": (0.0, 1.0, True),
}
"""Decimal columns: lower bound, upper bound (None: none) and whether the lower one is allowed."""
COUNT_COLUMNS: dict[str, int] = {"block_cases": 1}
"""Integer design columns without an upper bound, and their least value."""
JUDGED_REQUIRED: tuple[str, ...] = ("case_id", "stratum", INCLUSION_PROBABILITY) + JUDGEMENTS
"""What estimation needs of a judged sample; its other columns are checked when present."""

STRING = pd.Series([], dtype=str).dtype
"""The dtype pandas gives ``astype(str)`` (``str`` in pandas 3): used for every text column."""

NON_EMPTY = pa.Check(lambda s: s.str.strip().str.len() > 0, error="empty value")


def columns(kind: Kind) -> tuple[str, ...]:
    """The required contract columns of ``kind``, in contract order."""
    required = {"inspected": INSPECTED_COLUMNS, "frame": FRAME_COLUMNS, "judged": JUDGED_REQUIRED}
    return required[kind]


def optional_columns(kind: Kind) -> tuple[str, ...]:
    """Optional contract columns of ``kind``: checked and typed when present.

    An inspected table may carry the design columns of the judged sample it came from.
    """
    if kind == "frame":
        return ()
    return tuple(c for c in all_columns(kind) if c not in columns(kind))


def all_columns(kind: Kind) -> tuple[str, ...]:
    """Every contract column of ``kind``, required or optional, in the order tables keep."""
    if kind == "judged":
        return JUDGED_COLUMNS
    if kind == "inspected":
        return INSPECTED_COLUMNS + DESIGN_COLUMNS
    return FRAME_COLUMNS


def typed_dtypes(kind: Kind) -> dict[str, object]:
    """Dtype of every contract column of ``kind`` in the validated, typed frame."""
    return {column: _dtype(column) for column in all_columns(kind)}


def contract_schema(kind: Kind, today: date | None = None) -> pa.DataFrameSchema:
    """The contract's rules for ``kind`` (dates up to ``today``); dtypes are not checked."""
    today = today or date.today()
    rules = {column: _column(column, today) for column in columns(kind)}
    rules.update(
        {column: _column(column, today, required=False) for column in optional_columns(kind)}
    )
    return pa.DataFrameSchema(rules, strict=False, name=kind)


def typed_schema(kind: Kind, today: date | None = None) -> pa.DataFrameSchema:
    """The contract's rules plus the typed frame's dtypes: what ``load_table`` returns."""
    dtypes = {column: {"dtype": dtype} for column, dtype in typed_dtypes(kind).items()}
    return contract_schema(kind, today).update_columns(dtypes)


def _dtype(column: str) -> object:
    """Typed-frame dtype of one contract column."""
    if column in CATEGORIES:
        return pd.CategoricalDtype(CATEGORIES[column])
    if column in JUDGEMENTS:
        return pd.CategoricalDtype(JUDGEMENT_VALUES)
    if column in INTEGER_RANGES:
        return "int64"
    if column == BOOLEAN_COLUMN:
        return "bool"
    if column == DATE_COLUMN:
        return "datetime64[ns]"
    if column in DECIMAL_RANGES:
        return "float64"
    if column in COUNT_COLUMNS:
        return "int64"
    return STRING


def _column(column: str, today: date, required: bool = True) -> pa.Column:
    """One column's rules, each carrying the plain-words message users see when it fails."""
    return pa.Column(
        None,
        checks=_checks(column, today),
        nullable=column in FREE_TEXT_COLUMNS,
        unique=column == "case_id",
        required=required,
        name=column,
    )


def _checks(column: str, today: date) -> list[pa.Check]:
    """Value checks of one contract column (nullability and uniqueness are column options)."""
    if column in TEXT_COLUMNS:
        return [NON_EMPTY]
    levels = CATEGORIES.get(column) or (JUDGEMENT_VALUES if column in JUDGEMENTS else None)
    if levels:
        return [pa.Check.isin(levels, error=f"unknown category; allowed: {', '.join(levels)}")]
    if column in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column]
        return [pa.Check.in_range(low, high, error=f"value out of range {low}…{high}")]
    if column == DATE_COLUMN:
        return [
            pa.Check.in_range(
                pd.Timestamp(EARLIEST_INSPECTION),
                pd.Timestamp(today),
                error=f"date out of range {EARLIEST_INSPECTION}…{today} (today)",
            )
        ]
    if column in DECIMAL_RANGES:
        return [_decimal_range(*DECIMAL_RANGES[column])]
    if column in COUNT_COLUMNS:
        least = COUNT_COLUMNS[column]
        return [pa.Check.ge(least, error=f"value below {least}")]
    return []


def _decimal_range(low: float, high: float | None, include_low: bool) -> pa.Check:
    """The range check of a decimal column (finite values only), in interval notation."""
    text = f"{'[' if include_low else '('}{low:g}, {'∞)' if high is None else f'{high:g}]'}"
    return pa.Check.in_range(
        low,
        math.inf if high is None else high,
        include_min=include_low,
        include_max=high is not None,
        error=f"value out of range {text}",
    )
