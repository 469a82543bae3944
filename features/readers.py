"""Read and write the contract's tables (CSV, Parquet, Excel); user-caused failures: InputError.

``read_table`` returns the table as found in the file, indexed by the row numbers a person sees
there (CSV: line numbers, the header being line 1; Parquet: 1-based row numbers; Excel: the
sheet's row numbers, the header being row 1) and with ``attrs[ROW_LABEL]`` saying which, so
validation can point at offending rows precisely.
"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from features.errors import InputError
from features.workbook import read_workbook, write_workbook

ROW_LABEL = "row_label"
"""Key of ``DataFrame.attrs`` naming what the index counts: "line" (CSV) or "row" (Parquet)."""

SUFFIXES = (".csv", ".parquet", ".xlsx")
_NOT_UTF8 = "not UTF-8 text (wrong encoding or not a CSV file); save it as UTF-8 CSV"


def read_table(path: Path | str) -> pd.DataFrame:
    """The table in a .csv, .parquet or .xlsx file, as found there.

    CSV: UTF-8, optional BOM, every column as strings; Excel: the first sheet, every cell as
    text.
    """
    path = Path(path)
    readers = {".csv": _read_csv, ".parquet": _read_parquet, ".xlsx": _read_xlsx}
    suffix = path.suffix.lower()
    if suffix not in readers:
        raise InputError(_unsupported(suffix), source=str(path))
    if not path.exists():
        raise InputError("file not found", source=str(path))
    if not path.is_file():
        raise InputError("not a file", source=str(path))
    if path.stat().st_size == 0:
        raise InputError("empty file", source=str(path))
    return readers[suffix](path)


def write_table(
    frame: pd.DataFrame,
    path: Path | str,
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Write ``frame`` to a .csv, .parquet or .xlsx file atomically: readers see old or new.

    In a workbook, the columns in ``choices`` get a drop-down list of their values.
    """
    path = Path(path)
    writers: dict[str, Callable[[pd.DataFrame, BinaryIO], None]] = {
        ".csv": lambda df, handle: df.to_csv(handle, index=False, encoding="utf-8"),
        ".parquet": lambda df, handle: df.to_parquet(handle, index=False),
        ".xlsx": partial(write_workbook, choices=choices),
    }
    suffix = path.suffix.lower()
    if suffix not in writers:
        raise InputError(_unsupported(suffix), source=str(path))
    write_atomically(path, lambda handle: writers[suffix](frame, handle))


def write_text(text: str, path: Path | str) -> None:
    """Write a text file (an HTML report, say) atomically, as UTF-8."""
    write_atomically(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Run ``write`` on a temp file beside ``path``, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise InputError(
            f"cannot write the file ({exc.strerror or exc})", source=str(path)
        ) from exc
    finally:
        with contextlib.suppress(OSError):  # e.g. the parent is a file: keep the InputError
            temporary.unlink(missing_ok=True)


def _unsupported(suffix: str) -> str:
    """The message for a file type casework does not read or write."""
    return (
        f"unsupported file type {suffix or '(none)'!r}; "
        f"use {', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]}"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """All-string CSV table indexed by line number; blank lines are skipped.

    Line numbers count one line per record (a value with a line break inside quotes counts once).
    """
    names = _csv_header(path)
    ragged: list[pa_csv.InvalidRow] = []

    def skip_ragged(row: pa_csv.InvalidRow) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=skip_ragged,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}
            ),
        )
    except pa.ArrowException as exc:
        raise InputError(_csv_problem(exc), source=str(path)) from None
    if ragged:
        raise InputError(
            f"wrong number of fields; the header has {len(names)}",
            source=str(path),
            rows=[row.number for row in ragged if row.number is not None],
            examples=[f"{row.actual_columns} fields" for row in ragged[:3]],
            row_label="line",
        )
    if table.column_names != names:
        raise InputError("header not readable; check its quoting", source=str(path))
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame = frame[~_blank_rows(frame)]
    frame.attrs[ROW_LABEL] = "line"
    return frame


def _csv_header(path: Path) -> list[str]:
    """Column names of a CSV file, read strictly as UTF-8; duplicates are refused."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise InputError(_NOT_UTF8, source=str(path)) from None
    except csv.Error as exc:
        raise InputError(f"header not readable ({exc})", source=str(path)) from None
    except OSError as exc:
        raise InputError(
            f"cannot read the file ({exc.strerror or exc})", source=str(path)
        ) from None
    if not names:
        raise InputError("no header row (the first line is empty)", source=str(path))
    _refuse_duplicates(names, path)
    return names


def _csv_problem(exc: pa.ArrowException) -> str:
    """Plain words for a CSV parse failure reported by Arrow."""
    if "UTF8" in str(exc):
        return _NOT_UTF8
    return f"not a readable CSV file ({_first_line(exc)})"


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message, or its type when it has none."""
    return next(iter(str(exc).splitlines()), type(exc).__name__)


def _blank_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows whose every field is empty: blank lines."""
    first_empty = frame.iloc[:, 0] == ""
    blank = first_empty.copy()
    if first_empty.any():
        blank[first_empty] = (frame[first_empty] == "").all(axis=1)
    return blank


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet table as stored (possibly typed; pandas' index metadata ignored), by row number."""
    try:
        table = pq.read_table(path)
        _refuse_duplicates(table.column_names, path)
        frame = table.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, OSError) as exc:
        reason = _first_line(exc)
        raise InputError(f"not a readable Parquet file ({reason})", source=str(path)) from None
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs[ROW_LABEL] = "row"
    return frame


def _read_xlsx(path: Path) -> pd.DataFrame:
    """First sheet of a workbook as text cells, by the sheet's row numbers; blank rows skipped."""
    frame = read_workbook(path)
    _refuse_duplicates(frame.columns.tolist(), path)
    frame = frame[~_blank_rows(frame)] if len(frame) else frame
    frame.attrs[ROW_LABEL] = "row"
    return frame


def _refuse_duplicates(names: list[str], path: Path) -> None:
    """Raise when a column name occurs more than once: its values would be ambiguous."""
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        raise InputError(
            "duplicate column names in the header",
            source=str(path),
            column=duplicates[0],
            examples=duplicates,
        )
