"""Rating-aware planning against real draws: the planner's P(right rating) per standard beside
the share of real samples whose Hájek shares give the frame's true rating (its realised shares
among applicable cases), n = 120, default request. Two planners:

- **told the frame's shares**: the true scores shifted so that their means over the applicable
  cases equal the realised shares, and which cases each judgement applies to; only the sample is
  drawn. This tests the variance model, frame by frame: 5,000-case frames (seeds 23 and 79, not
  the frame the planner's correlations were measured on), 1,000 draws per method.
- **predicted** (as ``casework sample --simulate`` plans): the true scores themselves and the
  truth's chances of applying; the frame's actual shares are drawn around the predicted ones.
  A frame's actual share lies off its predicted one by a standard error of its own, so this
  statement is calibrated over frames, not per frame: 60 frames of 3,000 cases (seeds 500–559),
  400 systematic draws each, stated P(right) binned (reliability).

Also times the size search on its own. ``python -m benchmarks.bench_planning`` (~10 min;
results/planning.json); ``PLANNING_SEEDS``, ``PLANNING_CASES``, ``PLANNING_DRAWS`` and
``PLANNING_FRAMES`` (how many calibration frames) scale it down.
"""

from __future__ import annotations

import os
import time
from functools import cache

import pandas as pd

from benchmarks.common import Row, report
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.planning import rating_accuracy
from serving.sampling import SampleRequest, aligned_scores, design_for
from tests.studies.planning import PREDICTED, TRUE_APPLIES, planner_against_draws
from tests.studies.ratings import reliability

DRAWS = {"systematic": 1_000, "balanced": 1_000}
SEEDS = "23,79"
CASES = 5_000
CALIBRATION_SEED = 500
CALIBRATION_FRAMES = 60
CALIBRATION_CASES = 3_000
CALIBRATION_DRAWS = {"systematic": 400}
BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Reliability bins of the predicted P(right) (few statements fall below 0.5)."""


@cache
def scored_frame(seed: int, cases: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A generated frame of ``cases``, its true scores aligned, and its cases' judgements."""
    data = generate(100, cases, seed=seed, with_truth=True)
    frame = data.frame.reset_index(drop=True)
    return frame, aligned_scores(frame, true_scores(frame)), data.frame_judgements


def against_draws(
    seeds: list[int], cases: int, draws: dict[str, int], variant: object
) -> pd.DataFrame:
    """``planner_against_draws`` on each seed's generated frame (a ``frame`` column added)."""
    found = []
    for seed in seeds:
        frame, scores, judged = scored_frame(seed, cases)
        part = planner_against_draws(frame, judged, scores, draws, seed, {"stated": variant})
        found.append(part.assign(frame=seed))
    return pd.concat(found, ignore_index=True)


def run() -> list[Row]:
    """Stated P(right) vs the accuracy of real draws: per frame, method and standard when told
    the frame's shares; binned over frames as planned; search time."""
    counts = {m: int(os.environ.get("PLANNING_DRAWS", n)) for m, n in DRAWS.items()}
    seeds = [int(s) for s in os.environ.get("PLANNING_SEEDS", SEEDS).split(",")]
    cases = int(os.environ.get("PLANNING_CASES", CASES))
    told = against_draws(seeds, cases, counts, TRUE_APPLIES)
    rows = [
        Row(
            f"P(right rating) {r.standard}, {r.method}, frame {r.frame}, told its shares",
            r.stated,
            r.realised,
            f"share right in {counts[r.method]} draws (±{r.se:.3f})",
            "probability",
            "within 0.03 (+2 SE)",
        )
        for r in told.itertuples()
    ]
    frames = int(os.environ.get("PLANNING_FRAMES", CALIBRATION_FRAMES))
    calibration = range(CALIBRATION_SEED, CALIBRATION_SEED + frames)
    planned = against_draws(list(calibration), CALIBRATION_CASES, CALIBRATION_DRAWS, PREDICTED)
    bins = reliability(
        planned["stated"].to_numpy(),
        planned["realised"].to_numpy(),
        cluster=planned["frame"].to_numpy(),  # a frame's standards share its actual shares
        edges=BINS,
        least=2,
    )
    for cell in bins:
        rows.append(
            Row(
                f"P(right rating) stated in {cell['bin']}, predicted: {cell['count']} standard × "
                f"frame cells of {frames} frames",
                cell["stated"],
                cell["observed"],
                f"mean share right (gap ±{cell['se']:.3f}, clustered by frame)",
                "probability",
                "within 0.03 (+2 SE)",
            )
        )
    frame, scores, _ = scored_frame(seeds[0], cases)
    request = SampleRequest(size=120)
    design = design_for(frame, scores, request)
    started = time.perf_counter()
    rating_accuracy(frame, scores, request, design, seeds[0], budget_seconds=60.0)
    rows.append(Row("size search for 90%", time.perf_counter() - started, None, "", "s", "< 1 s"))
    return rows


if __name__ == "__main__":
    print(f"results: {report(run(), 'planning')}")
