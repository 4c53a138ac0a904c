"""Domain events: written in the same transaction as the change (outbox), dispatched after commit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin

_PENDING = text("dispatched_at IS NULL")


class DomainEvent(IdMixin, Base):
    """Something that happened (patient enrolled, patient discharged, referral created, ...)."""

    __tablename__ = "domain_event"
    __table_args__ = (
        Index("ix_domain_event_pending", "available_at", sqlite_where=_PENDING, postgresql_where=_PENDING),
        Index("ix_domain_event_patient", "patient_id", "occurred_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    type: Mapped[str] = mapped_column(String(60))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    dispatched_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
