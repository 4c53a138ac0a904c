"""Organisation services."""

from __future__ import annotations

import uuid
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import Conflict, InvalidInput, NotFound
from careloop.organizations.models import Organization


def create_organization(session: Session, name: str, *, timezone: str = "America/New_York",
                        mrn_authority: str | None = None) -> Organization:
    """A new tenant; names are unique."""
    name = " ".join(name.split())
    if not 2 <= len(name) <= 200:
        raise InvalidInput("Organisation name must have 2 to 200 characters", field="name")
    if timezone not in available_timezones():
        raise InvalidInput("Unknown time zone", field="timezone")
    if session.scalar(select(Organization.id).where(Organization.name == name)):
        raise Conflict("An organisation with that name already exists", code="duplicate_organization")
    org = Organization(name=name, timezone=timezone,
                       mrn_authority=mrn_authority or f"urn:careloop:mrn:{uuid.uuid4()}")
    session.add(org)
    session.flush()
    return org


def find_organization(session: Session, name_or_id: str) -> Organization:
    """An organisation by id or exact name."""
    try:
        org = session.get(Organization, uuid.UUID(name_or_id))
    except ValueError:
        org = session.scalar(select(Organization).where(Organization.name == " ".join(name_or_id.split())))
    if org is None:
        raise NotFound("No such organisation")
    return org
