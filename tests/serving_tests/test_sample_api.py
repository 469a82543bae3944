"""The sampling and estimation endpoints over a real loopback socket: sealing, release, seeds,
refusals, estimates and simulation (the rest of the HTTP service: ``test_service.py``)."""

from __future__ import annotations

import json
import re
import stat

import numpy as np
import pandas as pd
import pytest

from features.contract import JUDGEMENTS
from serving.commitment import verify
from serving.estimation import estimate
from serving.sampling import SampleRequest, design_for
from serving.selection import select


@pytest.fixture(scope="module")
def sealed(service):
    """A sealed sample of 120 drawn from the server's frame file, and its release."""
    with service.client() as client:
        drawn = client.post("/sample", json={"request": {"size": 120}, "frame": "frame.parquet"})
        assert drawn.status_code == 200, drawn.text
        released = client.post("/sample/release", json={"commitment": drawn.json()["commitment"]})
        assert released.status_code == 200, released.text
    return drawn.json(), released.json()


@pytest.fixture(scope="module")
def judged_rows(sealed, small_data) -> tuple[pd.DataFrame, list[dict]]:
    """The released sample judged with the frame's realised judgements, as a table and as JSON."""
    _, released = sealed
    judgements = small_data.frame_judgements.assign(case_id=small_data.frame["case_id"].to_numpy())
    blank = pd.DataFrame(released["cases"]).drop(columns=list(JUDGEMENTS))
    judged = blank.merge(judgements, on="case_id")
    rows = json.loads(judged.to_json(orient="records"))
    return judged, rows


def test_a_sealed_sample_shows_only_its_commitment_and_design(sealed) -> None:
    drawn, _ = sealed
    assert set(drawn) >= {"commitment", "design"}
    assert drawn.get("cases") is None and drawn.get("salt") is None and drawn.get("seed") is None
    assert "seed" not in drawn["design"]
    assert drawn["design"]["size"] == 120


def test_the_released_list_is_the_judged_sample_file_for_the_inspectors(sealed) -> None:
    """CONTRACT §7: frame columns, inspection id and date, blank judgements; ready to fill in."""
    _, released = sealed
    case = released["cases"][0]
    assert case["inspection_id"].startswith("insp-") and len(case["inspection_date"]) == 10
    assert {"gender", "ethnicity", "balance", "block_pi"} <= set(case)
    assert all(case[judgement] == "" for judgement in JUDGEMENTS)
    assert len({c["inspection_id"] for c in released["cases"]}) == 1


def seeds_in(answer: object) -> set[int]:
    """Every number in a JSON answer, and every run of digits or hex digits in its strings."""
    if isinstance(answer, dict):
        return set().union(*(seeds_in(k) | seeds_in(v) for k, v in answer.items()))
    if isinstance(answer, list):
        return set().union(*(seeds_in(v) for v in answer))
    if isinstance(answer, bool) or answer is None:
        return set()
    if isinstance(answer, int | float):
        return {abs(int(answer))} | {int(d) for d in re.findall(r"\d+", repr(answer))}
    runs = re.findall(r"\d+", answer)
    return {int(r) for r in runs} | {int(h, 16) for h in re.findall(r"[0-9a-f]{8,}", answer)}


def test_no_part_of_a_sealed_answer_rebuilds_the_list(service, small_data, small_model) -> None:
    """Each number, digit run and hex string of a sealed answer, tried as the seed, draws
    another list; the released seed (the control) draws this one. Systematic selection keeps
    the ~140 tries fast; the seed's role is the same for both methods."""
    request = {"size": 120, "method": "systematic"}
    with service.client() as client:
        drawn = client.post("/sample", json={"request": request, "frame": "frame.parquet"}).json()
        released = client.post("/sample/release", json={"commitment": drawn["commitment"]}).json()
    frame = small_data.frame.reset_index(drop=True)
    design = design_for(frame, small_model.predict(frame), SampleRequest(**request))
    ids = frame["case_id"].to_numpy()
    target = sorted(c["case_id"] for c in released["cases"])

    def rebuilds(seed: int) -> bool:
        chosen = select(design, "systematic", np.random.default_rng(seed))
        return sorted(ids[chosen]) == target

    candidates = seeds_in(drawn)
    assert len(candidates) > 20
    assert rebuilds(released["seed"])
    assert [seed for seed in sorted(candidates) if rebuilds(seed)] == []


def test_the_released_seed_rebuilds_the_list_and_a_sealed_draw_takes_no_seed(
    service, sealed
) -> None:
    _, released = sealed
    body = {"request": {"size": 120}, "frame": "frame.parquet"}
    with service.client() as client:
        again = client.post("/sample", json={**body, "seed": released["seed"], "sealed": False})
        chosen = client.post("/sample", json={**body, "seed": 5})
        negative = client.post("/sample", json={**body, "seed": -1, "sealed": False})
        unknown = client.post("/sample/release", json={"commitment": "0" * 64})
    assert [c["case_id"] for c in again.json()["cases"]] == [
        c["case_id"] for c in released["cases"]
    ]
    assert again.json()["commitment"] != released["commitment"]  # a fresh salt per draw
    assert chosen.status_code == 422 and chosen.json()["detail"][0]["loc"] == ["body", "seed"]
    assert negative.status_code == 400 and "seed" in negative.text
    assert unknown.status_code == 404


def test_only_sealed_samples_are_stored_privately_and_the_log_keeps_the_seed_out(
    service, sealed
) -> None:
    drawn, released = sealed
    store = service.settings.data_dir / "sealed"
    before = sorted(store.glob("*.json"))
    with service.client() as client:
        unsealed = client.post(
            "/sample",
            json={"request": {"size": 120}, "frame": "frame.parquet", "sealed": False},
        )
    assert unsealed.status_code == 200
    assert sorted(store.glob("*.json")) == before  # an unsealed draw leaves nothing behind
    assert store / f"{drawn['commitment']}.json" in before
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in before} == {0o600}
    log = service.log.read_text(errors="replace")
    assert f"released sealed sample {drawn['commitment']}" in log
    assert str(released["seed"]) not in log and released["salt"] not in log


def test_the_released_list_verifies_against_the_commitment_and_a_changed_one_does_not(
    sealed, small_data
) -> None:
    drawn, released = sealed
    cases = released["cases"]
    assert len(cases) == 120 and released["commitment"] == drawn["commitment"]
    assert verify(cases, released["salt"], drawn["commitment"])
    outsider = next(
        c for c in small_data.frame["case_id"] if c not in {x["case_id"] for x in cases}
    )
    swapped = [{**cases[0], "case_id": outsider}, *cases[1:]]
    assert not verify(swapped, released["salt"], drawn["commitment"])
    assert not verify(cases[1:], released["salt"], drawn["commitment"])
    shifted = [{**cases[0], "inclusion_probability": cases[0]["inclusion_probability"] * 1.01}]
    assert not verify(shifted + cases[1:], released["salt"], drawn["commitment"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"request": {"size": 120}, "frame": "../frame.parquet"}, 422, "frame"),
        ({"request": {"size": 120}}, 400, "cases"),
        ({"request": {"size": 0}, "frame": "frame.parquet"}, 400, "size"),
        (
            {"request": {"size": 120, "risk_weight": 2}, "frame": "frame.parquet"},
            400,
            "risk_weight",
        ),
        (
            {"request": {"size": 120, "strata": ["shoe_size"]}, "frame": "frame.parquet"},
            400,
            "strata",
        ),
        ({"request": {"size": 4_999}, "frame": "frame.parquet"}, 422, "body"),
        ({"request": {"size": 120}, "frame": "frame\x00.parquet"}, 422, "frame"),
        ({"request": {"size": 120}, "frame": "f" * 300 + ".parquet"}, 422, "frame"),
        (
            {"request": {"size": 120, "officer_cap": 1e30}, "frame": "frame.parquet"},
            400,
            "officer_cap",
        ),
        (
            {
                "request": {"size": 120, "minimums": {"gender=female": 500}},
                "frame": "frame.parquet",
            },
            400,
            "minimums",
        ),
    ],
    ids=[
        "path",
        "no frame",
        "size 0",
        "risk weight 2",
        "unknown stratum",
        "too big",
        "NUL in name",
        "long name",
        "officer cap 1e30",
        "minimum above size",
    ],
)
def test_impossible_sampling_requests_are_refused(service, body, status, field) -> None:
    with service.client() as client:
        response = client.post("/sample", json=body)
    assert response.status_code == status, response.text
    assert field in json.dumps(response.json()["detail"])


def test_errors_about_a_frame_file_name_the_file_not_the_server_folder(service) -> None:
    (service.settings.data_dir / "broken.csv").write_text("case_id,office\nC1\n")
    with service.client() as client:
        response = client.post("/sample", json={"request": {"size": 120}, "frame": "broken.csv"})
    assert response.status_code == 422
    assert "broken.csv" in response.text and str(service.root) not in response.text


def test_estimate_refuses_duplicates_and_groups_that_are_not_plain_values(
    service, judged_rows
) -> None:
    _, rows = judged_rows
    with service.client() as client:
        twice = client.post("/estimate", json={"sample": [*rows, rows[0]]})
        listed = client.post(
            "/estimate", json={"sample": [{**r, "team": [1]} for r in rows], "by": "team"}
        )
    assert twice.status_code == 422 and "case_id" in json.dumps(twice.json()["detail"])
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["body", "by"]


def test_estimate_matches_the_library_on_the_judged_sample(service, judged_rows) -> None:
    judged, rows = judged_rows
    with service.client() as client:
        response = client.post("/estimate", json={"sample": rows, "by": "gender"})
        rated = client.post("/estimate", json={"sample": rows, "ratings": True})
        missing = client.post("/estimate", json={"sample": rows, "by": "shoe_size"})
        empty = client.post("/estimate", json={"sample": []})
    assert response.status_code == 200, response.text
    answer = pd.DataFrame(response.json()["estimates"])
    expected = estimate(judged, by="gender")
    assert len(answer) == len(JUDGEMENTS) * 2
    np.testing.assert_allclose(answer["estimate"], expected["estimate"])
    np.testing.assert_allclose(answer["se"], expected["se"])
    assert missing.status_code == 422 and "shoe_size" in missing.text
    assert response.json()["ratings"] is None
    assert rated.status_code == 200, rated.text
    assert {r["standard"] for r in rated.json()["ratings"]} >= {"assessment", "safety"}
    assert empty.status_code == 400


def test_simulate_reports_yield_precision_and_the_frontier(service) -> None:
    with service.client() as client:
        response = client.post(
            "/simulate", json={"request": {"size": 120}, "frame": "frame.parquet", "draws": 20}
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["yield_ratio"] > 1 and answer["draws"] == 20
    assert set(answer["half_widths"]) == set(JUDGEMENTS)
    assert [p["risk_weight"] for p in answer["frontier"]][0] == 0.0
    assert len(answer["rating_accuracy"]) == 7  # one row per stage and aim
