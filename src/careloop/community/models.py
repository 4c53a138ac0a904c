"""Community services and the referrals that connect patients to them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop import clock
from careloop.db import Base, IdMixin, TimestampMixin, VersionedMixin
from careloop.enums import enum_column


class Need(enum.StrEnum):
    """Social needs, as the common screening domains (AHC HRSN, Gravity Project) name them."""

    FOOD = "food"
    HOUSING = "housing"
    TRANSPORTATION = "transportation"
    UTILITIES = "utilities"
    INTERPERSONAL_SAFETY = "interpersonal_safety"
    FINANCIAL_STRAIN = "financial_strain"
    BEHAVIORAL_HEALTH = "behavioral_health"


class CommunityReferralStatus(enum.StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    SERVICE_PROVIDED = "service_provided"
    UNABLE_TO_CONTACT = "unable_to_contact"
    DECLINED_BY_PATIENT = "declined_by_patient"
    NOT_ELIGIBLE = "not_eligible"


class ConsentMethod(enum.StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"
    ELECTRONIC = "electronic"


class CommunityService(IdMixin, TimestampMixin, Base):
    """A community organisation's service in the organisation's directory."""

    __tablename__ = "community_service"
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    needs: Mapped[list] = mapped_column(JSON, default=list)  # Need values it serves
    area: Mapped[str | None] = mapped_column(String(200))  # where it serves (e.g. counties, ZIP codes)
    eligibility: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(300))
    address_line: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)


class CommunityReferral(IdMixin, VersionedMixin, Base):
    """A referral for a social need, with the patient's consent, tracked until the service reports an outcome."""

    __tablename__ = "community_referral"
    __table_args__ = (Index("ix_community_referral_patient", "patient_id", "created_at"),
                      Index("ix_community_referral_org_status", "organization_id", "status", "status_at"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community_service.id"))
    need: Mapped[Need] = mapped_column(enum_column(Need))
    note: Mapped[str | None] = mapped_column(Text)
    consent_method: Mapped[ConsentMethod] = mapped_column(enum_column(ConsentMethod))
    consent_at: Mapped[dt.datetime]
    referred_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[CommunityReferralStatus] = mapped_column(enum_column(CommunityReferralStatus),
                                                            default=CommunityReferralStatus.SENT)
    status_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    outcome_note: Mapped[str | None] = mapped_column(String(300))
    closed_at: Mapped[dt.datetime | None]
