"""The provider directory and referrals with their status history."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop import clock
from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column


class ProviderKind(enum.StrEnum):
    PRACTITIONER = "practitioner"
    ORGANIZATION = "organization"


class ReferralStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SCHEDULED = "scheduled"
    SEEN = "seen"
    REPORT_RECEIVED = "report_received"
    REVIEWED = "reviewed"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ReferralUrgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    STAT = "stat"


class Provider(IdMixin, TimestampMixin, Base):
    """A practitioner or organisation patients are referred to (the organisation's directory)."""

    __tablename__ = "provider"
    __table_args__ = (
        UniqueConstraint("organization_id", "external_id"),
        Index("ix_provider_org_specialty", "organization_id", "specialty_code"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    external_id: Mapped[str] = mapped_column(String(64))  # the directory's own key (e.g. an NPI): re-imports update
    kind: Mapped[ProviderKind] = mapped_column(enum_column(ProviderKind))
    name: Mapped[str] = mapped_column(String(200))
    specialty_code: Mapped[str] = mapped_column(String(20))  # NUCC health care provider taxonomy code
    specialty_display: Mapped[str] = mapped_column(String(200))
    specialty_system: Mapped[str] = mapped_column(String(100), default="http://nucc.org/provider-taxonomy")
    address_line: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(30))
    direct_address: Mapped[str | None] = mapped_column(String(254))
    accepting_new_patients: Mapped[bool] = mapped_column(default=True)
    in_network: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)


class Referral(IdMixin, VersionedMixin, Base):
    """A referral of a patient to a specialist, tracked until the referrer has reviewed the report."""

    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_patient", "patient_id", "created_at"),
        Index("ix_referral_org_status", "organization_id", "status", "status_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    referring_staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("provider.id"))
    specialty_code: Mapped[str] = mapped_column(String(20))
    specialty_display: Mapped[str] = mapped_column(String(200))
    urgency: Mapped[ReferralUrgency] = mapped_column(enum_column(ReferralUrgency))
    reason: Mapped[str] = mapped_column(Text)
    condition_ids: Mapped[list] = mapped_column(JSON, default=list)  # the patient's conditions it is about
    clinical_question: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ReferralStatus] = mapped_column(enum_column(ReferralStatus), default=ReferralStatus.DRAFT)
    status_reason: Mapped[str | None] = mapped_column(String(300))
    status_at: Mapped[dt.datetime] = mapped_column(default=clock.now)  # when it entered its status
    sent_at: Mapped[dt.datetime | None]
    target_appointment_date: Mapped[dt.date | None]  # sent date + the urgency's target (rules.TARGET_DAYS)
    appointment_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]


class ReferralEvent(IdMixin, Base):
    """One status change of a referral: when, by whom, from what to what, and why."""

    __tablename__ = "referral_event"
    __table_args__ = (Index("ix_referral_event_referral", "referral_id", "occurred_at"),)

    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    from_status: Mapped[ReferralStatus | None] = mapped_column(enum_column(ReferralStatus, "from_status"))
    to_status: Mapped[ReferralStatus] = mapped_column(enum_column(ReferralStatus, "to_status"))
    occurred_at: Mapped[dt.datetime]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    note: Mapped[str | None] = mapped_column(String(300))


class DocumentKind(enum.StrEnum):
    REFERRAL_LETTER = "referral_letter"
    CLINICAL_SUMMARY = "clinical_summary"
    TEST_RESULT = "test_result"
    CONSULT_REPORT = "consult_report"
    OTHER = "other"


class ReferralDocument(IdMixin, Base):
    """A document sent with a referral or received for it (the consult report). The bytes live in the row, in
    the same transaction as the rest (no file store to back up separately); listing never loads them."""

    __tablename__ = "referral_document"
    __table_args__ = (Index("ix_referral_document_referral", "referral_id", "uploaded_at"),)

    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))  # as detected from the bytes, not as declared
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    uploaded_at: Mapped[dt.datetime]


class ReferralTargets(Base):
    """An organisation's own target days from sending to the appointment, by urgency (rules.TARGET_DAYS when
    it has none)."""

    __tablename__ = "referral_targets"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    routine_days: Mapped[int]
    urgent_days: Mapped[int]
    stat_days: Mapped[int]
    updated_at: Mapped[dt.datetime]
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
