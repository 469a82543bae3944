"""The casework HTTP service (CONTRACT.md §6): predict, explain, sample, estimate, model info.

One BentoML service class. The champion bundle is loaded once at start-up and swapped in whole
when a new champion is promoted (a watcher polls the ``champion`` link; ``POST /admin/reload``
forces it); requests in flight keep the bundle they started with. ``/predict`` hands small
batches to ``/score``, the adaptively batched scorer, so concurrent callers share model calls;
a batch of ``DIRECT_ROWS`` or more already amortises the per-call cost and is scored at once,
without the second pass through JSON that the batching hop costs.

Client mistakes never become 500s: pydantic refuses malformed bodies (400, field by field) and
contract rules the models cannot express (duplicate case ids, an impossible sampling request)
come back as 422 with the same shape; too many rows is 413.

Sampling, simulation and estimation run in a child process (``serving.jobs``) with a
deadline (``job_deadline_seconds``): past it the process is killed and the answer is 503, and
however heavy the job, the scorer in this process keeps answering. Their endpoints are async and
wait for the job in a thread of their own: BentoML runs sync endpoints, the batched scorer among
them, one at a time, so a sync ``/sample`` waiting for its job would hold ``/predict`` up.

``/sample`` and ``/simulate`` run the sampling workflow (``serving.workflow``), as
``casework sample`` does. A sealed sample's seed rebuilds its list, so the workflow draws it in
secret and keeps it in the sealed store with the list; the sealed answer carries neither, and a
client-chosen seed is refused for a sealed draw. This class declares the endpoints and their
schemas; the champion, the frames and the refusals live in ``serving.champion``,
``serving.frames`` and ``serving.refusals``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import bentoml
import pandas as pd
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from features.errors import InputError
from features.settings import get_settings
from serving.champion import NO_CHAMPION, Champion
from serving.commitment import SealedStore, records
from serving.frames import Frames, predictions, repeated, typed
from serving.guard import (
    INTERNAL,
    TokenGuard,
    casework_logs,
    redact_logs,
    required_token,
    token_problem,
)
from serving.io import (
    Cases,
    Estimates,
    Explanations,
    FrameRecord,
    InspectionDate,
    InspectionId,
    JudgedRow,
    Prediction,
    Predictions,
    Reloaded,
    SampleAnswer,
    SampleRequest,
    SimulationAnswer,
)
from serving.jobs import estimates_and_ratings, run_job, sample_answer, start_warm_up
from serving.pooling import check_by
from serving.refusals import answered, problem, too_many
from serving.workflow import Options, simulate_request
from training.lifecycle.promotion import link
from training.reporting.explain import explain_cases

logger = logging.getLogger("casework.service")
PAGE = Path(__file__).parent / "page"
DIRECT_ROWS = 256
"""Batches at least this big skip the batching hop (measured: benchmarks/bench_service.py)."""
SEED = Field(None, ge=0, le=2**63 - 1, description="Random seed (unsealed draws only).")
redact_logs()
casework_logs()


@bentoml.service(name="casework", traffic={"timeout": 300})
class Casework:
    """Scores, explanations, sealed risk-weighted samples and unbiased estimates over HTTP."""

    def __init__(self) -> None:
        self.settings = get_settings()
        if (refusal := token_problem(self.settings)) is not None:
            raise RuntimeError(refusal)
        self.champion = Champion(link(self.settings))
        self.champion.refresh()
        self.sealed = SealedStore.from_settings(self.settings)
        self.frames = Frames(self.settings.data_dir, self.settings.max_rows)
        self.warm = start_warm_up()
        self.stop = self.champion.watch(self.settings.reload_seconds)

    def __is_ready__(self) -> bool:
        """Ready when the model is loaded and the job processes can start without compiling."""
        return self.champion.model is not None and self.warm.is_set()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.stop.set()

    # max_latency_ms is the point past which BentoML's dispatcher *cancels* a queued call with
    # a 503, not a batching window (the window adapts to traffic): a /sample or /explain burst
    # may hold the worker for seconds, and a caller should wait, not fail.
    @bentoml.api(batchable=True, max_batch_size=20_000, max_latency_ms=60_000)
    def score(self, cases: list[FrameRecord]) -> list[Prediction]:
        """Scores for a batch of cases: the batched scorer behind ``/predict``."""
        return predictions(self.champion.current(), cases) if cases else []

    @bentoml.api
    async def predict(self, cases: Cases) -> Predictions:
        """CONTRACT §3 scores per case: 12 probabilities of insufficient work and the risk score."""
        if (refused := self._refused(cases)) is not None:
            return refused
        if len(cases) >= DIRECT_ROWS:
            direct = await asyncio.to_thread(predictions, self.champion.current(), cases)
            return Predictions(predictions=direct)
        token = INTERNAL.set(True)
        try:
            scored = await self.to_async.score(cases)
        except aiohttp.ClientError:
            # BentoML's self-proxy recycles its client session every 100 calls and can close
            # one still in use (bentoml 1.4.3x); scoring is pure, so answer from here instead.
            logger.warning("the batching hop dropped a call; scored it directly")
            scored = await asyncio.to_thread(predictions, self.champion.current(), cases)
        finally:
            INTERNAL.reset(token)
        return Predictions(predictions=scored)

    @bentoml.api
    def explain(self, cases: Cases, top: Annotated[int, Field(ge=1, le=50)] = 5) -> Explanations:
        """Each case's top drivers per judgement, in words and numbers (as ``casework explain``)."""
        if (refused := self._refused(cases)) is not None:
            return refused
        explained = explain_cases(self.champion.current(), typed(cases), top)
        return Explanations(explanations=explained)

    @bentoml.api
    async def simulate(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        draws: Annotated[int, Field(ge=0, le=2_000)] = 200,
        seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1,
    ) -> SimulationAnswer:
        """Expected yield, CI half-widths, design effect and the λ frontier, before drawing."""
        # the margins' draws stop at half the deadline, so a simulation answers in time
        budget = self.settings.job_deadline_seconds / 2

        def work() -> SimulationAnswer:
            model = self.champion.current()
            population, scores = self.frames.scored(cases, frame, model)
            run = partial(simulate_request, applies=model.applicability_rule)
            args = (population, scores, request, draws, seed, budget)
            return SimulationAnswer(**self._job(run, *args, frame=frame).to_dict())

        return await asyncio.to_thread(answered, work)

    @bentoml.api
    async def sample(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        seed: Annotated[int | None, SEED] = None,
        sealed: bool = True,
        inspection_id: InspectionId = None,
        inspection_date: InspectionDate = None,
    ) -> SampleAnswer:
        """Draw a sample; answer its commitment and design (and the cases only if not sealed).

        The cases are the judged-sample file of CONTRACT.md §7 (inspection columns set, blank
        judgements), so the released list goes to the inspectors as it is."""
        options = Options(sealed, inspection_id, inspection_date, store=self.sealed)

        def work() -> SampleAnswer:
            options.check(seed)
            population, scores = self.frames.scored(cases, frame, self.champion.current())
            args = (population, scores, request, seed, options)
            return SampleAnswer(**self._job(sample_answer, *args, frame=frame))

        return await asyncio.to_thread(answered, work)

    @bentoml.api(route="/sample/release")
    def release(self, commitment: str) -> SampleAnswer:
        """The sealed sample's case list, with the salt that lets anyone re-check the commitment."""
        record = self.sealed.release(commitment)
        if record is None:
            detail = [{"loc": ["body", "commitment"], "msg": "unknown commitment"}]
            return problem(404, "no sealed sample has this commitment", detail)
        return SampleAnswer(**record)

    @bentoml.api
    async def estimate(
        self, sample: list[JudgedRow], by: str | None = None, ratings: bool = False
    ) -> Estimates:
        """Hájek estimates of the share sufficient per judgement (and group), with 95% CIs;
        with ``ratings``, each stage's and aim's rating and the chance of each rating band."""
        if (refused := too_many(len(sample), self.settings.max_rows)) is not None:
            return refused
        if not sample:
            return problem(400, "empty sample", [{"loc": ["body", "sample"], "msg": "no rows"}])
        judged = pd.DataFrame([row.model_dump() for row in sample]).dropna(axis=1, how="all")
        try:
            check_by(judged, by, "request")
        except InputError as error:
            return problem(422, error.rule, [{"loc": ["body", "by"], "msg": error.rule}])

        def work() -> Estimates:
            table, rated = self._job(estimates_and_ratings, judged, by, ratings, frame=None)
            rated = None if rated is None else records(rated)
            return Estimates(estimates=records(table), ratings=rated)

        return await asyncio.to_thread(answered, work)

    @bentoml.api(route="/admin/reload")
    def reload(self) -> Reloaded:
        """Load the current champion now (the watcher also does, every ``reload_seconds``)."""
        changed = self.champion.refresh()
        return Reloaded(reloaded=changed, version=self.champion.version())

    def _refused(self, cases: list[FrameRecord]) -> JSONResponse | None:
        """413 for too many cases, 422 for a repeated case id, else None."""
        return too_many(len(cases), self.settings.max_rows) or repeated(cases)

    def _job(self, function: Callable[..., Any], *args: Any, frame: str | None) -> Any:
        """``function(*args)`` in a job process under the deadline (``serving.jobs``)."""
        spin = frame is not None and frame == self.settings.slow_frame
        return run_job(function, *args, deadline=self.settings.job_deadline_seconds, spin=spin)


async def _model_route(request: Request) -> JSONResponse:
    service = bentoml.get_current_service()
    if service is None or service.champion.model is None:
        return problem(503, NO_CHAMPION)
    return JSONResponse(service.champion.info().model_dump())


async def _page(request: Request) -> RedirectResponse:
    return RedirectResponse("/ui/index.html")


extras = Starlette(
    routes=[
        Route("/model", _model_route, methods=["GET"]),
        Route("/ui", _page, methods=["GET"]),
        Mount("/ui", StaticFiles(directory=PAGE, html=True), name="page"),
    ]
)
Casework.mount_asgi_app(extras, path="/")
Casework.add_asgi_middleware(
    TokenGuard, token=required_token(get_settings()), max_bytes=get_settings().max_request_bytes
)

__all__ = ["Casework"]
