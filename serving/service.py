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

Sampling, simulation and estimation run in a child process (:mod:`serving.jobs`) with a
deadline (``job_deadline_seconds``): past it the process is killed and the answer is 503, and
however heavy the job, the scorer in this process keeps answering. Their endpoints are async and
wait for the job in a thread of their own: BentoML runs sync endpoints, the batched scorer among
them, one at a time, so a sync ``/sample`` waiting for its job would hold ``/predict`` up.

A sealed sample's seed rebuilds its list, so it is drawn here in secret and kept in the sealed
store with the list; the sealed answer carries neither, and a client-chosen seed is refused for
a sealed draw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import secrets
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import bentoml
import numpy as np
import pandas as pd
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from features.errors import InputError, InputErrors
from features.schema import typed_dtypes
from features.settings import get_settings
from features.validation import load_table, validate_table
from serving.commitment import (
    SealedStore,
    commit,
    json_safe,
    new_salt,
    public_design,
    records,
    seal_sample,
)
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
    JudgedRow,
    ModelInfo,
    Prediction,
    Predictions,
    SampleAnswer,
    SampleRequest,
)
from serving.jobs import JobFailed, JobTimeout, estimates_and_ratings, run_job, warm_up
from serving.judged_file import judged_table, parse_inspection_date
from serving.sampling import draw_sample
from serving.simulation import simulate
from training.bundle import CaseworkModel
from training.lifecycle.promotion import link
from training.reporting.explain import explain_cases

logger = logging.getLogger("casework.service")
PAGE = Path(__file__).parent / "page"
MODEL_NAME = "casework-sufficiency"
FRAME_DTYPES = typed_dtypes("frame")
DIRECT_ROWS = 256
"""Batches at least this big skip the batching hop (measured: benchmarks/bench_service.py)."""
SEED = Field(None, ge=0, le=2**63 - 1, description="Random seed (unsealed draws only).")
redact_logs()
casework_logs()


def problem(status: int, error: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A refused request in the API's error shape."""
    return JSONResponse({"error": error, "detail": detail or []}, status_code=status)


def input_problem(exc: InputError | InputErrors) -> JSONResponse:
    """422 naming the column, rows and rule of each contract error."""
    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    detail = [
        {
            "loc": ["body", *([e.column] if e.column else [])],
            "rows": list(e.rows)[:20],
            "msg": e.rule,
        }
        for e in errors
    ]
    return problem(422, "; ".join(str(e) for e in errors), detail)


class Champion:
    """The served bundle and the link it came from; swapped whole, never mutated."""

    def __init__(self, path: Path):
        self.path = path
        self.target: Path | None = None
        self.model: CaseworkModel | None = None
        self.lock = threading.Lock()

    def refresh(self) -> bool:
        """Load the bundle the link points at if it changed; True when a new one was loaded."""
        with self.lock:
            if not (self.path / "model.joblib").exists():
                return False
            target = self.path.resolve()
            if target == self.target and self.model is not None:
                return False
            model = CaseworkModel.load(target)
            self.model, self.target = model, target
            # the long-lived heap (libraries, this bundle) leaves the collector's view; it is
            # thawed first so that cycles of the bundle just replaced can still be collected
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            logger.info("serving model version %s", model.metadata.get("version"))
            return True


def _frame(records: list[FrameRecord]) -> pd.DataFrame:
    """Typed frame of validated records, through the same contract checks as a frame file."""
    return validate_table(pd.DataFrame([r.model_dump() for r in records]), "frame", "request")


def _typed(records: list[FrameRecord]) -> pd.DataFrame:
    """Typed frame of records pydantic has checked row by row (a batch may repeat a case id);
    built column by column, a third faster than from one dict per record."""
    columns = {name: [getattr(r, name) for r in records] for name in FrameRecord.model_fields}
    return pd.DataFrame(columns).astype(FRAME_DTYPES)


def _duplicates(records: list[FrameRecord]) -> InputError | None:
    """The rows (1-based) whose case id repeats an earlier one, as a contract error."""
    repeated = pd.Series([r.case_id for r in records]).duplicated()
    if not repeated.any():
        return None
    return InputError(
        "case_id must be unique",
        source="request",
        column="case_id",
        rows=(np.flatnonzero(repeated.to_numpy()) + 1).tolist(),
    )


@bentoml.service(name="casework", traffic={"timeout": 300})
class Casework:
    """Scores, explanations, sealed risk-weighted samples and unbiased estimates over HTTP."""

    def __init__(self) -> None:
        self.settings = get_settings()
        if (refusal := token_problem(self.settings)) is not None:
            raise RuntimeError(refusal)
        self.champion = Champion(link(self.settings))
        self.champion.refresh()
        # with the long-lived heap frozen (Champion.refresh), the young generation may grow to a
        # request's worth of objects: /predict with 1,000 cases went from p50 115, p99 326 ms to
        # p50 100, p99 140 ms (full collections walking the whole heap had hit ~3% of calls)
        gc.set_threshold(50_000, 20, 20)
        self.sealed = SealedStore.from_settings(self.settings)
        self.frames: dict[tuple[str, float, str | None], tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.stop = threading.Event()
        self.warm = threading.Event()
        threading.Thread(target=self._warm_up, daemon=True, name="job-warm-up").start()
        if self.settings.reload_seconds > 0:
            threading.Thread(target=self._watch, daemon=True, name="champion-watch").start()

    def _watch(self) -> None:
        while not self.stop.wait(self.settings.reload_seconds):
            try:
                self.champion.refresh()
            except Exception:  # a half-promoted or broken bundle: keep serving the old one
                logger.exception("could not load the new champion; still serving the old one")

    def _warm_up(self) -> None:
        warm_up()
        self.warm.set()

    def __is_ready__(self) -> bool:
        """Ready when the model is loaded and the job processes can start without compiling."""
        return self.champion.model is not None and self.warm.is_set()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.stop.set()

    def _model(self) -> CaseworkModel:
        model = self.champion.model
        if model is None:
            raise bentoml.exceptions.ServiceUnavailable("no champion model: run casework train")
        return model

    def _too_many(self, rows: int) -> JSONResponse | None:
        if rows > self.settings.max_rows:
            return problem(
                413,
                "request too large",
                [{"loc": ["body"], "msg": f"{rows} rows; the limit is {self.settings.max_rows}"}],
            )
        return None

    # max_latency_ms is the point past which BentoML's dispatcher *cancels* a queued call with
    # a 503, not a batching window (the window adapts to traffic): a /sample or /explain burst
    # may hold the worker for seconds, and a caller should wait, not fail.
    @bentoml.api(batchable=True, max_batch_size=20_000, max_latency_ms=60_000)
    def score(self, cases: list[FrameRecord]) -> list[Prediction]:
        """Scores for a batch of cases: the batched scorer behind ``/predict``."""
        return self._score(cases)

    def _score(self, cases: list[FrameRecord]) -> list[Prediction]:
        if not cases:
            return []
        scored = self._model().predict(_typed(cases))
        rows = scored.astype(object).where(scored.notna(), None).to_dict("records")
        return [Prediction(**row) for row in rows]

    @bentoml.api
    async def predict(self, cases: Cases) -> Predictions:
        """CONTRACT §3 scores per case: 12 probabilities of insufficient work and the risk score."""
        if (refused := self._too_many(len(cases))) is not None:
            return refused
        if (duplicate := _duplicates(cases)) is not None:
            return input_problem(duplicate)
        if len(cases) >= DIRECT_ROWS:
            return Predictions(predictions=await asyncio.to_thread(self._score, cases))
        token = INTERNAL.set(True)
        try:
            scored = await self.to_async.score(cases)
        except aiohttp.ClientError:
            # BentoML's self-proxy recycles its client session every 100 calls and can close
            # one still in use (bentoml 1.4.3x); scoring is pure, so answer from here instead.
            logger.warning("the batching hop dropped a call; scored it directly")
            scored = await asyncio.to_thread(self._score, cases)
        finally:
            INTERNAL.reset(token)
        return Predictions(predictions=scored)

    @bentoml.api
    def explain(self, cases: Cases, top: Annotated[int, Field(ge=1, le=50)] = 5) -> Explanations:
        """Each case's top drivers per judgement, in words and numbers (as ``casework explain``)."""
        if (refused := self._too_many(len(cases))) is not None:
            return refused
        if (duplicate := _duplicates(cases)) is not None:
            return input_problem(duplicate)
        return Explanations(explanations=explain_cases(self._model(), _typed(cases), top))

    @bentoml.api
    async def simulate(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        draws: Annotated[int, Field(ge=0, le=2_000)] = 200,
        seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1,
    ) -> dict[str, Any]:
        """Expected yield, CI half-widths, design effect and the λ frontier, before drawing."""

        def work() -> dict[str, Any]:
            population, scores = self._population(cases, frame)
            # the margins' draws stop at half the deadline, so a simulation answers in time
            bounded = partial(simulate, budget_seconds=self.settings.job_deadline_seconds / 2)
            args = (population, scores, request, draws, seed)
            return self._job(bounded, *args, frame=frame).to_dict()

        return await asyncio.to_thread(_answered, work)

    @bentoml.api
    async def sample(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        seed: Annotated[int | None, SEED] = None,
        sealed: bool = True,
        inspection_id: Annotated[str | None, Field(None, max_length=200)] = None,
        inspection_date: Annotated[str | None, Field(None, max_length=10)] = None,
    ) -> SampleAnswer:
        """Draw a sample; answer its commitment and design (and the cases only if not sealed).

        The cases are the judged-sample file of CONTRACT.md §7 (inspection columns set, blank
        judgements), so the released list goes to the inspectors as it is."""
        if sealed and seed is not None:
            return problem(
                422,
                "a sealed sample draws its own secret seed",
                [
                    {
                        "loc": ["body", "seed"],
                        "msg": "the seed rebuilds the list, so a sealed draw picks it in secret "
                        "and releases it with the list; give a seed only with sealed: false",
                    }
                ],
            )

        def work() -> SampleAnswer:
            population, scores = self._population(cases, frame)
            chosen = secrets.randbits(62) if seed is None else seed
            drawn = self._job(draw_sample, population, scores, request, chosen, frame=frame)
            when = parse_inspection_date(inspection_date)
            template = judged_table(drawn.cases, inspection_id, when)
            rows, design = records(template), json_safe(drawn.design)
            if sealed:
                commitment = seal_sample(self.sealed, rows, chosen, design)
                return SampleAnswer(commitment=commitment, design=public_design(design))
            salt = new_salt()
            return SampleAnswer(
                commitment=commit(rows, salt), design=design, salt=salt, seed=chosen, cases=rows
            )

        return await asyncio.to_thread(_answered, work)

    @bentoml.api(route="/sample/release")
    def release(self, commitment: str) -> SampleAnswer:
        """The sealed sample's case list, with the salt that lets anyone re-check the commitment."""
        record = self.sealed.release(commitment)
        if record is None:
            return problem(
                404,
                "no sealed sample has this commitment",
                [{"loc": ["body", "commitment"], "msg": "unknown commitment"}],
            )
        return SampleAnswer(**record)

    @bentoml.api
    async def estimate(
        self, sample: list[JudgedRow], by: str | None = None, ratings: bool = False
    ) -> Estimates:
        """Hájek estimates of the share sufficient per judgement (and group), with 95% CIs;
        with ``ratings``, each stage's and aim's rating and the chance of each rating band."""
        if (refused := self._too_many(len(sample))) is not None:
            return refused
        if not sample:
            return problem(400, "empty sample", [{"loc": ["body", "sample"], "msg": "no rows"}])
        judged = pd.DataFrame([row.model_dump() for row in sample]).dropna(axis=1, how="all")
        if by is not None and (why := _not_a_group_column(judged, by)) is not None:
            return problem(422, why, [{"loc": ["body", "by"], "msg": why}])

        def work() -> Estimates:
            table, rated = self._job(estimates_and_ratings, judged, by, ratings, frame=None)
            return Estimates(
                estimates=records(table), ratings=None if rated is None else records(rated)
            )

        return await asyncio.to_thread(_answered, work)

    @bentoml.api(route="/admin/reload")
    def reload(self) -> dict[str, Any]:
        """Load the current champion now (the watcher also does, every ``reload_seconds``)."""
        changed = self.champion.refresh()
        return {"reloaded": changed, "version": self._model().metadata.get("version")}

    def model_info(self) -> ModelInfo:
        """Version, alias, training data and headline metrics of the served bundle."""
        meta = self._model().metadata
        aliases = meta.get("aliases") or []
        return ModelInfo(
            name=MODEL_NAME,
            version=None if meta.get("version") is None else str(meta["version"]),
            alias=aliases[0] if aliases else None,
            trained_on=dict(meta.get("trained_on") or {}),
            metrics=dict(meta.get("metrics") or {}),
        )

    def _job(self, function: Callable[..., Any], *args: Any, frame: str | None) -> Any:
        """``function(*args)`` in a job process under the deadline (``serving.jobs``)."""
        spin = frame is not None and frame == self.settings.slow_frame
        return run_job(function, *args, deadline=self.settings.job_deadline_seconds, spin=spin)

    def _population(
        self, cases: list[FrameRecord] | None, frame: str | None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The frame to sample (uploaded records or a file in the data dir) and its scores."""
        if (cases is None) == (frame is None):
            raise _Refused(
                problem(
                    400,
                    "give either cases or frame",
                    [{"loc": ["body"], "msg": "exactly one of 'cases' and 'frame' is required"}],
                )
            )
        model = self._model()
        if cases is not None:
            if (refused := self._too_many(len(cases))) is not None:
                raise _Refused(refused)
            population = _frame(cases)
            return population, model.predict(population)
        return self._frame_file(frame, model)

    def _frame_file(self, name: str, model: CaseworkModel) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A frame file of the data dir and its scores (cached); errors name the file, not
        where the server keeps it."""
        root = Path(self.settings.data_dir).resolve()
        path = _inside(root, name)
        if path is None:
            raise _Refused(
                problem(
                    422,
                    f"no frame file {name[:MAX_NAME]!r} in the data directory",
                    [{"loc": ["body", "frame"], "msg": "a file name in the configured data dir"}],
                )
            )
        key = (str(path), path.stat().st_mtime, str(model.metadata.get("version")))
        if key not in self.frames:
            try:
                population = load_table(path, kind="frame")
            except InputError as exc:
                raise dataclasses.replace(exc, source=name) from None
            except InputErrors as exc:
                raise InputErrors(
                    [dataclasses.replace(e, source=name) for e in exc.errors]
                ) from None
            self.frames = {key: (population, model.predict(population))}
        return self.frames[key]


MAX_NAME = 255
"""Longest frame file name (the usual file-system limit)."""


def _inside(root: Path, name: str) -> Path | None:
    """The file ``name`` directly in ``root``, or None (a path, NUL, too long, missing)."""
    if not name or len(name) > MAX_NAME or "\x00" in name or "/" in name or "\\" in name:
        return None
    try:
        path = (root / name).resolve()
        return path if path.parent == root and path.is_file() else None
    except (OSError, ValueError):
        return None


def _not_a_group_column(judged: pd.DataFrame, by: str) -> str | None:
    """Why ``by`` cannot group the sample rows (missing, or holding lists or objects)."""
    if by not in judged.columns:
        return f"{by!r} is not a column of the sample rows"
    scalar = judged[by].map(lambda v: v is None or isinstance(v, str | int | float | bool))
    if not scalar.all():
        return f"{by!r} must hold plain values (text, numbers), not lists or objects"
    return None


def _answered(work: Callable[[], Any]) -> Any:
    """``work()``, its refusals as answers: 422 for input rules, 503 past the job deadline."""
    try:
        return work()
    except (InputError, InputErrors) as exc:
        return input_problem(exc)
    except _Refused as refused:
        return refused.response
    except (JobTimeout, JobFailed) as exc:
        return problem(503, str(exc), [{"loc": ["body"], "msg": _SMALLER}])


_SMALLER = "try again later, or ask for less: a smaller size, fewer strata or minimums, fewer draws"


class _Refused(Exception):
    """A request refused with a ready answer."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


async def _model_route(request: Request) -> JSONResponse:
    service = bentoml.get_current_service()
    if service is None or service.champion.model is None:
        return problem(503, "no champion model loaded")
    return JSONResponse(service.model_info().model_dump())


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
