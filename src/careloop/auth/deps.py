"""FastAPI dependencies that authenticate requests and declare what a route needs."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.auth import service
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.config import get_settings
from careloop.errors import Forbidden, Unauthenticated
from careloop.routing import db

SESSION_COOKIE = "careloop_session"


def client_address(request: Request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only from configured proxies."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in get_settings().trusted_proxies:
        return forwarded.split(",")[-1].strip()[:64]
    return peer


def api_actor(request: Request, session: Session = Depends(db)) -> Actor:
    """The actor of an API request (OAuth2 bearer token)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Bearer token required", code="invalid_token")
    actor = service.resolve_token(session, token.strip(), client_address(request))
    request.state.actor = actor
    if actor.fhir_only and not request.url.path.startswith("/fhir"):
        raise Forbidden("This token's SMART scopes are for the FHIR API (/fhir) only", code="fhir_only_token")
    return actor


def page_actor(request: Request, session: Session = Depends(db)) -> Actor:
    """The actor of a web page request (server-side session cookie)."""
    actor, web = service.resolve_session(session, request.cookies.get(SESSION_COOKIE), client_address(request))
    request.state.actor, request.state.web_session = actor, web
    return actor


def _require(source: Callable[..., Actor], permissions: tuple[Permission, ...]) -> Callable[..., Actor]:
    def dependency(actor: Actor = Depends(source)) -> Actor:
        missing = [p for p in permissions if not actor.can(p)]
        if missing:
            from careloop.audit import service as audit

            error = Forbidden()
            error.audit = audit.Entry(action="access_denied", outcome="denied",
                                      detail={"missing": [p.value for p in missing]})
            raise error
        return actor

    dependency.__careloop_permissions__ = permissions  # read by the access-matrix test
    return dependency


def require(*permissions: Permission) -> Callable[..., Actor]:
    """API dependency: a bearer-token actor holding every permission listed."""
    return _require(api_actor, permissions)


def require_page(*permissions: Permission) -> Callable[..., Actor]:
    """Page dependency: a signed-in browser actor holding every permission listed."""
    return _require(page_actor, permissions)
