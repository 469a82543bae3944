"""The data contract's validation: readers and ``casework validate``'s messages (typed frames:
``test_typed_frames.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app
from features.contract import (
    INCLUSION_PROBABILITY,
    INSPECTED_COLUMNS,
    JUDGED_COLUMNS,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_INSPECTED,
)
from features.errors import InputError, InputErrors
from features.readers import write_table
from features.validation import (
    BOOLEAN_SPELLINGS,
    EMPTY_JUDGEMENT,
    PARTLY_INSPECTED,
    load_judged,
    load_table,
    validate_table,
)

pytestmark = pytest.mark.usefixtures("in_tmp")


def run(*args: str) -> tuple[int, str]:
    """Exit code and whitespace-normalised stderr of ``casework validate ARGS``."""
    result = CliRunner().invoke(app, ["validate", *args])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.stderr.split())


def write_csv(text: pd.DataFrame, name: str = "cases.csv") -> str:
    """Write an all-string table as CSV and return its (relative) name."""
    text.to_csv(name, index=False)
    return name


def errors_of(path: str, kind: str | None = None) -> list[InputError]:
    """The InputErrors that loading ``path`` raises."""
    with pytest.raises(InputErrors) as info:
        load_table(path, kind)
    return info.value.errors


def test_contract_columns_come_first_and_extras_pass_through(valid_inspected_text) -> None:
    shuffled = valid_inspected_text.iloc[:, ::-1].assign(comment="see file")
    loaded = load_table(write_csv(shuffled))
    assert list(loaded.columns) == list(INSPECTED_COLUMNS) + ["comment"]
    assert (loaded["comment"] == "see file").all()


@pytest.mark.parametrize("spelling", [*BOOLEAN_SPELLINGS, "TRUE", "False", " 1 "])
def test_accepted_boolean_spellings(valid_inspected_text, spelling: str) -> None:
    valid_inspected_text["iom"] = spelling
    loaded = load_table(write_csv(valid_inspected_text))
    assert loaded["iom"].all() == (spelling.strip().lower() in ("true", "1"))


def test_bom_and_blank_lines_are_accepted_and_lines_still_counted(valid_inspected_text) -> None:
    valid_inspected_text.loc[9, "age"] = "17"
    lines = valid_inspected_text.to_csv(index=False).splitlines()
    text = "\ufeff" + "\n".join(lines[:3] + ["", ""] + lines[3:]) + "\n\n"
    Path("cases.csv").write_text(text, encoding="utf-8")
    [error] = errors_of("cases.csv")
    assert error.column == "age" and list(error.rows) == [13] and error.row_label == "line"


def test_valid_inspected_file_exits_0_with_summary(valid_inspected: pd.DataFrame) -> None:
    write_table(valid_inspected, "cases.parquet")
    result = CliRunner().invoke(app, ["validate", "cases.parquet"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "rows 50" in out and "officers 8" in out and "inspections 3" in out
    assert "assessment_engagement" in out and "%" in out


def test_frame_summary_and_explicit_kind(valid_inspected: pd.DataFrame) -> None:
    write_table(valid_inspected, "cases.parquet")
    result = CliRunner().invoke(app, ["validate", "cases.parquet", "--kind", "frame"])
    assert result.exit_code == 0, result.output
    assert "rows 50 · offices 3 · officers 8" in " ".join(result.stdout.split())


# --- bad input: exit 2 with file, column, rule, rows and values ----------------------------


def test_unknown_category(valid_inspected_text) -> None:
    valid_inspected_text.loc[2, "provider_type"] = "NPZ"
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert (
        "cases.csv, column 'provider_type', line 4: unknown category; allowed: NPS, CRC "
        "(found: 'NPZ')" in message
    )


def test_caseload_out_of_range_csv(valid_inspected_text) -> None:
    valid_inspected_text.loc[[0, 5], "officer_caseload"] = ["301", "-1"]
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert "column 'officer_caseload', lines 2, 7: value out of range 0…300" in message
    assert "'301', '-1'" in message


def test_caseload_out_of_range_parquet_rows(valid_inspected: pd.DataFrame) -> None:
    valid_inspected.loc[[3, 4], "officer_caseload"] = 1_000
    write_table(valid_inspected, "cases.parquet")
    code, message = run("cases.parquet")
    assert code == 2
    assert "cases.parquet, column 'officer_caseload', rows 4, 5: value out of range" in message


def test_duplicate_case_id(valid_inspected_text) -> None:
    valid_inspected_text.loc[20, "case_id"] = valid_inspected_text.loc[10, "case_id"]
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert "column 'case_id', lines 12, 22: duplicate case_id (found: 'C00010')" in message


def test_missing_column_suggests_near_names(valid_inspected_text) -> None:
    renamed = valid_inspected_text.rename(columns={"age": "Age"}).drop(columns="region")
    code, message = run(write_csv(renamed))
    assert code == 2
    assert "cases.csv, column 'region': missing column" in message
    assert "cases.csv, column 'age': missing column (found: 'Age')" in message


def test_empty_file() -> None:
    Path("cases.csv").write_bytes(b"")
    assert run("cases.csv") == (2, "error: cases.csv: empty file")


def test_header_only_file(valid_inspected_text) -> None:
    write_csv(valid_inspected_text.head(0))
    assert run("cases.csv") == (2, "error: cases.csv: no rows")


def test_garbled_csv() -> None:
    Path("cases.csv").write_bytes(np.random.default_rng(5).bytes(2_000))
    code, message = run("cases.csv")
    assert code == 2 and "cases.csv" in message and "not UTF-8" in message


def test_garbled_parquet(valid_inspected: pd.DataFrame) -> None:
    write_table(valid_inspected, "cases.parquet")
    data = Path("cases.parquet").read_bytes()
    Path("cases.parquet").write_bytes(data[: len(data) // 2])
    code, message = run("cases.parquet")
    assert code == 2 and "cases.parquet: not a readable Parquet file" in message


def test_csv_named_parquet(valid_inspected_text) -> None:
    valid_inspected_text.to_csv("cases.parquet", index=False)
    code, message = run("cases.parquet")
    assert code == 2 and "not a readable Parquet file" in message


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_wrong_encoding(valid_inspected_text, encoding: str) -> None:
    valid_inspected_text.loc[0, "provider"] = "Région Île"
    valid_inspected_text.to_csv("cases.csv", index=False, encoding=encoding)
    code, message = run("cases.csv")
    assert code == 2 and "cases.csv: not UTF-8 text" in message


@pytest.mark.parametrize("date", ["01/02/2019", "2019-1-2", "2019-02-30", "20190102"])
def test_wrong_date_format(valid_inspected_text, date: str) -> None:
    valid_inspected_text.loc[6, "inspection_date"] = date
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert (
        f"column 'inspection_date', line 8: not an ISO date YYYY-MM-DD (found: '{date}')" in message
    )


def test_date_out_of_range(valid_inspected_text) -> None:
    valid_inspected_text.loc[[1, 2], "inspection_date"] = ["2009-12-31", "2999-01-01"]
    [error] = errors_of(write_csv(valid_inspected_text))
    assert error.column == "inspection_date" and list(error.rows) == [3, 4]
    assert error.rule.startswith("date out of range 2010-01-01…")


def test_bad_boolean(valid_inspected_text) -> None:
    valid_inspected_text.loc[0, "iom"] = "yes"
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert "column 'iom', line 2: not a boolean; accepted: true, false, 1, 0" in message


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1", "inf"])
def test_inclusion_probability_out_of_range(valid_inspected_text, value: str) -> None:
    valid_inspected_text[INCLUSION_PROBABILITY] = "0.5"
    valid_inspected_text.loc[4, INCLUSION_PROBABILITY] = value
    code, message = run(write_csv(valid_inspected_text))
    assert code == 2
    assert (
        f"column 'inclusion_probability', line 6: value out of range (0, 1] (found: '{value}')"
        in (message)
    )


def test_inclusion_probability_not_a_number(valid_inspected_text) -> None:
    valid_inspected_text[INCLUSION_PROBABILITY] = "nan"
    [error] = errors_of(write_csv(valid_inspected_text))
    assert (error.column, error.rule, len(error.rows)) == (
        INCLUSION_PROBABILITY,
        "not a number",
        50,
    )


def test_duplicate_headers(valid_inspected_text) -> None:
    lines = valid_inspected_text.to_csv(index=False).splitlines()
    Path("cases.csv").write_text("\n".join([lines[0] + ",age"] + [x + ",40" for x in lines[1:]]))
    code, message = run("cases.csv")
    assert code == 2
    assert "cases.csv, column 'age': duplicate column names in the header" in message


def test_ragged_rows(valid_inspected_text) -> None:
    lines = valid_inspected_text.to_csv(index=False).splitlines()
    lines[4] += ",extra"
    lines[6] = lines[6].rsplit(",", 2)[0]
    Path("cases.csv").write_text("\n".join(lines) + "\n")
    code, message = run("cases.csv")
    assert code == 2
    assert "cases.csv, lines 5, 7: wrong number of fields; the header has 31" in message


@pytest.mark.parametrize("name", ["cases.xls", "cases", "cases.json"])
def test_wrong_suffix(valid_inspected_text, name: str) -> None:
    valid_inspected_text.to_csv(name, index=False)
    code, message = run(name)
    assert code == 2 and f"{name}: unsupported file type" in message
    assert "use .csv, .parquet or .xlsx" in message


def test_a_csv_named_xlsx_is_not_a_workbook(valid_inspected_text) -> None:
    valid_inspected_text.to_csv("cases.xlsx", index=False)
    code, message = run("cases.xlsx")
    assert code == 2 and "cases.xlsx: not a readable Excel workbook" in message


def test_missing_file() -> None:
    assert run("absent.csv") == (2, "error: absent.csv: file not found")


def test_empty_values_are_named(valid_inspected_text) -> None:
    valid_inspected_text.loc[[1, 3], "officer_id"] = ["", "   "]
    valid_inspected_text.loc[8, "gender"] = ""
    errors = errors_of(write_csv(valid_inspected_text))
    assert [(e.column, e.rule, list(e.rows)) for e in errors] == [
        ("officer_id", "empty value", [3, 5]),
        ("gender", "empty value", [10]),
    ]


def test_all_problems_reported_at_once_one_per_column_and_rule(valid_inspected_text) -> None:
    valid_inspected_text.loc[range(10), "age"] = "17"
    valid_inspected_text.loc[[11, 12], "age"] = ["forty", "40.5"]
    valid_inspected_text.loc[3, "rosh_level"] = "extreme"
    valid_inspected_text.loc[4, "officer_changes"] = ""
    errors = errors_of(write_csv(valid_inspected_text))
    assert [(e.column, e.rule) for e in errors] == [
        ("officer_changes", "empty value"),
        ("rosh_level", "unknown category; allowed: low, medium, high, very_high"),
        ("age", "value out of range 18…100"),
        ("age", "not an integer"),
    ]
    assert all(e.source == "cases.csv" and e.row_label == "line" for e in errors)
    assert list(errors[2].rows) == list(range(2, 12)) and list(errors[2].examples) == ["17"]
    assert "lines 2, 3, 4, 5, 6 (and 5 more)" in str(errors[2])


def test_unparsable_values_are_not_also_reported_empty(valid_inspected: pd.DataFrame) -> None:
    typed = valid_inspected.astype({"age": "float64"})
    typed.loc[0, "age"] = 30.5
    typed.loc[1, "age"] = np.nan
    errors = errors_of_frame(typed)
    assert [(e.column, e.rule, list(e.rows)) for e in errors] == [
        ("age", "not an integer", [1]),
        ("age", "empty value", [2]),
    ]


def errors_of_frame(raw: pd.DataFrame) -> list[InputError]:
    """The InputErrors that validating an in-memory valid_inspected table raises."""
    with pytest.raises(InputErrors) as info:
        validate_table(raw, "inspected", "memory")
    return info.value.errors


# --- judged samples (CONTRACT.md §7) ---------------------------------------------------------


@pytest.fixture
def judged_text(valid_inspected_text) -> pd.DataFrame:
    """The valid inspected cases as a judged sample (all-string cells, contract order)."""
    rows = len(valid_inspected_text)
    design = {
        "stratum": valid_inspected_text["office"],
        "inclusion_probability": [repr(0.1 + i / 100) for i in range(rows)],
        "design_weight": [repr(1 / (0.1 + i / 100)) for i in range(rows)],
        "risk_score": "0.25",
        "reason": "chosen in stratum Office 001",
        "method": "balanced",
        "balance": "",
        "block_pi": "1.0",
        "block_cases": "12",
        "block_risk": "0.3",
    }
    return valid_inspected_text.assign(**design)[list(JUDGED_COLUMNS)]


def test_judged_sample_loads_typed_in_contract_order(judged_text) -> None:
    loaded = load_judged(write_csv(judged_text))
    assert list(loaded.columns) == list(JUDGED_COLUMNS)
    assert loaded["inclusion_probability"].tolist() == [0.1 + i / 100 for i in range(50)]
    assert loaded["block_cases"].dtype == np.dtype("int64")
    assert loaded["balance"].isna().all()  # nothing balanced: an empty cell is allowed
    assert loaded["review_safety"].dtype == pd.CategoricalDtype(JUDGEMENT_VALUES)


def test_judgement_spellings_are_normalised(judged_text) -> None:
    judged_text.loc[0, "assessment_safety"] = " sufficient "
    judged_text.loc[1, "assessment_safety"] = "Insufficient"
    judged_text.loc[2, "assessment_safety"] = "Not applicable"
    judged_text.loc[3, list(JUDGEMENTS)] = "NOT-INSPECTED"
    loaded = load_judged(write_csv(judged_text))
    assert loaded["assessment_safety"].iloc[:4].tolist() == [
        "sufficient",
        "insufficient",
        "not_applicable",
        NOT_INSPECTED,
    ]
    assert (loaded.loc[3, list(JUDGEMENTS)] == NOT_INSPECTED).all()


def test_blank_judgements_are_refused_naming_row_and_column(judged_text) -> None:
    judged_text.loc[3, "planning_safety"] = ""
    judged_text.loc[[5, 7], "review_safety"] = ["  ", ""]
    errors = errors_of(write_csv(judged_text), "judged")
    assert [(e.column, e.rule, list(e.rows)) for e in errors] == [
        ("planning_safety", EMPTY_JUDGEMENT, [5]),
        ("review_safety", EMPTY_JUDGEMENT, [7, 9]),
    ]
    code, message = run("cases.csv", "--kind", "judged")
    assert code == 2
    assert "cases.csv, column 'planning_safety', line 5: empty judgement; fill in sufficient" in (
        message
    )


def test_not_inspected_fills_a_whole_case(judged_text) -> None:
    judged_text.loc[4, list(JUDGEMENTS)] = NOT_INSPECTED
    for kind in ("inspected", "judged"):
        loaded = load_table(write_csv(judged_text), kind)
        assert (loaded.loc[4, list(JUDGEMENTS)] == NOT_INSPECTED).all()
    judged_text.loc[4, "delivery_safety"] = "sufficient"
    judged_text.loc[6, "review_safety"] = NOT_INSPECTED
    [error] = errors_of(write_csv(judged_text), "judged")
    assert error.rule == PARTLY_INSPECTED and list(error.rows) == [6, 8]


def test_judged_kind_needs_the_design_and_checks_it(judged_text) -> None:
    judged_text.loc[2, "design_weight"] = "0.5"
    judged_text.loc[3, "block_cases"] = "0"
    judged_text.loc[4, "risk_score"] = "inf"
    errors = errors_of(write_csv(judged_text.drop(columns="stratum")), "judged")
    assert [(e.column, e.rule, list(e.rows)) for e in errors] == [
        ("stratum", "missing column", []),
        ("design_weight", "value out of range [1, ∞)", [4]),
        ("risk_score", "value out of range [0, 1]", [6]),
        ("block_cases", "value below 1", [5]),
    ]


def test_minimal_judged_sample_for_estimation_and_validate_notes(judged_text) -> None:
    minimal = judged_text[["case_id", "stratum", "inclusion_probability", *JUDGEMENTS]]
    assert list(load_judged(write_csv(minimal)).columns) == list(minimal.columns)
    result = CliRunner().invoke(app, ["validate", "cases.csv", "--kind", "judged"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "valid judged table" in out and "note: retrain also needs inspection_id" in out
