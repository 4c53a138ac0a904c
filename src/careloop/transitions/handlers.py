"""Follow-up on ADT events: tell the care team about an admission; withdraw work when it is cancelled."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop import clock
from careloop.care_teams.models import CareTeamMember
from careloop.events.models import DomainEvent
from careloop.events.service import subscribe
from careloop.tasks import service as tasks_service
from careloop.tasks.models import OPEN_STATUSES, Notification, Task, TaskStatus

_CLASS_WORDS = {"inpatient": "admitted to hospital", "observation": "placed in observation",
                "emergency": "seen in the emergency department"}


@subscribe("encounter.admitted")
def notify_care_team(session: Session, event: DomainEvent) -> None:
    """One in-app notification per active care-team member per encounter (replays add nothing)."""
    payload = event.payload or {}
    encounter_id = payload.get("encounter_id")
    if not encounter_id or event.patient_id is None:
        return
    members = session.scalars(select(CareTeamMember.staff_id).where(
        CareTeamMember.patient_id == event.patient_id, CareTeamMember.ended_at.is_(None)).distinct()).all()
    words = _CLASS_WORDS.get(payload.get("encounter_class", ""), "admitted")
    facility = f" at {payload['facility']}" if payload.get("facility") else ""
    rows = [{"id": uuid.uuid4(), "organization_id": event.organization_id, "recipient_id": staff_id,
             "patient_id": event.patient_id, "kind": "admission", "link": f"/patients/{event.patient_id}",
             "message": f"Your patient was {words}{facility}."[:300], "dedupe_key": f"admit:{encounter_id}:{staff_id}",
             "created_at": clock.now(), "updated_at": clock.now()} for staff_id in members]
    if rows:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(Notification).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


@subscribe("encounter.admit_cancelled")
def withdraw_admission_work(session: Session, event: DomainEvent) -> None:
    """An A11 (admission entered in error): open tasks about that encounter are cancelled."""
    encounter_id = (event.payload or {}).get("encounter_id")
    if not encounter_id:
        return
    tasks = session.scalars(select(Task).where(Task.focus_id == uuid.UUID(encounter_id),
                                               Task.status.in_(OPEN_STATUSES))).all()
    for task in tasks:
        tasks_service.apply_transition(session, None, task, TaskStatus.CANCELLED,
                                       reason="The hospital cancelled the admission (HL7 A11)")
