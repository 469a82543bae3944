"""Pandera schemas of the data contract (CONTRACT.md §1–2) and the typed frame's dtypes.

``contract_schema`` holds the rules (closed categories, ranges, uniqueness, no empty values)
without dtypes, so it checks a freshly parsed table before its categories are closed;
``typed_schema`` adds the dtypes that ``features.validation`` returns and every later stage
relies on.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandas as pd
import pandera.pandas as pa

from features.contract import (
    CATEGORIES,
    EARLIEST_INSPECTION,
    FRAME_COLUMNS,
    INCLUSION_PROBABILITY,
    INSPECTED_COLUMNS,
    INTEGER_RANGES,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    STRING_COLUMNS,
)

Kind = Literal["inspected", "frame"]
KINDS: tuple[Kind, ...] = ("inspected", "frame")

TEXT_COLUMNS: tuple[str, ...] = STRING_COLUMNS + ("inspection_id",)
"""Free-text identifier and name columns: non-empty strings."""
BOOLEAN_COLUMN = "iom"
DATE_COLUMN = "inspection_date"

STRING = pd.Series([], dtype=str).dtype
"""The dtype pandas gives ``astype(str)`` (``str`` in pandas 3): used for every text column."""

NON_EMPTY = pa.Check(lambda s: s.str.strip().str.len() > 0, error="empty value")


def columns(kind: Kind) -> tuple[str, ...]:
    """The required contract columns of ``kind``, in contract order."""
    return INSPECTED_COLUMNS if kind == "inspected" else FRAME_COLUMNS


def optional_columns(kind: Kind) -> tuple[str, ...]:
    """Optional contract columns of ``kind``: checked and typed when present."""
    return (INCLUSION_PROBABILITY,) if kind == "inspected" else ()


def typed_dtypes(kind: Kind) -> dict[str, object]:
    """Dtype of every contract column of ``kind`` in the validated, typed frame."""
    return {column: _dtype(column) for column in columns(kind) + optional_columns(kind)}


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
    if column == INCLUSION_PROBABILITY:
        return "float64"
    return STRING


def _column(column: str, today: date, required: bool = True) -> pa.Column:
    """One column's rules, each carrying the plain-words message users see when it fails."""
    return pa.Column(
        None,
        checks=_checks(column, today),
        nullable=False,
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
    if column == INCLUSION_PROBABILITY:
        return [pa.Check.in_range(0, 1, include_min=False, error="value out of range (0, 1]")]
    return []
