"""The judged sample (CONTRACT.md §7): what `casework sample` writes comes back in unchanged."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter
from typer.testing import CliRunner

from casework.cli import app
from features.contract import (
    FRAME_COLUMNS,
    JUDGED_COLUMNS,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_INSPECTED,
)
from features.errors import InputErrors
from features.readers import read_table
from features.synthetic.truth import true_scores
from features.validation import EMPTY_JUDGEMENT, load_judged, load_table
from features.workbook import save_exact
from serving.judged_file import judged_table, write_judged

SIZE, SEED = 60, 3


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, small_data) -> Path:
    """A folder holding the frame, its scores and one `casework sample` (CSV and workbook)."""
    folder = tmp_path_factory.mktemp("judged")
    frame = small_data.frame[list(FRAME_COLUMNS)]
    frame.to_parquet(folder / "frame.parquet")
    true_scores(small_data.frame).to_parquet(folder / "scores.parquet")
    result = CliRunner().invoke(
        app,
        [
            "sample", "--frame", str(folder / "frame.parquet"), "--size", str(SIZE),
            "--seed", str(SEED), "--scores", str(folder / "scores.parquet"),
            "--risk-weight", "0.5", "--out", str(folder / "sample.csv"),
            "--workbook", str(folder / "sample.xlsx"),
            "--inspection-id", "INS-42", "--inspection-date", "2024-05-01",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def truth_judgements(small_data, case_ids: pd.Series) -> pd.DataFrame:
    """The generator's judgements of ``case_ids`` (as text), in their order."""
    truth = small_data.frame_judgements.set_axis(small_data.frame["case_id"].to_numpy())
    return truth.loc[case_ids.to_numpy()].astype(str).reset_index(drop=True)


def test_sample_file_holds_every_column_with_blank_judgements(drawn) -> None:
    for name in ("sample.csv", "sample.xlsx"):
        table = read_table(drawn / name)
        assert list(table.columns) == list(JUDGED_COLUMNS), name
        assert len(table) == SIZE and (table[list(JUDGEMENTS)] == "").all().all()
        assert set(table["inspection_id"]) == {"INS-42"}
        assert set(table["inspection_date"]) == {"2024-05-01"}
    with pytest.raises(InputErrors) as refused:
        load_judged(drawn / "sample.xlsx")
    first = refused.value.errors[0]
    assert (first.column, first.rule) == (JUDGEMENTS[0], EMPTY_JUDGEMENT)
    assert list(first.rows[:3]) == [2, 3, 4] and first.row_label == "row"
    validated = CliRunner().invoke(app, ["validate", str(drawn / "sample.csv"), "--kind", "judged"])
    assert validated.exit_code == 2
    assert "column 'assessment_engagement', lines 2, 3, 4, 5, 6 (and 55 more)" in " ".join(
        validated.stderr.split()
    )


def test_filled_sample_reads_back_the_same_from_csv_parquet_and_workbook(
    drawn, small_data, tmp_path
) -> None:
    book = openpyxl.load_workbook(drawn / "sample.xlsx")
    sheet = book.active
    assert sheet.freeze_panes == "B2"
    ranges = {str(rule.sqref): rule.formula1 for rule in sheet.data_validations.dataValidation}
    first = JUDGED_COLUMNS.index(JUDGEMENTS[0]) + 1
    letters = [get_column_letter(first + i) for i in range(len(JUDGEMENTS))]
    assert ranges == {f"{c}2:{c}{SIZE + 1}": f'"{",".join(JUDGEMENT_VALUES)}"' for c in letters}

    template = read_table(drawn / "sample.csv").reset_index(drop=True)
    filled = truth_judgements(small_data, template["case_id"])
    filled.iloc[0] = NOT_INSPECTED  # a drawn case that could not be examined
    filled.iloc[1, 0] = " Insufficient "  # spellings an inspector may type
    for row, values in enumerate(filled.itertuples(index=False), start=2):
        for letter, value in zip(letters, values, strict=True):
            sheet[f"{letter}{row}"] = value
    save_exact(book, tmp_path / "judged.xlsx")  # as Excel does; openpyxl's save drops a digit
    write_judged(template.assign(**filled), tmp_path / "judged.csv")
    write_judged(template.assign(**filled), tmp_path / "judged.parquet")

    loaded = {s: load_judged(tmp_path / f"judged.{s}") for s in ("csv", "parquet", "xlsx")}
    pd.testing.assert_frame_equal(loaded["csv"], loaded["xlsx"], check_exact=True)
    pd.testing.assert_frame_equal(loaded["csv"], loaded["parquet"], check_exact=True)
    table = loaded["xlsx"]
    assert table.loc[1, JUDGEMENTS[0]] == "insufficient"
    assert (table.loc[0, list(JUDGEMENTS)] == NOT_INSPECTED).all()
    assert table["inspection_date"].eq(pd.Timestamp("2024-05-01")).all()
    for column in ("inclusion_probability", "design_weight", "risk_score", "block_pi"):
        written = [float(text) for text in template[column]]  # pandas writes repr: exact
        assert table[column].tolist() == written, column  # the workbook kept full precision
    assert table["case_id"].tolist() == template["case_id"].tolist()

    inspected = load_table(tmp_path / "judged.xlsx", kind="inspected")  # what retrain reads
    assert len(inspected) == SIZE and inspected["block_cases"].dtype == "int64"
    estimated = CliRunner().invoke(
        app, ["estimate", "--sample", str(tmp_path / "judged.xlsx"), "--by", "gender"]
    )
    assert estimated.exit_code == 0, estimated.output


def test_default_inspection_id_follows_the_cases_not_the_order() -> None:
    cases = pd.DataFrame({"case_id": ["C3", "C1", "C2"], "stratum": ["a", "b", "a"]})
    table = judged_table(cases)
    today = date.today()
    [identifier] = set(table["inspection_id"])
    assert re.fullmatch(rf"insp-{today:%Y%m%d}-[0-9a-f]{{8}}", identifier)
    assert set(table["inspection_date"]) == {today.isoformat()}
    assert list(table.columns[-len(JUDGEMENTS) :]) == list(JUDGEMENTS)
    assert judged_table(cases.iloc[::-1])["inspection_id"].iloc[0] == identifier
    assert judged_table(cases.iloc[:2])["inspection_id"].iloc[0] != identifier
    later = judged_table(cases, inspection_date=date(2025, 3, 9))["inspection_id"].iloc[0]
    assert later.startswith("insp-20250309-") and later.endswith(identifier[-8:])
    pd.testing.assert_frame_equal(judged_table(table), table)  # a template stays as it is


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--inspection-date", "01/05/2024", "--inspection-date"),
        ("--inspection-date", "2024-W01-1", "--inspection-date"),
        ("--inspection-date", "2009-12-31", "from 2010-01-01"),
        ("--inspection-id", "  ", "inspection id cannot be empty"),
        ("--workbook", "sample.csv", "must be an .xlsx file"),
    ],
)
def test_bad_sample_file_options_exit_2(drawn, tmp_path, option, value, words) -> None:
    result = CliRunner().invoke(
        app,
        [
            "sample", "--frame", str(drawn / "frame.parquet"), "--size", str(SIZE),
            "--scores", str(drawn / "scores.parquet"), "--out", str(tmp_path / "s.csv"),
            option, value,
        ],
    )  # fmt: skip
    assert result.exit_code == 2 and words in " ".join(result.stderr.split()), result.output
