"""Task test helpers: a task factory and clock shorthands."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from careloop import clock
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from careloop.tasks import service as tasks
from careloop.tasks.models import Task, TaskPriority


def make_task(session: Session, patient: Patient, owner: Staff | None = None, **overrides: Any) -> Task:
    """A task for a patient, owned by owner (or in the queue given by queue_role)."""
    values: dict[str, Any] = {"title": "Call the patient", "owner_id": owner.id if owner else None,
                              "priority": TaskPriority.ROUTINE}
    values.update(overrides)
    return tasks.create_task(session, organization_id=patient.organization_id, patient_id=patient.id, **values)


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def in_hours(n: float) -> dt.datetime:
    return clock.now() + hours(n)
