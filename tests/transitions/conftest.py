"""Transitions fixtures: an organisation with an HL7 route, a coordinator and a patient on their team."""

from __future__ import annotations

import datetime as dt

import pytest

from careloop.integrations.hl7v2.models import Hl7Route
from careloop.integrations.hl7v2.service import Frame, Ingest
from careloop.staff.models import StaffRole
from factories import make_org, make_patient, make_staff


@pytest.fixture
def org(session):
    organization = make_org(session)
    session.add(Hl7Route(organization_id=organization.id, receiving_facility="CARELOOP"))
    session.commit()
    return organization


@pytest.fixture
def coordinator(session, org):
    return make_staff(session, org, StaffRole.CARE_COORDINATOR)


@pytest.fixture
def patient(session, org, coordinator):
    p = make_patient(session, org, coordinator, mrn="T100", mrn_authority="HOSP", birth_date=dt.date(1950, 1, 1))
    session.commit()
    return p


@pytest.fixture
def feed(session_factory, org):
    ingest = Ingest(session_factory)
    return lambda *texts: ingest.handle([Frame(t.encode()) for t in texts])
