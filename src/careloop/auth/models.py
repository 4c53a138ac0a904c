"""Sign-in sessions, bearer tokens, login throttling and break-the-glass grants."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, TimestampMixin


class WebSession(IdMixin, TimestampMixin, Base):
    """A server-side browser session; the cookie holds a random token whose SHA-256 is stored here."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    mfa_pending: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[dt.datetime | None]
    source_address: Mapped[str | None] = mapped_column(String(64))


class ApiToken(IdMixin, TimestampMixin, Base):
    """An OAuth2 bearer token for a user or a system client, with scopes; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"), index=True)
    client_name: Mapped[str | None] = mapped_column(String(100))
    client_secret_hash: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    # SMART patient/ scopes: the one patient the token is for (it sees no one else).
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient.id"))


class SystemClient(IdMixin, TimestampMixin, Base):
    """An integration (HIE, device hub) that obtains tokens with client credentials."""

    __tablename__ = "system_client"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(1000))
    is_active: Mapped[bool] = mapped_column(default=True)


class LoginThrottle(Base):
    """Failure counter per account or per source address within a sliding window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime]
    blocked_until: Mapped[dt.datetime | None]


class BreakGlassGrant(IdMixin, TimestampMixin, Base):
    """Emergency access by a clinician outside the care team: time-limited, reasoned, reviewed."""

    __tablename__ = "break_glass_grant"
    __table_args__ = (Index("ix_break_glass_grant_staff_patient", "staff_id", "patient_id", "expires_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    reason: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[dt.datetime]
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[dt.datetime | None]
    review_note: Mapped[str | None] = mapped_column(String(500))
