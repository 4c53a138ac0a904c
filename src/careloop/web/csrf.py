"""CSRF protection for every state-changing form: same-origin check plus a token in a hidden field."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import Depends, Request

from careloop.errors import Forbidden
from careloop.web.shell import Shell, workspace

FIELD = "csrf_token"
LOGIN_COOKIE = "careloop_login_csrf"


def _refuse() -> Forbidden:
    return Forbidden("This form has expired or did not come from CareLoop. Reload the page and try again.",
                     code="csrf_failed")


def check_origin(request: Request) -> None:
    """403 when the browser says the request comes from another site (Origin, else Referer)."""
    # Under "Referrer-Policy: no-referrer" browsers send "Origin: null" even from our own pages, so "null"
    # tells nothing and the token decides alone.
    origin = request.headers.get("origin")
    source = origin if origin and origin != "null" else request.headers.get("referer")
    if source and urlsplit(source).netloc != request.headers.get("host", ""):
        raise _refuse()


async def check_token(request: Request, expected: str) -> None:
    """403 unless the form comes from our own origin and carries the expected token."""
    check_origin(request)
    sent = (await request.form()).get(FIELD)
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise _refuse()


async def verify_csrf(request: Request, shell: Shell = Depends(workspace)) -> None:
    """Dependency of every signed-in page POST: same origin and the session's CSRF token."""
    await check_token(request, shell.csrf_token)


async def verify_login_csrf(request: Request) -> None:
    """Dependency of the sign-in POST (no session yet): double-submit of the pre-session cookie, same origin."""
    await check_token(request, request.cookies.get(LOGIN_COOKIE, ""))


def new_login_token() -> str:
    """A fresh pre-session token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(32)
