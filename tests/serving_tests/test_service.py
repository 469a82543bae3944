"""The HTTP service, called over a real loopback socket: answers, refusals, sealing, reloads."""

from __future__ import annotations

import json
import re
import stat
import threading
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from features.contract import JUDGEMENTS, SCORE_COLUMNS
from features.errors import InputErrors
from features.validation import validate_table
from serving.commitment import verify
from serving.estimation import estimate
from serving.io import EXAMPLE_CASE
from serving.sampling import SampleRequest, design_for
from serving.selection import select
from serving.service import DIRECT_ROWS
from training.lifecycle.promotion import publish
from training.reporting.explain import explain_cases

from .conftest import DEADLINE, MAX_BYTES, MAX_ROWS, SLOW_FRAME

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


def test_the_internal_scorer_is_not_served(service) -> None:
    """``/score`` skips the row limit and duplicate check: only ``/predict`` may call it."""
    with service.client() as client:
        response = client.post("/score", json={"cases": [EXAMPLE_CASE]})
    assert response.status_code == 404


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_may_be_written_in_any_case(service, scheme) -> None:
    with service.client(token=None) as client:
        response = client.get("/model", headers={"Authorization": f"{scheme} {service.token}"})
    assert response.status_code == 200


def test_bodies_are_counted_as_they_arrive_and_must_be_json(service) -> None:
    """A chunked body has no Content-Length: the limit holds anyway; multipart is refused."""

    def chunks():
        for _ in range(MAX_BYTES // 65_536 + 2):
            yield b" " * 65_536

    with service.client() as client:
        streamed = client.post(
            "/predict", content=chunks(), headers={"Content-Type": "application/json"}
        )
        declared = client.post(
            "/predict",
            content=b" " * (MAX_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
        multipart = client.post(
            "/predict",
            content=b"--x\r\nContent-Disposition: form-data; name=cases\r\n\r\n[",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
    assert "Content-Length" not in streamed.request.headers
    assert streamed.status_code == 413 and declared.status_code == 413
    assert f"limit of {MAX_BYTES} bytes" in streamed.json()["detail"][0]["msg"]
    assert multipart.status_code == 415


def test_iom_spellings_are_those_validate_accepts(service) -> None:
    """``iom: "yes"`` is refused by the API as by ``casework validate``; "TRUE" passes both."""
    answers = {}
    with service.client() as client:
        for spelling in ("yes", "TRUE"):
            case = {**EXAMPLE_CASE, "iom": spelling}
            answers[spelling] = client.post("/predict", json={"cases": [case]})
            table = pd.DataFrame([{k: str(v) for k, v in case.items()}])
            if spelling == "yes":
                with pytest.raises(InputErrors, match="iom"):
                    validate_table(table, "frame", "request")
            else:
                assert bool(validate_table(table, "frame", "request")["iom"].iloc[0])
    assert answers["yes"].status_code == 400 and "iom" in answers["yes"].text
    assert answers["TRUE"].status_code == 200


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


def test_a_runaway_job_is_killed_at_the_deadline_while_predictions_stay_fast(
    service, small_data
) -> None:
    """A /sample job spinning in its process (the slow-frame hook holds its GIL like a heavy
    cube) while 100 /predict calls are timed; at the deadline it is killed and answers 503."""
    server = _server_process(service)
    cases = records(small_data.frame, 10)
    answer: dict[str, object] = {}

    def slow() -> None:
        with service.client() as client:
            body = {"request": {"size": 120}, "frame": SLOW_FRAME}
            answer["response"] = client.post("/sample", json=body)

    started = time.monotonic()
    worker = threading.Thread(target=slow)
    worker.start()
    spinning = _spinning(server)
    latencies: list[float] = []

    def predict() -> None:  # 4 clients × 25 calls: the 100 fit well inside the deadline
        with service.client() as client:
            for _ in range(25):
                begun = time.perf_counter()
                assert client.post("/predict", json={"cases": cases}).status_code == 200
                latencies.append(time.perf_counter() - begun)
            assert client.get("/readyz").status_code == 200

    clients = [threading.Thread(target=predict) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    in_flight = worker.is_alive()
    worker.join(timeout=DEADLINE + 60)
    response = answer["response"]
    assert spinning and in_flight and len(latencies) == 100
    assert np.percentile(latencies, 99) < 1.0, sorted(latencies)[-5:]
    assert response.status_code == 503 and "deadline" in response.json()["error"]
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 30
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in spinning)


def _server_process(service) -> psutil.Process:
    """The process listening on the service's port (started by ``casework serve``)."""
    port = service.url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if "serve" in line and "--port" in line and port in line:
            return process
    raise LookupError(f"no server on port {port}")


def _spinning(server: psutil.Process, seconds: float = 10) -> list[psutil.Process]:
    """The server's job processes (forked by its forkserver) using a good part of a core, once
    one is (within ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        family = [
            process
            for process in server.children(recursive=True)
            if "forkserver" in " ".join(process.cmdline())
        ]
        for process in family:
            process.cpu_percent(None)
        time.sleep(0.5)
        busy = []
        for process in family:
            try:
                if process.cpu_percent(None) > 20:
                    busy.append(process)
            except psutil.NoSuchProcess:
                pass
        if busy:
            return busy
    return []


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
