"""Rating-aware planning against real draws: the planner's P(right rating) per standard beside
the share of real samples whose Hájek shares give the frame's true rating.

Frame: 5,000 window cases (seed 23, not the frame the residual correlation was measured on),
n = 120, default request. The truth is the frame's realised shares (applicable cases only); the
planner is given the true scores shifted so that their means over the applicable cases equal
those shares, and which cases each judgement applies to, so the comparison tests its variance
model rather than the gap between P(insufficient) over all cases and the share among applicable
ones. Also times the size search on its own.
``python -m benchmarks.bench_planning`` (~2 min; results/planning.json).
"""

from __future__ import annotations

import os
import time

from benchmarks.common import Row, report
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.planning import rating_accuracy
from serving.sampling import SampleRequest, aligned_scores, design_for
from tests.studies.planning import TRUE_APPLIES, planner_against_draws

DRAWS = {"systematic": 1_000, "balanced": 1_000}
SEED = 23
APPLIES = os.environ.get("PLANNING_APPLIES", "1") == "1"
"""Give the planner the frame's realised applicability (``PLANNING_APPLIES=0``: assume every
judgement applies, as ``casework sample --simulate`` does without it)."""


def run() -> list[Row]:
    """Stated P(right) vs the accuracy of real draws, per method and standard; search time."""
    counts = {m: int(os.environ.get("PLANNING_DRAWS", n)) for m, n in DRAWS.items()}
    data = generate(100, 5_000, seed=SEED, with_truth=True)
    frame = data.frame.reset_index(drop=True)
    scores = aligned_scores(frame, true_scores(frame))
    variants = {"stated": TRUE_APPLIES if APPLIES else None}
    found = planner_against_draws(frame, data.frame_judgements, scores, counts, SEED, variants)
    rows = [
        Row(
            f"P(right rating) {r.standard}, {r.method}",
            r.stated,
            r.realised,
            f"share right in {counts[r.method]} draws (±{r.se:.3f})",
            "probability",
            "within 0.03 (+2 SE)",
        )
        for r in found.itertuples()
    ]
    request = SampleRequest(size=120)
    design = design_for(frame, scores, request)
    started = time.perf_counter()
    rating_accuracy(frame, scores, request, design, SEED, budget_seconds=60.0)
    rows.append(Row("size search for 90%", time.perf_counter() - started, None, "", "s", "< 1 s"))
    return rows


if __name__ == "__main__":
    print(f"results: {report(run(), 'planning')}")
