"""The service's methods called directly, with the model patched (BentoML's unit-test layer).

The champion is a stand-in that scores with the generator's true probabilities, jobs run in
this process, and the job warm-up is skipped: what is tested is the service's own logic
(refusals, sealing, the sampling workflow's answers), in a fraction of a second per call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import bentoml
import numpy as np
import pandas as pd
import pytest
from starlette.responses import JSONResponse

import serving.service as service_module
from features.readers import write_table
from features.settings import get_settings
from features.synthetic.truth import true_scores
from serving.champion import Champion
from serving.commitment import verify
from serving.io import (
    EXAMPLE_CASE,
    FrameRecord,
    JudgedRow,
    Reloaded,
    SampleAnswer,
    SimulationAnswer,
)
from serving.sampling import SampleRequest, draw_sample
from serving.service import DIRECT_ROWS, Casework
from serving.simulation import APPLICABILITY_UNKNOWN, Simulation

TOKEN = "unit-test-token-5c1e-77aa"
FRAME_CASES = 1_500


def run(coroutine):
    """Await a service method in a loop of its own thread (a session's browser, Playwright's
    sync API, may hold this thread's loop)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


class StandIn:
    """A champion stand-in: the generator's true probabilities of the frame's cases, looked up
    by case id, as its scores."""

    metadata = {
        "version": 7,
        "aliases": ["champion"],
        "trained_on": {"rows": 10},
        "metrics": {"auc": 0.7},
    }

    def __init__(self, frame: pd.DataFrame) -> None:
        self.scores = true_scores(frame).set_index("case_id")
        self.calls = 0

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """CONTRACT §3 scores of ``frame``."""
        self.calls += 1
        return self.scores.loc[frame["case_id"].to_numpy()].reset_index()

    applicability_rule = None
    """A bundle trained before applicability was learned."""


def in_process(function, *args, deadline: float, spin: bool = False):
    """``serving.jobs.run_job`` without the child process."""
    return function(*args)


@pytest.fixture
def frame(small_data) -> pd.DataFrame:
    """The first cases of the small frame: enough for a sample of 60."""
    return small_data.frame.head(FRAME_CASES).reset_index(drop=True)


@pytest.fixture
def patched(workspace, monkeypatch, frame) -> StandIn:
    """Settings in a private folder with a token, the frame as ``frame.parquet``, in-process
    jobs, no warm-up and no model file: the stand-in is the champion."""
    monkeypatch.setenv("CASEWORK_API_TOKEN", TOKEN)
    monkeypatch.setenv("CASEWORK_RELOAD_SECONDS", "0")
    get_settings.cache_clear()
    write_table(frame, get_settings().data_dir / "frame.parquet")
    warm = threading.Event()
    warm.set()
    monkeypatch.setattr(service_module, "start_warm_up", lambda: warm)
    monkeypatch.setattr(service_module, "run_job", in_process)
    model = StandIn(frame)

    def refresh(self: Champion) -> bool:
        changed = self.model is not model
        self.model = model
        return changed

    monkeypatch.setattr(Champion, "refresh", refresh)
    return model


@pytest.fixture
def casework(patched) -> Casework:
    """The service instance, as BentoML builds it."""
    return Casework()


def records(frame: pd.DataFrame, n: int) -> list[FrameRecord]:
    """``n`` frame rows as the API's validated records."""
    rows = json.loads(frame.head(n).to_json(orient="records"))
    return [FrameRecord(**row) for row in rows]


def body(response: JSONResponse) -> dict:
    """The JSON body of a refusal."""
    return json.loads(response.body)


def test_predict_answers_the_champions_scores_directly_and_refuses_repeats(
    casework, patched, frame
) -> None:
    cases = records(frame, DIRECT_ROWS)
    answer = run(casework.predict(cases))
    scored = pd.DataFrame([p.model_dump() for p in answer.predictions])
    expected = true_scores(frame.head(DIRECT_ROWS))
    np.testing.assert_allclose(scored["risk_score"], expected["risk_score"])
    assert scored["case_id"].tolist() == expected["case_id"].tolist()
    repeated = run(casework.predict([cases[0], cases[1], cases[0]]))
    assert repeated.status_code == 422
    assert body(repeated)["detail"] == [
        {"loc": ["body", "case_id"], "rows": [3], "msg": "case_id must be unique"}
    ]


def test_too_many_rows_are_refused_before_any_scoring(casework, patched, monkeypatch) -> None:
    monkeypatch.setattr(casework.settings, "max_rows", 2)
    cases = [FrameRecord(**{**EXAMPLE_CASE, "case_id": f"C{i}"}) for i in range(3)]
    judged = [JudgedRow(case_id=f"C{i}", stratum="s", inclusion_probability=0.5) for i in range(3)]
    answers = [
        run(casework.predict(cases)),
        casework.explain(cases),
        run(casework.estimate(judged)),
        run(casework.estimate([])),
    ]
    assert [a.status_code for a in answers] == [413, 413, 413, 400]
    assert "limit is 2" in body(answers[0])["detail"][0]["msg"]
    assert patched.calls == 0


def test_a_sealed_draw_answers_its_commitment_and_the_release_verifies(
    casework, patched, frame
) -> None:
    request = SampleRequest(size=60, method="systematic")
    sealed = run(casework.sample(request, frame="frame.parquet"))
    assert isinstance(sealed, SampleAnswer)
    assert sealed.cases is None and sealed.seed is None and "seed" not in sealed.design
    released = casework.release(sealed.commitment)
    assert len(released.cases) == 60 and verify(released.cases, released.salt, sealed.commitment)
    again = draw_sample(frame, true_scores(frame), request, released.seed)
    assert sorted(c["case_id"] for c in released.cases) == sorted(again.cases["case_id"])
    assert casework.release("0" * 64).status_code == 404
    assert patched.calls == 1  # the frame file is scored once, then cached


def test_an_open_draw_names_its_inspection_and_a_sealed_one_takes_no_seed(casework, frame) -> None:
    request = SampleRequest(size=60, method="systematic")
    drawn = run(
        casework.sample(
            request,
            cases=records(frame, FRAME_CASES),
            seed=11,
            sealed=False,
            inspection_id="INS-1",
            inspection_date="2025-06-02",
        )
    )
    assert drawn.seed == 11 and verify(drawn.cases, drawn.salt, drawn.commitment)
    assert {(c["inspection_id"], c["inspection_date"]) for c in drawn.cases} == {
        ("INS-1", "2025-06-02")
    }
    refused = run(casework.sample(request, frame="frame.parquet", seed=5))
    assert refused.status_code == 422 and body(refused)["detail"][0]["loc"] == ["body", "seed"]
    neither = run(casework.sample(request))
    assert neither.status_code == 400


def test_simulate_and_reload_answer_their_models(casework) -> None:
    simulated = run(
        casework.simulate(
            SampleRequest(size=60, method="systematic"), frame="frame.parquet", draws=3
        )
    )
    assert isinstance(simulated, SimulationAnswer)
    assert simulated.draws == 3 and simulated.frontier[0].risk_weight == 0.0
    assert APPLICABILITY_UNKNOWN in simulated.notes
    assert casework.reload() == Reloaded(reloaded=False, version="7")
    assert casework.champion.info().alias == "champion"


def test_without_a_champion_every_model_call_is_a_503(casework, frame) -> None:
    casework.champion.model = None
    assert not casework.__is_ready__()
    with pytest.raises(bentoml.exceptions.ServiceUnavailable):
        casework.explain(records(frame, 1))
    with pytest.raises(bentoml.exceptions.ServiceUnavailable):
        run(casework.sample(SampleRequest(size=60), frame="frame.parquet"))


def test_the_simulation_answer_declares_every_simulation_field() -> None:
    """A field added to or renamed in ``Simulation`` must reach the API's schema, not a 500."""
    assert set(SimulationAnswer.model_fields) == {f.name for f in fields(Simulation)}
