"""Sign-in pages: credentials, cookies, sessions, idle time-out, CSRF, TOTP and safe redirects."""

from __future__ import annotations

import datetime as dt

import pyotp
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth import secrets_box
from careloop.auth import service as auth_service
from careloop.auth.deps import SESSION_COOKIE
from careloop.auth.models import LoginThrottle, WebSession
from web_helpers import csrf_token, post_form, sign_in


def test_sign_in_sets_a_safe_session_cookie_and_goes_to_next(client, world):
    response = sign_in(client, world.coordinator.email, next_path="/patients?status=active")
    assert response.status_code == 303
    assert response.headers["location"] == "/patients?status=active"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "path=/", "samesite=lax"} <= flags
    assert "secure" not in flags
    assert client.get("/patients").status_code == 200


def test_session_cookie_is_secure_when_configured(app, world, settings_env):
    from fastapi.testclient import TestClient

    settings_env(secure_cookies="true")
    with TestClient(app, base_url="https://testserver") as client:
        response = sign_in(client, world.coordinator.email)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_every_sign_in_gets_a_new_session_token(client, world):
    first = sign_in(client, world.coordinator.email).cookies[SESSION_COOKIE]
    second = sign_in(client, world.coordinator.email).cookies[SESSION_COOKIE]
    assert first != second


def test_unknown_user_and_wrong_password_get_the_same_answer(client, world, session):
    unknown = sign_in(client, "nobody@example.test")
    wrong = sign_in(client, world.coordinator.email, password="not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    assert "E-mail or password is incorrect" in unknown.text
    assert "E-mail or password is incorrect" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies
    # The failed request was answered with a form, yet its failure count and audit entry were committed.
    assert session.scalar(select(LoginThrottle.failures).where(LoginThrottle.key.like("acct:%"))) >= 1
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "login",
                                                      AuditEvent.outcome == "failure").limit(1))


def test_repeated_failures_are_throttled_with_429(client, world, settings_env):
    settings_env(login_max_failures="3")
    for _ in range(3):
        assert sign_in(client, world.coordinator.email, password="wrong password 123").status_code == 401
    blocked = sign_in(client, world.coordinator.email)
    assert blocked.status_code == 429
    assert "Wait a few minutes" in blocked.text
    assert "retry-after" in blocked.headers


def test_sign_out_revokes_the_session_on_the_server(client, world, session):
    sign_in(client, world.coordinator.email)
    old = client.cookies[SESSION_COOKIE]
    response = post_form(client, "/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login?signed_out=1"
    assert session.scalar(select(WebSession.revoked_at).where(
        WebSession.token_hash == auth_service.digest(old))) is not None
    client.cookies.set(SESSION_COOKIE, old)
    again = client.get("/patients", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=%2Fpatients")


def test_idle_session_ends_and_sends_the_user_to_sign_in(client, world):
    sign_in(client, world.coordinator.email)
    clock.advance(dt.timedelta(minutes=16))
    response = client.get("/patients/" + str(world.mine.id), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fpatients%2F{world.mine.id}&expired=1"
    assert "session ended because it was idle" in client.get(response.headers["location"]).text


def test_form_without_csrf_token_is_refused(client, world):
    sign_in(client, world.coordinator.email)
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    assert client.get("/patients").status_code == 200  # still signed in


def test_form_from_another_origin_is_refused(client, world):
    sign_in(client, world.coordinator.email)
    response = post_form(client, "/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "did not come from CareLoop" in response.text
    assert post_form(client, "/logout", headers={"Referer": "https://evil.example/x"}).status_code == 403
    assert post_form(client, "/logout", headers={"Origin": "http://testserver"}).status_code == 303


def test_sign_in_form_needs_its_pre_session_token(client, world):
    client.get("/login")
    response = client.post("/login", data={"email": world.coordinator.email, "password": "x", "csrf_token": "nope"},
                           follow_redirects=False)
    assert response.status_code == 403
    client.cookies.clear()
    token = csrf_token(client.get("/login").text)
    client.cookies.clear()  # a forged form has the field but not the cookie
    assert client.post("/login", data={"email": world.coordinator.email, "password": "x", "csrf_token": token},
                       follow_redirects=False).status_code == 403


def test_next_only_allows_local_paths(client, world):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = sign_in(client, world.coordinator.email, next_path=target)
        assert response.headers["location"] == "/", target


def _enable_mfa(session, staff) -> pyotp.TOTP:
    auth_service.begin_mfa_enrolment(staff)
    staff.mfa_enabled = True
    session.commit()
    return pyotp.TOTP(secrets_box.decrypt(staff.mfa_secret_encrypted))


def test_totp_step_after_password(client, world, session):
    totp = _enable_mfa(session, world.coordinator)
    response = sign_in(client, world.coordinator.email)
    assert response.status_code == 303 and response.headers["location"] == "/login/mfa?next=/patients"
    assert client.get("/patients", follow_redirects=False).status_code == 303  # not signed in yet
    page = client.get("/login/mfa?next=/patients")
    assert "Enter the 6-digit code" in page.text
    token = csrf_token(page.text)
    wrong = client.post("/login/mfa", data={"code": "000000", "csrf_token": token, "next": "/patients"})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert client.post("/login/mfa", data={"code": totp.now(), "next": "/patients"},
                       follow_redirects=False).status_code == 403  # no CSRF token
    ok = client.post("/login/mfa", data={"code": totp.now(), "csrf_token": token, "next": "/patients"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/patients"
    assert client.get("/patients").status_code == 200


def test_administrators_enrol_at_sign_in_when_mfa_is_required(client, session, world, settings_env):
    from careloop.staff.models import StaffRole
    from factories import make_staff

    settings_env(require_mfa="true")
    admin = make_staff(session, world.org, StaffRole.ADMINISTRATOR)
    session.commit()
    assert sign_in(client, admin.email).headers["location"].startswith("/login/mfa")
    page = client.get("/login/mfa")
    assert "otpauth://totp/" in page.text and "<svg" in page.text
    session.refresh(admin)
    totp = pyotp.TOTP(secrets_box.decrypt(admin.mfa_secret_encrypted))
    response = client.post("/login/mfa", data={"code": totp.now(), "csrf_token": csrf_token(page.text)},
                           follow_redirects=False)
    assert response.status_code == 303
    session.refresh(admin)
    assert admin.mfa_enabled


def test_signed_in_user_can_turn_on_two_step_verification(client, world, session):
    sign_in(client, world.coordinator.email)
    page = client.get("/account/mfa")
    assert page.status_code == 200 and "Two-step verification is off" in page.text
    assert "otpauth://totp/CareLoop" in page.text
    session.refresh(world.coordinator)
    totp = pyotp.TOTP(secrets_box.decrypt(world.coordinator.mfa_secret_encrypted))
    bad = post_form(client, "/account/mfa", {"code": "123456"}, page="/account/mfa")
    assert bad.status_code == 422
    good = post_form(client, "/account/mfa", {"code": totp.now()}, page="/account/mfa")
    assert good.status_code == 303
    assert "Two-step verification is on" in client.get("/account/mfa").text
