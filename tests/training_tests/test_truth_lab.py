"""The truth lab against the generator's known answer, and the officer-bootstrap metrics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from features.contract import JUDGEMENTS
from training.bootstrap_metrics import metrics_with_intervals
from training.metrics import evaluate
from training.reporting.truth_lab import TAIL, TruthLab, satterthwaite, truth_lab


@pytest.fixture(scope="module")
def lab(trained_50k, held_out_shap) -> TruthLab:
    """The truth lab of the 50k model on its ~10,000 temporal test cases, with the spread of
    its fold boosters (estimation error) in the driver intervals."""
    _, result = trained_50k
    held_out, features, shap = held_out_shap
    return truth_lab(held_out, result.model.predict(held_out), shap, features, model=result.model)


def test_the_model_is_within_0_01_auc_of_the_bayes_optimal_score(lab) -> None:
    assert lab.bayes["judgement"].tolist() == list(JUDGEMENTS)
    assert (lab.bayes["auc_gap"].abs() < 0.01).all(), lab.bayes
    assert (lab.bayes["log_loss_gap"] < 0.01).all(), lab.bayes


def test_recovered_effects_track_the_true_effects(lab) -> None:
    drivers = lab.drivers
    top = drivers[drivers["true_rank"] == 1]
    assert (top["driver"] == "officer_caseload").all()
    strong = drivers[drivers["true_rank"] <= 3]
    assert np.corrcoef(strong["recovered"], strong["true"])[0, 1] > 0.95
    assert (np.sign(strong["recovered"]) == np.sign(strong["true"])).all()


def test_driver_intervals_cover_evaluation_noise_and_estimation_error(lab) -> None:
    """Half-width = t·√(evaluation + estimation variance), t for 95% jointly over three drivers
    with Welch-Satterthwaite degrees of freedom: about 4 (five fold boosters) where the fold
    boosters' spread dominates, toward the normal where the evaluation bootstrap does."""
    drivers = lab.drivers
    spread = np.hypot(drivers["se_evaluation"], drivers["se_estimation"])
    half = student_t.ppf(1 - TAIL, drivers["df"]) * spread
    np.testing.assert_allclose(drivers["high"] - drivers["recovered"], half)
    np.testing.assert_allclose(drivers["recovered"] - drivers["low"], half)
    assert (drivers["se_estimation"] > 0).all()
    assert drivers["df"].between(4, 10_000).all(), drivers["df"].describe()
    estimation_led = drivers["se_estimation"] > 3 * drivers["se_evaluation"]
    assert estimation_led.any() and drivers.loc[estimation_led, "df"].lt(5).all()


def test_satterthwaite_degrees_of_freedom() -> None:
    assert satterthwaite((1.0, 1.0), (4, 4)) == pytest.approx(8.0)
    assert satterthwaite((2.0, 0.0), (4, 100)) == pytest.approx(4.0)
    assert satterthwaite((0.0, 0.0), (4, 100)) == np.inf
    # one variance with 4 df beside a much larger, well-known one: toward the larger one's df
    assert 900 < satterthwaite((100.0, 1.0), (1_000, 4)) < 1_000


def test_each_true_top_three_effect_is_inside_its_interval_for_11_of_12_judgements(lab) -> None:
    strong = lab.drivers[lab.drivers["true_rank"] <= 3]
    inside = strong["true"].between(strong["low"], strong["high"])
    assert inside.groupby(strong["judgement"]).all().sum() >= 11, strong


def test_the_criterion_detects_effects_10_percent_short(lab) -> None:
    """Power: the same intervals around recovered effects 10% short of these fail it."""
    drivers = lab.drivers
    short = 0.10 * drivers["recovered"]
    biased = drivers.assign(
        recovered=drivers["recovered"] - short,
        low=drivers["low"] - short,
        high=drivers["high"] - short,
    )
    assert replace(lab, drivers=biased).recovered().sum() < 11


def test_protected_characteristics_have_no_direct_effect(lab) -> None:
    protected = lab.protected
    assert set(protected["characteristic"]) == {"gender", "ethnicity", "age band"}
    # nine comparisons: each direct effect within 3 standard errors (officer bootstrap and the
    # fold boosters' jackknife) of the truth, 0
    assert (protected["direct"].abs() < 3 * protected["direct_se"]).all(), protected
    # the predicted gap is shared out exactly among the features that carry it
    carried = np.array([series.sum() for series in protected["proxies"]])
    np.testing.assert_allclose(carried, protected["predicted"], atol=1e-6)
    # and it is the true gap within 3 standard errors: the model reproduces how groups differ
    assert (protected["model_error"].abs() < 3 * protected["model_error_se"]).all(), protected


def test_bootstrap_metrics_equal_evaluate_and_bracket_it(small_data) -> None:
    cases = small_data.inspected
    y = (cases["planning_engagement"].astype(str) == "insufficient").to_numpy(float)
    p = cases["p_true__planning_engagement"].round(2).to_numpy()  # ties, as isotonic gives
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    for w in (None, weight):
        found = metrics_with_intervals(y, p, cases["officer_id"].to_numpy(), w, n_boot=100)
        expected = pd.Series(evaluate(y, p, w))[found.index]
        np.testing.assert_allclose(found["value"], expected, rtol=1e-12)
        auc = found.loc["auc"]
        assert auc["low"] < auc["value"] < auc["high"] < auc["low"] + 0.1
