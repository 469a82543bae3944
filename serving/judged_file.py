"""The judged-sample file (CONTRACT.md §7): drawn cases as the file inspectors fill in and return.

``judged_table`` adds the inspection (id and date) and the 12 judgement columns, blank, to a
drawn sample and puts the columns in the contract's order (``JUDGED_COLUMNS``; other columns of
the frame come after the design columns, so the judgements stay last). ``write_judged`` writes it
as CSV, Parquet or an inspector workbook (.xlsx) with a drop-down on every judgement cell;
``features.validation.load_judged`` reads any of the three back.

Defaults: the inspection date is the day the sample is drawn; the inspection id is
``insp-YYYYMMDD-<8 hex digits>``, the digits opening the SHA-256 of the sorted case ids, so the
same cases on the same date give the same id and the id tells nothing about the seed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pandas as pd

from features.contract import EARLIEST_INSPECTION, JUDGED_COLUMNS, JUDGEMENT_VALUES, JUDGEMENTS
from features.errors import InputError
from features.readers import write_table

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def default_inspection_id(case_ids: pd.Series, inspection_date: date) -> str:
    """``insp-YYYYMMDD-`` and the first 8 hex digits of the SHA-256 of the sorted case ids."""
    text = "\n".join(sorted(case_ids.astype(str)))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"insp-{inspection_date:%Y%m%d}-{digest}"


def parse_inspection_date(text: str | None) -> date:
    """The ``--inspection-date`` option (YYYY-MM-DD, from 2010-01-01), today when not given."""
    if text is None:
        return date.today()
    try:
        when = date.fromisoformat(text.strip()) if ISO_DATE.fullmatch(text.strip()) else None
    except ValueError:
        when = None
    if when is None or when < EARLIEST_INSPECTION:
        raise InputError(
            f"expected a date YYYY-MM-DD from {EARLIEST_INSPECTION}",
            source="options",
            column="--inspection-date",
            examples=[text],
        )
    return when


def parse_inspection_id(text: str | None) -> str | None:
    """The ``--inspection-id`` option without surrounding blanks (None: the default)."""
    if text is not None and not text.strip():
        raise InputError(
            "the inspection id cannot be empty", source="options", column="--inspection-id"
        )
    return None if text is None else text.strip()


def judged_table(
    cases: pd.DataFrame, inspection_id: str | None = None, inspection_date: date | None = None
) -> pd.DataFrame:
    """The drawn ``cases`` as a judged-sample template: inspection columns (kept when present
    and not given), blank judgements (kept when present); applied twice, it changes nothing."""
    when = inspection_date or date.today()
    identifier = parse_inspection_id(inspection_id)
    table = cases.reset_index(drop=True)
    if identifier is not None or "inspection_id" not in table.columns:
        table["inspection_id"] = identifier or default_inspection_id(cases["case_id"], when)
    if inspection_date is not None or "inspection_date" not in table.columns:
        table["inspection_date"] = when.isoformat()
    for judgement in JUDGEMENTS:
        if judgement not in table.columns:
            table[judgement] = ""
    known = [c for c in JUDGED_COLUMNS if c in table.columns and c not in JUDGEMENTS]
    others = [c for c in table.columns if c not in JUDGED_COLUMNS]
    return table[known + others + list(JUDGEMENTS)]


def write_judged(table: pd.DataFrame, path: Path | str) -> None:
    """Write a judged sample (.csv, .parquet, or .xlsx with drop-downs on the judgements)."""
    write_table(table, path, choices=dict.fromkeys(JUDGEMENTS, JUDGEMENT_VALUES))
