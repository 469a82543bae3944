"""The service as an ASGI app (``Casework.to_asgi()``) under Starlette's test client: the HTTP layer
(token guard, request validation, error shapes, the sealed hand-over) without a socket or a
server process; the model is the unit tests' stand-in and jobs run in this process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from features.synthetic.truth import true_scores
from serving.commitment import verify
from serving.guard import TokenGuard
from serving.io import EXAMPLE_CASE
from serving.service import Casework

from .test_service_unit import TOKEN, frame, patched  # noqa: F401 (fixtures)

MAX_BYTES = 1_000_000


@pytest.fixture
def client(patched, monkeypatch):  # noqa: F811 (a fixture)
    """A test client of the service's ASGI app, guarded by the test token."""
    monkeypatch.setattr(
        Casework, "middlewares", [(TokenGuard, {"token": TOKEN, "max_bytes": MAX_BYTES})]
    )
    monkeypatch.setitem(Casework.config, "metrics", {"enabled": False})
    with TestClient(Casework.to_asgi()) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


@pytest.mark.parametrize("token", [None, "wrong-token-of-some-length"])
def test_calls_without_the_token_are_401_and_health_checks_are_open(client, token) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client.headers.pop("Authorization")
    for path in ("/predict", "/sample", "/sample/release", "/estimate"):
        response = client.post(path, json={}, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["detail"][0]["loc"] == ["header", "Authorization"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/model", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("path", "sent", "status", "field"),
    [
        ("/predict", {"cases": [{**EXAMPLE_CASE, "rosh_level": "extreme"}]}, 400, "rosh_level"),
        ("/predict", {"cases": [EXAMPLE_CASE, EXAMPLE_CASE]}, 422, "case_id"),
        ("/explain", {"cases": [{**EXAMPLE_CASE, "age": 17}]}, 400, "age"),
        (
            "/sample",
            {"request": {"size": 60, "risk_weight": 2}, "frame": "frame.parquet"},
            400,
            "risk_weight",
        ),
        ("/sample", {"request": {"size": 60}, "frame": "../frame.parquet"}, 422, "frame"),
        ("/sample", {"request": {"size": 60}, "frame": "frame.parquet", "seed": 3}, 422, "seed"),
        ("/sample", {"request": {"size": 1_501}, "frame": "frame.parquet"}, 422, "size"),
        ("/estimate", {"sample": []}, 400, "sample"),
        (
            "/sample",
            {"request": {"size": 60}, "frame": "frame.parquet", "inspection_date": "01/05/2024"},
            400,
            "inspection_date",
        ),
        (
            "/sample",
            {"request": {"size": 60}, "frame": "frame.parquet", "inspection_id": "  "},
            400,
            "inspection_id",
        ),
    ],
    ids=[
        "category",
        "repeated id",
        "age",
        "risk weight",
        "path",
        "sealed seed",
        "size",
        "empty",
        "inspection date",
        "inspection id",
    ],
)
def test_bad_requests_are_4xx_naming_the_field(client, path, sent, status, field) -> None:
    response = client.post(path, json=sent)
    assert response.status_code == status, response.text
    assert field in str(response.json()["detail"])


def test_a_sealed_sample_is_handed_over_by_its_release(client) -> None:
    drawn = client.post("/sample", json={"request": {"size": 60}, "frame": "frame.parquet"})
    assert drawn.status_code == 200, drawn.text
    sealed = drawn.json()
    assert sealed.get("cases") is None and "seed" not in sealed["design"]
    released = client.post("/sample/release", json={"commitment": sealed["commitment"]})
    assert released.status_code == 200, released.text
    answer = released.json()
    assert len(answer["cases"]) == 60 and answer["design"]["size"] == 60
    assert verify(answer["cases"], answer["salt"], sealed["commitment"])
    assert all(case["inspection_id"].startswith("insp-") for case in answer["cases"])
    assert client.get("/model").json()["version"] == "7"


def test_predict_scores_a_small_batch(client, frame) -> None:  # noqa: F811
    cases = json.loads(frame.head(5).to_json(orient="records"))
    response = client.post("/predict", json={"cases": cases})
    assert response.status_code == 200, response.text
    scored = [p["risk_score"] for p in response.json()["predictions"]]
    np.testing.assert_allclose(scored, true_scores(frame.head(5))["risk_score"])
