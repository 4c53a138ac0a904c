"""HL7 v2 feed tables: routes, the raw message store, identifier cross-references and visits."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import NullType, Uuid

from careloop.db import Base, IdMixin, TimestampMixin
from careloop.enums import enum_column


class MessageStatus(enum.StrEnum):
    RECEIVED = "received"          # stored, not yet applied (a crash here is recovered at start-up)
    APPLIED = "applied"
    DUPLICATE = "duplicate"        # same sending facility and MSH-10 as an earlier message
    NEEDS_REVIEW = "needs_review"  # unknown or ambiguous patient: a person links it
    ERROR = "error"                # AE: content the sender must fix (dead letter)
    REJECTED = "rejected"          # AR: unsupported, unroutable or unreadable (dead letter)
    DISMISSED = "dismissed"        # a person decided it needs no action


DEAD_LETTER_STATUSES = (MessageStatus.ERROR, MessageStatus.REJECTED)


class Hl7Route(IdMixin, TimestampMixin, Base):
    """Which organisation a receiving facility (MSH-6) belongs to; anything else is rejected with AR."""

    __tablename__ = "hl7_route"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    receiving_facility: Mapped[str] = mapped_column(String(200), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)


class Hl7Message(Base):
    """One received message, stored raw before it is acknowledged, with what became of it."""

    __tablename__ = "hl7_message"
    __table_args__ = (
        Index("ix_hl7_message_status", "status", "id"),
        Index("ix_hl7_message_org_status", "organization_id", "status", "id"),
        Index("ix_hl7_message_identifier", "organization_id", "patient_identifier", "status"),
        Index("ix_hl7_message_patient", "patient_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id"))
    channel: Mapped[str] = mapped_column(String(10))
    source_address: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    sending_application: Mapped[str | None] = mapped_column(String(200))
    sending_facility: Mapped[str | None] = mapped_column(String(200))
    receiving_application: Mapped[str | None] = mapped_column(String(200))
    receiving_facility: Mapped[str | None] = mapped_column(String(200))
    control_id: Mapped[str | None] = mapped_column(String(200))
    # sending facility + MSH-10 for the first copy; NULL on duplicates, so the unique index decides races.
    dedupe_key: Mapped[str | None] = mapped_column(String(410), unique=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    message_type: Mapped[str | None] = mapped_column(String(10))
    trigger_event: Mapped[str | None] = mapped_column(String(10))
    hl7_version: Mapped[str | None] = mapped_column(String(10))
    event_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus))
    ack_code: Mapped[str | None] = mapped_column(String(2))
    error_text: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(String(300))
    patient_identifier: Mapped[str | None] = mapped_column(String(410))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient.id"))
    encounter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounter.id"))
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))


class Hl7PatientIdentifier(IdMixin, Base):
    """A hospital identifier (PID-3 value and assigning authority) known to belong to a patient.

    A merge moves these rows to the survivor, so later messages with the old MRN find the survivor.
    demographics_at is the event time of the newest demographics applied through this identifier.
    """

    __tablename__ = "hl7_patient_identifier"
    __table_args__ = (UniqueConstraint("organization_id", "authority", "value"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    authority: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"), index=True)
    demographics_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class Hl7Visit(IdMixin, TimestampMixin, Base):
    """The hospital visit (PV1-19) behind an encounter and the newest event time applied to it."""

    __tablename__ = "hl7_visit"
    __table_args__ = (UniqueConstraint("organization_id", "visit_key"),
                      Index("ix_hl7_visit_patient", "patient_id", "last_event_at"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    visit_key: Mapped[str] = mapped_column(String(420))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounter.id"), unique=True)
    last_event_at: Mapped[dt.datetime]
    readmission_rule: Mapped[str | None] = mapped_column(String(120))


def param(name: str, column: ColumnElement) -> BindParameter:
    """A typed bind parameter for prebuilt statements (foreign-key UUID columns are typed late)."""
    return bindparam(name, type_=Uuid() if isinstance(column.type, NullType | Uuid) else column.type)
