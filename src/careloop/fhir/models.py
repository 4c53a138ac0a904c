"""Bulk import bookkeeping: the files already imported (resumable, idempotent runs)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop import clock
from careloop.db import Base, IdMixin


class ImportedFile(IdMixin, Base):
    """A file (by content digest) fully imported for an organisation, with what it held."""

    __tablename__ = "fhir_imported_file"
    __table_args__ = (UniqueConstraint("organization_id", "digest", name="uq_fhir_imported_file"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the bytes
    name: Mapped[str] = mapped_column(String(255))  # the file name only (no directories)
    counts: Mapped[dict] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class ExportJob(IdMixin, Base):
    """A Bulk Data $export request: who asked (their access at the time decides what is exported), what,
    and where its NDJSON files are once the worker has written them."""

    __tablename__ = "fhir_export_job"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    level: Mapped[str] = mapped_column(String(10))  # system, patient, group
    group_id: Mapped[uuid.UUID | None]  # group level: the care coordinator whose panel is exported
    types: Mapped[list] = mapped_column(JSON)
    since: Mapped[dt.datetime | None]
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    client_name: Mapped[str | None] = mapped_column(String(100))
    permissions: Mapped[list] = mapped_column(JSON)  # the requester's permissions when asking
    org_wide: Mapped[bool] = mapped_column(default=False)
    patient_scope: Mapped[list | None] = mapped_column(JSON)  # a patient-scoped token's patients (ids as text)
    request_url: Mapped[str] = mapped_column(String(500))  # without query PHI: only _type and _since are accepted
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, running, done, failed, cancelled
    requested_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    transaction_time: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    output: Mapped[list] = mapped_column(JSON, default=list)  # [{"type", "count"}]
    error: Mapped[str | None] = mapped_column(String(300))
