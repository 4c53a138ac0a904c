"""Passwords: argon2id storage, the policy, equal treatment of unknown accounts, and sign-in throttling."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from careloop import clock
from careloop.audit.models import AuditEvent
from careloop.auth import passwords
from careloop.auth import service as auth_service
from careloop.auth.models import LoginThrottle
from careloop.config import get_settings
from careloop.errors import InvalidInput, TooManyRequests, Unauthenticated
from factories import PASSWORD, make_org, make_staff

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


def test_passwords_are_hashed_with_argon2id_owasp_parameters():
    stored = passwords.hash_password("a long enough passphrase")
    assert stored.startswith(OWASP_PREFIX)
    assert "a long enough passphrase" not in stored
    assert passwords.verify_password("a long enough passphrase", stored) == (True, None)
    assert passwords.verify_password("a long enough passphrasf", stored) == (False, None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=passwords.MIN_LENGTH - 1))
def test_policy_never_accepts_fewer_than_12_characters(password):
    with pytest.raises(InvalidInput):
        passwords.check_policy(password)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=passwords.MAX_LENGTH + 1, max_size=passwords.MAX_LENGTH + 300))
def test_policy_never_accepts_more_than_128_characters(password):
    with pytest.raises(InvalidInput):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", [
    next(p for p in FREQUENCY_LISTS["passwords"][:10000] if len(p) >= 12),  # a common one that is long enough
    "aaaaaaaaaaaaaaaa", "abababababababab",
])
def test_policy_refuses_common_or_trivial_passwords(password):
    with pytest.raises(InvalidInput):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", ["correct horse battery staple", "x" * 60 + "Yz3!", "ünïcödé pässwörd 🐢"])
def test_policy_accepts_long_passphrases(password):
    passwords.check_policy(password)


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(session):
    org = make_org(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    staff = make_staff(session, org, password_hash=weak)
    session.commit()
    assert auth_service.verify_credentials(session, staff.email, PASSWORD, "10.0.0.1") is staff
    session.commit()
    assert staff.password_hash.startswith(OWASP_PREFIX)


# --- unknown accounts look like wrong passwords ---------------------------------------------------------------

class _RecordingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=2, memory_cost=19456, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):
        self.verified.append(hash)
        return super().verify(hash, password)


def test_unknown_accounts_cost_a_full_verification_and_get_the_same_error(session, monkeypatch):
    org = make_org(session)
    staff = make_staff(session, org)
    no_password = make_staff(session, org, password_hash=None)
    session.commit()
    hasher = _RecordingHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    errors = []
    for email in (staff.email, "nobody@careloop-test.org", no_password.email):
        with pytest.raises(Unauthenticated) as caught:
            auth_service.verify_credentials(session, email, "wrong password here", "10.0.0.2")
        session.commit()
        errors.append((caught.value.code, caught.value.message, caught.value.status))
    assert len(set(errors)) == 1
    assert hasher.verified == [staff.password_hash, passwords._DUMMY_HASH, passwords._DUMMY_HASH]


def test_unknown_and_known_accounts_take_about_as_long(session):
    org = make_org(session)
    staff = make_staff(session, org)
    session.commit()

    def timed(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthenticated):
            auth_service.verify_credentials(session, email, "wrong password here", None)
        session.rollback()
        return time.perf_counter() - started

    known = statistics.median(timed(staff.email) for _ in range(5))
    unknown = statistics.median(timed("nobody@careloop-test.org") for _ in range(5))
    assert 1 / 3 < unknown / known < 3


def test_failed_sign_in_is_audited_without_the_password(session):
    org = make_org(session)
    staff = make_staff(session, org)
    session.commit()
    with pytest.raises(Unauthenticated):
        auth_service.verify_credentials(session, staff.email, "my secret guess 123", "192.0.2.7")
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id,
                                                     AuditEvent.action == "login")).one()
    assert (event.outcome, event.source_address) == ("failure", "192.0.2.7")
    assert "my secret guess" not in str(event.detail)


# --- throttling ----------------------------------------------------------------------------------------------

def _fail(session, email: str, source: str | None, password: str = "wrong password here") -> Exception:  # noqa: S107
    """One sign-in attempt that is expected to fail, committed as the edge does."""
    try:
        auth_service.verify_credentials(session, email, password, source)
    except (Unauthenticated, TooManyRequests) as err:
        session.commit()
        return err
    raise AssertionError("the attempt succeeded")


@pytest.fixture
def victim(session):
    org = make_org(session)
    staff = make_staff(session, org)
    session.commit()
    return staff


def test_repeated_failures_on_one_account_are_throttled_whatever_the_password(session, victim):
    limit = get_settings().login_max_failures
    for n in range(limit):
        assert isinstance(_fail(session, victim.email, f"203.0.113.{n}"), Unauthenticated)
    blocked = _fail(session, victim.email, "198.51.100.1", password=PASSWORD)
    assert isinstance(blocked, TooManyRequests) and blocked.status == 429
    assert 0 < blocked.extra["retry_after"] <= get_settings().login_window_minutes * 60 + 1


def test_spelling_variants_of_an_e_mail_share_one_counter(session, victim):
    variants = [victim.email, victim.email.upper(), f" {victim.email}", f"{victim.email}  ",
                f"\t{victim.email.title()}"]
    for n in range(get_settings().login_max_failures):
        assert isinstance(_fail(session, variants[n % len(variants)], f"203.0.113.{n}"), Unauthenticated)
    assert isinstance(_fail(session, victim.email, "198.51.100.1", password=PASSWORD), TooManyRequests)


def test_one_address_failing_on_many_accounts_is_throttled(session, victim):
    limit = get_settings().login_max_failures * 5
    for n in range(limit):
        assert isinstance(_fail(session, f"guess{n}@careloop-test.org", "203.0.113.66"), Unauthenticated)
    assert isinstance(_fail(session, victim.email, "203.0.113.66", password=PASSWORD), TooManyRequests)
    # The real user elsewhere is not affected by that address.
    assert auth_service.verify_credentials(session, victim.email, PASSWORD, "198.51.100.1") is victim


def test_an_attacker_cannot_lock_the_real_user_out_for_longer_than_the_window(session, victim):
    for _ in range(get_settings().login_max_failures):
        _fail(session, victim.email, "203.0.113.9")
    assert isinstance(_fail(session, victim.email, "198.51.100.1", password=PASSWORD), TooManyRequests)
    clock.advance(dt.timedelta(minutes=get_settings().login_window_minutes, seconds=1))
    assert auth_service.verify_credentials(session, victim.email, PASSWORD, "198.51.100.1") is victim
    session.commit()
    # A success clears the account's counter: a single new failure does not block again.
    _fail(session, victim.email, "203.0.113.9")
    assert auth_service.verify_credentials(session, victim.email, PASSWORD, "198.51.100.1") is victim


def test_blocked_and_unknown_accounts_are_indistinguishable(session, victim):
    for _ in range(get_settings().login_max_failures):
        _fail(session, "nobody@careloop-test.org", "203.0.113.10")
        _fail(session, victim.email, "203.0.113.11")
    unknown = _fail(session, "nobody@careloop-test.org", "198.51.100.2")
    known = _fail(session, victim.email, "198.51.100.3")
    assert (type(unknown), unknown.status, unknown.message) == (type(known), known.status, known.message)


def test_sign_in_page_answers_429_with_retry_after(session, client, victim):
    """The edge: the web sign-in form commits failures and the throttle answers 429 with Retry-After."""
    client.get("/login")
    token = client.cookies.get("careloop_login_csrf")
    if token is None:
        pytest.skip("the web sign-in page is not installed")
    for n in range(get_settings().login_max_failures):  # a spoofed X-Forwarded-For changes nothing
        response = client.post("/login", data={"email": victim.email, "password": "wrong password here",
                                               "csrf_token": token}, headers={"X-Forwarded-For": f"6.6.6.{n}"},
                               follow_redirects=False)
        assert response.status_code == 401
    response = client.post("/login", data={"email": victim.email, "password": PASSWORD, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    keys = set(session.scalars(select(LoginThrottle.key)))
    assert "ip:testclient" in keys and not any(k.startswith("ip:6.6.6.") for k in keys)
