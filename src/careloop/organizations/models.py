"""Organisation: the tenant that owns patients, staff and every record."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db import Base, IdMixin, VersionedMixin


class Organization(IdMixin, VersionedMixin, Base):
    """A practice, ACO or care-management organisation."""

    __tablename__ = "organization"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    mrn_authority: Mapped[str] = mapped_column(String(200), default="urn:careloop:mrn")
