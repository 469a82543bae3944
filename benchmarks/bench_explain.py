"""The 50k model at work: scoring the 250k frame, one case's full explanation (12 judgements)
and global SHAP.

Baselines in the same run: for scoring, the 12 boosters' raw predictions on the prepared matrix
(no calibration, no risk score); for explanations, ``shap.TreeExplainer`` on the same boosters
(exact TreeSHAP, log-odds only: no calibration to the probability scale and no text).
"""

from __future__ import annotations

import warnings

import shap

from benchmarks.common import Row, best_of, percentiles, report
from features.synthetic.generator import generate
from training.bundle import CaseworkModel
from training.reporting.explain import explain_cases, explain_matrix
from training.trainer import train

N_CASES, N_FRAME = 50_000, 250_000
SINGLE_CALLS = 1000


def run() -> list[Row]:
    """Rows: scoring rate, single-case explanation p50/p99 and global SHAP, beside baselines."""
    data = generate(N_CASES, N_FRAME, seed=1)
    cases = data.inspected
    model: CaseworkModel = train(cases, seed=0).model
    scoring = best_of(lambda: model.predict(data.frame), repeat=2)
    frame_matrix = model.matrix(data.frame)
    raw = best_of(lambda: [m.booster_.predict(frame_matrix) for m in model.models.values()], 2)
    warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer")
    explainers = {j: shap.TreeExplainer(m.booster_) for j, m in model.models.items()}
    one = cases.iloc[[17]]

    def peer_one() -> None:
        X = model.matrix(one)
        for explainer in explainers.values():
            explainer.shap_values(X)

    ours = percentiles(lambda: explain_cases(model, one), SINGLE_CALLS)
    peer = percentiles(peer_one, SINGLE_CALLS)
    X = model.matrix(cases)
    ours_global = best_of(lambda: explain_matrix(model, model.matrix(cases)), repeat=2)
    peer_global = best_of(lambda: [e.shap_values(X) for e in explainers.values()], repeat=2)
    return [
        Row(
            f"score the {N_FRAME:,}-case frame (12 judgements + risk score)",
            N_FRAME / scoring,
            N_FRAME / raw,
            "raw booster predictions, matrix ready",
            "rows/s",
            note="casework includes reading the records into features and calibration",
        ),
        Row("explain one case, 12 judgements: p50", ours[0], peer[0], "shap.TreeExplainer", "ms"),
        Row(
            "explain one case, 12 judgements: p99",
            ours[1],
            peer[1],
            "shap.TreeExplainer",
            "ms",
            "< 20 ms",
            note="casework adds the probability scale and the plain-words text",
        ),
        Row(
            f"global SHAP, {N_CASES:,} cases x 12 judgements",
            ours_global,
            peer_global,
            "shap.TreeExplainer",
            "s",
            note="both exact path-dependent TreeSHAP; casework also the probability form",
        ),
    ]


if __name__ == "__main__":
    report(run(), "explain")
