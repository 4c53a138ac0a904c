"""ASGI middleware: security headers, no caching of PHI, body size limit, PHI-free access log."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.exceptions import HTTPException

log = logging.getLogger("careloop.access")

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The API docs page runs swagger-ui (served from 'self'), which sets inline styles on its elements.
_DOCS_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityMiddleware:
    """Adds headers to every response and refuses bodies over the limit with 413."""

    def __init__(self, app: Any, *, max_body_bytes: int, hsts: bool) -> None:
        self.app, self.max_body_bytes, self.hsts = app, max_body_bytes, hsts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status_holder = time.perf_counter(), [0]
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(scope, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _BodyTooLarge
            return message

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = self._headers(scope, list(message.get("headers", [])))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not status_holder[0]:
                await self._too_large(scope, send)
        except Exception as exc:
            # Rendered here, not re-raised: the server would log the message and traceback, which may hold PHI.
            await self._internal_error(scope, receive, send_with_headers, exc, started=bool(status_holder[0]))
        finally:
            route = scope.get("route")
            log.info("%s %s %s %.1fms", scope["method"], getattr(route, "path", "-"), status_holder[0],
                     (time.perf_counter() - started) * 1000)

    def _headers(self, scope: dict, headers: list) -> list:
        names = {name.lower() for name, _ in headers}
        docs = scope["path"] in ("/docs", "/redoc")
        for name, value in SECURITY_HEADERS:
            if name not in names:
                headers.append((name, _DOCS_CSP if docs and name == b"content-security-policy" else value))
        if b"cache-control" not in names and not scope["path"].startswith("/static/"):
            headers.append((b"cache-control", b"no-store"))
        if self.hsts:
            headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        return headers

    async def _too_large(self, scope: dict, send: Any) -> None:
        body = orjson.dumps({"type": "https://careloop.dev/problems/payload_too_large",
                             "title": "Request body too large", "status": 413, "code": "payload_too_large"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": self._headers(scope, [(b"content-type", b"application/problem+json"),
                                                     (b"content-length", str(len(body)).encode())])})
        await send({"type": "http.response.body", "body": body})

    async def _internal_error(self, scope: dict, receive: Any, send: Any, exc: Exception, *, started: bool) -> None:
        from starlette.requests import Request

        from careloop.error_handlers import unexpected_error

        response = await unexpected_error(Request(scope, receive), exc)
        if not started:
            await response(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from receive(): an HTTPException so FastAPI's body parser re-raises it (413) instead of a 400."""

    def __init__(self) -> None:
        super().__init__(413)
