"""What stands in front of the API: bearer-token auth, a request-size limit, and log redaction.

``TokenGuard`` is plain ASGI middleware: health checks, the OpenAPI document and the planner page
(static files with no data) are open; every other call needs ``Authorization: Bearer <token>``.
Calls the service makes to itself (``/predict`` handing its cases to the batched scorer) carry
an in-process mark instead of the token. ``RedactRecords`` keeps request bodies, which hold case
ids and personal fields, out of the logs: BentoML logs the traceback of a refused request, and a
pydantic error's text quotes the input.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/docs.json", "/schema.json", "/"})
OPEN_PREFIXES = ("/ui", "/static_content", "/assets")
INTERNAL = contextvars.ContextVar("casework_internal_call", default=False)
"""Set by the service around calls to itself; never settable by a client."""


async def _answer(
    send: Callable[[Message], Awaitable[None]], status: int, body: dict, headers=()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class TokenGuard:
    """Refuse calls without the bearer token (401) and bodies over ``max_bytes`` (413)."""

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int):
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or INTERNAL.get():
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        if self.expected is not None and not secrets.compare_digest(given, self.expected):
            await _answer(
                send,
                401,
                {
                    "error": "missing or wrong bearer token",
                    "detail": [
                        {
                            "loc": ["header", "Authorization"],
                            "msg": "expected 'Bearer <CASEWORK_API_TOKEN>'",
                        }
                    ],
                },
                [(b"www-authenticate", b"Bearer")],
            )
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _answer(
                send,
                413,
                _too_large(f"the body has {int(length)} bytes; the limit is {self.max_bytes}"),
            )
            return
        await self.app(scope, receive, send)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _too_large(why: str) -> dict:
    return {"error": "request too large", "detail": [{"loc": ["body"], "msg": why}]}


CLIENT_ERRORS = frozenset({"ValidationError", "InputError", "InputErrors", "JSONDecodeError"})
"""Exceptions raised by what a client sent; their text may quote it."""


class RedactRecords(logging.Filter):
    """Drop the traceback of refused client input from log records, keeping the one-line event."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__name__ in CLIENT_ERRORS:
            kind = type(error).__name__
            record.msg = f"{record.getMessage()} ({kind}; request content not logged)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def redact_logs() -> None:
    """Install :class:`RedactRecords` on BentoML's server loggers (idempotent)."""
    for name in ("bentoml._internal.server.http_app", "_bentoml_impl.server.app", "bentoml"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRecords) for f in logger.filters):
            logger.addFilter(RedactRecords())
