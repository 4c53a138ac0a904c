"""JSON transitions board."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require
from careloop.auth.permissions import Permission
from careloop.routing import db, router
from careloop.transitions import queries

api = router(prefix="/api/v1/transitions", tags=["transitions"])


class DeadlineRead(BaseModel):
    step_key: str | None
    title: str
    due_at: dt.datetime | None
    status: str
    task_id: uuid.UUID


class StayRead(BaseModel):
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    mrn: str
    encounter_class: str
    status: str
    start_at: dt.datetime
    end_at: dt.datetime | None
    facility_name: str | None
    discharge_disposition: str | None
    readmission_of_id: uuid.UUID | None
    deadlines: list[DeadlineRead]


class BoardRead(BaseModel):
    admitted: list[StayRead]
    discharged: list[StayRead]
    readmitted: list[StayRead]


def _stay(s: queries.Stay) -> StayRead:
    e, p = s.encounter, s.patient
    return StayRead(encounter_id=e.id, patient_id=p.id, patient_name=f"{p.family_name}, {p.given_name}", mrn=p.mrn,
                    encounter_class=e.encounter_class.value, status=e.status.value, start_at=e.start_at,
                    end_at=e.end_at, facility_name=e.facility_name, discharge_disposition=e.discharge_disposition,
                    readmission_of_id=e.readmission_of_id,
                    deadlines=[DeadlineRead(**vars(d)) for d in s.deadlines])


@api.get("", response_model=BoardRead, summary="Currently admitted, recently discharged (with deadlines), readmitted")
def board(session: Annotated[Session, Depends(db)],
          actor: Annotated[Actor, Depends(require(Permission.TRANSITIONS_READ))]) -> BoardRead:
    b = queries.board(session, actor)
    return BoardRead(admitted=[_stay(s) for s in b.admitted], discharged=[_stay(s) for s in b.discharged],
                     readmitted=[_stay(s) for s in b.readmitted])
