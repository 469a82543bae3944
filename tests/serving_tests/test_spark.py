"""casework on Spark (local[2]): the same scores and the same draws as on one machine.

One Spark session and one registered champion serve the whole module.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app
from features.contract import SCORE_COLUMNS
from features.readers import write_table
from features.synthetic.generator import generate
from serving.sampling import SampleRequest, design_for
from serving.simulation import local_draws
from serving.spark.session import spark_session
from serving.spark.simulation import SparkDraws
from training.lifecycle.promotion import name_new_version, publish
from training.lifecycle.tracking import log_training
from training.reporting.model_card import model_card

runner = CliRunner()
MASTER = "local[2]"
PARTS = 4
DRAWS = 40
STUDY = """\
frame: frame.parquet
scores: scores.parquet
designs:
  - {name: default, size: 120}
  - {name: systematic by region, size: 120, strata: [region, gender], method: systematic}
"""


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the module; the CLI reuses it instead of starting its own."""
    with spark_session(MASTER, {"spark.sql.shuffle.partitions": "2"}) as session:
        yield session


@pytest.fixture(scope="module")
def registry(tmp_path_factory, small_data, small_training, workspace_at):
    """Settings pointing at a registry whose champion is the small model (also exported)."""
    root = tmp_path_factory.mktemp("spark")
    with workspace_at(root) as settings:
        cases = small_data.inspected.head(500)
        registered = log_training(
            small_training, cases, "test", settings, {}, model_card(small_training)
        )
        name_new_version(settings, registered)
        publish(small_training.model, registered.version, settings)
        yield root


@pytest.fixture(scope="module")
def frame_files(registry):
    """20,000 frame cases as one Parquet file and as a folder of 4 partitions."""
    frame = generate(500, 20_000, seed=19).frame
    single = registry / "frame.parquet"
    write_table(frame, single)
    folder = registry / "frame"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(frame)), PARTS)):
        frame.iloc[part].to_parquet(folder / f"part-{k}.parquet", index=False)
    return single, folder


@pytest.mark.slow
def test_spark_scores_equal_local_scores(spark, registry, frame_files) -> None:
    single, folder = frame_files
    local_out, spark_out = registry / "local.parquet", registry / "scores"
    ran = runner.invoke(app, ["score", "--data", str(single), "--out", str(local_out)])
    assert ran.exit_code == 0, ran.output
    args = ["score", "--engine", "spark", "--master", MASTER, "--data", f"file://{folder}"]
    ran = runner.invoke(app, [*args, "--out", f"file://{spark_out}"])  # URLs reach Spark whole
    assert ran.exit_code == 0, ran.output
    assert "20,000 cases scored" in ran.output and not Path("file:").exists()
    assert len(list(spark_out.glob("*.parquet"))) >= 2  # partitioned, written by the executors
    local = pd.read_parquet(local_out)
    scored = pd.read_parquet(spark_out).sort_values("case_id", ignore_index=True)
    local = local.sort_values("case_id", ignore_index=True)
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert scored.dtypes.to_dict() == local.dtypes.to_dict()
    assert all(scored[c].dtype == np.float64 for c in SCORE_COLUMNS[1:])
    pd.testing.assert_series_equal(scored["case_id"], local["case_id"])
    numbers = list(SCORE_COLUMNS[1:])
    np.testing.assert_allclose(scored[numbers], local[numbers], rtol=0, atol=1e-9)
    assert scored["risk_score"].between(0, 1).all() and scored["risk_score"].std() > 0.01


def test_malformed_partition_is_exit_2_naming_the_file(spark, registry, frame_files) -> None:
    _, folder = frame_files
    broken = registry / "broken"
    shutil.copytree(folder, broken)
    bad = broken / "part-2.parquet"
    bad.write_bytes(bad.read_bytes()[:2_000])
    args = ["score", "--engine", "spark", "--master", MASTER, "--data", str(broken)]
    ran = runner.invoke(app, [*args, "--out", str(registry / "broken-scores")])
    assert ran.exit_code == 2, ran.output
    said = " ".join(ran.output.split())  # the console wraps long lines
    assert f"{bad}: not a readable Parquet file" in said
    assert not (registry / "broken-scores").exists()
    assert not list(registry.glob(".broken-scores-*"))  # the staging folder is removed


def test_missing_champion_is_exit_2(spark, workspace, frame_files) -> None:
    _, folder = frame_files
    args = ["score", "--engine", "spark", "--master", MASTER, "--data", str(folder)]
    ran = runner.invoke(app, [*args, "--out", str(workspace / "scores")])
    assert ran.exit_code == 2, ran.output
    assert "no champion model" in ran.output


@pytest.mark.slow
def test_spark_draws_equal_local_draws(spark, small_data, small_model) -> None:
    frame = small_data.frame
    scores = small_model.predict(frame)
    request = SampleRequest(size=120)
    design = design_for(frame, scores, request)
    local = local_draws(design, "balanced", DRAWS, 5, budget_seconds=300)
    remote = SparkDraws(spark, draws_per_task=3)(design, "balanced", DRAWS, 5, 300)
    assert [d.number for d in remote] == [d.number for d in local] == list(range(DRAWS))
    for mine, theirs in zip(local, remote, strict=True):
        np.testing.assert_array_equal(mine.selected, theirs.selected)
        assert mine.worst_margin == theirs.worst_margin
    assert all(len(d.selected) == 120 for d in local)
    assert len({tuple(d.selected) for d in local}) == DRAWS  # 40 different samples


@pytest.fixture(scope="module")
def small_files(frame_and_scores):
    """The small frame, its scores and a two-design study file (``spark-study.yaml``)."""
    (frame_and_scores / "spark-study.yaml").write_text(STUDY, encoding="utf-8")
    return frame_and_scores


@pytest.mark.slow
def test_study_on_spark_equals_the_local_study(spark, small_files) -> None:
    tables = {}
    for engine in ("local", "spark"):
        out = small_files / f"spark-{engine}"
        args = ["study", "--designs", str(small_files / "spark-study.yaml"), "--draws", "8"]
        ran = runner.invoke(app, [*args, "--engine", engine, "--out", str(out)])
        assert ran.exit_code == 0, ran.output
        tables[engine] = pd.read_csv(out / "study.csv")
    columns = ["design", "draws", "margins_within_2", "worst_margin_mean", "yield_ratio"]
    pd.testing.assert_frame_equal(tables["spark"][columns], tables["local"][columns])
    assert (tables["spark"]["draws"] == 8).all()


@pytest.mark.slow
def test_sample_simulate_on_spark_reports_the_local_margins(spark, small_files) -> None:
    margins = {}
    for engine in ("local", "spark"):
        args = ["sample", "--frame", str(small_files / "frame.parquet"), "--size", "120"]
        args += ["--scores", str(small_files / "scores.parquet"), "--seed", "3"]
        ran = runner.invoke(app, [*args, "--simulate", "12", "--engine", engine])
        assert ran.exit_code == 0, ran.output
        said = " ".join(ran.output.split())
        margins[engine] = re.search(r"every margin within ±2 in (\S+) of (\d+) draws", said)[0]
    assert margins["spark"] == margins["local"] and margins["local"].endswith("of 12 draws")


def test_engine_spark_without_simulate_and_a_sealed_seed_are_refused(frame_and_scores) -> None:
    base = ["sample", "--frame", str(frame_and_scores / "frame.parquet"), "--size", "60"]
    base += ["--scores", str(frame_and_scores / "scores.parquet")]
    ran = runner.invoke(app, [*base, "--engine", "spark", "--out", "x.csv"])
    assert ran.exit_code == 2 and "--engine" in ran.output, ran.output
    ran = runner.invoke(app, [*base, "--sealed", "--seed", "2", "--simulate", "3"])
    assert ran.exit_code == 2 and "secret seed" in " ".join(ran.output.split()), ran.output
