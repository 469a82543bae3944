"""Sampling design and selection: constraints that hold in every draw, and clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from casework.cli import app
from features.contract import JUDGEMENTS, RISK_SCORE
from features.errors import InputError
from features.synthetic.truth import true_scores
from serving import sampling, workflow
from serving.estimation import estimate
from serving.sampling import SAMPLE_COLUMNS, SampleRequest, design_for, draw_sample
from serving.selection import select


@pytest.fixture(scope="module")
def frame(small_data) -> pd.DataFrame:
    return small_data.frame


@pytest.fixture(scope="module")
def scores(frame) -> pd.DataFrame:
    return true_scores(frame)


def test_probabilities_sum_to_n_and_respect_floor_caps_and_targets(frame, scores) -> None:
    request = SampleRequest(size=120)
    design = design_for(frame, scores, request)
    assert abs(design.pi.sum() - 120) < 1e-9
    assert design.pi.max() <= 1.0
    assert (design.pi >= request.floor * design.equal - 1e-12).all()
    groups = design.groups
    np.testing.assert_allclose(
        np.bincount(groups.stratum, weights=design.pi), design.allocation, atol=1e-9
    )
    assert np.bincount(groups.block, weights=design.pi).max() <= 1 + 1e-9
    for column, (code, _) in groups.balance.items():
        np.testing.assert_allclose(
            np.bincount(code, weights=design.pi), design.targets[column], atol=1e-8
        )
    rosh = dict(zip(groups.balance["rosh_level"][1], design.targets["rosh_level"], strict=True))
    assert min(rosh.values()) >= 3 - 1e-9  # every RoSH level's expected count meets its minimum
    female = groups.stratum_names[np.bincount(groups.stratum) > 0]
    allocated_women = sum(
        a for name, a in zip(female, design.allocation, strict=True) if name.endswith("female")
    )
    assert allocated_women >= 10


def test_risk_weight_zero_is_equal_chance_within_unconstrained_strata(frame, scores) -> None:
    design = design_for(
        frame, scores, SampleRequest(size=120, risk_weight=0.0, balance=[], minimums={})
    )
    groups = design.groups
    saturated = np.bincount(groups.block, weights=design.pi)[groups.block] >= 1 - 1e-9
    free = ~saturated
    for h in range(groups.n_strata):
        values = design.pi[free & (groups.stratum == h)]
        if len(values):
            assert values.max() - values.min() < 1e-9


def test_risk_weight_raises_the_chance_of_risky_cases(frame, scores) -> None:
    risky = design_for(frame, scores, SampleRequest(size=120, risk_weight=1.0)).pi
    flat = design_for(frame, scores, SampleRequest(size=120, risk_weight=0.0)).pi
    risk = scores[RISK_SCORE].to_numpy()
    assert (risky * risk).sum() > (flat * risk).sum()
    assert np.corrcoef(risky / flat, risk)[0, 1] > 0.3


@pytest.mark.parametrize("method", ["systematic", "balanced"])
def test_same_seed_same_sample_other_seed_other_sample(frame, scores, method) -> None:
    request = SampleRequest(size=120, method=method)
    first = draw_sample(frame, scores, request, seed=5).cases
    again = draw_sample(frame, scores, request, seed=5).cases
    other = draw_sample(frame, scores, request, seed=6).cases
    pd.testing.assert_frame_equal(first, again)
    assert set(first["case_id"]) != set(other["case_id"])


def test_sample_rows_carry_the_contract_columns_and_a_readable_reason(frame, scores) -> None:
    sample = draw_sample(frame, scores, SampleRequest(size=120), seed=2)
    assert list(sample.cases.columns[: len(SAMPLE_COLUMNS)]) == list(SAMPLE_COLUMNS)
    np.testing.assert_allclose(
        sample.cases["design_weight"] * sample.cases["inclusion_probability"], 1.0
    )
    assert sample.frame_probabilities.index.equals(pd.Index(frame["case_id"]))
    reason = sample.cases["reason"].iloc[0]
    assert reason.startswith(f"chosen in stratum {sample.cases['stratum'].iloc[0]}; chance ")
    assert "× the equal chance" in reason
    summary = sample.design
    assert summary["size"] == 120 and sum(s["drawn"] for s in summary["strata"]) == 120
    assert summary["effective_sample_size"] == pytest.approx(120 / summary["design_effect"])


@pytest.mark.parametrize(
    ("request_fields", "column", "words"),
    [
        ({"size": 5000}, "size", "officer × stratum rule"),
        ({"size": 5}, "size", "strata"),
        ({"size": 120, "minimums": {"ethnicity=not_stated": 100}}, "minimums", "frame holds"),
        (
            {"size": 330, "strata": ["gender"], "officer_cap": 1},
            "officer_cap",
            "1 × 322 officers allows at most 322 cases",
        ),
        ({"size": 60, "officer_cap": 1, "method": "systematic"}, "officer_cap", "balanced"),
    ],
)
def test_requests_that_cannot_be_met_name_the_constraint(
    frame, scores, request_fields, column, words
) -> None:
    request = SampleRequest(**request_fields)
    with pytest.raises(InputError) as caught:
        draw_sample(frame, scores, request, seed=1)
    assert caught.value.column == column
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 0},
        {"size": 10, "strata": ["shoe_size"]},
        {"size": 10, "minimums": {"gender": 3}},
        {"size": 10, "minimums": {"gender=other": 3}},
        {"size": 10, "risk_weight": 1.5},
        {"size": 10, "floor": 0},
        {"size": 10, "target": "luck"},
        {"size": 10, "strata": ["gender"], "balance": ["gender"]},
        {"size": 10, "method": "magic"},
    ],
)
def test_bad_requests_are_refused_by_the_request_model(fields) -> None:
    with pytest.raises(ValidationError):
        SampleRequest(**fields)


@pytest.mark.parametrize("method", ["systematic", "balanced"])
def test_exact_small_case_matches_hand_computed_probabilities(method) -> None:
    # 8 cases, each with its own officer, one stratum; π ∝ score² with Σπ = 3:
    # weights 1,1,1,1,2,2,3,3 (sum 14) give π = 3w/14, all above the floor 0.2·3/8 = 0.075
    weights = np.array([1, 1, 1, 1, 2, 2, 3, 3], dtype=float)
    expected = 3 * weights / 14
    frame = pd.DataFrame(
        {
            "case_id": [f"C{i}" for i in range(8)],
            "officer_id": [f"O{i}" for i in range(8)],
            "office": "Office 1",
            "gender": ["male", "female"] * 4,
        }
    )
    scores = pd.DataFrame({"case_id": frame["case_id"], RISK_SCORE: np.sqrt(weights)})
    request = SampleRequest(
        size=3, strata=[], balance=[], minimums={}, risk_weight=1.0, method=method
    )
    from serving.design import build_design

    design = build_design(
        frame,
        scores[RISK_SCORE].to_numpy(),
        size=3,
        strata=[],
        balance=[],
        minimums={},
        officer_cap=request.officer_cap,
        risk_weight=1.0,
        floor=request.floor,
    )
    np.testing.assert_allclose(design.pi, expected, atol=1e-12)
    draws = 100_000
    rng = np.random.default_rng(2024)
    counts = np.zeros(8)
    for _ in range(draws):
        chosen = select(design, method, rng)
        assert chosen.sum() == 3
        counts += chosen
    se = np.sqrt(expected * (1 - expected) / draws)
    assert np.abs(counts / draws - expected).max() < 3.5 * se.max()


def test_cli_sample_then_estimate(tmp_path, small_data, scores) -> None:
    frame_file = tmp_path / "frame.parquet"
    scores_file = tmp_path / "scores.parquet"
    small_data.frame.to_parquet(frame_file)
    scores.to_parquet(scores_file)
    out = tmp_path / "sample.csv"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "sample", "--frame", str(frame_file), "--size", "120", "--seed", "3",
            "--out", str(out), "--scores", str(scores_file), "--risk-weight", "0.5",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sample = pd.read_csv(out).drop(columns=list(JUDGEMENTS))  # blank until judged
    assert len(sample) == 120 and list(sample.columns[:8]) == list(SAMPLE_COLUMNS)
    judged = sample.merge(
        small_data.frame_judgements.assign(case_id=small_data.frame["case_id"].to_numpy()),
        on="case_id",
    )
    judged_file = tmp_path / "judged.csv"
    judged.to_csv(judged_file, index=False)
    result = runner.invoke(
        app, ["estimate", "--sample", str(judged_file), "--by", "provider_type",
              "--out", str(tmp_path / "estimates.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "estimates.csv")
    direct = estimate(judged, by="provider_type")
    np.testing.assert_allclose(table["estimate"], direct["estimate"])
    assert set(table["group"]) == {"CRC", "NPS"}

    simulated = runner.invoke(
        app,
        ["sample", "--frame", str(frame_file), "--size", "120", "--scores", str(scores_file),
         "--simulate", "20"],
    )  # fmt: skip
    assert simulated.exit_code == 0, simulated.output
    assert "Frontier" in simulated.output and "within ±2" in simulated.output
    assert "P(right)" in simulated.output  # the rating-accuracy table

    bad = runner.invoke(
        app,
        ["sample", "--frame", str(frame_file), "--size", "120", "--out", str(out),
         "--scores", str(scores_file), "--minimum", "gender=female"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "column=value:count" in bad.output


def test_cli_help_shows_every_default_and_simulate_offers_a_way_forward(
    tmp_path, small_data, scores
) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["sample", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for default in ("office,gender", "rosh_level", "--soft-minimum", "(default: 2)", "0.8", "0.2"):
        assert default in shown.output, default
    frame_file, scores_file = tmp_path / "frame.parquet", tmp_path / "scores.parquet"
    small_data.frame.to_parquet(frame_file)
    scores.to_parquet(scores_file)
    refused = runner.invoke(
        app,
        ["sample", "--frame", str(frame_file), "--scores", str(scores_file), "--size", "5",
         "--simulate", "3"],
    )  # fmt: skip
    assert refused.exit_code == 2 and "smallest feasible size" in refused.output
    negative = runner.invoke(
        app,
        ["sample", "--frame", str(frame_file), "--scores", str(scores_file), "--size", "120",
         "--seed", "-1", "--out", str(tmp_path / "s.csv")],
    )  # fmt: skip
    assert negative.exit_code == 2 and "seed" in negative.output


def test_the_workflow_scores_and_aligns_once_and_reports_each_step(
    tmp_path, frame, scores, monkeypatch
) -> None:
    """One call takes a frame to a written sample: the scorer and the alignment run once, each
    step is reported in order, and the file holds ``draw_sample``'s cases for the inspection."""
    request, scored, seen = SampleRequest(size=60), [], []
    aligned = sampling.aligned_scores
    aligning = []
    monkeypatch.setattr(sampling, "aligned_scores", lambda *a: aligning.append(1) or aligned(*a))
    out = tmp_path / "sample.csv"
    workflow.draw(
        frame,
        lambda cases: scored.append(len(cases)) or scores,
        request,
        seed=4,
        options=workflow.Options(inspection_id="INS-7", files=(out,)),
        on_step=seen.append,
    )
    assert seen == list(workflow.STEPS) and scored == [len(frame)] and aligning == [1]
    written = pd.read_csv(out)
    assert (
        written["case_id"].tolist()
        == draw_sample(frame, scores, request, 4).cases["case_id"].tolist()
    )
    assert set(written["inspection_id"]) == {"INS-7"}
