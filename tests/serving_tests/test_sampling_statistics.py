"""Monte Carlo checks of the design: inclusion frequencies, margins, bias, coverage and yield.

Tolerances come from the Monte Carlo standard errors; draws run on two processes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.contract import JUDGEMENTS, NOT_APPLICABLE, SUFFICIENT
from features.generator import generate
from features.truth import true_scores
from serving.estimation import Z95, ResidualVariance, design_matrix, ratio
from serving.sampling import SampleRequest, design_for
from serving.simulation import draw_many, worst_margin
from serving.summary import kish_deff

pytestmark = pytest.mark.slow
WORKERS = 2


@pytest.mark.parametrize("method", ["systematic", "balanced"])
def test_inclusion_frequencies_match_pi_on_2000_cases(method) -> None:
    frame = generate(500, 2_000, seed=11, with_truth=True).frame
    design = design_for(frame, true_scores(frame), SampleRequest(size=60, method=method))
    draws = 10_000
    counts = draw_many(design, method, draws, seed=2, workers=WORKERS).sum(axis=0)
    p_values = np.array(
        [stats.binomtest(int(c), draws, p).pvalue for c, p in zip(counts, design.pi, strict=True)]
    )
    print(f"{method}: smallest p-value × N = {p_values.min() * len(p_values):.3g}")
    assert p_values.min() * len(p_values) > 0.001


@pytest.fixture(scope="module")
def study(small_data, small_model):
    """2,000 balanced draws (n = 120) from the 5,000-case frame, default design, model scores."""
    frame = small_data.frame
    scores = small_model.predict(frame)
    design = design_for(frame, scores, SampleRequest(size=120))
    chosen = draw_many(design, "balanced", 2_000, seed=3, workers=WORKERS)
    return frame, scores, design, chosen


def test_balanced_margins_within_two_in_99_percent_of_draws(study) -> None:
    _, _, design, chosen = study
    worst = np.array([worst_margin(design, c) for c in chosen])
    share = (worst <= 2).mean()
    print(f"margins within ±2 in {share:.1%} of draws, within ±1 in {(worst <= 1).mean():.1%}")
    assert share >= 0.99
    for draw in chosen[:200]:
        groups = design.groups
        assert draw.sum() == 120
        np.testing.assert_array_equal(
            np.bincount(groups.stratum[draw], minlength=groups.n_strata), design.allocation
        )
        assert np.bincount(groups.block[draw]).max() <= 1


@pytest.fixture(scope="module")
def accuracy(study, small_data) -> pd.DataFrame:
    """Per judgement over the 2,000 draws: bias, its Monte Carlo SE, and 95% CI coverage."""
    frame, _, design, chosen = study
    judged = pd.concat(
        [frame.reset_index(drop=True), small_data.frame_judgements.reset_index(drop=True)], axis=1
    )
    judged["stratum"] = design.groups.stratum_names[design.groups.stratum]
    judged["balance"] = ",".join(design.groups.balance)
    x = design_matrix(judged)
    variances = [ResidualVariance(x[draw], design.pi[draw]) for draw in chosen]
    rows = []
    for judgement in JUDGEMENTS:
        values = judged[judgement].astype(str).to_numpy()
        applies = (values != NOT_APPLICABLE).astype(float)
        sufficient = (values == SUFFICIENT).astype(float)
        truth = sufficient[applies > 0].mean()
        estimates, errors = [], []
        for draw, variance in zip(chosen, variances, strict=True):
            _, share, se = ratio(sufficient[draw], applies[draw], design.pi[draw], variance)
            estimates.append(share)
            errors.append(se)
        estimates, errors = np.array(estimates), np.array(errors)
        rows.append(
            {
                "judgement": judgement,
                "bias": estimates.mean() - truth,
                "mc_se": estimates.std(ddof=1) / np.sqrt(len(estimates)),
                "coverage": np.mean(np.abs(estimates - truth) <= Z95 * errors),
                "variance_ratio": np.mean(errors**2) / estimates.var(ddof=1),
            }
        )
    table = pd.DataFrame(rows).set_index("judgement")
    print(table.round(4).to_string())
    return table


def test_estimates_are_unbiased(accuracy) -> None:
    assert (accuracy["bias"].abs() < 3 * accuracy["mc_se"]).all()


def test_intervals_are_not_too_narrow(accuracy) -> None:
    """The side of the coverage criterion that protects published figures: no CI under-covers."""
    assert (accuracy["coverage"] >= 0.93).all()
    assert accuracy["coverage"].mean() >= 0.94


@pytest.mark.xfail(
    strict=True,
    reason="the Deville–Tillé variance overstates the true variance by 8–25% "
    "(coverage 0.952–0.972, "
    "mean 0.962): it treats units as independent, but at most one case per officer × stratum "
    "block spreads the sample across officers, whose effects are strong in the generator",
)
def test_intervals_are_not_too_wide(accuracy) -> None:
    assert (accuracy["coverage"] <= 0.97).all()
    assert accuracy["coverage"].mean() <= 0.96


def test_risk_weighting_finds_more_insufficient_work(study, small_data) -> None:
    frame, scores, design, _ = study
    truth = true_scores(frame)
    judgements = small_data.frame_judgements.reset_index(drop=True)
    found = (judgements == "insufficient").sum(axis=1).to_numpy(dtype=float)

    def uplift(scored: pd.DataFrame) -> tuple[float, float]:
        tilted = design_for(frame, scored, SampleRequest(size=120))
        flat = design_for(frame, scored, SampleRequest(size=120, risk_weight=0.0))
        return (tilted.pi * found).sum() / (flat.pi * found).sum(), kish_deff(tilted.pi)

    model_ratio, model_deff = uplift(scores)
    true_ratio, _ = uplift(truth)
    print(f"yield ×{model_ratio:.3f} (deff {model_deff:.2f}); true probabilities ×{true_ratio:.3f}")
    assert model_deff <= 1.5
    assert model_ratio - 1 >= 0.8 * (true_ratio - 1)


@pytest.mark.xfail(
    strict=True,
    reason="not reachable with one case per officer × stratum: on this frame 86% of the risk "
    "variance lies between officer blocks and half the blocks are already full at λ = 0",
)
def test_risk_weighting_reaches_the_issue_goal_of_1_15(study, small_data) -> None:
    frame, scores, _, _ = study
    found = (small_data.frame_judgements == "insufficient").sum(axis=1).to_numpy(dtype=float)
    tilted = design_for(frame, scores, SampleRequest(size=120, risk_weight=1.0))
    flat = design_for(frame, scores, SampleRequest(size=120, risk_weight=0.0))
    assert (tilted.pi * found).sum() / (flat.pi * found).sum() >= 1.15
