"""The HTTP service over a real loopback socket: auth, predictions, explanations, refusals, job
deadlines, reloads and logs (sampling and estimation: ``test_sample_api.py``)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from features.contract import JUDGEMENTS, SCORE_COLUMNS
from features.errors import InputErrors
from features.validation import validate_table
from serving.io import EXAMPLE_CASE
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
