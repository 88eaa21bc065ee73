"""What every request passes before and after its endpoint: id, key, rate, size, metrics, log.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which wraps every
response body in extra tasks and streams (measurable on a request that takes milliseconds).
In order:

1. the request id: the caller's ``X-Request-ID`` if it is sane, else a new one; echoed back;
2. the key (``Authorization: Bearer KEY``), unless the path is open (``/health`` always,
   ``/ready``, ``/metrics`` and the docs as configured): 401 without a known key, 403 when the
   key lacks the path's scope (``admin`` for ``/admin/*``, ``score`` elsewhere);
3. the key's rate: 429 with ``Retry-After`` when its bucket is empty;
4. the body size: 413 when ``Content-Length`` or the bytes read pass the limit;
5. after the endpoint: the request counted and timed by route, and one JSON log line; an
   exception is a bug, logged with its request id and answered 500.

Refusals never reach an endpoint, so nothing is scored or reloaded for them.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from creditplatform.serving.api_keys import ADMIN, SCORE, KeyStore, RateLimiter, retry_after

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = "X-Request-ID"
_REQUEST_ID_TEXT = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("creditplatform.serve")


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Access:
    """Who may call what: ``keys`` None means no authentication (``--insecure-local``)."""

    keys: KeyStore | None
    limiter: RateLimiter
    open_paths: frozenset[str]
    max_body_bytes: int

    def refusal(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """(status, detail, extra headers) refusing the request, or None to let it through."""
        path = scope["path"]
        if self.keys is None or path in self.open_paths:
            return None
        headers = dict(scope["headers"])
        scheme, _, presented = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        key = self.keys.find(presented.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            return (
                401,
                "a known API key is required: Authorization: Bearer KEY",
                [(b"www-authenticate", b"Bearer")],
            )
        scope_needed = ADMIN if path.startswith("/admin/") else SCORE
        if scope_needed not in key.scopes:
            return 403, f"key {key.name!r} lacks the {scope_needed!r} scope", []
        wait = self.limiter.take(key.name)
        if wait:
            return (
                429,
                f"key {key.name!r} is over its rate limit",
                [(b"retry-after", retry_after(wait).encode())],
            )
        length = headers.get(b"content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, f"request body over {self.max_body_bytes} bytes", []
        return None


def _request_id(scope: Scope) -> str:
    given = dict(scope["headers"]).get(REQUEST_ID.lower().encode(), b"").decode("latin-1")
    return given if _REQUEST_ID_TEXT.fullmatch(given) else uuid.uuid4().hex


class Gate:
    """Wraps the FastAPI app; ``observe(path, status, seconds)`` records each request."""

    def __init__(
        self, app: ASGIApp, access: Access, observe: Callable[[str, int, float], None]
    ) -> None:
        self.app, self.access, self.observe = app, access, observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        sent = {"status": 0}
        limit, read = self.access.max_body_bytes, {"bytes": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID.lower().encode(), request_id.encode()),
                ]
            await send(message)

        async def receive_within_limit() -> Message:
            message = await receive()
            read["bytes"] += len(message.get("body", b""))
            if read["bytes"] > limit:
                raise _TooLarge
            return message

        refusal = self.access.refusal(scope)
        if refusal is not None:
            await _respond(send_with_id, request_id, *refusal)
        else:
            try:
                await self.app(scope, receive_within_limit, send_with_id)
            except _TooLarge:
                if not sent["status"]:
                    await _respond(send_with_id, request_id, 413,
                                   f"request body over {limit} bytes", [])  # fmt: skip
            except Exception:  # a bug, not a bad request: logged with its request id, a 500
                log.exception("unhandled error", extra={"request_id": request_id})
                if not sent["status"]:
                    await _respond(send_with_id, request_id, 500, "internal error", [])
        seconds = time.perf_counter() - started
        route = scope.get("route")
        path = route.path if route is not None else "unmatched"
        self.observe(path, sent["status"], seconds)
        if path != "/metrics":
            log.info("request", extra={
                "event": "request", "request_id": request_id, "method": scope["method"],
                "path": path, "status": sent["status"], "ms": round(seconds * 1000, 2),
                "model_version": state.get("model_version"),
                "applicants": state.get("applicants"),
            })  # fmt: skip


async def _respond(
    send: Send, request_id: str, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps({"request_id": request_id, "detail": detail})
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), *headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
