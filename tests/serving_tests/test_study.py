"""``casework study``: candidate designs side by side; a bad study file is exit 2, named."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app

runner = CliRunner()
STUDY = """\
frame: frame.parquet
scores: scores.parquet
designs:
  - name: equal chance
    size: 120
    risk_weight: 0
  - name: risk-weighted
    size: 120
    strata: [region, gender]
"""
DRAW_COLUMNS = ["design", "draws", "margins_within_2", "worst_margin_mean"]


@pytest.fixture(scope="module")
def study_dir(frame_and_scores):
    """A study file (``study.yaml``) beside the small frame and its scores."""
    (frame_and_scores / "study.yaml").write_text(STUDY, encoding="utf-8")
    return frame_and_scores


def run_study(root, *options: str):
    """``casework study`` on the module's study file, 6 draws per design."""
    args = ["study", "--designs", str(root / "study.yaml"), "--draws", "6", *options]
    return runner.invoke(app, args)


def test_study_compares_designs_in_a_table_csv_and_page(study_dir) -> None:
    out = study_dir / "local"
    ran = run_study(study_dir, "--out", str(out))
    assert ran.exit_code == 0, ran.output
    assert "equal chance" in ran.output and "risk-weighted" in ran.output
    table = pd.read_csv(out / "study.csv")
    assert list(table["design"]) == ["equal chance", "risk-weighted"]
    equal, weighted = table.iloc[0], table.iloc[1]
    assert equal["yield_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert weighted["yield_ratio"] > 1.05 and weighted["design_effect"] > equal["design_effect"]
    assert (table["draws"] == 6).all() and table["margins_within_2"].between(0, 1).all()
    assert table["mean_p_right"].between(0, 1).all()
    assert (table["max_half_width"] >= table["mean_half_width"]).all()
    page = (out / "study.html").read_text(encoding="utf-8")
    assert "risk-weighted" in page and "<script" not in page and "http" not in page


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            STUDY + "    risk_wieght: 0.5\n",
            "column 'risk-weighted.risk_wieght': design 'risk-weighted': unknown field",
        ),
        (STUDY.replace("size: 120\n    risk", "size: -3\n    risk"), "column 'equal chance.size'"),
        (STUDY + "extra: 1\n", "column 'extra': unknown field"),
        ("designs:\n  - name: [unclosed\n", "line 3: not valid YAML"),
    ],
)
def test_a_bad_study_file_is_exit_2_naming_design_and_field(study_dir, text, said) -> None:
    bad = study_dir / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    ran = runner.invoke(app, ["study", "--designs", str(bad), "--draws", "2"])
    assert ran.exit_code == 2, ran.output
    assert said in " ".join(ran.output.split())
