"""Small valid contract tables built from features.contract alone (not from the generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import (
    CATEGORIES,
    FRAME_COLUMNS,
    INSPECTED_COLUMNS,
    INSUFFICIENT,
    INTEGER_RANGES,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_APPLICABLE,
    SUFFICIENT,
)

ROWS = 50
STRING_DTYPE = pd.StringDtype(na_value=np.nan)
"""pandas 3's ``str`` dtype, spelled out so the tests pin the typed-frame convention."""


@pytest.fixture
def in_tmp(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a temporary folder, so that files land there and messages name short paths."""
    monkeypatch.chdir(tmp_path)


def _make_inspected(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    """A valid typed inspected-case table with ``rows`` rows, in contract order."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2015-01-05", "2019-12-20", freq="D")
    officers = [f"OFF{i:03d}" for i in range(8)]
    data: dict[str, object] = {
        "case_id": [f"C{i:05d}" for i in range(rows)],
        "inspection_id": rng.choice(["INS01", "INS02", "INS03"], rows),
        "inspection_date": pd.DatetimeIndex(rng.choice(days, rows)).as_unit("ns"),
        "provider": rng.choice(["London CRC", "NPS Wales"], rows),
        "region": rng.choice(["London", "Wales"], rows),
        "office": rng.choice(["Office 001", "Office 002", "Office 003"], rows),
        "officer_id": rng.choice(officers, rows),
        "iom": rng.random(rows) < 0.2,
    }
    for column, levels in CATEGORIES.items():
        data[column] = pd.Categorical(rng.choice(levels, rows), categories=levels)
    for column, (low, high) in INTEGER_RANGES.items():
        data[column] = rng.integers(low, high + 1, rows).astype("int64")
    for judgement in JUDGEMENTS:
        values = rng.choice([SUFFICIENT, INSUFFICIENT, NOT_APPLICABLE], rows, p=[0.5, 0.35, 0.15])
        data[judgement] = pd.Categorical(values, categories=JUDGEMENT_VALUES)
    frame = pd.DataFrame(data)[list(INSPECTED_COLUMNS)]
    text = ["case_id", "inspection_id", "provider", "region", "office", "officer_id"]
    return frame.astype(dict.fromkeys(text, STRING_DTYPE))


@pytest.fixture
def valid_inspected() -> pd.DataFrame:
    """50 valid typed inspected cases."""
    return _make_inspected()


@pytest.fixture
def valid_frame() -> pd.DataFrame:
    """50 valid typed caseload-frame cases."""
    return _make_inspected(seed=4)[list(FRAME_COLUMNS)]


@pytest.fixture
def valid_inspected_text(valid_inspected: pd.DataFrame) -> pd.DataFrame:
    """The valid inspected cases as all-string cells, as a CSV file holds them."""
    text = valid_inspected.astype(str)
    text["iom"] = valid_inspected["iom"].map({True: "true", False: "false"})
    return text
