"""The HTTP service, called over a real loopback socket: answers, refusals, sealing, reloads."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from features.contract import JUDGEMENTS, SCORE_COLUMNS
from serving.commitment import verify
from serving.estimation import estimate
from serving.io import EXAMPLE_CASE
from serving.service import DIRECT_ROWS
from training.explain import explain_cases
from training.promotion import publish

from .conftest import MAX_ROWS

PROTECTED = [
    ("POST", "/predict"),
    ("POST", "/explain"),
    ("POST", "/sample"),
    ("POST", "/sample/release"),
    ("POST", "/estimate"),
    ("POST", "/simulate"),
    ("POST", "/admin/reload"),
    ("GET", "/model"),
]


def records(frame: pd.DataFrame, n: int, start: int = 0) -> list[dict]:
    """``n`` frame rows as JSON records."""
    return json.loads(frame.iloc[start : start + n].to_json(orient="records"))


def test_health_checks_are_open_and_the_model_is_ready(service) -> None:
    with service.client(token=None) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_every_call_but_health_needs_the_token(service, method, path, token) -> None:
    with service.client(token=token) as client:
        response = client.request(method, path, json={})
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]


@pytest.mark.parametrize("rows", [25, DIRECT_ROWS + 1], ids=["batched", "direct"])
def test_predict_answers_the_contract_columns_with_the_champions_numbers(
    service, small_data, small_model, rows
) -> None:
    cases = records(small_data.frame, rows)
    with service.client() as client:
        response = client.post("/predict", json={"cases": cases})
    assert response.status_code == 200
    answer = pd.DataFrame(response.json()["predictions"])
    assert list(answer.columns) == list(SCORE_COLUMNS)
    expected = small_model.predict(small_data.frame.iloc[:rows])
    assert answer["case_id"].tolist() == expected["case_id"].tolist()
    np.testing.assert_allclose(answer[list(SCORE_COLUMNS[1:])], expected[list(SCORE_COLUMNS[1:])])


def _without(field: str) -> dict:
    return {k: v for k, v in EXAMPLE_CASE.items() if k != field}


BAD_BODIES = {
    "missing field": ({"cases": [_without("officer_grade")]}, 400, "officer_grade"),
    "unknown category": ({"cases": [{**EXAMPLE_CASE, "rosh_level": "extreme"}]}, 400, "rosh_level"),
    "out of range": (
        {"cases": [{**EXAMPLE_CASE, "officer_caseload": 301}]},
        400,
        "officer_caseload",
    ),
    "empty batch": ({"cases": []}, 400, "cases"),
    "no cases key": ({}, 400, "cases"),
    "duplicate case id": ({"cases": [EXAMPLE_CASE, EXAMPLE_CASE]}, 422, "case_id"),
}


@pytest.mark.parametrize("path", ["/predict", "/explain"])
@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_cases_are_refused_field_by_field(service, path, name) -> None:
    body, status, field = BAD_BODIES[name]
    with service.client() as client:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert field in json.dumps(answer["detail"]), answer


def test_malformed_json_is_a_400(service) -> None:
    with service.client() as client:
        response = client.post(
            "/predict", content=b'{"cases": [', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert "json" in response.text.lower()


def test_too_many_rows_is_a_413(service) -> None:
    cases = [{**EXAMPLE_CASE, "case_id": f"C{i}"} for i in range(MAX_ROWS + 1)]
    with service.client() as client:
        for path, body in [
            ("/predict", {"cases": cases}),
            ("/explain", {"cases": cases}),
            ("/sample", {"request": {"size": 10}, "cases": cases}),
        ]:
            response = client.post(path, json=body)
            assert response.status_code == 413, path
            assert f"limit is {MAX_ROWS}" in response.json()["detail"][0]["msg"]


def test_explain_gives_the_same_drivers_as_the_cli(service, small_data, small_model) -> None:
    cases = records(small_data.frame, 2)
    with service.client() as client:
        response = client.post("/explain", json={"cases": cases, "top": 3})
    assert response.status_code == 200
    expected = explain_cases(small_model, small_data.frame.iloc[:2].reset_index(drop=True), 3)
    assert response.json()["explanations"] == json.loads(json.dumps(expected))


@pytest.fixture(scope="module")
def sealed(service):
    """A sealed sample of 120 drawn from the server's frame file, and its release."""
    with service.client() as client:
        drawn = client.post(
            "/sample", json={"request": {"size": 120}, "frame": "frame.parquet", "seed": 5}
        )
        assert drawn.status_code == 200, drawn.text
        released = client.post("/sample/release", json={"commitment": drawn.json()["commitment"]})
        assert released.status_code == 200, released.text
    return drawn.json(), released.json()


def test_a_sealed_sample_shows_only_its_commitment_and_design(sealed) -> None:
    drawn, _ = sealed
    assert set(drawn) >= {"commitment", "design"}
    assert drawn.get("cases") is None and drawn.get("salt") is None and drawn.get("seed") is None
    assert drawn["design"]["size"] == 120


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


def test_same_seed_same_cases_and_an_unknown_commitment_is_a_404(service, sealed) -> None:
    _, released = sealed
    with service.client() as client:
        again = client.post(
            "/sample",
            json={"request": {"size": 120}, "frame": "frame.parquet", "seed": 5, "sealed": False},
        ).json()
        unknown = client.post("/sample/release", json={"commitment": "0" * 64})
    assert [c["case_id"] for c in again["cases"]] == [c["case_id"] for c in released["cases"]]
    assert again["commitment"] != released["commitment"]  # a fresh salt per draw
    assert unknown.status_code == 404


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
    ],
)
def test_impossible_sampling_requests_are_refused(service, body, status, field) -> None:
    with service.client() as client:
        response = client.post("/sample", json=body)
    assert response.status_code == status, response.text
    assert field in json.dumps(response.json()["detail"])


def test_estimate_matches_the_library_on_the_judged_sample(service, sealed, small_data) -> None:
    _, released = sealed
    judgements = small_data.frame_judgements.assign(case_id=small_data.frame["case_id"].to_numpy())
    judged = pd.DataFrame(released["cases"]).merge(judgements, on="case_id")
    rows = json.loads(judged.to_json(orient="records"))
    with service.client() as client:
        response = client.post("/estimate", json={"sample": rows, "by": "gender"})
        missing = client.post("/estimate", json={"sample": rows, "by": "shoe_size"})
        empty = client.post("/estimate", json={"sample": []})
    assert response.status_code == 200, response.text
    answer = pd.DataFrame(response.json()["estimates"])
    expected = estimate(judged, by="gender")
    assert len(answer) == len(JUDGEMENTS) * 2
    np.testing.assert_allclose(answer["estimate"], expected["estimate"])
    np.testing.assert_allclose(answer["se"], expected["se"])
    assert missing.status_code == 422 and "shoe_size" in missing.text
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


def test_model_describes_the_served_bundle(service) -> None:
    with service.client() as client:
        answer = client.get("/model").json()
    assert answer["name"] == "casework-sufficiency"
    assert answer["version"] == "1" and answer["alias"] == "champion"
    assert answer["trained_on"]["rows"] == 4_000
    assert set(answer["metrics"]) == set(JUDGEMENTS)


def test_a_promotion_under_load_fails_no_request(service, small_data, small_model) -> None:
    """Steady /predict traffic while a new champion is published and picked up."""
    cases = records(small_data.frame, 50)
    failures, answered, stop = [], [0], threading.Event()

    def traffic() -> None:
        with service.client() as client:
            while not stop.is_set():
                response = client.post("/predict", json={"cases": cases})
                answered[0] += 1
                if response.status_code != 200:
                    failures.append(response.status_code)

    workers = [threading.Thread(target=traffic) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        publish(small_model, "2", service.settings)
        with service.client() as client:
            for _ in range(120):
                if client.get("/model").json()["version"] == "2":
                    break
                threading.Event().wait(0.5)
            version = client.get("/model").json()["version"]
        at_switch = answered[0]
        for _ in range(120):  # keep the traffic going on the new champion too
            if answered[0] >= at_switch + 10:
                break
            threading.Event().wait(0.25)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert version == "2"
    assert at_switch > 0 and answered[0] >= at_switch + 10
    assert failures == []


def test_the_log_holds_no_case_ids_or_personal_fields(service, small_data) -> None:
    """Runs last in this module: every request above went through the same log."""
    with service.client() as client:
        client.post("/predict", json={"cases": [{**EXAMPLE_CASE, "ethnicity": "martian"}]})
        client.post("/predict", json={"cases": [EXAMPLE_CASE, EXAMPLE_CASE]})
    log = service.log.read_text(errors="replace")
    assert "/predict" in log  # the log is the service's
    sent = set(small_data.frame["case_id"].iloc[:200]) | {EXAMPLE_CASE["case_id"], "martian"}
    leaked = [value for value in sent if value in log]
    assert leaked == []
