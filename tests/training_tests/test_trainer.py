"""Training on generator data: near Bayes-optimal, calibrated, better than the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.contract import JUDGEMENTS, NOT_APPLICABLE, truth_column
from training.splits import temporal_holdout
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
