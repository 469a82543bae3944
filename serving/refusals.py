"""How the service refuses a request: one error shape, 4xx for what a client sent, 503 past a job's
deadline, never a 500 for client input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from features.errors import InputError, InputErrors
from serving.jobs import JobFailed, JobTimeout

SMALLER = "try again later, or ask for less: a smaller size, fewer strata or minimums, fewer draws"


def problem(status: int, error: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A refused request in the API's error shape: ``{"error", "detail": [{"loc", "msg"}]}``."""
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


def too_many(rows: int, limit: int) -> JSONResponse | None:
    """413 when a request holds more rows than ``limit``, else None."""
    if rows <= limit:
        return None
    return problem(
        413, "request too large", [{"loc": ["body"], "msg": f"{rows} rows; the limit is {limit}"}]
    )


class Refused(Exception):
    """A request refused with a ready answer (raised from deep in the work, answered as is)."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


def answered(work: Callable[[], Any]) -> Any:
    """``work()``, its refusals as answers: 422 for input rules, 503 past the job deadline."""
    try:
        return work()
    except (InputError, InputErrors) as exc:
        return input_problem(exc)
    except Refused as refused:
        return refused.response
    except (JobTimeout, JobFailed) as exc:
        return problem(503, str(exc), [{"loc": ["body"], "msg": SMALLER}])
