"""Valid files load as frames typed by the contract, and tables are written back atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import (
    ETHNICITIES,
    FRAME_COLUMNS,
    INCLUSION_PROBABILITY,
    INSPECTED_COLUMNS,
    JUDGEMENT_VALUES,
)
from features.errors import InputError
from features.readers import read_table, write_table
from features.schema import typed_schema
from features.validation import load_table

STRING_DTYPE = pd.StringDtype(na_value=np.nan)


pytestmark = pytest.mark.usefixtures("in_tmp")


def test_typed_frame_has_the_contract_dtypes(valid_inspected: pd.DataFrame) -> None:
    write_table(valid_inspected, "cases.csv")
    loaded = load_table("cases.csv")
    assert list(loaded.columns) == list(INSPECTED_COLUMNS)
    assert loaded["case_id"].dtype == STRING_DTYPE
    assert loaded["officer_id"].dtype == STRING_DTYPE
    assert loaded["ethnicity"].dtype == pd.CategoricalDtype(ETHNICITIES, ordered=False)
    assert loaded["review_safety"].dtype == pd.CategoricalDtype(JUDGEMENT_VALUES)
    assert loaded["age"].dtype == np.dtype("int64")
    assert loaded["iom"].dtype == np.dtype("bool")
    assert loaded["inspection_date"].dtype == np.dtype("datetime64[ns]")
    assert isinstance(loaded.index, pd.RangeIndex) and loaded.index[0] == 0
    typed_schema("inspected").validate(loaded)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_loads_back_equal(valid_inspected: pd.DataFrame, suffix: str) -> None:
    valid_inspected[INCLUSION_PROBABILITY] = np.linspace(0.01, 1.0, len(valid_inspected))
    valid_inspected["note"] = "kept"
    write_table(valid_inspected, f"cases{suffix}")
    pd.testing.assert_frame_equal(load_table(f"cases{suffix}"), valid_inspected)


def test_frame_round_trip_and_kind_detection(valid_frame: pd.DataFrame) -> None:
    write_table(valid_frame, "frame.parquet")
    loaded = load_table("frame.parquet")
    pd.testing.assert_frame_equal(loaded, valid_frame)
    assert list(loaded.columns) == list(FRAME_COLUMNS)


def test_all_string_parquet_is_typed(valid_inspected: pd.DataFrame, valid_inspected_text) -> None:
    valid_inspected_text.to_parquet("cases.parquet")
    pd.testing.assert_frame_equal(load_table("cases.parquet"), valid_inspected)


def test_write_table_is_atomic_and_replaces(valid_inspected: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "out" / "cases.parquet"
    write_table(valid_inspected.head(5), target)
    write_table(valid_inspected, target)
    assert len(read_table(target)) == len(valid_inspected)
    assert [p.name for p in target.parent.iterdir()] == ["cases.parquet"]
    with pytest.raises(InputError, match="unsupported file type"):
        write_table(valid_inspected, tmp_path / "cases.xls")


def test_legacy_inspected_file_is_unchanged(valid_inspected: pd.DataFrame) -> None:
    write_table(valid_inspected, "cases.csv")
    loaded = load_table("cases.csv", "inspected")
    pd.testing.assert_frame_equal(loaded, valid_inspected)
    assert "stratum" not in loaded.columns
