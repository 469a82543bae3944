"""Fuzzing the readers and validator: whatever the file, ``casework validate`` exits 0 or 2."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from casework.cli import app
from features.errors import InputError
from features.readers import write_table

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    # the fixtures are read, never changed, by the examples: sharing them is safe
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

NASTY = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e309",
        "9" * 40,
        "-" + "9" * 25,
        "NULL",
        "None",
        "1.0",
        "0x1F",
        "１２",
        "2019-02-29",
        "2019-13-01",
        "0001-01-01",
        "\x00",
        '"',
        "\r\n",
        "\ufeff",
        "é",
        "TRUE",
    ]
)
CELLS = st.one_of(
    NASTY,
    st.text(max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(str),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"])


def assert_exits_cleanly(path: Path) -> None:
    """The CLI ends with exit 0, or exit 2 and an error message: never 1 or a traceback."""
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ") and str(path.name) in result.stderr


@pytest.fixture
def parquet_bytes(valid_inspected: pd.DataFrame) -> bytes:
    """A valid, typed inspected table as Parquet bytes."""
    buffer = io.BytesIO()
    valid_inspected.to_parquet(buffer, index=False)
    return buffer.getvalue()


@FUZZ
@given(data=st.binary(max_size=3_000), suffix=st.sampled_from([".csv", ".parquet", ".xlsx"]))
def test_random_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert_exits_cleanly(path)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 49), st.integers(0, 30), CELLS), max_size=6),
    duplicate_header=st.booleans(),
    bom=st.booleans(),
    encoding=ENCODINGS,
    keep=st.none() | st.floats(0.5, 1.0),
)
def test_mutated_csv(
    tmp_path: Path,
    valid_inspected_text: pd.DataFrame,
    edits: list[tuple[int, int, str]],
    duplicate_header: bool,
    bom: bool,
    encoding: str,
    keep: float | None,
) -> None:
    table = valid_inspected_text.copy()
    for row, column, value in edits:
        table.iloc[row, column] = value
    if duplicate_header:
        table.columns = [*table.columns[:-1], table.columns[0]]
    text = ("\ufeff" if bom else "") + table.to_csv(index=False)
    data = text.encode(encoding, errors="replace")
    if keep is not None:
        data = data[: int(len(data) * keep)]
    path = tmp_path / "mutated.csv"
    path.write_bytes(data)
    assert_exits_cleanly(path)


@FUZZ
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_damaged_parquet(
    tmp_path: Path, parquet_bytes: bytes, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(parquet_bytes[: max(1, int(len(parquet_bytes) * cut))])
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(data))
    assert_exits_cleanly(path)


COLUMN_VALUES = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=50, max_size=50),
    st.lists(st.floats(), min_size=50, max_size=50),
    st.lists(st.booleans(), min_size=50, max_size=50),
    st.lists(st.none() | st.text(max_size=8), min_size=50, max_size=50),
    st.lists(st.datetimes(), min_size=50, max_size=50),
    st.lists(st.dates(), min_size=50, max_size=50),
    st.lists(st.lists(st.integers(-5, 5), max_size=3), min_size=50, max_size=50),
)


@FUZZ
@given(column=st.integers(0, 30), values=COLUMN_VALUES, as_category=st.booleans())
def test_typed_parquet_columns(
    tmp_path: Path, valid_inspected: pd.DataFrame, column: int, values: list, as_category: bool
) -> None:
    assume(not (as_category and isinstance(values[0], list)))  # lists cannot be categories
    table = valid_inspected.copy()
    name = table.columns[column]
    table[name] = pd.Series(values, dtype="category" if as_category else None)
    path = tmp_path / "typed.parquet"
    table.to_parquet(path, index=False)
    assert_exits_cleanly(path)


WORKBOOK_CELLS = st.one_of(
    CELLS,
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.sampled_from(["=1+1", "=A1", None]),
)


@settings(FUZZ, max_examples=12)  # ~0.3 s each: openpyxl writes and reads a workbook
@given(
    edits=st.lists(st.tuples(st.integers(0, 49), st.integers(0, 30), WORKBOOK_CELLS), max_size=6)
)
def test_workbook_cells(
    tmp_path: Path, valid_inspected: pd.DataFrame, edits: list[tuple[int, int, object]]
) -> None:
    table = valid_inspected.astype(object)
    for row, column, value in edits:
        table.iat[row, column] = value
    path = tmp_path / "cells.xlsx"
    try:
        write_table(table, path)
    except InputError as refused:  # text Excel cannot hold: refused by name, never a crash
        assert "control characters" in str(refused)
        return
    assert_exits_cleanly(path)
