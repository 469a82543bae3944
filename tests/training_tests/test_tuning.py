"""`casework train --tune N`: Optuna trials as nested MLflow runs, best params in the models.

A 2,000-case generated table keeps each trial to about a second on two cores.
"""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from casework.cli import app
from features.contract import JUDGEMENTS
from features.settings import get_settings
from features.synthetic.generator import generate
from training.bundle import CaseworkModel
from training.lifecycle.registry import EXPERIMENT, connect
from training.tuning import SEARCH_SPACE, default_params, tune

runner = CliRunner()


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    """2,000 generated inspected cases (seed 5): every judgement has enough to be modelled."""
    return generate(2_000, 10, seed=5).inspected


def _same(logged: str, value: float | int) -> bool:
    """An MLflow parameter (a string) equals the value that was logged."""
    return float(logged) == pytest.approx(float(value), rel=1e-12)


def test_tune_logs_nested_trials_and_trains_the_final_models_with_the_best(
    workspace, cases
) -> None:
    data = workspace / "inspected.parquet"
    cases.to_parquet(data)
    ran = runner.invoke(app, ["train", "--data", str(data), "--tune", "3"])
    assert ran.exit_code == 0, ran.output
    assert "tuned over 3 trials" in ran.output

    client: MlflowClient = connect(get_settings())
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials = sorted(
        (r for r in children if r.data.tags.get("kind") == "tuning_trial"),
        key=lambda r: int(r.data.tags["trial"]),
    )
    assert [r.info.run_name for r in trials] == ["trial 0", "trial 1", "trial 2"]
    assert len(children) == 3 + len(JUDGEMENTS)
    for trial in trials:
        assert set(SEARCH_SPACE) <= set(trial.data.params)
        assert trial.data.metrics["cv_log_loss"] > 0
    first = trials[0].data.params
    assert all(_same(first[k], v) for k, v in default_params().items())

    best = min(trials, key=lambda r: r.data.metrics["cv_log_loss"])
    best_params = {k: best.data.params[k] for k in SEARCH_SPACE}
    assert parent.data.params["tune.trials"] == "3"
    assert parent.data.params["tune.best_trial"] == best.data.tags["trial"]
    for name, value in best_params.items():
        assert parent.data.params[f"tune.best.{name}"] == value
    assert parent.data.metrics["tune.best_cv_log_loss"] == best.data.metrics["cv_log_loss"]

    judgement_runs = [r for r in children if r.info.run_name in JUDGEMENTS]
    assert len(judgement_runs) == len(JUDGEMENTS)
    for run in judgement_runs:
        assert {k: run.data.params[k] for k in SEARCH_SPACE} == best_params
    champion = CaseworkModel.load(workspace / "models" / "champion")
    assert set(champion.models) == set(JUDGEMENTS)
    for model in champion.models.values():
        fitted = model.get_params()
        assert all(_same(value, fitted[name]) for name, value in best_params.items())


def test_the_same_seed_gives_the_same_trials_and_best_params(cases) -> None:
    first = tune(cases, n_trials=2, seed=3)
    again = tune(cases, n_trials=2, seed=3)
    other = tune(cases, n_trials=2, seed=4)
    assert [t.params for t in again.trials] == [t.params for t in first.trials]
    assert [t.log_loss for t in again.trials] == [t.log_loss for t in first.trials]
    assert again.best_params == first.best_params
    assert first.trials[0].params == default_params() == other.trials[0].params
    assert other.trials[1].params != first.trials[1].params  # the seed drives the sampler
    assert {t.number for t in first.trials} == {0, 1}
    assert first.best.log_loss == min(t.log_loss for t in first.trials)


@pytest.mark.parametrize("trials", ["0", "-2"])
def test_tune_below_one_trial_is_refused_with_exit_2(workspace, cases, trials) -> None:
    data = workspace / "inspected.parquet"
    cases.head(50).to_parquet(data)
    ran = runner.invoke(app, ["train", "--data", str(data), "--tune", trials])
    assert ran.exit_code == 2
    assert "--tune" in ran.output
    assert not (workspace / "mlflow.db").exists()
    assert not (workspace / "models" / "champion").exists()


def test_tune_refuses_no_trials_in_python_too(cases) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        tune(cases, n_trials=0)
