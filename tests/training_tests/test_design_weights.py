"""Selection weights: metrics and models describe the caseload, not the risk-weighted sample.

A generator population is sampled by Poisson sampling with π proportional to the square of each
case's true risk (a strong tilt toward risky cases). Tolerances are Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import (
    INCLUSION_PROBABILITY,
    INSUFFICIENT,
    JUDGEMENTS,
    NOT_APPLICABLE,
    truth_column,
)
from features.pipeline import CaseFeatures
from features.synthetic.generator import generate
from training.baselines import logistic_baseline
from training.metrics import expected_calibration_error
from training.trainer import design_weights

JUDGEMENT = "planning_safety"
SAMPLE_SIZE = 12_000


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    cases = generate(60_000, 20_000, seed=21, with_truth=True).inspected
    risk = cases[[c for c in cases if c.startswith("p_true__")]].mean(axis=1).to_numpy() ** 2
    pi = np.minimum(1.0, SAMPLE_SIZE * risk / risk.sum())
    return cases.assign(**{INCLUSION_PROBABILITY: pi})


def _draw(population: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return population[rng.random(len(population)) < population[INCLUSION_PROBABILITY]]


def _labels(cases: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    judged = cases[cases[JUDGEMENT] != NOT_APPLICABLE]
    return judged, (judged[JUDGEMENT] == INSUFFICIENT).to_numpy(dtype=float)


def test_design_weighted_prevalence_is_unbiased_and_raw_is_biased(population) -> None:
    judged_pop, y_pop = _labels(population)
    pi = judged_pop[INCLUSION_PROBABILITY].to_numpy()
    truth = y_pop.mean()
    design_implied_raw = np.sum(pi * y_pop) / np.sum(pi)
    # Linearised SE of the Hájek mean under Poisson sampling, from the population itself.
    se = np.sqrt(np.sum((1 - pi) / pi * (y_pop - truth) ** 2)) / len(y_pop)
    judged, y = _labels(_draw(population, seed=3))
    w = 1.0 / judged[INCLUSION_PROBABILITY].to_numpy()
    assert abs(np.average(y, weights=w) - truth) < 3.5 * se
    raw_se = np.sqrt(design_implied_raw * (1 - design_implied_raw) / len(y))
    assert abs(y.mean() - design_implied_raw) < 3.5 * raw_se + 3.5 * se
    assert y.mean() - truth > 10 * se  # the raw sample overstates insufficient work


def test_design_weighted_ece_agrees_with_the_population(population) -> None:
    # A predictor fitted to an unweighted risk-weighted sample overpredicts for the caseload.
    features = CaseFeatures().fit(population)
    judged, y = _labels(_draw(population, seed=100))
    biased = logistic_baseline(features.nominal_features_, ["officer_caseload"]).fit(
        features.transform(judged), y
    )
    judged_pop, y_pop = _labels(population)
    p_pop = biased.predict_proba(features.transform(judged_pop))[:, 1]
    ece_population = expected_calibration_error(y_pop, p_pop)
    weighted, raw = [], []
    for seed in range(30):
        judged, y = _labels(_draw(population, seed=seed))
        p = biased.predict_proba(features.transform(judged))[:, 1]
        weighted.append(expected_calibration_error(y, p, 1 / judged[INCLUSION_PROBABILITY]))
        raw.append(expected_calibration_error(y, p))
    mc_se = np.std(weighted, ddof=1) / np.sqrt(len(weighted))
    assert abs(np.mean(weighted) - ece_population) < 3.5 * mc_se + 0.002
    assert abs(np.mean(raw) - ece_population) > 4 * mc_se  # the raw figure is detectably off


def test_weighted_logistic_baseline_recovers_the_caseload_share(population) -> None:
    features = CaseFeatures().fit(population)
    judged, y = _labels(_draw(population, seed=7))
    X = features.transform(judged)
    w = 1.0 / judged[INCLUSION_PROBABILITY].to_numpy()
    numeric = [c for c in X if c not in features.nominal_features_]
    weighted = logistic_baseline(features.nominal_features_, numeric).fit(
        X, y, model__sample_weight=w / w.mean()
    )
    judged_pop, _ = _labels(population)
    X_pop = features.transform(judged_pop)
    truth = judged_pop[truth_column(JUDGEMENT)].mean()
    assert abs(weighted.predict_proba(X_pop)[:, 1].mean() - truth) < 0.01


def test_one_weight_rule_for_a_store_mixing_designs() -> None:
    # Two legacy equal-chance inspections (no π), one risk-weighted sample with π, in which one
    # case could not be inspected. The old rule gave NaN to every legacy row.
    pi = [np.nan] * 5 + [0.5, 0.25, 0.1, 0.1]
    values = ["sufficient"] * 8 + ["not_inspected"]
    cases = pd.DataFrame(
        {
            "inspection_id": ["A", "A", "A", "B", "B", "C", "C", "C", "C"],
            INCLUSION_PROBABILITY: pi,
            **{j: values for j in JUDGEMENTS},
        }
    )
    w = design_weights(cases)
    assert not np.isnan(w).any()
    np.testing.assert_allclose(w[:5], 1.0)  # equal chance within their inspection
    # 1/π among the three inspected cases of C, scaled to sum to their count
    np.testing.assert_allclose(w[5:8], np.array([2.0, 4.0, 10.0]) * 3 / 16)
    assert w[8] == 0.0
    assert pd.Series(w).groupby(cases["inspection_id"]).sum().tolist() == pytest.approx([3, 2, 3])
    assert design_weights(cases.drop(columns=INCLUSION_PROBABILITY)) is None
    legacy_only = cases.assign(**{INCLUSION_PROBABILITY: np.nan})
    assert design_weights(legacy_only) is None
