"""Excel workbooks (.xlsx, openpyxl) as tables: the inspector's copy of a judged sample.

``write_workbook`` puts a table on one sheet with a frozen, filtered header, readable column
widths and optional drop-down lists; ``read_workbook`` reads the first sheet back as text cells,
like a CSV file, so that validation parses every format the same way. Floats are stored as their
shortest round-trip decimal (``repr``), so they read back exactly.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from features.errors import InputError

SHEET = "sample"
WIDEST = 60
"""Column width cap (characters): long reasons wrap rather than widen the sheet."""
_SAMPLED_ROWS = 200
"""Rows looked at to size a column."""


def write_workbook(
    frame: pd.DataFrame, handle: BinaryIO, choices: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Write ``frame`` as one sheet; each column in ``choices`` gets a drop-down of its values."""
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append([str(name) for name in frame.columns])
    for number, row in enumerate(frame.itertuples(index=False, name=None), start=2):
        cells = [_cell(value) for value in row]
        _refuse_control_characters(cells, frame.columns, number)
        sheet.append(cells)
    for cell in (c for row in sheet.iter_rows(min_row=2) for c in row):
        if cell.data_type == "f":  # text that starts with "=" stays text, never a formula
            cell.data_type = "s"
    last = len(frame) + 1
    for position, name in enumerate(frame.columns, start=1):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = _width(name, frame[name])
        if choices and name in choices and len(frame):
            sheet.add_data_validation(_drop_down(choices[name], f"{letter}2:{letter}{last}"))
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = sheet.dimensions
    save_exact(book, handle)


def save_exact(book: Workbook, target: BinaryIO | Path) -> None:
    """Save ``book`` with every float as its ``repr``, so probabilities round-trip exactly.

    openpyxl's own "%.16g" is a digit short of a round trip: a probability would come back
    changed in its last bit.
    """
    for sheet in book.worksheets:
        for cell in (c for row in sheet.iter_rows() for c in row):
            if isinstance(cell.value, float) and math.isfinite(cell.value):
                cell.value, cell.data_type = repr(cell.value), "n"
    book.save(target)


def read_workbook(path: Path) -> pd.DataFrame:
    """The first sheet as text cells (empty cells ""), indexed by the sheet's row numbers."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        reason = next(iter(str(exc).splitlines()), type(exc).__name__)
        raise InputError(f"not a readable Excel workbook ({reason})", source=str(path)) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers store none or a wrong one
        rows = [[_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    if not rows or not any(rows[0]):
        raise InputError("no header row (the first row is empty)", source=str(path))
    width = max(i + 1 for i, name in enumerate(rows[0]) if name)
    stray = [r for r, row in enumerate(rows, start=1) if any(row[width:])]
    if stray:
        raise InputError(
            f"values beyond the last named column ({get_column_letter(width)})",
            source=str(path),
            rows=stray,
        )
    body = [row[:width] + [""] * (width - len(row)) for row in rows[1:]]
    return pd.DataFrame(
        body, columns=rows[0][:width], index=pd.RangeIndex(2, len(body) + 2), dtype=object
    )


def _refuse_control_characters(cells: list[object], names: pd.Index, row: int) -> None:
    """Raise for text an Excel sheet cannot hold (control characters)."""
    for name, value in zip(names, cells, strict=True):
        if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
            raise InputError(
                "control characters cannot be stored in an Excel workbook; write .csv or .parquet",
                column=str(name),
                rows=[row],
            )


def _cell(value: object) -> object:
    """A table value as openpyxl stores it: plain Python scalars, missing values empty."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _text(value: object) -> str:
    """A cell as CSV text: whole floats without ``.0``, midnight datetimes as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _width(name: object, values: pd.Series) -> float:
    """Column width fitting the header and the first rows' values, at most ``WIDEST``."""
    shown = values.head(_SAMPLED_ROWS).map(lambda v: len(_text(_cell(v))))
    return min(WIDEST, max([len(str(name)), *shown.tolist()]) + 2)


def _drop_down(values: Sequence[str], cells: str) -> DataValidation:
    """A list validation offering ``values`` (blank allowed until filled in) on ``cells``."""
    rule = DataValidation(
        type="list",
        formula1=f'"{",".join(values)}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Not an allowed value",
        error=f"Choose one of: {', '.join(values)}",
        promptTitle="Judgement",
        prompt=", ".join(values),
        showInputMessage=True,
    )
    rule.add(cells)
    return rule
