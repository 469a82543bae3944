"""Applicability: learned by the model from its training cases, used by the rating planner."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casework.bundles import scoring_bundle
from features.contract import JUDGEMENTS
from features.errors import InputError
from features.settings import get_settings
from features.synthetic.generator import generate
from features.synthetic.truth import solve_truth, true_scores
from serving.planning import DRAWS, share_covariance
from serving.sampling import SampleRequest
from serving.simulation import APPLICABILITY_UNKNOWN
from serving.workflow import simulate_request
from tests.studies.planning import TRUE_APPLIES, planner_against_draws
from training.applicability import PRIOR_CASES, applicability, fit_applicability, month_band
from training.bundle import APPLICABILITY, CaseworkModel

SEED = 89
MC_SE = np.sqrt(0.25 / DRAWS)
"""Largest Monte Carlo SE of a planner's P(right) from its fixed draws."""


@pytest.fixture(scope="module")
def world():
    """3,000 inspected cases and a 3,000-case frame with truth (seed 89, not the fixtures')."""
    return generate(3_000, 3_000, seed=SEED, with_truth=True)


def test_fitted_applicability_matches_the_truth(world) -> None:
    """Each cell's fitted share is the truth's P(applicable), shrunk as documented, within 4 SE
    (binomial on the cell's cases); the frame's mean chance is the truth's within 0.01."""
    cases = world.inspected
    table = fit_applicability(cases)
    truth = pd.DataFrame(solve_truth().p_applies(cases), columns=list(JUDGEMENTS))
    rosh, bands = cases["rosh_level"].astype(str).to_numpy(), month_band(cases["months_supervised"])
    checked = 0
    for judgement in JUDGEMENTS:
        overall = table["overall"][judgement]
        for level, shares in table["cells"][judgement].items():
            for b, fitted in enumerate(shares):
                inside = (rosh == level) & (bands == b)
                if fitted is None:
                    assert not inside.any()
                    continue
                n, p = inside.sum(), truth.loc[inside, judgement].to_numpy()
                assert np.ptp(p) == 0, "the truth is constant in a cell"
                expected = (n * p[0] + PRIOR_CASES * overall) / (n + PRIOR_CASES)
                se = n / (n + PRIOR_CASES) * np.sqrt(p[0] * (1 - p[0]) / n)
                assert abs(fitted - expected) <= 4 * se + 1e-12, (judgement, level, b)
                checked += 1
    assert checked == len(JUDGEMENTS) * 4 * 2  # 4 RoSH levels × the 2 bands of the window
    frame = world.frame
    mean_fit = applicability(table, frame).mean()
    mean_true = pd.DataFrame(solve_truth().p_applies(frame), columns=list(JUDGEMENTS)).mean()
    se = np.sqrt(mean_true * (1 - mean_true) / len(cases))  # a share of the inspected cases
    assert ((mean_fit - mean_true).abs() <= 4 * se).all(), (mean_fit - mean_true) / se
    assert mean_true["review_safety"] < 0.85  # the judgements the planner got wrong without it


def test_cases_of_weight_zero_are_left_out(world) -> None:
    cases = world.inspected
    weight = np.random.default_rng(1).uniform(0.5, 3.0, len(cases))
    weight[::2] = 0.0
    kept = weight > 0
    both = fit_applicability(cases, weight)
    alone = fit_applicability(cases[kept], weight[kept])
    assert both == alone and both["cases"] == kept.sum()


def test_planner_with_learned_applicability_matches_real_draws(world) -> None:
    """With the applicability learned from the inspected cases the planner states what it states
    given the frame's true applicability for every standard, within a fixed margin of 2 of the
    planner's largest Monte Carlo SEs (0.016): both planners share their draws, so what is left
    is how far learned applicability moves the statement, not noise; without it, safety (aim)
    is off the share of 1,000 real systematic draws rated right by more than 3 SE (the
    planner's shares count every case). How close the planner itself comes to real draws:
    ``test_planning.test_planner_matches_real_draws``."""
    frame = world.frame.reset_index(drop=True)
    learned = applicability(fit_applicability(world.inspected), frame)
    found = planner_against_draws(
        frame,
        world.frame_judgements,
        true_scores(frame),
        {"systematic": 1_000},
        seed=SEED,
        variants={"with": learned, "true": TRUE_APPLIES, "without": None},
    ).set_index("standard")
    found["se"] = np.sqrt(found["se"] ** 2 + MC_SE**2)
    print(found.round(3))
    assert ((found["with"] - found["true"]).abs() <= 2 * MC_SE).all()
    safety = found.loc["safety (aim)"]
    assert abs(safety["without"] - safety["realised"]) > 3 * safety["se"]
    assert abs(safety["with"] - safety["realised"]) < abs(safety["without"] - safety["realised"])


def test_the_champion_learns_applicability_and_the_simulation_uses_it(
    small_model, small_data, tmp_path
) -> None:
    """The trained bundle carries the table (JSON-safe, saved and loaded); ``simulate_request``
    given its applicability plans shares among applicable cases; an older bundle without it
    still simulates, with the note."""
    frame = small_data.frame.head(1_500).reset_index(drop=True)
    loaded = CaseworkModel.load(small_model.save(tmp_path / "bundle"))
    learned = loaded.applicability(frame)
    assert list(learned.columns) == list(JUDGEMENTS) and learned.index.equals(frame.index)
    assert learned.to_numpy().min() > 0 and learned.to_numpy().max() <= 1
    assert learned["planning_safety"].mean() < 0.95 < learned["planning_engagement"].mean()
    request = SampleRequest(size=60, method="systematic")
    scores = loaded.predict(frame)
    known = simulate_request(frame, scores, request, 0, 5, applies=loaded.applicability)
    older = copy.copy(loaded)
    older.metadata = {k: v for k, v in loaded.metadata.items() if k != APPLICABILITY}
    unknown = simulate_request(frame, scores, request, 0, 5, applies=older.applicability)
    assert APPLICABILITY_UNKNOWN in unknown.notes and APPLICABILITY_UNKNOWN not in known.notes
    safety = [
        (a["p_right"], b["p_right"], a["predicted_share"], b["predicted_share"])
        for a, b in zip(known.rating_accuracy, unknown.rating_accuracy, strict=True)
        if a["standard"] == "safety"
    ][0]
    assert safety[2] != pytest.approx(safety[3], abs=1e-3)  # shares among applicable cases
    # fewer applicable cases: wider intervals for the safety questions
    assert known.half_widths["planning_safety"] > unknown.half_widths["planning_safety"]


def test_scores_from_a_file_without_a_champion_have_no_applicability(workspace) -> None:
    settings = get_settings()
    assert scoring_bundle(settings, Path("scores.csv"))() is None
    with pytest.raises(InputError, match="no champion"):
        scoring_bundle(settings, None)()


def test_a_certain_case_rounded_above_one_adds_no_variance() -> None:
    """π = 1 + 1e-9 (rounding in a probed design) once made the fixed-size covariance NaN."""
    rng = np.random.default_rng(2)
    q, pi = rng.uniform(0.3, 0.9, (50, 3)), rng.uniform(0.05, 0.5, 50)
    strata = np.eye(2)[np.arange(50) % 2]
    rounded = pi.copy()
    rounded[:3] = 1.0 + 1e-9
    exact = pi.copy()
    exact[:3] = 1.0
    found = share_covariance(rounded, q, balanced_on=strata)
    np.testing.assert_allclose(found, share_covariance(exact, q, balanced_on=strata), rtol=1e-6)
