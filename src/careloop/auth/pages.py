"""Sign-in pages: password form, TOTP step and enrolment, sign-out, and the idle-session ping."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from careloop.auth import service
from careloop.auth.actor import Actor
from careloop.auth.deps import SESSION_COOKIE, client_address, require_page
from careloop.auth.models import WebSession
from careloop.config import get_settings
from careloop.errors import Unauthenticated
from careloop.routing import db, router
from careloop.staff import service as staff_service
from careloop.staff.models import Staff
from careloop.web import csrf
from careloop.web.render import render_page, safe_next
from careloop.web.shell import workspace

pages = router(include_in_schema=False)
Db = Annotated[Session, Depends(db)]
SignedIn = Annotated[Actor, Depends(require_page())]
Code = Annotated[str, Form(max_length=12)]


def _login_form(request: Request, token: str, *, next_path: str, email: str = "", error: str | None = None,
                status: int = 200) -> HTMLResponse:
    notice = ("Your session ended because it was idle. Sign in again to continue."
              if request.query_params.get("expired") else
              "You have signed out." if request.query_params.get("signed_out") else None)
    response = render_page(request, "auth/login.html", {"csrf_token": token, "next": next_path, "email": email,
                                                        "error": error, "notice": notice}, status=status)
    response.set_cookie(csrf.LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                        secure=get_settings().secure_cookies)
    return response


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_form(request, csrf.new_login_token(), next_path=safe_next(next))


@pages.post("/login", dependencies=[Depends(csrf.verify_login_csrf)])
def login(request: Request, session: Db, email: Annotated[str, Form(max_length=254)] = "",
          password: Annotated[str, Form(max_length=1024)] = "",
          next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    source = client_address(request)
    try:
        staff = service.verify_credentials(session, email, password, source)
    except Unauthenticated as err:
        # The failure counters and audit entry must outlive this failed request: the edge rolls back on
        # exceptions, so commit them here and answer with the form instead of raising.
        session.commit()
        return _login_form(request, request.cookies[csrf.LOGIN_COOKIE], next_path=safe_next(next), email=email,
                           error=err.message, status=401)
    pending = service.mfa_needed(staff)
    raw, _ = service.start_session(session, staff, source, mfa_pending=pending)
    target = "/login/mfa?next=" + safe_next(next) if pending else safe_next(next)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, raw, path="/", httponly=True, samesite="lax",
                        secure=get_settings().secure_cookies)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return response


def pending_sign_in(request: Request, session: Db) -> tuple[Staff, WebSession]:
    """Dependency: the staff member and session of a sign-in waiting for its TOTP step."""
    actor, web = service.resolve_session(session, request.cookies.get(SESSION_COOKIE), client_address(request),
                                         allow_mfa_pending=True)
    return staff_service.get_staff(session, actor, actor.staff_id), web


Pending = Annotated[tuple[Staff, WebSession], Depends(pending_sign_in)]


def _qr(uri: str) -> Markup:
    """The provisioning URI as an SVG QR code (no inline styles: the CSP forbids them)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app")
    return Markup(svg)  # noqa: S704 (segno output: no user-controlled markup besides the escaped URI)


def _mfa_context(staff: Staff, token: str, next_path: str, error: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"csrf_token": token, "next": next_path, "error": error, "enrol": not staff.mfa_enabled}
    if not staff.mfa_enabled:
        uri = service.mfa_provisioning_uri(staff)
        context.update(uri=uri, qr=_qr(uri))
    return context


@pages.get("/login/mfa", response_class=HTMLResponse)
def mfa_page(request: Request, pending: Pending, next: str = "/") -> Response:
    staff, web = pending
    if not web.mfa_pending:
        return RedirectResponse(safe_next(next), status_code=303)
    return render_page(request, "auth/mfa.html", _mfa_context(staff, web.csrf_token, safe_next(next)))


@pages.post("/login/mfa")
async def mfa_submit(request: Request, session: Db, pending: Pending, code: Code = "",
                     next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    staff, web = pending
    await csrf.check_token(request, web.csrf_token)
    if not service.complete_mfa(session, web, staff, code):
        session.commit()  # keep the failure count and audit entry (see login)
        return render_page(request, "auth/mfa.html", _mfa_context(
            staff, web.csrf_token, safe_next(next), "That code is not valid. Enter the current 6-digit code."),
            status=401)
    return RedirectResponse(safe_next(next), status_code=303)


@pages.get("/account/mfa", response_class=HTMLResponse, dependencies=[Depends(workspace)])
def account_mfa(request: Request, session: Db, actor: SignedIn) -> HTMLResponse:
    staff = staff_service.get_staff(session, actor, actor.staff_id)
    return render_page(request, "auth/account_mfa.html", _mfa_context(staff, "", "/account/mfa"))


@pages.post("/account/mfa", dependencies=[Depends(csrf.verify_csrf)])
def account_mfa_submit(request: Request, session: Db, actor: SignedIn, code: Code = "") -> Response:
    staff = staff_service.get_staff(session, actor, actor.staff_id)
    if not service.complete_mfa(session, request.state.web_session, staff, code):
        session.commit()  # keep the failure count and audit entry (see login)
        return render_page(request, "auth/account_mfa.html", _mfa_context(
            staff, "", "/account/mfa", "That code is not valid. Enter the current 6-digit code."), status=422)
    return RedirectResponse("/account/mfa", status_code=303)


@pages.post("/logout", dependencies=[Depends(csrf.verify_csrf)])
def logout(request: Request, session: Db, actor: SignedIn) -> RedirectResponse:
    service.end_session(session, request.state.web_session, actor)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
