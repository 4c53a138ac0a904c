"""Server-side sessions (idle and absolute time-outs, sign-out, revocation) and TOTP second factor."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth import secrets_box
from careloop.auth import service as auth_service
from careloop.auth.models import WebSession
from careloop.config import get_settings
from careloop.errors import Unauthenticated
from factories import StaffRole, make_org, make_staff, make_token


@pytest.fixture
def staff(session):
    org = make_org(session)
    member = make_staff(session, org)
    session.commit()
    return member


def _start(session, staff, *, mfa_pending: bool = False) -> str:
    raw, _ = auth_service.start_session(session, staff, "192.0.2.1", mfa_pending=mfa_pending)
    session.commit()
    return raw


def _resolve(session, raw: str, **kwargs):
    try:
        return auth_service.resolve_session(session, raw, "192.0.2.1", **kwargs)
    finally:
        session.commit()  # as the edge would, so anything the check changed is kept


def test_session_is_stored_as_a_digest_and_resolves_to_the_staff_member(session, staff):
    raw = _start(session, staff)
    actor, web = _resolve(session, raw)
    assert actor.staff_id == staff.id and actor.session_id == web.id
    assert web.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert session.scalar(select(WebSession.id).where(WebSession.token_hash == raw)) is None


@pytest.mark.parametrize("raw", [None, "", "forged-session-value", "x" * 500])
def test_missing_or_forged_session_is_refused(session, raw):
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)


def test_idle_session_times_out_after_15_minutes_and_cannot_be_revived(session, staff, monkeypatch):
    assert get_settings().session_idle_minutes == 15
    raw = _start(session, staff)
    clock.advance(dt.timedelta(minutes=14))
    _resolve(session, raw)  # activity moves the idle deadline
    clock.advance(dt.timedelta(minutes=14))
    _resolve(session, raw)
    clock.advance(dt.timedelta(minutes=15))
    with pytest.raises(Unauthenticated) as caught:
        _resolve(session, raw)
    assert caught.value.code == "session_expired"
    # Even if the idle limit were raised later, the expired session stays dead.
    monkeypatch.setattr(get_settings(), "session_idle_minutes", 24 * 60)
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)


def test_session_ends_at_the_absolute_limit_even_when_active(session, staff):
    raw = _start(session, staff)
    hours = get_settings().session_absolute_hours
    for _ in range(hours * 6 - 1):
        clock.advance(dt.timedelta(minutes=10))
        _resolve(session, raw)
    clock.advance(dt.timedelta(minutes=10))
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)


def test_sign_out_revokes_the_session_on_the_server(session, staff):
    raw = _start(session, staff)
    actor, web = _resolve(session, raw)
    auth_service.end_session(session, web, actor)
    session.commit()
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.record_id == str(web.id))
                              .order_by(AuditEvent.seq)).all()
    assert actions == ["login", "logout"]


def test_revoke_all_for_ends_every_session_and_token(session, staff, client):
    first, second = _start(session, staff), _start(session, staff)
    token = make_token(session, staff)
    session.commit()
    auth_service.revoke_all_for(session, staff.id)
    session.commit()
    for raw in (first, second):
        with pytest.raises(Unauthenticated):
            _resolve(session, raw)
    assert client.get("/api/v1/staff", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_disabled_users_session_is_refused(session, staff):
    raw = _start(session, staff)
    staff.is_active = False
    session.commit()
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)


def test_a_session_waiting_for_its_second_factor_grants_nothing(session, staff):
    raw = _start(session, staff, mfa_pending=True)
    with pytest.raises(Unauthenticated):
        _resolve(session, raw)
    actor, web = _resolve(session, raw, allow_mfa_pending=True)
    assert web.mfa_pending and actor.staff_id == staff.id


# --- TOTP --------------------------------------------------------------------------------------------------

@pytest.fixture
def secret_key(monkeypatch):
    """A configured encryption key (no key file written under var/)."""
    monkeypatch.setenv("CARELOOP_SECRET_KEY", "test-key-for-totp-secrets")
    get_settings.cache_clear()
    secrets_box._key.cache_clear()
    yield
    monkeypatch.delenv("CARELOOP_SECRET_KEY")
    get_settings.cache_clear()
    secrets_box._key.cache_clear()


def _secret_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


def test_totp_secret_is_stored_as_aes_gcm_ciphertext(session, staff, secret_key):
    uri = auth_service.begin_mfa_enrolment(staff)
    session.commit()
    secret = _secret_of(uri)
    stored = session.scalar(select(type(staff).mfa_secret_encrypted).where(type(staff).id == staff.id))
    assert secret not in stored
    assert secrets_box.decrypt(stored) == secret
    assert auth_service.begin_mfa_enrolment(staff) != uri  # a new enrolment gets a new secret
    tampered = stored[:20] + ("A" if stored[20] != "A" else "B") + stored[21:]
    with pytest.raises((InvalidTag, ValueError)):
        secrets_box.decrypt(tampered)


def test_totp_code_is_accepted_once_and_never_again(session, staff, secret_key):
    totp = pyotp.TOTP(_secret_of(auth_service.begin_mfa_enrolment(staff)))
    with clock.frozen_at(dt.datetime(2026, 3, 1, 9, 0, 10, tzinfo=dt.UTC)):
        now = clock.now()
        previous, current = totp.at(now - dt.timedelta(seconds=30)), totp.at(now)
        assert not auth_service.verify_totp(staff, "000000" if current != "000000" else "111111")
        assert not auth_service.verify_totp(staff, "12345a")
        assert auth_service.verify_totp(staff, current)
        assert not auth_service.verify_totp(staff, current)  # replay
        assert not auth_service.verify_totp(staff, previous)  # an older code after a newer one
        clock.advance(dt.timedelta(minutes=2))
        assert not auth_service.verify_totp(staff, current)  # too old anyway
        assert auth_service.verify_totp(staff, totp.at(clock.now()))


def test_administrators_need_a_second_factor_when_mfa_is_required(session, monkeypatch):
    org = make_org(session)
    admin, coordinator = make_staff(session, org, StaffRole.ADMINISTRATOR), make_staff(session, org)
    assert not auth_service.mfa_needed(admin)
    monkeypatch.setattr(get_settings(), "require_mfa", True)
    assert auth_service.mfa_needed(admin) and not auth_service.mfa_needed(coordinator)
    coordinator.mfa_enabled = True
    assert auth_service.mfa_needed(coordinator)
