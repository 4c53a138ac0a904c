"""Tracked orders (lab, imaging, other) and the result values that come back for them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop import clock
from careloop.db import Base, IdMixin, VersionedMixin
from careloop.enums import enum_column


class OrderKind(enum.StrEnum):
    LAB = "lab"
    IMAGING = "imaging"
    OTHER = "other"


class ResultStatus(enum.StrEnum):
    ORDERED = "ordered"
    PERFORMED = "performed"
    RESULTED = "resulted"
    REVIEWED = "reviewed"
    COMMUNICATED = "communicated"
    CANCELLED = "cancelled"


class ResultFlag(enum.StrEnum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"
    CRITICAL = "critical"


class ResultOrder(IdMixin, VersionedMixin, Base):
    """An order tracked from placing it to telling the patient its result."""

    __tablename__ = "result_order"
    __table_args__ = (UniqueConstraint("organization_id", "placer_number"),
                      Index("ix_result_order_patient", "patient_id", "ordered_at"),
                      Index("ix_result_order_org_status", "organization_id", "status", "status_at"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id"))
    ordered_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    placer_number: Mapped[str] = mapped_column(String(64))  # the order number results refer to (ORC-2/OBR-2)
    kind: Mapped[OrderKind] = mapped_column(enum_column(OrderKind))
    code: Mapped[str] = mapped_column(String(20))
    code_system: Mapped[str] = mapped_column(String(100))
    display: Mapped[str] = mapped_column(String(200))
    status: Mapped[ResultStatus] = mapped_column(enum_column(ResultStatus), default=ResultStatus.ORDERED)
    status_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    ordered_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expected_by: Mapped[dt.datetime]
    flag: Mapped[ResultFlag | None] = mapped_column(enum_column(ResultFlag))
    resulted_at: Mapped[dt.datetime | None]
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[dt.datetime | None]
    communicated_at: Mapped[dt.datetime | None]
    communication_method: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(300))


class ResultValue(IdMixin, Base):
    """One observation of a result (an OBX): value, unit, reference range and interpretation."""

    __tablename__ = "result_value"
    __table_args__ = (Index("ix_result_value_order", "order_id"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("result_order.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    code: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(30))
    reference_range: Mapped[str | None] = mapped_column(String(60))
    interpretation: Mapped[str | None] = mapped_column(String(5))  # HL7 table 0078: N, A, AA, H, HH, L, LL
    observed_at: Mapped[dt.datetime]
    superseded_at: Mapped[dt.datetime | None]  # a later (corrected or final) value for the same code came
    source: Mapped[str] = mapped_column(String(10), default="api")  # api or hl7 (the ORU^R01 message kept raw)
