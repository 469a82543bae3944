"""SHAP explanations: additive in both forms, the API's shape in plain words, the true drivers."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.linear_model import LogisticRegression

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE
from features.pipeline import CaseFeatures
from features.synthetic.truth import solve_truth
from training.bundle import CaseworkModel
from training.judgement_model import JudgementClassifier
from training.reporting.explain import (
    FEATURE_LABELS,
    drivers_by_aim,
    explain_cases,
    explain_matrix,
    global_importance,
    judgement_phrase,
    shap_contributions,
)

CALIBRATED = {"planning_safety": "isotonic", "delivery_engagement": "sigmoid"}
TEXT = re.compile(
    r"^(.+) (\S+): ([+-]\d\.\d{2,3}) to the chance that (\w+) for (\w+) is insufficient$"
)


@pytest.fixture(scope="module")
def small_model(small_data) -> CaseworkModel:
    """Two judgement models (one per calibrator) on the small data; the other ten skipped."""
    cases = small_data.inspected
    features = CaseFeatures().fit(cases)
    X = features.transform(cases)
    officers = pd.factorize(cases["officer_id"])[0]
    models = {}
    for judgement, calibration in CALIBRATED.items():
        values = cases[judgement].astype(str).to_numpy()
        rows = values != NOT_APPLICABLE
        models[judgement] = JudgementClassifier(
            cv=3, calibration=calibration, max_rounds=300, random_state=0
        ).fit(
            X[rows],
            (values[rows] == INSUFFICIENT).astype(int),
            groups=officers[rows],
            categorical_features=features.nominal_features_,
        )
    skipped = {j: "not trained in this test" for j in JUDGEMENTS if j not in models}
    return CaseworkModel(features, models, skipped)


def test_contributions_add_up_to_the_margin_and_to_the_calibrated_probability(
    small_model, small_data
) -> None:
    frame = small_data.frame
    X = small_model.matrix(frame)
    shap = explain_matrix(small_model, X)
    assert set(shap) == set(CALIBRATED)
    for judgement, model in small_model.models.items():
        assert model.calibration_ == CALIBRATED[judgement]
        c = shap[judgement]
        margin = model.decision_function(X)
        np.testing.assert_allclose(c.log_odds.sum(axis=1) + c.base, margin, rtol=0, atol=1e-6)
        p = model.predict_proba(X)[:, 1]
        np.testing.assert_allclose(c.p, p, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.probability.sum(axis=1) + c.base_probability, p, atol=1e-9)
        # the probability form keeps each contribution's sign
        assert np.all(c.probability * c.log_odds >= 0)


class _Booster:
    """A stand-in booster whose contributions cancel out: the margin equals the base value."""

    def predict(self, X: np.ndarray, pred_contrib: bool, **kwargs: object) -> np.ndarray:
        return np.tile([0.3, -0.3, -0.4], (len(X), 1))


def test_a_case_at_the_base_margin_gets_the_calibrators_slope() -> None:
    calibrator = LogisticRegression().fit([[-2.0], [-1.0], [0.0], [1.0]], [0, 1, 0, 1])
    stub = SimpleNamespace(booster_=_Booster(), calibrator_=calibrator)
    c = shap_contributions(stub, np.zeros((3, 2)))
    p = special.expit(-0.4 * calibrator.coef_[0, 0] + calibrator.intercept_[0])
    slope = p * (1 - p) * calibrator.coef_[0, 0]
    np.testing.assert_allclose(c.probability, np.tile([0.3 * slope, -0.3 * slope], (3, 1)))
    assert c.base == -0.4 and c.base_probability == pytest.approx(p)


def test_explain_cases_has_the_api_shape_in_plain_words(small_model, small_data) -> None:
    frame = small_data.frame.head(40)
    explanations = explain_cases(small_model, frame, top=3)
    assert json.loads(json.dumps(explanations)) == explanations
    assert [e["case_id"] for e in explanations] == frame["case_id"].tolist()
    X = small_model.matrix(frame)
    shap = explain_matrix(small_model, X)
    for i, explanation in enumerate(explanations):
        assert set(explanation) == {"case_id", "judgements", "probability", "base_probability"}
        assert list(explanation["judgements"]) == list(JUDGEMENTS)
        for judgement, drivers in explanation["judgements"].items():
            if judgement not in CALIBRATED:
                assert drivers == [] and explanation["probability"][judgement] is None
                continue
            c = shap[judgement]
            assert explanation["probability"][judgement] == pytest.approx(c.p[i], abs=1e-12)
            assert explanation["base_probability"][judgement] == c.base_probability
            assert len(drivers) == 3
            log_odds = pd.Series(shap[judgement].log_odds[i], index=X.columns)
            expected = log_odds.abs().sort_values(ascending=False, kind="stable").index[:3]
            assert [d["feature"] for d in drivers] == list(expected)
            for driver in drivers:
                assert set(driver) == {"feature", "value", "contribution", "text"}
                raw = frame.iloc[i][driver["feature"]]
                assert driver["value"] == (raw if isinstance(raw, str) else raw.item())
                label, value, number, stage, aim = TEXT.match(driver["text"]).groups()
                assert label == FEATURE_LABELS[driver["feature"]]
                assert float(number) == pytest.approx(driver["contribution"], abs=0.005)
                assert f"{stage} for {aim}" == judgement_phrase(judgement)


def test_drivers_by_aim_average_each_feature_over_the_aims_judgements(
    small_model, small_data
) -> None:
    frame = small_data.frame.head(5)
    explanation = explain_cases(small_model, frame, top=len(small_model.features.features_))[1]
    by_aim = drivers_by_aim(explanation, top=2)
    assert list(by_aim) == ["engagement", "desistance", "safety"]
    # only delivery_engagement and planning_safety are trained here: one judgement per aim
    for aim, judgement in (("engagement", "delivery_engagement"), ("safety", "planning_safety")):
        full = {d["feature"]: d["contribution"] for d in explanation["judgements"][judgement]}
        assert [d["feature"] for d in by_aim[aim]] == sorted(full, key=lambda f: -abs(full[f]))[:2]
        assert by_aim[aim][0]["contribution"] == full[by_aim[aim][0]["feature"]]
    assert by_aim["desistance"] == []


def test_text_names_the_value_and_the_judgement(small_model, small_data) -> None:
    case = small_data.frame.head(1).copy()
    case["officer_caseload"] = 68
    drivers = explain_cases(small_model, case, top=9)[0]["judgements"]["planning_safety"]
    caseload = next(d for d in drivers if d["feature"] == "officer_caseload")
    assert caseload["value"] == 68
    assert caseload["text"].startswith("caseload 68: +")
    assert caseload["text"].endswith("to the chance that planning for safety is insufficient")
    iom = next(d for d in drivers if d["feature"] == "iom")
    assert iom["text"].startswith(f"IOM {'yes' if case['iom'].iloc[0] else 'no'}: ")


def test_global_importance_is_the_mean_absolute_contribution(small_model, small_data) -> None:
    frame = small_data.frame
    table = global_importance(small_model, frame)
    assert list(table.columns[:3]) == ["judgement", "feature", "mean_abs_shap"]
    assert table["judgement"].unique().tolist() == [j for j in JUDGEMENTS if j in CALIBRATED]
    shap = explain_matrix(small_model, small_model.matrix(frame))
    for judgement, rows in table.groupby("judgement", sort=False):
        assert rows["mean_abs_shap"].is_monotonic_decreasing
        expected = np.abs(shap[judgement].log_odds).mean(axis=0)
        by_feature = rows.set_index("feature")["mean_abs_shap"]
        np.testing.assert_allclose(by_feature[small_model.matrix(frame).columns], expected)


@pytest.mark.slow
@pytest.mark.parametrize("judgement", JUDGEMENTS)
def test_top_three_features_by_mean_abs_shap_are_the_true_top_three(
    held_out_shap, judgement
) -> None:
    held_out, features, shap = held_out_shap
    importance = pd.Series(np.abs(shap[judgement].log_odds).mean(axis=0), index=features)
    ranked = importance.sort_values(ascending=False)
    truth = solve_truth().driver_variance(held_out).loc[judgement].sort_values(ascending=False)
    assert truth.iloc[2] >= 1.5 * truth.iloc[3], "the truth's 3rd and 4th drivers are too close"
    assert set(ranked.index[:3]) == set(truth.index[:3]), (ranked.to_dict(), truth.to_dict())


@pytest.mark.slow
def test_every_judgement_of_the_50k_model_is_additive_to_1e_6(trained_50k, held_out_shap) -> None:
    _, result = trained_50k
    held_out, _, shap = held_out_shap
    X = result.model.matrix(held_out)
    assert set(shap) == set(JUDGEMENTS)
    for judgement, c in shap.items():
        margin = result.model.models[judgement].decision_function(X)
        np.testing.assert_allclose(c.log_odds.sum(axis=1) + c.base, margin, rtol=0, atol=1e-6)
