"""One renderer per surface: problem+json for /api, an HTML page for the web app; no PHI in either."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from careloop.audit import service as audit
from careloop.db import session_scope
from careloop.errors import CareLoopError

log = logging.getLogger("careloop.http")
PROBLEM = "application/problem+json"


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (otherwise it is a web page)."""
    return request.url.path.startswith(("/api/", "/oauth/", "/fhir"))


def problem(status: int, title: str, *, code: str, detail: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """An RFC 9457 problem details response."""
    body = {"type": f"https://careloop.dev/problems/{code}", "title": title, "status": status, "code": code}
    if detail and detail != title:
        body["detail"] = detail
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


# HTTP status -> FHIR issue type (http://hl7.org/fhir/issue-type).
_ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-long",
                415: "not-supported", 422: "processing", 428: "required", 429: "throttled", 500: "exception"}


def api_error(request: Request, status: int, title: str, *, code: str, detail: str | None = None,
              headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """problem+json for the JSON API; a FHIR OperationOutcome under /fhir."""
    if not request.url.path.startswith("/fhir"):
        return problem(status, title, code=code, detail=detail, headers=headers, **extra)
    issue = {"severity": "fatal" if status >= 500 else "error", "code": _ISSUE_TYPES.get(status, "processing"),
             "details": {"text": detail or title}, "diagnostics": code}
    issues = [issue] + [{"severity": "error", "code": "invalid", "details": {"text": e["message"]},
                         "expression": [e["field"]]} for e in extra.get("errors", [])]
    return Response(orjson.dumps({"resourceType": "OperationOutcome", "issue": issues}), status_code=status,
                    media_type="application/fhir+json", headers=headers)


def _record_denial(request: Request, exc: CareLoopError) -> None:
    """Denials are audited in their own transaction: the request's own work was rolled back."""
    actor = getattr(request.state, "actor", None)
    with session_scope(request.app.state.session_factory) as session:
        audit.record_many(session, actor, [exc.audit], source_address=request.client.host if request.client else None)


async def careloop_error(request: Request, exc: CareLoopError) -> Response:
    if exc.audit is not None:
        await run_in_threadpool(_record_denial, request, exc)
    headers = {}
    if exc.status == 401 and is_api(request):
        reason = "invalid_request" if exc.code == "unauthenticated" else "invalid_token"
        headers["WWW-Authenticate"] = f'Bearer error="{reason}"'
    if exc.status == 429 and "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    if is_api(request):
        return api_error(request, exc.status, exc.title, code=exc.code, detail=exc.message, headers=headers,
                         **exc.extra)
    return await render_error_page(request, exc.status, exc.title, exc.message, code=exc.code, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body", "query", "path", "header"))


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    # Never echo the submitted values back: they may be PHI.
    errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")} for e in exc.errors()]
    if is_api(request):
        return api_error(request, 422, "Invalid input", code="invalid_input", detail="; ".join(
            f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors)
    return await render_error_page(request, 422, "Invalid input", "Some fields were not valid.", code="invalid_input")


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    title = titles.get(exc.status_code, "Request cannot be processed")
    code = "payload_too_large" if exc.status_code == 413 else f"http_{exc.status_code}"
    if is_api(request):
        return api_error(request, exc.status_code, title, code=code, headers=exc.headers)
    return await render_error_page(request, exc.status_code, title, None, code=code)


async def data_error(request: Request, exc: DataError) -> Response:
    # A value the database cannot store (a NUL character, out of range): bad input, not a fault. No SQL text.
    log.info("rejected input the database cannot store (%s)", type(exc.orig).__name__)
    message = "A value contains characters or a size the database cannot store."
    if is_api(request):
        return api_error(request, 400, "Invalid input", code="invalid_value", detail=message)
    return await render_error_page(request, 400, "Invalid input", message, code="invalid_value")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # The message may contain data; log only the type and where it happened.
    tb = exc.__traceback__
    while tb and tb.tb_next:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    log.error("unhandled %s at %s on %s %s", type(exc).__name__, where, request.method,
              request.scope.get("route").path if request.scope.get("route") else "?")
    if is_api(request):
        return api_error(request, 500, "Internal error", code="internal_error",
                       detail="Something went wrong on our side; nothing was saved.")
    return await render_error_page(request, 500, "Something went wrong",
                                   "Nothing was saved. Try again; if it keeps happening, tell your administrator.",
                                   code="internal_error")


async def render_error_page(request: Request, status: int, title: str, message: str | None, *, code: str,
                            headers: dict[str, str] | None = None) -> Response:
    """The web app's error page (falls back to plain HTML before the web package is loaded)."""
    renderer = getattr(request.app.state, "render_error", None)
    if renderer is not None:
        return renderer(request, status, title, message, code, headers or {})
    return HTMLResponse(f"<h1>{status} {title}</h1>", status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(CareLoopError, careloop_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(Exception, unexpected_error)
