"""Every request a planner can make is answered or refused, in bounded time, with exact rules.

The examples of issue 16 first (each with its time bound), then a property test over the request
space whose refusals are checked to be really infeasible (a linear or integer program).
Profile: ``CASEWORK_HYPOTHESIS_PROFILE=long`` (used by the sampling benchmark) runs 10× more.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from features.contract import CATEGORIES, RISK_SCORE
from features.errors import InputError
from serving import design_allocation, design_groups, design_raking
from serving.sampling import SampleRequest, design_for, draw_sample
from serving.selection import select_reported
from serving.simulation import simulate

settings.register_profile(
    "default",
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("long", parent=settings.get_profile("default"), max_examples=300)
PROFILE = settings.get_profile(os.environ.get("CASEWORK_HYPOTHESIS_PROFILE", "default"))
SECONDS = 10.0


def check_draw(design, chosen: np.ndarray, cap: int) -> None:
    """Exact n and strata counts, ≤ 1 per officer × stratum block, ≤ cap per officer."""
    groups = design.groups
    assert chosen.sum() == design.size
    drawn = np.bincount(groups.stratum[chosen], minlength=groups.n_strata)
    np.testing.assert_array_equal(drawn, design.allocation)
    assert np.bincount(groups.block[chosen]).max() <= 1
    assert np.bincount(groups.officer[chosen]).max() <= cap


def timed_draw(frame, scores, fields: dict, seed: int = 1):
    started = time.perf_counter()
    sample = draw_sample(frame, scores, SampleRequest(**fields), seed=seed)
    return sample, time.perf_counter() - started


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 120, "strata": ["sentence_type"], "balance": ["ethnicity", "rosh_level"]},
        {"size": 120, "strata": ["region", "ethnicity"]},
        {"size": 200, "strata": ["rosh_level"], "balance": ["gender"]},
    ],
)
def test_requests_that_hung_now_draw_within_10_seconds(national, fields) -> None:
    frame, scores = national
    timed_draw(frame, scores, {"size": 10, "strata": ["region"], "minimums": {}})  # compile
    sample, seconds = timed_draw(frame, scores, fields)
    assert len(sample.cases) == fields["size"] and seconds < SECONDS
    landing = sample.design["landing"]
    assert landing["minimums_unmet"] == [] and landing["worst_margin"] <= 2
    assert sample.cases.groupby("rosh_level", observed=True).size().min() >= 3  # every level


def test_simulate_on_a_design_that_hung_finishes(national) -> None:
    frame, scores = national
    request = SampleRequest(size=120, strata=["sentence_type"], balance=["ethnicity"])
    started = time.perf_counter()
    result = simulate(frame, scores, request, draws=5, seed=1, budget_seconds=3.0)
    assert time.perf_counter() - started < 2 * SECONDS and result.draws >= 1


def test_officer_rows_never_crash_and_keep_every_hard_rule(local) -> None:
    """officer_cap = 1 on office × gender, n = 60: the request that crashed 1% of draws."""
    frame, scores = local
    request = SampleRequest(size=60, officer_cap=1)
    design = design_for(frame, scores, request)
    assert design.needs_officer_rows()
    rng = np.random.default_rng(16)
    margins = []
    for _ in range(60):
        chosen, landing = select_reported(design, "balanced", rng)
        check_draw(design, chosen, 1)
        assert landing.minimums_unmet == [] and landing.repaired_units == 0
        margins.append(landing.worst_margin)
    assert np.mean(np.array(margins) <= 2) >= 0.95


def test_a_minimum_on_a_stratifying_column_is_met_or_refused_never_bent(local) -> None:
    """2,000 cases, size 200: 96 women is every female officer × stratum block; 150 cannot be."""
    frame, scores = local
    request = SampleRequest(size=200, minimums={"gender=female": 96})
    sample = draw_sample(frame, scores, request, seed=3)
    assert (sample.cases["gender"] == "female").sum() == 96
    with pytest.raises(InputError) as caught:
        draw_sample(
            frame, scores, request.model_copy(update={"minimums": {"gender=female": 150}}), 3
        )
    assert caught.value.column == "minimums" and "at most 96 can be drawn" in str(caught.value)


@pytest.mark.parametrize(
    ("method", "soft"), [("balanced", None), ("systematic", False), ("balanced", True)]
)
def test_hard_minimums_hold_in_every_draw(local, method, soft) -> None:
    """systematic with hard minimums stratifies on the column (region × rosh_level: officers
    span up to 4 strata, hence the cap of 4)."""
    frame, scores = local
    request = SampleRequest(
        size=60,
        strata=["region"],
        minimums={"rosh_level=very_high": 3},
        officer_cap=4,
        method=method,
        soft_minimums=soft,
    )
    design = design_for(frame, scores, request)
    very_high = (frame["rosh_level"] == "very_high").to_numpy()
    rng = np.random.default_rng(7)
    counts = np.array([very_high[select_reported(design, method, rng)[0]].sum() for _ in range(80)])
    if soft:  # an expected count (Σπ) of at least 3 only: some draws fall short
        expected = design.pi[very_high].sum()
        mc_se = counts.std(ddof=1) / np.sqrt(len(counts))
        assert expected >= 3 - 1e-9 and counts.min() < 3
        assert abs(counts.mean() - expected) <= 3 * mc_se, (counts.mean(), expected, mc_se)
    else:
        assert counts.min() >= 3


# --- property test over the request space ---------------------------------------------------

CATEGORICAL = ("office", "region", "provider_type", "gender", "ethnicity", "rosh_level")
MINIMUM_KEYS = (
    "gender=female",
    "ethnicity=black",
    "ethnicity=other",
    "rosh_level=very_high",
    "rosh_level=low",
    "sentence_type=licence",
    "office=Office 1",
)


def synthetic_frame(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A frame of ``n`` cases: ~10 per officer, ~400 per office, three regions; and scores."""
    offices = max(2, n // 400)
    officer = rng.integers(0, max(3 * offices, n // 10), n)
    office = officer % offices

    def pick(column: str, p: list[float]) -> np.ndarray:
        return rng.choice(np.array(CATEGORIES[column]), n, p=p)

    frame = pd.DataFrame(
        {
            "case_id": [f"C{i:06d}" for i in range(n)],
            "provider_type": np.where(office % 2 == 0, "NPS", "CRC"),
            "provider": [f"P{o % 4}" for o in office],
            "region": [f"Region {o % 3}" for o in office],
            "office": [f"Office {o}" for o in office],
            "officer_id": [f"O{o:05d}" for o in officer],
            "officer_grade": "PO",
            "officer_caseload": 40,
            "officer_changes": 1,
            "rosh_level": pick("rosh_level", [0.3, 0.45, 0.2, 0.05]),
            "reoffending_likelihood": "medium",
            "sentence_type": pick("sentence_type", [0.4, 0.2, 0.4]),
            "months_supervised": 6,
            "iom": False,
            "gender": pick("gender", [0.85, 0.15]),
            "ethnicity": pick("ethnicity", [0.75, 0.08, 0.07, 0.04, 0.03, 0.03]),
            "age": 30,
        }
    )
    scores = pd.DataFrame({"case_id": frame["case_id"], RISK_SCORE: rng.beta(2, 5, n)})
    return frame, scores


@st.composite
def planner_requests(draw) -> tuple[pd.DataFrame, pd.DataFrame, dict, int]:
    """A frame of 500–20,000 cases and a request: strata and balance subsets of its categorical
    columns, minimums (some impossible), officer caps, sizes 10–2,000, floors, λ, methods."""
    n = draw(st.sampled_from([500, 1_000, 2_000, 5_000, 20_000]))
    frame, scores = synthetic_frame(n, np.random.default_rng(draw(st.integers(0, 2**31))))
    strata = draw(st.lists(st.sampled_from(CATEGORICAL), unique=True, max_size=2))
    rest = [c for c in CATEGORICAL if c not in strata]
    balance = draw(st.lists(st.sampled_from(rest), unique=True, max_size=3))
    fields = {
        "size": draw(st.integers(10, min(2_000, n // 8))),
        "strata": strata,
        "balance": balance,
        "minimums": draw(
            st.dictionaries(
                st.sampled_from(MINIMUM_KEYS),
                st.one_of(st.integers(0, 12), st.integers(13, 3_000)),
                max_size=3,
            )
        ),
        "officer_cap": draw(st.integers(1, 4)),
        "risk_weight": draw(st.floats(0, 1)),
        "floor": draw(st.floats(0.05, 1)),
        "method": draw(st.sampled_from(["balanced", "systematic"])),
        "soft_minimums": draw(st.sampled_from([None, True, False])),
    }
    return frame, scores, fields, draw(st.integers(0, 10_000))


def allocation_exists(frame: pd.DataFrame, request: SampleRequest) -> bool:
    """An integer program: counts per stratum, 1 ≤ x ≤ its officers and cases, Σ x = size,
    and every minimum on a stratifying column met."""
    strata = request.design_strata()
    groups = design_groups.build_groups(frame, strata, [])
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    capacity = np.minimum(population, np.bincount(groups.block_stratum))
    rows, goals = [np.ones(groups.n_strata)], [request.size]
    values = frame.groupby(groups.stratum)[strata].first() if strata else None
    for (column, value), minimum in request.parsed_minimums().items():
        if column in strata:
            rows.append((values[column].astype(str) == value).to_numpy(dtype=float))
            goals.append(minimum)
    lower = np.array([request.size] + goals[1:], dtype=float)
    upper = np.array([request.size] + [np.inf] * (len(goals) - 1))
    result = milp(
        np.zeros(groups.n_strata),
        constraints=LinearConstraint(np.vstack(rows), lower, upper),
        integrality=np.ones(groups.n_strata),
        bounds=Bounds(np.ones(groups.n_strata), capacity),
    )
    return result.status == 0


def probabilities_exist(frame, scores, request: SampleRequest) -> bool:
    """A linear program over π with the documented allocation and targets: floor ≤ π ≤ 1,
    strata and balancing totals, blocks ≤ 1, officers ≤ cap."""
    strata, balance = request.design_strata(), request.balance_columns()
    minimums = request.parsed_minimums()
    groups = design_groups.build_groups(frame, strata, balance)
    allocation = design_allocation.allocate(
        frame, groups, request.size, strata, minimums, request.officer_cap
    )
    equal = (allocation / np.bincount(groups.stratum))[groups.stratum]
    targets = design_allocation.balance_targets(
        groups, equal, minimums, request.size, request.hard_columns()
    )
    n = len(frame)

    def indicator(code: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((np.ones(n), (code, np.arange(n))))

    equalities = sparse.vstack(
        [indicator(groups.stratum)] + [indicator(code) for code, _ in groups.balance.values()]
    )
    goals = np.concatenate([allocation, *targets.values()])
    limits = sparse.vstack([indicator(groups.block), indicator(groups.officer)])
    caps = np.concatenate(
        [np.ones(groups.n_blocks), np.full(len(groups.officer_names), request.officer_cap)]
    )
    result = linprog(
        np.zeros(n),
        A_ub=limits,
        b_ub=caps,
        A_eq=equalities,
        b_eq=goals,
        bounds=np.column_stack([request.floor * equal, np.ones(n)]),
        method="highs",
    )
    return result.status == 0


def assert_really_infeasible(frame, scores, request: SampleRequest, error: InputError) -> None:
    """The refusal's field names a rule that no sample can meet."""
    column = error.column
    assert column in {"size", "minimums", "officer_cap", "balance", "floor", "strata"}, error
    if column == "officer_cap":
        groups = design_groups.build_groups(frame, request.design_strata(), [])
        spans = np.bincount(groups.block_officer)
        systematic = request.method == "systematic" and spans.max() > request.officer_cap
        assert systematic or np.minimum(spans, request.officer_cap).sum() < request.size
        return
    population = {
        (c, v): int((frame[c].astype(str) == v).sum()) for c, v in request.parsed_minimums()
    }
    if any(m > population[key] for key, m in request.parsed_minimums().items()):
        return
    per_column: dict[str, int] = {}
    for (c, _), m in request.parsed_minimums().items():
        per_column[c] = per_column.get(c, 0) + m
    if request.size > len(frame) or max(per_column.values(), default=0) > request.size:
        return
    if not allocation_exists(frame, request):
        return
    assert not probabilities_exist(frame, scores, request), error


@PROFILE
@given(planner_requests())
def test_every_request_is_answered_or_really_refused_within_10_seconds(case) -> None:
    frame, scores, fields, seed = case
    started = time.perf_counter()
    try:
        request = SampleRequest(**fields)
        design = design_for(frame, scores, request)
        sample = draw_sample(frame, scores, request, seed=seed)
    except ValidationError as refused:
        assert refused.errors()[0]["loc"]  # names the field
        event("refused by the request model")
        return
    except InputError as refused:
        event(f"refused: {refused.column}")
        assert time.perf_counter() - started < SECONDS
        assert_really_infeasible(frame, scores, request, refused)
        return
    assert time.perf_counter() - started < 2 * SECONDS  # design twice, then the draw
    event(f"answered ({fields['method']}, N = {len(frame):,})")
    pi, groups = design.pi, design.groups
    assert pi.sum() == pytest.approx(request.size, rel=1e-9)
    np.testing.assert_allclose(
        np.bincount(groups.stratum, weights=pi), design.allocation, rtol=1e-9, atol=1e-9
    )
    assert (pi >= request.floor * design.equal * (1 - 1e-9)).all() and pi.max() <= 1 + 1e-12
    assert np.bincount(groups.block, weights=pi).max() <= 1 + 1e-9
    assert np.bincount(groups.officer, weights=pi).max() <= request.officer_cap + 1e-9
    for column, (code, _) in groups.balance.items():
        np.testing.assert_allclose(
            np.bincount(code, weights=pi, minlength=len(design.targets[column])),
            design.targets[column],
            rtol=1e-6,
            atol=1e-6,
        )
    chosen = frame["case_id"].isin(sample.cases["case_id"]).to_numpy()
    check_draw(design, chosen, request.officer_cap)
    landing = sample.design["landing"]
    for column, minimum in design.hard.items():
        code, levels = groups.balance[column]
        drawn = np.bincount(code[chosen], minlength=len(levels))
        short = [f"{column}={v}" for v, d, m in zip(levels, drawn, minimum, strict=True) if d < m]
        assert short == landing["minimums_unmet"] or not short
        assert not short or "minimums dropped" in landing["path"]


def test_minimums_that_fill_the_whole_size_are_met_exactly(local) -> None:
    frame, scores = local
    levels = CATEGORIES["rosh_level"]
    request = SampleRequest(
        size=12, strata=[], balance=["rosh_level"], minimums={f"rosh_level={v}": 3 for v in levels}
    )
    for seed in range(5):
        cases = draw_sample(frame, scores, request, seed=seed).cases
        assert cases["rosh_level"].value_counts().to_dict() == dict.fromkeys(levels, 3)


def test_the_linear_program_finishes_what_the_raking_does_not(local, monkeypatch) -> None:
    """One raking round, then the LP: π still meets every rule and stays near the raked π."""
    frame, scores = local
    request = SampleRequest(size=60)
    raked = design_for(frame, scores, request)
    monkeypatch.setattr(design_raking, "MAX_ROUNDS", 1)
    calls = []
    solve = design_raking.closest_feasible
    monkeypatch.setattr(design_raking, "closest_feasible", lambda *a: calls.append(1) or solve(*a))
    design = design_for(frame, scores, request)
    assert calls == [1]
    groups, pi = design.groups, design.pi
    np.testing.assert_allclose(np.bincount(groups.stratum, weights=pi), design.allocation)
    for column, (code, _) in groups.balance.items():
        np.testing.assert_allclose(
            np.bincount(code, weights=pi), design.targets[column], rtol=1e-7, atol=1e-7
        )
    assert (pi >= request.floor * design.equal * (1 - 1e-9)).all() and pi.max() <= 1 + 1e-12
    assert np.bincount(groups.block, weights=pi).max() <= 1 + 1e-7
    assert np.abs(pi - raked.pi).sum() < 0.1 * request.size
