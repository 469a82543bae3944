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
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import secrets
import threading
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
from serving.commitment import SealedStore, commit, new_salt
from serving.estimation import estimate
from serving.guard import INTERNAL, TokenGuard, redact_logs
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
from serving.sampling import draw_sample
from serving.simulation import simulate
from training.bundle import CaseworkModel
from training.explain import explain_cases
from training.promotion import link

logger = logging.getLogger("casework.service")
PAGE = Path(__file__).parent / "page"
MODEL_NAME = "casework-sufficiency"
FRAME_DTYPES = typed_dtypes("frame")
DIRECT_ROWS = 256
"""Batches at least this big skip the batching hop (measured: benchmarks/bench_service.py)."""
redact_logs()


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
        if self.settings.api_token is None and not self.settings.insecure_dev:
            raise RuntimeError("set CASEWORK_API_TOKEN, or start with --insecure-dev")
        self.champion = Champion(link(self.settings))
        self.champion.refresh()
        # with the long-lived heap frozen (Champion.refresh), the young generation may grow to a
        # request's worth of objects: /predict with 1,000 cases went from p50 115, p99 326 ms to
        # p50 100, p99 140 ms (full collections walking the whole heap had hit ~3% of calls)
        gc.set_threshold(50_000, 20, 20)
        self.sealed = SealedStore(Path(self.settings.data_dir) / "sealed")
        self.frames: dict[tuple[str, float, str | None], tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.stop = threading.Event()
        if self.settings.reload_seconds > 0:
            threading.Thread(target=self._watch, daemon=True, name="champion-watch").start()

    def _watch(self) -> None:
        while not self.stop.wait(self.settings.reload_seconds):
            try:
                self.champion.refresh()
            except Exception:  # a half-promoted or broken bundle: keep serving the old one
                logger.exception("could not load the new champion; still serving the old one")

    def __is_ready__(self) -> bool:
        return self.champion.model is not None

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
    def simulate(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        draws: Annotated[int, Field(ge=0, le=2_000)] = 200,
        seed: int = 1,
    ) -> dict[str, Any]:
        """Expected yield, CI half-widths, design effect and the λ frontier, before drawing."""
        try:
            population, scores = self._population(cases, frame)
            return simulate(population, scores, request, draws, seed).to_dict()
        except (InputError, InputErrors) as exc:
            return input_problem(exc)
        except _Refused as refused:
            return refused.response

    @bentoml.api
    def sample(
        self,
        request: SampleRequest,
        cases: list[FrameRecord] | None = None,
        frame: str | None = None,
        seed: int | None = None,
        sealed: bool = True,
    ) -> SampleAnswer:
        """Draw a sample; answer its commitment and design (and the cases only if not sealed)."""
        try:
            population, scores = self._population(cases, frame)
            seed = secrets.randbits(62) if seed is None else seed
            drawn = draw_sample(population, scores, request, seed)
        except (InputError, InputErrors) as exc:
            return input_problem(exc)
        except _Refused as refused:
            return refused.response
        rows = _records(drawn.cases)
        salt = new_salt()
        commitment = commit(rows, salt)
        record = {"commitment": commitment, "salt": salt, "seed": seed, "design": drawn.design}
        self.sealed.seal({**record, "cases": rows})
        if sealed:
            return SampleAnswer(commitment=commitment, design=_plain(drawn.design))
        return SampleAnswer(**_plain(record), cases=rows)

    @bentoml.api(route="/sample/release")
    def release(self, commitment: str) -> SampleAnswer:
        """The sealed sample's case list, with the salt that lets anyone re-check the commitment."""
        record = self.sealed.get(commitment)
        if record is None:
            return problem(
                404,
                "no sealed sample has this commitment",
                [{"loc": ["body", "commitment"], "msg": "unknown commitment"}],
            )
        return SampleAnswer(**record)

    @bentoml.api
    def estimate(self, sample: list[JudgedRow], by: str | None = None) -> Estimates:
        """Hájek estimates of the share sufficient per judgement (and group), with 95% CIs."""
        if (refused := self._too_many(len(sample))) is not None:
            return refused
        if not sample:
            return problem(400, "empty sample", [{"loc": ["body", "sample"], "msg": "no rows"}])
        judged = pd.DataFrame([row.model_dump() for row in sample]).dropna(axis=1, how="all")
        if by is not None and by not in judged.columns:
            return problem(
                422,
                f"no column {by!r} in the sample",
                [{"loc": ["body", "by"], "msg": f"{by!r} is not a column of the sample rows"}],
            )
        try:
            table = estimate(judged, by)
        except (InputError, InputErrors) as exc:
            return input_problem(exc)
        return Estimates(estimates=_records(table))

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
        root = Path(self.settings.data_dir).resolve()
        path = (root / name).resolve()
        if path.parent != root or not path.is_file():
            raise _Refused(
                problem(
                    422,
                    f"no frame file {name!r} in the data directory",
                    [{"loc": ["body", "frame"], "msg": "a file name in the configured data dir"}],
                )
            )
        key = (str(path), path.stat().st_mtime, str(model.metadata.get("version")))
        if key not in self.frames:
            population = load_table(path, kind="frame")
            self.frames = {key: (population, model.predict(population))}
        return self.frames[key]


class _Refused(Exception):
    """A request refused with a ready answer."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return _plain(table.to_dict("records"))


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
    TokenGuard,
    token=None if get_settings().api_token is None else get_settings().api_token.get_secret_value(),
    max_bytes=get_settings().max_request_bytes,
)

__all__ = ["Casework"]
