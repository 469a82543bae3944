"""Rating-aware planning: P(right rating) per standard and the size that reaches 90%."""

from __future__ import annotations

import numpy as np
import pytest

from features.contract import JUDGEMENTS, score_column
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.planning import (
    DRAWS,
    TARGET,
    RatingOdds,
    rating_accuracy,
    share_covariance,
)
from serving.ratings import STANDARDS
from serving.sampling import SampleRequest, aligned_scores, design_for
from serving.simulation import simulate
from tests.studies.planning import planner_against_draws

SEED = 3
MC_SE = np.sqrt(0.25 / DRAWS)
"""Largest Monte Carlo SE of a P(right) from the fixed draws."""


@pytest.fixture(scope="module")
def window(small_data):
    """The 5,000-case window frame (seed 7) with its true scores, rows aligned."""
    frame = small_data.frame.reset_index(drop=True)
    return frame, aligned_scores(frame, true_scores(frame))


def planned(frame, scores, request: SampleRequest):
    design = design_for(frame, scores, request)
    return rating_accuracy(frame, scores, request, design, SEED, budget_seconds=60.0)


def p_right_at(frame, scores, request: SampleRequest, size: int) -> np.ndarray:
    sized = SampleRequest.model_validate({**request.model_dump(), "size": size})
    return RatingOdds(scores, SEED).p_right(design_for(frame, scores, sized), request.method)


def test_every_standard_gets_a_chance_and_a_size_that_reaches_90_percent(window) -> None:
    frame, scores = window
    request = SampleRequest(size=120)
    rows, limit, notes = planned(frame, scores, request)
    assert [r["standard"] for r in rows] == [standard for _, standard, _ in STANDARDS]
    assert all(0.0 <= r["p_right"] <= 1.0 for r in rows)
    assert "cut short" not in " ".join(notes)
    for index, row in enumerate(rows):
        assert row["rating"] in ("Outstanding", "Good", "Requires improvement", "Inadequate")
        size = row["size_for_90"]
        if size is None:  # not reached at the largest size the request can take
            assert p_right_at(frame, scores, request, limit)[index] < TARGET
        else:
            assert p_right_at(frame, scores, request, size)[index] >= TARGET
            assert (size <= request.size) == (row["p_right"] >= TARGET)
    # the window frame has standards on both sides of 90% at n = 120 (README figures)
    assert {r["size_for_90"] is None for r in rows} == {True, False}


def test_far_from_thresholds_is_nearly_sure_and_on_a_threshold_is_a_coin_toss(window) -> None:
    frame, scores = window
    constructed = scores.copy()
    for judgement in JUDGEMENTS:
        constructed[score_column(judgement)] = 0.05  # 95% sufficient: Outstanding by 15 points
    constructed[score_column("review_engagement")] = 0.35  # 65%: on the Good threshold
    request = SampleRequest(size=120)
    rows, limit, _ = planned(frame, constructed, request)
    by_name = {r["standard"]: r for r in rows}
    on_threshold = {"review", "engagement"}
    for name, row in by_name.items():
        if name in on_threshold:
            assert row["predicted_share"] == pytest.approx(0.65)
            assert abs(row["p_right"] - 0.5) < 4 * MC_SE
            assert row["size_for_90"] is None and limit is not None
        else:
            assert row["rating"] == "Outstanding" and row["p_right"] > 1 - 4 * MC_SE
            assert row["size_for_90"] <= request.size


def test_simulation_result_carries_the_rating_accuracy(window) -> None:
    frame, scores = window
    result = simulate(frame, scores, SampleRequest(size=120), draws=0, seed=SEED).to_dict()
    rows = result["rating_accuracy"]
    assert len(rows) == 7 and result["size"] == 120
    assert {"standard", "predicted_share", "rating", "p_right", "size_for_90"} <= set(rows[0])
    # the same fixed draws as the planner's own: the same P(right) at the requested size
    direct, _, _ = planned(frame, scores, SampleRequest(size=120))
    assert [r["p_right"] for r in rows] == [r["p_right"] for r in direct]


def test_shares_among_applicable_cases_have_the_subset_variance() -> None:
    """A judgement that applies to some cases only: its variance is the all-apply formula on
    those cases (fewer cases, wider); all ones is the all-apply formula itself."""
    rng = np.random.default_rng(5)
    q, pi = rng.uniform(0.3, 0.9, (400, 4)), rng.uniform(0.02, 0.3, 400)
    applies = (rng.random((400, 4)) < 0.7).astype(float)
    both = share_covariance(pi, q, applies=applies)
    np.testing.assert_allclose(both, both.T)
    for j in range(4):
        keep = applies[:, j] > 0
        alone = share_covariance(pi[keep], q[keep][:, [j]])[0, 0]
        assert both[j, j] == pytest.approx(alone, rel=1e-12)
    np.testing.assert_allclose(
        share_covariance(pi, q, applies=np.ones_like(q)), share_covariance(pi, q), rtol=1e-12
    )


@pytest.mark.slow
def test_planner_matches_real_draws() -> None:
    """On a frame the planner was not built on (3,000 cases, seed 89), its P(right) per standard
    is within 3 SE of the share of 400 real draws per method rated right (SE: the draws'
    binomial SE and the planner's own Monte Carlo SE). benchmarks/bench_planning.py runs 1,000
    draws per method on 5,000-case frames."""
    data = generate(100, 3_000, seed=89, with_truth=True)
    scores = true_scores(data.frame)
    draws = {"systematic": 400, "balanced": 400}
    found = planner_against_draws(data.frame, data.frame_judgements, scores, draws, seed=89)
    print(found.round(3).to_string())
    se = np.sqrt(found["se"] ** 2 + MC_SE**2)
    assert ((found["realised"] - found["stated"]).abs() <= 3 * se).all()
