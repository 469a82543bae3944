"""What stands in front of the API: bearer-token auth, a request-size limit, and log redaction.

``TokenGuard`` is plain ASGI middleware: health checks, the OpenAPI document and the planner page
(static files with no data) are open; every other call needs ``Authorization: Bearer <token>``
(the scheme in any letter case). An empty token is a token no request can match, never "no
token": only ``token=None`` (``casework serve --insecure-dev``) opens the API. Calls the service
makes to itself (``/predict`` handing its cases to the batched scorer) carry an in-process mark
instead of the token. The body is read here, counted as it arrives (a chunked body has no
Content-Length to trust), and refused with 413 once past ``max_bytes``; the API reads JSON only,
so other media types (a multipart form, say) are refused with 415 before any parser sees them.
``RedactRecords`` keeps request bodies, which hold case ids and personal fields, out of the logs:
BentoML logs the traceback of a refused request, and a pydantic error's text quotes the input.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from features.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/docs.json", "/schema.json", "/"})
OPEN_PREFIXES = ("/ui", "/static_content", "/assets")
INTERNAL_PATHS = frozenset({"/score"})
"""Routes only the service itself calls (the batched scorer behind ``/predict``, which skips
the row limit and duplicate check): not served to clients."""
MIN_TOKEN = 16
"""Shortest bearer token the service accepts (``openssl rand -hex 16`` gives 32 characters)."""
INTERNAL = contextvars.ContextVar("casework_internal_call", default=False)
"""Set by the service around calls to itself; never settable by a client."""


async def _answer(
    send: Send, status: int, body: dict, headers: tuple[tuple[bytes, bytes], ...] = ()
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
    """Refuse calls without the bearer token (401), non-JSON bodies (415), big bodies (413)."""

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int):
        self.app = app
        self.token = None if token is None else token.encode()
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call on, or answer 401, 404 (internal routes), 413 or 415 here."""
        if scope["type"] != "http" or _is_open(scope["path"]) or INTERNAL.get():
            await self.app(scope, receive, send)
            return
        if scope["path"] in INTERNAL_PATHS:
            await _answer(send, 404, _refused("not found", "an internal route of the service"))
            return
        headers = dict(scope.get("headers") or [])
        if not self._authorised(headers.get(b"authorization", b"")):
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
                ((b"www-authenticate", b"Bearer"),),
            )
            return
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media not in (b"", b"application/json"):
            await _answer(send, 415, _refused("unsupported media type", "send application/json"))
            return
        try:
            body = await self._body(receive, headers.get(b"content-length"))
        except _Disconnected:  # the client went away mid-body: nobody to answer
            return
        if body is None:
            await _answer(send, 413, _refused("request too large", self._limit()))
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorised(self, given: bytes) -> bool:
        if self.token is None:
            return True
        scheme, _, credentials = given.partition(b" ")
        return (
            bool(self.token)
            and scheme.lower() == b"bearer"
            and secrets.compare_digest(credentials.strip(), self.token)
        )

    async def _body(self, receive: Receive, length: bytes | None) -> bytes | None:
        """The whole body, or None once it is known to exceed the limit."""
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return None
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _limit(self) -> str:
        return f"the body is over the limit of {self.max_bytes} bytes"


class _Disconnected(Exception):
    """The client disconnected before its body was read."""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def required_token(settings: Settings) -> str | None:
    """The token every call must carry; None (no check) only with ``--insecure-dev``, and an
    empty ``CASEWORK_API_TOKEN`` stays a token nobody has."""
    if settings.insecure_dev:
        return None
    return "" if settings.api_token is None else settings.api_token.get_secret_value()


def token_problem(settings: Settings) -> str | None:
    """Why the service may not start with these settings (no or a short token), or None."""
    if settings.insecure_dev:
        return None
    if settings.api_token is None:
        return "set CASEWORK_API_TOKEN (the bearer token clients must send), or pass --insecure-dev"
    if len(settings.api_token.get_secret_value()) < MIN_TOKEN:
        return (
            f"CASEWORK_API_TOKEN is shorter than {MIN_TOKEN} characters; use a long random one "
            "(python -c 'import secrets; print(secrets.token_hex(16))')"
        )
    return None


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _refused(error: str, why: str) -> dict:
    return {"error": error, "detail": [{"loc": ["body"], "msg": why}]}


CLIENT_ERRORS = frozenset({"ValidationError", "InputError", "InputErrors", "JSONDecodeError"})
"""Exceptions raised by what a client sent; their text may quote it."""


class RedactRecords(logging.Filter):
    """Drop the traceback of refused client input from log records, keeping the one-line event."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; strip the traceback and input of a refused client request."""
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__name__ in CLIENT_ERRORS:
            kind = type(error).__name__
            record.msg = f"{record.getMessage()} ({kind}; request content not logged)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def redact_logs() -> None:
    """Install ``RedactRecords`` on BentoML's server loggers (idempotent)."""
    for name in ("bentoml._internal.server.http_app", "_bentoml_impl.server.app", "bentoml"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRecords) for f in logger.filters):
            logger.addFilter(RedactRecords())


def casework_logs() -> None:
    """Send casework's own INFO events (champion swaps, sealed-sample releases) to stderr, where
    the server's log goes; BentoML configures only its own loggers (idempotent)."""
    casework = logging.getLogger("casework")
    if not casework.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(levelname)s] [%(name)s] %(message)s")
        )
        casework.addHandler(handler)
        casework.setLevel(logging.INFO)
        casework.propagate = False
