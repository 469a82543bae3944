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
    auxiliaries,
    one_case_blocks,
    population_covariance,
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
    design = design_for(frame, scores, sized)
    odds = RatingOdds(scores, SEED, officer=design.groups.officer)
    return odds.p_right(design, request.method)


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


def test_far_from_thresholds_is_nearly_sure_and_on_a_threshold_a_little_better_than_a_coin_toss(
    window,
) -> None:
    """A predicted share on a threshold: the frame's actual share lies off it (spread τ) and the
    sample's (spread σ around it) lands on the same side with P = ½ + arcsin(τ/√(τ² + σ²))/π,
    the normal orthant probability; with the frame's share known, a coin toss."""
    frame, scores = window
    constructed = scores.copy()
    for judgement in JUDGEMENTS:
        constructed[score_column(judgement)] = 0.05  # 95% sufficient: Outstanding by 15 points
    constructed[score_column("review_engagement")] = 0.35  # 65%: on the Good threshold
    request = SampleRequest(size=120)
    rows, limit, _ = planned(frame, constructed, request)
    design = design_for(frame, constructed, request)
    q = np.full((len(frame), 1), 0.65)
    tau2 = population_covariance(q, design.groups.officer)[0, 0]
    fixed = {"balanced_on": auxiliaries(design, request.method), "blocks": one_case_blocks(design)}
    sigma2 = share_covariance(design.pi, q, **fixed)[0, 0]
    expected = 0.5 + np.arcsin(np.sqrt(tau2 / (tau2 + sigma2))) / np.pi
    assert expected > 0.5 + 4 * MC_SE  # the frame's own spread matters at this size
    known = RatingOdds(constructed, SEED).p_right(design, request.method)
    by_name = {r["standard"]: r for r in rows}
    on_threshold = {"review", "engagement"}
    for index, (name, row) in enumerate(by_name.items()):
        if name in on_threshold:
            assert row["predicted_share"] == pytest.approx(0.65)
            assert abs(row["p_right"] - expected) < 4 * MC_SE
            assert abs(known[index] - 0.5) < 4 * MC_SE
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


def test_population_covariance_is_the_spread_of_realised_shares() -> None:
    """Independent cases: the diagonal is the variance of the realised share among applicable
    cases over 4,000 simulated populations (within 4 SE of a variance, √(2/R)); an officer
    correlation adds nothing when every officer has one case."""
    rng = np.random.default_rng(11)
    q, alpha = rng.uniform(0.3, 0.9, (500, 2)), rng.uniform(0.5, 1.0, (500, 2))
    alone = np.arange(500)
    found = population_covariance(q, alone, applies=alpha, correlation=0.0)
    runs = 4_000
    y, a = rng.random((runs, 500, 2)) < q, rng.random((runs, 500, 2)) < alpha
    realised = (y & a).sum(axis=1) / a.sum(axis=1)
    ratio = realised.var(axis=0) / np.diag(found)
    assert np.abs(ratio - 1).max() < 4 * np.sqrt(2 / runs)
    np.testing.assert_allclose(
        population_covariance(q, alone, applies=alpha, officer_correlation=0.5),
        population_covariance(q, alone, applies=alpha, officer_correlation=0.0),
        rtol=1e-12,
    )
    paired = population_covariance(q, alone // 2, applies=alpha)
    assert (paired > population_covariance(q, alone, applies=alpha)).all()


@pytest.mark.slow
def test_planner_matches_real_draws() -> None:
    """On a frame no planning constant was measured or checked on (3,000 cases, seed 109), the
    planner told the frame's realised shares gives P(right) per standard within 3 SE of the
    share of 400 real draws per method rated right (SE: the draws' binomial SE and the
    planner's own Monte Carlo SE). benchmarks/bench_planning.py runs 1,000 draws per method on
    5,000-case frames, and the predicted statement over frames."""
    data = generate(100, 3_000, seed=109, with_truth=True)
    scores = true_scores(data.frame)
    draws = {"systematic": 400, "balanced": 400}
    found = planner_against_draws(data.frame, data.frame_judgements, scores, draws, seed=109)
    print(found.round(3).to_string())
    se = np.sqrt(found["se"] ** 2 + MC_SE**2)
    assert ((found["realised"] - found["stated"]).abs() <= 3 * se).all()
