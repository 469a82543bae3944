"""Rating-aware planning against real draws: the planner's P(right rating) per standard beside
the share of real samples whose Hájek shares give the frame's true rating.

Frame: 5,000 window cases (seed 23, not the frame the residual correlation was measured on),
n = 120, default request. The truth is the frame's realised shares (applicable cases only); the
planner is given the true scores shifted so that their means equal those shares, so the
comparison tests its variance model rather than the gap between P(insufficient) over all cases
and the share among applicable ones. Also times the size search on its own.
``python -m benchmarks.bench_planning`` (~2 min; results/planning.json).
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.common import Row, report
from features.contract import INSUFFICIENT, JUDGEMENTS, SUFFICIENT, score_column
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.planning import RatingOdds, rating_accuracy
from serving.ratings import band
from serving.sampling import SampleRequest, aligned_scores, design_for
from serving.simulation import draw_many

DRAWS = {"systematic": 1_000, "balanced": 400}
SEED = 23


def run() -> list[Row]:
    """Stated P(right) vs the accuracy of real draws, per method and standard; search time."""
    data = generate(100, 5_000, seed=SEED, with_truth=True)
    frame = data.frame.reset_index(drop=True)
    scores = aligned_scores(frame, true_scores(frame))
    judged = data.frame_judgements.reset_index(drop=True)
    value = np.column_stack([judged[j].astype(str).to_numpy() for j in JUDGEMENTS])
    sufficient = (value == SUFFICIENT).astype(float)
    applies = np.isin(value, [SUFFICIENT, INSUFFICIENT]).astype(float)
    realised = sufficient.sum(axis=0) / applies.sum(axis=0)
    centred = scores.copy()
    for j, judgement in enumerate(JUDGEMENTS):
        p = centred[score_column(judgement)]
        centred[score_column(judgement)] = (p + (1 - p.mean() - realised[j])).clip(1e-3, 1 - 1e-3)
    odds = RatingOdds(centred, SEED)
    assert np.allclose(odds.q.mean(axis=0), realised, atol=1e-3), "centring clipped too much"
    rows = []
    for method, count in DRAWS.items():
        request = SampleRequest(size=120, method=method)
        design = design_for(frame, scores, request)
        stated = odds.p_right(design.pi)
        chosen = draw_many(design, method, int(os.environ.get("PLANNING_DRAWS", count)), SEED)
        weight = applies / design.pi[:, None]
        shares = np.array([(weight * sufficient)[c].sum(0) / weight[c].sum(0) for c in chosen])
        for index, (kind, standard, _, _, columns) in enumerate(odds.standards):
            right = band(shares[:, columns].min(axis=1)) == band(realised[columns].min())
            se = np.sqrt(right.mean() * (1 - right.mean()) / len(right))
            rows.append(
                Row(
                    f"P(right rating) {standard} ({kind}), {method}",
                    float(stated[index]),
                    float(right.mean()),
                    f"share right in {len(right)} draws (±{se:.3f})",
                    "probability",
                    "within 0.03 (+2 SE)",
                )
            )
    request = SampleRequest(size=120)
    design = design_for(frame, scores, request)
    started = time.perf_counter()
    rating_accuracy(frame, scores, request, design, SEED, budget_seconds=60.0)
    rows.append(Row("size search for 90%", time.perf_counter() - started, None, "", "s", "< 1 s"))
    return rows


if __name__ == "__main__":
    print(f"results: {report(run(), 'planning')}")
