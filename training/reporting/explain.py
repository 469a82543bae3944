"""SHAP explanations of the judgement models: exact TreeSHAP from LightGBM's ``pred_contrib``.

Two forms, both additive:

- **log-odds** (what TreeSHAP computes): for each case, the contributions of the features plus
  the base value (the booster's expected margin) equal the raw booster margin, the log-odds of
  *insufficient* before calibration. Global importance (``mean_abs_shap``) is in this form.
- **probability**: the calibrated probability's change from the base case,
  ``p(x) - p(base)``, shared out among the features in proportion to their log-odds
  contributions (the calibrator is monotone, so signs and ranking are kept and the shares add up
  exactly). When the margin equals the base value the calibrator's slope there is used. Per-case
  explanations ("caseload 68: +0.11 to the chance that ...") are in this form.

Single-case explanation runs LightGBM single-threaded: for one row, waking a thread pool costs
far more than the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.contract import AIMS, JUDGEMENTS
from training.bundle import CaseworkModel
from training.judgement_model import JudgementClassifier, calibrate

SLOPE_STEP = 1e-3
SINGLE_THREAD_ROWS = 256

FEATURE_LABELS: dict[str, str] = {
    "provider_type": "provider",
    "officer_grade": "grade",
    "officer_caseload": "caseload",
    "officer_changes": "officer changes",
    "rosh_level": "RoSH",
    "reoffending_likelihood": "reoffending likelihood",
    "sentence_type": "sentence",
    "months_supervised": "months supervised",
    "iom": "IOM",
    "gender": "gender",
    "ethnicity": "ethnicity",
    "age": "age",
}
"""Plain words for each model feature, as the explanations print them."""

STAGE_WORDS = {
    "assessment": "assessment",
    "planning": "planning",
    "delivery": "delivery",
    "review": "reviewing",
}


@dataclass(frozen=True)
class Contributions:
    """TreeSHAP of one judgement model for a set of cases (rows) and features (columns)."""

    log_odds: np.ndarray  # (n, p): adds up with ``base`` to the raw margin
    base: float  # the booster's expected margin
    probability: np.ndarray  # (n, p): adds up with ``base_probability`` to the calibrated p
    base_probability: float
    margin: np.ndarray  # (n,) raw booster margin
    p: np.ndarray  # (n,) calibrated probability of insufficient


def judgement_phrase(judgement: str) -> str:
    """Plain words for a judgement: planning_safety → "planning for safety"."""
    stage, aim = judgement.split("_", 1)
    return f"{STAGE_WORDS[stage]} for {aim}"


def shap_contributions(classifier: JudgementClassifier, X: np.ndarray) -> Contributions:
    """Exact TreeSHAP of one judgement model on the model matrix ``X``, in both forms."""
    threads = {"num_threads": 1} if len(X) <= SINGLE_THREAD_ROWS else {}
    raw = classifier.booster_.predict(X, pred_contrib=True, **threads)
    log_odds, base = raw[:, :-1], float(raw[0, -1]) if len(raw) else 0.0
    margin = raw.sum(axis=1)
    around = base + np.array([0.0, -SLOPE_STEP, SLOPE_STEP])
    p_all = _calibrated(classifier.calibrator_, np.concatenate([margin, around]))
    p, (p_base, p_below, p_above) = p_all[: len(margin)], p_all[len(margin) :]
    step = margin - base
    slope_at_base = (p_above - p_below) / (2 * SLOPE_STEP)
    near = np.abs(step) < 1e-9
    scale = np.where(near, slope_at_base, (p - p_base) / np.where(near, 1.0, step))
    return Contributions(log_odds, base, log_odds * scale[:, None], float(p_base), margin, p)


def explain_matrix(model: CaseworkModel, X: pd.DataFrame) -> dict[str, Contributions]:
    """TreeSHAP of every trained judgement model on the model matrix ``X``."""
    values = X.to_numpy(dtype=float)
    return {
        judgement: shap_contributions(model.models[judgement], values)
        for judgement in JUDGEMENTS
        if judgement in model.models
    }


def global_importance(model: CaseworkModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per judgement and feature over the cases of ``frame``.

    Columns: ``judgement``, ``feature``, ``mean_abs_shap`` (log-odds) and
    ``mean_abs_shap_probability`` (probability scale); features in decreasing importance within
    each judgement, judgements in contract order.
    """
    X = model.matrix(frame)
    rows = []
    for judgement, shap in explain_matrix(model, X).items():
        table = pd.DataFrame(
            {
                "judgement": judgement,
                "feature": X.columns,
                "mean_abs_shap": np.abs(shap.log_odds).mean(axis=0),
                "mean_abs_shap_probability": np.abs(shap.probability).mean(axis=0),
            }
        )
        rows.append(table.sort_values("mean_abs_shap", ascending=False, kind="stable"))
    return pd.concat(rows, ignore_index=True)


def explain_cases(model: CaseworkModel, frame: pd.DataFrame, top: int = 5) -> list[dict]:
    """Each case's ``top`` drivers per judgement, as the API's ``/explain`` answer (CONTRACT §6).

    ``{"case_id", "judgements": {"<judgement>": [{"feature", "value", "contribution", "text"}]},
    "probability": {"<judgement>": p}, "base_probability": {"<judgement>": p_base}}`` where
    ``contribution`` is on the probability scale and drivers are ranked by |log-odds
    contribution|; the base probability plus every feature's contribution (not only the top
    ones) is the probability. A judgement skipped in training has an empty list and None.
    """
    X = model.matrix(frame)
    names = list(X.columns)
    shap = explain_matrix(model, X)
    values = {name: frame[name].tolist() for name in names}
    case_ids = frame["case_id"].astype(str).tolist()
    explanations = []
    for i, case_id in enumerate(case_ids):
        judgements: dict[str, list[dict]] = {}
        chance: dict[str, float | None] = {}
        base: dict[str, float | None] = {}
        for judgement in JUDGEMENTS:
            if judgement not in shap:
                judgements[judgement], chance[judgement], base[judgement] = [], None, None
                continue
            chance[judgement] = float(shap[judgement].p[i])
            base[judgement] = shap[judgement].base_probability
            log_odds = shap[judgement].log_odds[i]
            probability = shap[judgement].probability[i]
            order = np.argsort(-np.abs(log_odds), kind="stable")[:top]
            judgements[judgement] = [
                _driver(names[k], values[names[k]][i], float(probability[k]), judgement)
                for k in order
            ]
        explanations.append(
            {
                "case_id": case_id,
                "judgements": judgements,
                "probability": chance,
                "base_probability": base,
            }
        )
    return explanations


def drivers_by_aim(explanation: dict, top: int = 3) -> dict[str, list[dict]]:
    """A case's ``top`` drivers per aim (engagement, desistance, safety).

    From ``explain_cases`` run with every feature: each feature's contribution averaged over
    the aim's judgements.

    ``{"<aim>": [{"feature", "value", "contribution", "text"}]}``, ranked by |contribution|.
    """
    by_aim: dict[str, list[dict]] = {}
    for aim in AIMS:
        parts: dict[str, list[float]] = {}
        values: dict[str, object] = {}
        for judgement in JUDGEMENTS:
            if judgement.endswith(f"_{aim}"):
                for driver in explanation["judgements"][judgement]:
                    parts.setdefault(driver["feature"], []).append(driver["contribution"])
                    values[driver["feature"]] = driver["value"]
        mean = {feature: float(np.mean(c)) for feature, c in parts.items()}
        ranked = sorted(mean, key=lambda feature: -abs(mean[feature]))[:top]
        by_aim[aim] = [
            {
                "feature": feature,
                "value": values[feature],
                "contribution": mean[feature],
                "text": f"{FEATURE_LABELS.get(feature, feature)} {_shown(values[feature])}: "
                f"{_signed(mean[feature])}",
            }
            for feature in ranked
        ]
    return by_aim


def _calibrated(calibrator: object, margin: np.ndarray) -> np.ndarray:
    """``judgement_model.calibrate`` without scikit-learn's per-call input checks (same numbers).

    Isotonic regression with clipping is linear interpolation between its thresholds; Platt's
    sigmoid is the logistic function of a linear map of the margin.
    """
    if isinstance(calibrator, IsotonicRegression):
        return np.interp(margin, calibrator.X_thresholds_, calibrator.y_thresholds_)
    if isinstance(calibrator, LogisticRegression):
        return special.expit(margin * calibrator.coef_[0, 0] + calibrator.intercept_[0])
    return calibrate(calibrator, margin)


def _driver(feature: str, value: object, contribution: float, judgement: str) -> dict:
    """One driver of one judgement as the API returns it."""
    value = _plain(value)
    text = (
        f"{FEATURE_LABELS.get(feature, feature)} {_shown(value)}: {_signed(contribution)} to the "
        f"chance that {judgement_phrase(judgement)} is insufficient"
    )
    return {"feature": feature, "value": value, "contribution": contribution, "text": text}


def _plain(value: object) -> object:
    """A JSON-ready Python value: numpy scalars unwrapped, missing values as None."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _shown(value: object) -> str:
    """How a feature value reads in a sentence."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _signed(contribution: float) -> str:
    """+0.11 / -0.04; three decimals when two would round to zero."""
    return f"{contribution:+.2f}" if abs(contribution) >= 0.005 else f"{contribution:+.3f}"
