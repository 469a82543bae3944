"""Monte Carlo checks of the design: inclusion frequencies, margins, bias, coverage and yield.

Tolerances come from the Monte Carlo standard errors; draws run on two processes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.contract import JUDGEMENTS, NOT_APPLICABLE, RISK_SCORE, SUFFICIENT
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.estimation import (
    BLOCK_COLUMNS,
    CERTAIN,
    Z95,
    ResidualVariance,
    design_matrix,
    estimate,
    ratio,
)
from serving.sampling import SampleRequest, block_columns, design_for, draw_sample
from serving.simulation import draw_many, worst_margin
from serving.summary import kish_deff

pytestmark = pytest.mark.slow
WORKERS = 2


HARD_MINIMUM_REQUESTS = {
    # default minimums as hard rows of the cube, and officer rows (cap 1): every landing path
    "balanced": SampleRequest(size=60, officer_cap=1),
    # a hard minimum for systematic selection: rosh_level joins the strata (region × rosh_level)
    "systematic": SampleRequest(
        size=60,
        strata=["region"],
        minimums={"rosh_level=very_high": 3},
        officer_cap=4,
        method="systematic",
        soft_minimums=False,
    ),
}
DRAWS = {"balanced": 1_000, "systematic": 10_000}


def aggregate_test(chosen: np.ndarray, pi: np.ndarray, groups: np.ndarray) -> tuple[float, int]:
    """Hotelling's T² of the per-draw totals of indicators in each group against their stated
    Σπ (covariance estimated from the draws; a group whose total never varies must equal it
    exactly, else p = 0): the p-value (F form) and the degrees of freedom."""
    onehot = np.zeros((len(pi), groups.max() + 1))
    onehot[np.arange(len(pi)), groups] = 1.0
    deviation = chosen.astype(float) @ onehot - pi @ onehot
    varies = deviation.std(axis=0) > 1e-9
    if np.abs(deviation[:, ~varies]).max(initial=0.0) > 1e-6:
        return 0.0, int((~varies).sum())  # a total that never varies is not its stated Σπ
    deviation = deviation[:, varies]
    draws = len(deviation)
    values, vectors = np.linalg.eigh(np.cov(deviation, rowvar=False))
    keep = values > values.max() * 1e-9
    projected = deviation.mean(axis=0) @ vectors[:, keep]
    t2 = draws * float((projected**2 / values[keep]).sum())
    df = int(keep.sum())
    f = (draws - df) / (df * (draws - 1)) * t2
    return float(stats.f.sf(f, df, draws - df)), df


def pi_classes(pi: np.ndarray, classes: int = 10) -> np.ndarray:
    """Groups of cases by decile of π over the frame."""
    edges = np.quantile(pi, np.linspace(0, 1, classes + 1)[1:-1])
    return np.searchsorted(edges, pi)


@pytest.mark.parametrize("method", ["systematic", "balanced"])
def test_inclusion_frequencies_match_pi_with_hard_minimums(method) -> None:
    """Exact binomial per case (Bonferroni), and aggregate T² tests over π deciles and officer ×
    stratum blocks, which must also reject π perturbed by ±5% (so the test has that power)."""
    frame = generate(500, 2_000, seed=11, with_truth=True).frame
    design = design_for(frame, true_scores(frame), HARD_MINIMUM_REQUESTS[method])
    draws = DRAWS[method]
    chosen = draw_many(design, method, draws, seed=2, workers=WORKERS)
    counts = chosen.sum(axis=0)
    p_values = np.array(
        [stats.binomtest(int(c), draws, p).pvalue for c, p in zip(counts, design.pi, strict=True)]
    )
    print(f"{method}: smallest p-value × N = {p_values.min() * len(p_values):.3g}")
    assert p_values.min() * len(p_values) > 0.001
    groups = design.groups
    deciles = pi_classes(design.pi)
    for name, classes in (("π deciles", deciles), ("officer × stratum blocks", groups.block)):
        p_value, df = aggregate_test(chosen, design.pi, classes)
        # ±5% on the stated π of alternate groups, renormalised to the same total
        tilt = np.where(classes % 2 == 0, 1.05, 0.95)
        biased = design.pi * tilt * design.pi.sum() / (design.pi * tilt).sum()
        p_biased, _ = aggregate_test(chosen, biased, classes)
        print(f"{method}, {name}: T² p = {p_value:.3g} (df {df}); with 5% bias p = {p_biased:.3g}")
        assert p_value > 0.001
        assert p_biased < 0.001


def test_variance_by_hand_with_and_without_certainty_blocks() -> None:
    """Four cases, π = ½, one stratum; the first two come from blocks with Σπ = 1.

    R̂ = ½, N̂ = 8, ž = ±(1/16)/½ = ±1/8. With the block columns x̌ = (1, cert, cert·M, cert·M·r̄)
    has rank 3 (M·r̄ = 1 in both blocks): the certainty cases are fitted exactly (leverage 1),
    the other two keep ±(ž₃ − ž₄)/2 = ±1/8 at leverage ½, so v = ½ · 2 · (1/8)² / (1 − ½) = 1/32.
    Without them x̌ = 1, leverage ¼ and v = ½ · 4 · (1/8)² / (1 − ¼) = 1/24.
    """
    sample = pd.DataFrame(
        {
            "case_id": ["a", "b", "c", "d"],
            "stratum": "A",
            "inclusion_probability": 0.5,
            JUDGEMENTS[0]: [SUFFICIENT, "insufficient", SUFFICIENT, "insufficient"],
            "block_pi": [1.0, 1.0, 0.3, 0.6],
            "block_cases": [2, 4, 3, 5],
            "block_risk": [0.5, 0.25, 0.4, 0.1],
        }
    )
    with_blocks = estimate(sample).iloc[0]
    assert with_blocks["estimate"] == pytest.approx(0.5)
    assert with_blocks["se"] == pytest.approx(np.sqrt(1 / 32))
    plain = estimate(sample.drop(columns=["block_pi", "block_cases", "block_risk"])).iloc[0]
    assert plain["se"] == pytest.approx(np.sqrt(1 / 24))
    uncertain = estimate(sample.assign(block_pi=0.9)).iloc[0]
    assert uncertain["se"] == pytest.approx(np.sqrt(1 / 24))


def test_strata_with_one_sampled_case_are_collapsed() -> None:
    """Women in three strata of one case each: alone, each would fit its own indicator exactly
    and the women's figure would get se = 0. Pooled, v = Σ(1 − π)(ž − ž̄_stratum)²/(1 − h), the
    leverage h = 1/3 in the pooled group of three women."""
    judgement = [SUFFICIENT, "insufficient", "insufficient", SUFFICIENT, "insufficient"]
    sample = pd.DataFrame(
        {
            "case_id": list("abcde"),
            "stratum": ["A", "B", "C", "D", "D"],
            "gender": ["female"] * 3 + ["male"] * 2,
            "inclusion_probability": 0.5,
            JUDGEMENTS[0]: judgement,
        }
    )
    women = estimate(sample, by="gender").iloc[0]
    assert women["group"] == "female" and women["estimate"] == pytest.approx(1 / 3)
    z_check = np.array([1 - 1 / 3, -1 / 3, -1 / 3, 0.0, 0.0]) / 6 / 0.5  # z/π, N̂_women = 6
    pooled = np.array([0, 0, 0, 1, 1])
    residual = z_check - np.array([z_check[pooled == g].mean() for g in pooled])
    assert women["se"] == pytest.approx(np.sqrt(3 / 2 * 0.5 * (residual**2).sum()))


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
    groups = design.groups
    full = np.abs(np.bincount(groups.block, weights=design.pi) - 1.0) <= CERTAIN
    for draw in chosen[:200]:
        assert draw.sum() == 120
        np.testing.assert_array_equal(
            np.bincount(groups.stratum[draw], minlength=groups.n_strata), design.allocation
        )
        per_block = np.bincount(groups.block[draw], minlength=groups.n_blocks)
        assert per_block.max() <= 1 and (per_block[full] == 1).all()


def test_sample_rows_carry_their_block(study) -> None:
    """The block columns the variance estimator relies on (serving.estimation)."""
    frame, scores, design, _ = study
    cases = draw_sample(frame, scores, SampleRequest(size=120), seed=4).cases
    blocks = block_columns(design, scores[RISK_SCORE].to_numpy(dtype=float))
    expected = blocks.set_index(frame["case_id"].to_numpy()).loc[cases["case_id"]]
    np.testing.assert_allclose(cases[list(BLOCK_COLUMNS)].to_numpy(float), expected.to_numpy())
    full = np.abs(np.bincount(design.groups.block, weights=design.pi) - 1.0) <= CERTAIN
    assert (np.abs(cases["block_pi"] - 1.0) <= CERTAIN).sum() == full.sum()


@pytest.fixture(scope="module")
def accuracy(study, small_data) -> pd.DataFrame:
    """Per judgement over the 2,000 draws: bias, its Monte Carlo SE, and 95% CI coverage."""
    frame, scores, design, chosen = study
    judged = pd.concat(
        [frame.reset_index(drop=True), small_data.frame_judgements.reset_index(drop=True)], axis=1
    )
    judged["stratum"] = design.groups.stratum_names[design.groups.stratum]
    judged["balance"] = ",".join(design.groups.balance)
    blocks = block_columns(design, scores[RISK_SCORE].to_numpy(dtype=float))
    judged = pd.concat([judged, blocks], axis=1)
    variances = [ResidualVariance(design_matrix(judged[draw]), design.pi[draw]) for draw in chosen]
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


def test_intervals_are_not_too_wide(accuracy) -> None:
    """The other side: no CI over-covers. Needs the certainty-block auxiliaries of the variance
    (serving.estimation): without them the variance counts the differences between officers that
    one case per officer × stratum block removes (variance ratio 1.05–1.28, mean coverage 0.961).
    """
    assert (accuracy["coverage"] <= 0.97).all()
    assert accuracy["coverage"].mean() <= 0.96


def test_risk_weighting_finds_more_insufficient_work(study, small_data) -> None:
    """Default design: ≥ 1.15× the insufficient judgements of equal chances at Kish deff ≤ 1.5,
    and ≥ 80% of the uplift the same design gets from the true probabilities."""
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
    assert model_ratio >= 1.15
    assert model_ratio - 1 >= 0.8 * (true_ratio - 1)
