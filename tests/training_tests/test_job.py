"""`casework train` and `casework score` end to end: MLflow run, registry aliases, export."""

from __future__ import annotations

import json

import pandas as pd
from mlflow import MlflowClient
from typer.testing import CliRunner

from casework.cli import app
from features.contract import SCORE_COLUMNS
from features.settings import get_settings
from training.lifecycle.registry import MODEL_NAME, connect

runner = CliRunner()


def _train(path) -> object:
    return runner.invoke(app, ["train", "--data", str(path)])


def test_train_registers_versions_with_aliases_and_exports_the_champion(
    workspace, small_data
) -> None:
    data = workspace / "inspected.parquet"
    small_data.inspected.to_parquet(data)
    first = _train(data)
    assert first.exit_code == 0, first.output
    assert "version 1" in first.output and "champion" in first.output
    champion = workspace / "models" / "champion"
    assert (champion / "model.joblib").exists() and (champion / "model_card.md").exists()
    metadata = json.loads((champion / "metadata.json").read_text())
    assert metadata["trained_on"]["rows"] == len(small_data.inspected)

    second = _train(data)
    assert second.exit_code == 0, second.output
    client: MlflowClient = connect(get_settings())
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "2"
    runs = client.search_runs([client.get_experiment_by_name("casework").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2 and len(runs) == 2 * 13

    frame = workspace / "frame.parquet"
    small_data.frame.to_parquet(frame)
    for extra in ([], ["--model", "challenger"], ["--model", "1"]):
        out = workspace / f"scores{len(extra)}.csv"
        result = runner.invoke(app, ["score", "--data", str(frame), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        scores = pd.read_csv(out)
        assert list(scores.columns) == list(SCORE_COLUMNS)
        assert len(scores) == len(small_data.frame)
        assert scores["risk_score"].between(0, 1).all()


def test_malformed_training_data_exits_2_and_registers_nothing(workspace, small_data) -> None:
    bad = small_data.inspected.copy()
    bad["officer_caseload"] = bad["officer_caseload"].astype(object)
    bad.loc[3, "officer_caseload"] = 999
    path = workspace / "bad.csv"
    bad.to_csv(path, index=False)
    result = _train(path)
    assert result.exit_code == 2
    assert "officer_caseload" in result.output
    assert not (workspace / "models" / "champion").exists()
    assert not (workspace / "mlflow.db").exists()


def test_score_without_a_champion_is_a_clear_error(workspace, small_data) -> None:
    frame = workspace / "frame.parquet"
    small_data.frame.to_parquet(frame)
    result = runner.invoke(app, ["score", "--data", str(frame), "--out", str(workspace / "s.csv")])
    assert result.exit_code == 2
    assert "casework train" in result.output
