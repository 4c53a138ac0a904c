"""Protocol runs: one instance of a declarative protocol for one patient, started by a trigger event."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, VersionedMixin
from careloop.enums import enum_column


class ProtocolRunStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProtocolRun(IdMixin, VersionedMixin, Base):
    """A protocol being carried out for a patient; its steps are tasks with this run's id."""

    __tablename__ = "protocol_run"
    __table_args__ = (
        # One run per protocol per trigger event: replaying an event never starts a protocol twice.
        UniqueConstraint("protocol_key", "trigger_event_id"),
        Index("ix_protocol_run_patient", "patient_id", "status"),
        Index("ix_protocol_run_org_status", "organization_id", "status", "protocol_key"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    protocol_key: Mapped[str] = mapped_column(String(60))
    protocol_version: Mapped[str] = mapped_column(String(20))
    trigger_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("domain_event.id"))
    status: Mapped[ProtocolRunStatus] = mapped_column(enum_column(ProtocolRunStatus),
                                                      default=ProtocolRunStatus.ACTIVE)
    started_at: Mapped[dt.datetime]
    anchor_at: Mapped[dt.datetime]                    # the moment due rules count from (e.g. discharge)
    completed_at: Mapped[dt.datetime | None]
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
