"""Fixtures for page tests: a small world of staff and patients, settings changed through the environment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from careloop.config import get_settings
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole
from factories import make_org, make_patient, make_staff


@dataclass
class World:
    org: Organization
    coordinator: Staff
    other_coordinator: Staff
    supervisor: Staff
    mine: Patient
    theirs: Patient


@pytest.fixture
def world(session) -> World:
    """An organisation with two coordinators, a supervisor and one patient on each coordinator's team."""
    org = make_org(session)
    coordinator = make_staff(session, org, given_name="Casey", family_name="Coordinator")
    other = make_staff(session, org, given_name="Robin", family_name="Other")
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR, given_name="Sam", family_name="Supervisor")
    mine = make_patient(session, org, coordinator, given_name="Ada", family_name="Lovelace",
                        birth_date=dt.date(1950, 3, 4), mrn="MINE001")
    theirs = make_patient(session, org, other, given_name="Grace", family_name="Hopper",
                          birth_date=dt.date(1946, 12, 9), mrn="THEIRS01")
    session.commit()
    return World(org, coordinator, other, supervisor, mine, theirs)


@pytest.fixture
def settings_env(monkeypatch):
    """Change settings for one test through the environment (the cache is cleared before and after)."""
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"CARELOOP_{name.upper()}", value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
