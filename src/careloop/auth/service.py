"""Authentication: sign-in with throttling, sessions, bearer tokens, TOTP and break-the-glass."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import passwords, secrets_box, smart
from careloop.auth.actor import Actor
from careloop.auth.models import ApiToken, BreakGlassGrant, LoginThrottle, SystemClient, WebSession
from careloop.auth.permissions import ORG_WIDE_ROLES, Permission, permissions_for, scopes_to_permissions
from careloop.config import get_settings
from careloop.errors import Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthenticated
from careloop.staff.models import Staff, StaffRole

TOKEN_PREFIX = "clt_"
_GENERIC_FAILURE = "E-mail or password is incorrect"


def digest(raw: str) -> str:
    """SHA-256 hex of a random token: what the database stores instead of the token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def actor_for_staff(staff: Staff, *, scopes: frozenset[Permission] | None = None, source: str | None = None,
                    session_id: uuid.UUID | None = None, client: str | None = None) -> Actor:
    """The actor of a signed-in staff member, narrowed by token scopes when given."""
    granted = permissions_for(staff.role)
    return Actor(organization_id=staff.organization_id, staff_id=staff.id, role=staff.role.value,
                 permissions=granted if scopes is None else granted & scopes, label=staff.email,
                 org_wide=staff.role in ORG_WIDE_ROLES, source_address=source, session_id=session_id,
                 client_name=client)


# --- sign-in and throttling ---------------------------------------------------------------------

def _throttle_keys(email: str, source: str | None) -> list[str]:
    # Normalised exactly like the account lookup, or " Victim@x" would get a fresh counter.
    keys = ["acct:" + digest(email.strip().lower())[:40]]
    if source:
        keys.append("ip:" + source[:60])
    return keys


def _check_throttle(session: Session, keys: list[str]) -> None:
    now = clock.now()
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        if row.blocked_until and row.blocked_until > now:
            seconds = int((row.blocked_until - now).total_seconds()) + 1
            raise TooManyRequests(extra={"retry_after": seconds})


def _note_failure(session: Session, keys: list[str]) -> None:
    settings, now = get_settings(), clock.now()
    window = dt.timedelta(minutes=settings.login_window_minutes)
    for key in keys:
        row = session.get(LoginThrottle, key) or LoginThrottle(key=key, failures=0, window_started_at=now)
        if row.window_started_at + window < now:
            row.failures, row.window_started_at, row.blocked_until = 0, now, None
        row.failures += 1
        limit = settings.login_max_failures * (5 if key.startswith("ip:") else 1)
        if row.failures >= limit:
            row.blocked_until = now + window
        session.add(row)
    session.flush()


@dataclass
class LoginResult:
    staff: Staff | None
    mfa_required: bool = False


def verify_credentials(session: Session, email: str, password: str, source: str | None) -> Staff:
    """The staff member for valid credentials; the same error for unknown user and wrong password.

    Failures are counted per account and per source address; a blocked key answers 429 whatever the
    password, so guessing cannot tell blocked accounts from others. The caller commits failures.
    """
    keys = _throttle_keys(email, source)
    _check_throttle(session, keys)
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    ok, new_hash = passwords.verify_password(password, staff.password_hash if staff else None)
    if not ok or staff is None or not staff.is_active:
        _note_failure(session, keys)
        audit.record_many(session, None, [audit.Entry(action="login", outcome="failure",
                                                      detail={"reason": "bad_credentials"})],
                          organization_id=staff.organization_id if staff else None, source_address=source)
        raise Unauthenticated(_GENERIC_FAILURE, code="invalid_credentials")
    if new_hash:
        staff.password_hash = new_hash
    session.execute(update(LoginThrottle).where(LoginThrottle.key == keys[0])
                    .values(failures=0, blocked_until=None))
    return staff


def mfa_needed(staff: Staff) -> bool:
    """Whether sign-in needs a TOTP code (enrolled, or an administrator when MFA is required)."""
    return staff.mfa_enabled or (get_settings().require_mfa and staff.role == StaffRole.ADMINISTRATOR)


# --- sessions -----------------------------------------------------------------------------------

def start_session(session: Session, staff: Staff, source: str | None, *, mfa_pending: bool) -> tuple[str, WebSession]:
    """A new server-side session (never reusing a pre-login one); returns the raw cookie value."""
    raw, now = secrets.token_urlsafe(32), clock.now()
    web = WebSession(token_hash=digest(raw), staff_id=staff.id, csrf_token=secrets.token_urlsafe(32),
                     last_seen_at=now, source_address=source, mfa_pending=mfa_pending,
                     expires_at=now + dt.timedelta(hours=get_settings().session_absolute_hours))
    session.add(web)
    session.flush()
    if not mfa_pending:
        audit.record(session, actor_for_staff(staff, source=source), "login", record_type="Session",
                     record_id=str(web.id))
    return raw, web


def resolve_session(session: Session, raw: str | None, source: str | None,
                    *, allow_mfa_pending: bool = False) -> tuple[Actor, WebSession]:
    """The actor of a session cookie; Unauthenticated when missing, expired, idle or revoked."""
    if not raw:
        raise Unauthenticated()
    web = session.scalar(select(WebSession).where(WebSession.token_hash == digest(raw)))
    now = clock.now()
    idle = dt.timedelta(minutes=get_settings().session_idle_minutes)
    if (web is None or web.revoked_at is not None or web.expires_at <= now or web.last_seen_at + idle <= now
            or (web.mfa_pending and not allow_mfa_pending)):
        if web is not None and web.revoked_at is None and not web.mfa_pending:
            web.revoked_at = now  # an idle session cannot be revived later
        raise Unauthenticated("Your session has ended; please sign in again", code="session_expired")
    staff = session.get(Staff, web.staff_id)
    if staff is None or not staff.is_active:
        raise Unauthenticated(code="session_expired")
    web.last_seen_at = now
    return actor_for_staff(staff, source=source, session_id=web.id), web


def end_session(session: Session, web: WebSession, actor: Actor) -> None:
    """Sign out: the session is revoked on the server."""
    web.revoked_at = clock.now()
    audit.record(session, actor, "logout", record_type="Session", record_id=str(web.id))


def revoke_all_for(session: Session, staff_id: uuid.UUID) -> None:
    """End every session and token of a staff member (disable, password change)."""
    now = clock.now()
    session.execute(update(WebSession).where(WebSession.staff_id == staff_id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.execute(update(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=now))


# --- bearer tokens ------------------------------------------------------------------------------

def create_token(session: Session, *, organization_id: uuid.UUID, scopes: str, ttl: dt.timedelta,
                 staff: Staff | None = None, client_name: str | None = None,
                 created_by: uuid.UUID | None = None, patient_id: uuid.UUID | None = None) -> tuple[str, ApiToken]:
    """Mint a bearer token for a user or a system client; only its digest is stored. SMART `patient/` scopes
    need a patient context (`patient_id`): the token then sees that patient only."""
    scopes_to_permissions(scopes)  # validates
    smart_scopes = _smart(scopes)
    if smart_scopes is not None and smart_scopes.needs_patient and patient_id is None:
        raise InvalidInput("patient/ scopes need a patient context (the patient the token is for)", field="patient")
    from careloop.patients.models import Patient  # patients import auth: resolved at call time

    if patient_id is not None and session.scalar(select(Patient.id).where(
            Patient.id == patient_id, Patient.organization_id == organization_id)) is None:
        raise InvalidInput("No such patient in this organisation", field="patient")
    if ttl <= dt.timedelta(0) or ttl > dt.timedelta(days=366):
        raise InvalidInput("Token lifetime must be between 1 second and 366 days", field="expires")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(token_hash=digest(raw), organization_id=organization_id, scopes=" ".join(scopes.split()),
                     staff_id=staff.id if staff else None, client_name=client_name,
                     expires_at=clock.now() + ttl, created_by_id=created_by, patient_id=patient_id)
    session.add(token)
    session.flush()
    return raw, token


def resolve_token(session: Session, raw: str, source: str | None) -> Actor:
    """The actor of a bearer token; Unauthenticated when unknown, expired or revoked."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(raw)))
    if token is None or token.revoked_at is not None or token.expires_at <= clock.now():
        raise Unauthenticated("Invalid or expired token", code="invalid_token")
    scoped = scopes_to_permissions(token.scopes)
    smart_scopes = _smart(token.scopes)
    if smart_scopes is not None and scoped is not None:
        scoped |= smart.implied_permissions(smart_scopes)
    if token.staff_id is None:
        actor = Actor(organization_id=token.organization_id,
                      permissions=frozenset(Permission) if scoped is None else scoped,
                      client_name=token.client_name, label=token.client_name, org_wide=True,
                      source_address=source, purpose_of_use="HOPERAT")
    else:
        staff = session.get(Staff, token.staff_id)
        if staff is None or not staff.is_active:
            raise Unauthenticated("Invalid or expired token", code="invalid_token")
        actor = actor_for_staff(staff, scopes=scoped, source=source, client=token.client_name)
    if smart_scopes is None and token.patient_id is None:
        return actor
    return dataclasses.replace(
        actor, fhir_scopes=smart_scopes, fhir_only=all(smart.is_smart(s) for s in token.scopes.split()),
        patient_scope=frozenset({token.patient_id}) if token.patient_id else actor.patient_scope)


def _smart(scopes: str) -> smart.SmartScopes | None:
    try:
        return smart.parse(scopes)
    except ValueError as err:
        raise InvalidInput(f"Unknown scope: {str(err)[:80]}", field="scopes") from None


def revoke_token(session: Session, *, token_id: uuid.UUID | None = None, raw: str | None = None) -> ApiToken:
    """Revoke a token by id or by its value; effective on the next request."""
    stmt = select(ApiToken).where(ApiToken.id == token_id) if token_id else \
        select(ApiToken).where(ApiToken.token_hash == digest(raw or ""))
    token = session.scalar(stmt)
    if token is None:
        raise NotFound("No such token")
    token.revoked_at = token.revoked_at or clock.now()
    return token


def register_client(session: Session, organization_id: uuid.UUID, name: str, scopes: str) -> tuple[str, SystemClient]:
    """A system client for client-credentials grants; returns its secret once."""
    scopes_to_permissions(scopes)
    secret = secrets.token_urlsafe(32)
    client = SystemClient(organization_id=organization_id, name=name, scopes=scopes,
                          secret_hash=passwords.hash_password(secret))
    session.add(client)
    session.flush()
    return secret, client


def client_credentials(session: Session, name: str, secret: str, scope: str | None) -> tuple[str, ApiToken]:
    """OAuth2 client-credentials grant: a one-hour token limited to the client's scopes."""
    client = session.scalar(select(SystemClient).where(SystemClient.name == name))
    ok, _ = passwords.verify_password(secret, client.secret_hash if client else None)
    if not ok or client is None or not client.is_active:
        raise Unauthenticated("Invalid client credentials", code="invalid_client")
    wanted = scope or client.scopes
    allowed = set(client.scopes.split())
    if "*" not in allowed and not set(wanted.split()) <= allowed:
        raise Forbidden("Requested scope exceeds the client's scopes", code="invalid_scope")
    return create_token(session, organization_id=client.organization_id, scopes=wanted,
                        ttl=dt.timedelta(hours=1), client_name=client.name)


# --- TOTP ---------------------------------------------------------------------------------------

def begin_mfa_enrolment(staff: Staff) -> str:
    """A new TOTP secret (stored encrypted, not yet enabled); returns the provisioning URI."""
    secret = pyotp.random_base32()
    staff.mfa_secret_encrypted = secrets_box.encrypt(secret)
    return pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name="CareLoop")


def verify_totp(staff: Staff, code: str) -> bool:
    """Check a TOTP code (one step of drift allowed); a code already used cannot be used again."""
    if not staff.mfa_secret_encrypted or not code.strip().isdigit():
        return False
    totp = pyotp.TOTP(secrets_box.decrypt(staff.mfa_secret_encrypted))
    now = clock.now()
    for drift in (-1, 0, 1):
        step = int(now.timestamp()) // 30 + drift
        if totp.at(step * 30) == code.strip() and (staff.mfa_last_step or 0) < step:
            staff.mfa_last_step = step
            return True
    return False


def mfa_provisioning_uri(staff: Staff) -> str:
    """The provisioning URI of the staff member's TOTP secret, starting an enrolment when there is none."""
    if staff.mfa_secret_encrypted is None:
        return begin_mfa_enrolment(staff)
    secret = secrets_box.decrypt(staff.mfa_secret_encrypted)
    return pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name="CareLoop")


def complete_mfa(session: Session, web: WebSession, staff: Staff, code: str) -> bool:
    """Check a TOTP code for a session: enables MFA on first success and ends a pending sign-in step.

    Wrong codes count against the account's sign-in throttle, like wrong passwords (the caller commits them).
    """
    keys = _throttle_keys(staff.email, web.source_address)
    _check_throttle(session, keys)
    actor = actor_for_staff(staff, source=web.source_address, session_id=web.id)
    if not verify_totp(staff, code):
        _note_failure(session, keys)
        audit.record(session, actor, "login", outcome="failure", record_type="Session", record_id=str(web.id),
                     detail={"reason": "bad_totp"})
        return False
    if not staff.mfa_enabled:
        staff.mfa_enabled = True
        audit.record(session, actor, "update", record_type="Staff", record_id=str(staff.id),
                     detail={"mfa_enabled": True})
    if web.mfa_pending:
        web.mfa_pending = False
        audit.record(session, actor, "login", record_type="Session", record_id=str(web.id), detail={"mfa": True})
    return True


# --- break-the-glass ----------------------------------------------------------------------------

def break_glass(session: Session, actor: Actor, patient_id: uuid.UUID, reason: str) -> BreakGlassGrant:
    """Time-limited emergency access to a patient outside the actor's care teams, flagged for review."""
    from careloop.patients.models import Patient

    actor.require(Permission.BREAK_GLASS)
    reason = " ".join(reason.split())
    if len(reason) < 10:
        raise InvalidInput("State the reason for emergency access (at least 10 characters)", field="reason")
    staff = session.get(Staff, actor.staff_id) if actor.staff_id else None
    if staff is None or not staff.break_glass_allowed:
        raise Forbidden("You are not in the group allowed to use emergency access", code="break_glass_denied")
    patient = session.get(Patient, patient_id)
    if patient is None or patient.organization_id != actor.organization_id:
        raise NotFound("Patient not found")
    grant = BreakGlassGrant(organization_id=actor.organization_id, staff_id=staff.id, patient_id=patient.id,
                            reason=reason, expires_at=clock.now() + dt.timedelta(
                                minutes=get_settings().break_glass_minutes))
    session.add(grant)
    session.flush()
    audit.record(session, actor, "break_glass", patient_id=patient.id, record_type="BreakGlassGrant",
                 record_id=str(grant.id), detail={"reason": reason, "purpose_of_use": "ETREAT"})
    return grant


def review_break_glass(session: Session, actor: Actor, grant_id: uuid.UUID, note: str) -> BreakGlassGrant:
    """A supervisor marks an emergency access as reviewed."""
    actor.require(Permission.BREAK_GLASS_REVIEW)
    grant = session.get(BreakGlassGrant, grant_id)
    if grant is None or grant.organization_id != actor.organization_id:
        raise NotFound("No such emergency access")
    grant.reviewed_by_id, grant.reviewed_at, grant.review_note = actor.staff_id, clock.now(), note[:500]
    audit.record(session, actor, "update", patient_id=grant.patient_id, record_type="BreakGlassGrant",
                 record_id=str(grant.id), detail={"reviewed": True})
    return grant


def list_break_glass(session: Session, actor: Actor, *, include_reviewed: bool = False) -> list[BreakGlassGrant]:
    """Emergency accesses of the organisation, newest first (unreviewed only by default)."""
    actor.require(Permission.BREAK_GLASS_REVIEW)
    stmt = select(BreakGlassGrant).where(BreakGlassGrant.organization_id == actor.organization_id)
    if not include_reviewed:
        stmt = stmt.where(BreakGlassGrant.reviewed_at.is_(None))
    return list(session.scalars(stmt.order_by(BreakGlassGrant.created_at.desc()).limit(500)))
