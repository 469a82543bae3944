"""Training on generator data: near Bayes-optimal, calibrated, better than the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from casework.cli import app
from features.contract import JUDGEMENTS, NOT_APPLICABLE, truth_column
from features.synthetic.generator import generate
from training.splits import MAX_DROPPED_SHARE, temporal_holdout
from training.trainer import MIN_APPLICABLE, train


@pytest.fixture(scope="module")
def trained(trained_50k):
    """The session's 50,000-case model (tests/training_tests/conftest.py)."""
    return trained_50k


@pytest.mark.slow
def test_lightgbm_is_near_bayes_optimal_calibrated_and_beats_logistic(trained) -> None:
    cases, result = trained
    truth = cases.set_index("case_id")
    test = result.test_predictions
    metrics = result.metrics.set_index(["judgement", "model"])
    beats = 0
    for judgement, rows in test.groupby("judgement"):
        bayes = roc_auc_score(rows["y"], truth.loc[rows["case_id"], truth_column(judgement)])
        auc = metrics.loc[(judgement, "lightgbm"), "auc"]
        assert auc == pytest.approx(roc_auc_score(rows["y"], rows["p"]))
        assert bayes - auc < 0.01, (judgement, auc, bayes)
        assert metrics.loc[(judgement, "lightgbm"), "ece"] < 0.02, judgement
        beats += auc > metrics.loc[(judgement, "logistic"), "auc"]
    assert test["judgement"].nunique() == 12
    assert beats >= 10


@pytest.mark.slow
def test_no_officer_on_both_sides_of_the_temporal_split(trained) -> None:
    cases, result = trained
    train_officers = set(cases["officer_id"].iloc[result.split.train])
    test_officers = set(cases["officer_id"].iloc[result.split.test])
    assert train_officers.isdisjoint(test_officers)
    dates = cases["inspection_date"]
    assert dates.iloc[result.split.train].max() <= dates.iloc[result.split.test].min()
    assert 0.15 < len(result.split.test) / len(cases) < 0.25


def test_every_cv_fold_keeps_officers_apart(small_data) -> None:
    cases = small_data.inspected
    split = temporal_holdout(cases)
    from training.splits import officer_folds

    officers = cases["officer_id"].to_numpy()[split.train]
    folds = officer_folds(np.zeros(len(officers), dtype=int), officers, 5, seed=0)
    for fit_rows, valid_rows in folds.split(officers, groups=officers):
        assert set(officers[fit_rows]).isdisjoint(officers[valid_rows])


def test_a_judgement_with_too_few_applicable_cases_is_skipped(small_data) -> None:
    cases = small_data.inspected.copy()
    rare = cases["review_safety"].astype(str).to_numpy()
    keep = np.zeros(len(cases), dtype=bool)
    keep[: MIN_APPLICABLE // 2] = True
    cases["review_safety"] = pd.Categorical(
        np.where(keep, rare, NOT_APPLICABLE), categories=cases["review_safety"].cat.categories
    )
    result = train(cases, seed=0)
    assert "review_safety" in result.skipped and "review_safety" not in result.model.models
    scores = result.model.predict(small_data.frame.head(50))
    assert scores["p_insufficient__review_safety"].isna().all()
    assert scores["risk_score"].notna().all()
    assert set(result.model.models) == set(JUDGEMENTS) - {"review_safety"}


@pytest.fixture(scope="module")
def long_staying() -> pd.DataFrame:
    """An imported-like table: ~800 officers who all stay, inspected over three years."""
    return generate(3_000, 12_400, seed=3, years=3, turnover=0.01).inspected


def test_officers_who_stay_for_years_get_an_officer_grouped_split(long_staying) -> None:
    cases = long_staying
    split = temporal_holdout(cases)
    assert split.mode == "officer-grouped"
    officers = cases["officer_id"].to_numpy()
    assert set(officers[split.train]).isdisjoint(officers[split.test])
    dates = cases["inspection_date"].to_numpy()
    assert dates[split.train].max() <= dates[split.test].min()
    assert split.kept_share >= 1 - MAX_DROPPED_SHARE
    print(f"officers {len(set(officers))}, kept {split.kept_share:.1%}, test {len(split.test)}")
    # officers come and go (the calibrated turnover): no officer on both sides, at little cost
    churning = generate(3_000, 12_400, seed=3).inspected
    assert temporal_holdout(churning).mode == "temporal"


@pytest.mark.slow
def test_train_on_officers_who_stay_for_years_exits_0(long_staying, workspace) -> None:
    # The old split dropped every training case (all officers were in the test period):
    # "internal error: KeyError: 'model'", exit 1.
    path = workspace / "imported.parquet"
    long_staying.to_parquet(path)
    result = CliRunner().invoke(app, ["train", "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "split: officer-grouped" in result.output


def test_too_little_data_to_train_is_exit_2_naming_the_count(small_data, workspace) -> None:
    path = workspace / "tiny.csv"
    small_data.inspected.head(150).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "too little data to train" in message and "split of 150)" in message
