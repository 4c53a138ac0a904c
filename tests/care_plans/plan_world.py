"""Helpers for care plan tests: a patient with a coordinator, a PCP, two chronic conditions, A1c and BP history."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from careloop import clock
from careloop.care_plans import content, service
from careloop.care_plans.models import CarePlan, GoalComparator
from careloop.care_plans.schemas import ActivityCreate, CarePlanCreate, GoalCreate
from careloop.clinical.models import Condition, Observation, ObservationCategory
from careloop.jobs import worker
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff, StaffRole
from factories import actor_of, make_org, make_patient, make_staff

A1C, SYSTOLIC = "4548-4", "8480-6"


@dataclass
class World:
    org: Organization
    coordinator: Staff
    pcp: Staff
    nurse: Staff
    patient: Patient
    diabetes: Condition
    hypertension: Condition

    @property
    def coordinator_actor(self):
        return actor_of(self.coordinator)

    @property
    def pcp_actor(self):
        return actor_of(self.pcp)


def observe(session: Session, world: World, code: str, value: float, days_ago: int) -> Observation:
    obs = Observation(organization_id=world.org.id, patient_id=world.patient.id, code=code,
                      category=ObservationCategory.LABORATORY, display=code, value_quantity=value,
                      unit="%" if code == A1C else "mm[Hg]", effective_at=clock.now() - dt.timedelta(days=days_ago))
    session.add(obs)
    session.flush()
    return obs


def build_world(session: Session) -> World:
    org = make_org(session)
    coordinator = make_staff(session, org)
    pcp = make_staff(session, org, StaffRole.PRIMARY_CARE_PHYSICIAN)
    nurse = make_staff(session, org, StaffRole.RN_CARE_MANAGER)
    patient = make_patient(session, org, coordinator, pcp=pcp)
    conditions = [Condition(organization_id=org.id, patient_id=patient.id, code=code, display=display, chronic=True)
                  for code, display in (("E11.9", "Type 2 diabetes mellitus"), ("I10", "Essential hypertension"))]
    session.add_all(conditions)
    session.flush()
    world = World(org, coordinator, pcp, nurse, patient, *conditions)
    observe(session, world, A1C, 8.6, days_ago=200)
    observe(session, world, A1C, 7.4, days_ago=10)
    observe(session, world, SYSTOLIC, 152, days_ago=5)
    session.commit()
    return world



def draft_with_content(session: Session, world: World, *, review_date: dt.date | None = None) -> CarePlan:
    """A draft addressing diabetes with an A1c goal, a BP goal and a monthly call activity."""
    actor = world.coordinator_actor
    plan = service.create_plan(session, actor, world.patient.id,
                               CarePlanCreate(title="Diabetes and hypertension", review_date=review_date,
                                              patient_goals="Walk my granddaughter to school"))
    content.add_problem(session, actor, plan.id, world.diabetes.id)
    a1c = content.add_goal(session, actor, plan.id, GoalCreate(
        description="A1c below 8 %", measure_code=A1C, comparator=GoalComparator.LT, target_value=8,
        target_unit="%", due_date=dt.date(2027, 6, 1)))
    content.add_goal(session, actor, plan.id, GoalCreate(
        description="Systolic blood pressure below 140", measure_code=SYSTOLIC, comparator=GoalComparator.LT,
        target_value=140, target_unit="mm[Hg]"))
    content.add_activity(session, actor, plan.id, ActivityCreate(
        description="Monthly check-in call", goal_id=a1c.id, frequency_days=30,
        next_due_date=clock.today(world.org.timezone) + dt.timedelta(days=3)))
    session.commit()
    return plan


def sign(session: Session, world: World, plan: CarePlan) -> CarePlan:
    signed = service.sign_plan(session, world.pcp_actor, plan.id, expected_version=None)
    session.commit()
    return signed


def dispatch(session: Session, session_factory) -> None:
    worker.run_once(session_factory)
    session.expire_all()


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def browse_as(client, session: Session, staff: Staff) -> str:
    """Sign the test client in as staff (a server-side session cookie); returns the session's CSRF token."""
    from careloop.auth import service as auth_service

    raw, web = auth_service.start_session(session, staff, None, mfa_pending=False)
    session.commit()
    client.cookies.set("careloop_session", raw)
    return web.csrf_token
