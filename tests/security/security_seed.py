"""The seeded world of the security suites: two organisations, one staff member per role, patients with records."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from careloop import clock
from careloop.auth import service as auth_service
from careloop.auth.actor import system_actor
from careloop.auth.models import BreakGlassGrant
from careloop.care_plans import content
from careloop.care_plans import service as plans
from careloop.care_plans.schemas import ActivityCreate, CarePlanCreate, EducationCreate, GoalCreate
from careloop.care_teams import service as care_teams
from careloop.care_teams.models import CareTeamMember, CareTeamRole
from careloop.clinical import service as clinical
from careloop.community import service as community
from careloop.community.models import CommunityService
from careloop.community.schemas import CommunityReferralCreate
from careloop.events.models import DomainEvent
from careloop.fhir import export
from careloop.integrations.hl7v2.models import Hl7Message, Hl7Route, MessageStatus
from careloop.medications import service as medications
from careloop.medications.schemas import InstructionIn, LineDecision, ReconciliationStart
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.protocols import service as protocols
from careloop.referrals import documents as referral_documents
from careloop.referrals import service as referrals
from careloop.referrals.models import DocumentKind, Provider, ProviderKind
from careloop.referrals.schemas import ReferralCreate
from careloop.results import service as results
from careloop.results.schemas import OrderCreate
from careloop.staff.models import Staff, StaffRole
from careloop.tasks import service as tasks_service
from careloop.tasks.schemas import TaskCreate
from factories import make_org, make_patient, make_staff, make_token

# A minimal valid body for creating (and, second, for updating) each kind of clinical record.
RECORD_BODIES: dict[str, tuple[dict, dict]] = {
    "conditions": ({"code": "E11.9", "display": "Type 2 diabetes mellitus"}, {"chronic": True}),
    "encounters": ({"encounter_class": "ambulatory", "start_at": "2025-03-01T10:00:00Z"},
                   {"facility_name": "Main Street Clinic"}),
    "observations": ({"category": "vital_signs", "code": "8480-6", "display": "Systolic blood pressure",
                      "value_quantity": 128, "unit": "mm[Hg]", "effective_at": "2025-03-01T10:05:00Z"},
                     {"unit": "mm[Hg]"}),
    "medications": ({"display": "Metformin 500 mg tablet"}, {"dose": "500 mg"}),
    "allergies": ({"substance": "Penicillin", "category": "medication"}, {"reaction": "Rash"}),
    "procedures": ({"code": "73761001", "display": "Colonoscopy", "performed_at": "2025-03-01T09:00:00Z"},
                   {"reason": "Screening"}),
    "immunizations": ({"code": "140", "display": "Influenza, seasonal, injectable",
                       "occurred_at": "2025-10-01T09:00:00Z"}, {"lot_number": "LOT123"}),
    "outside_care_plans": ({"title": "Diabetes self management plan", "provider": "Lakeside Clinic",
                            "activities": [{"display": "Diabetic diet"}]}, {"status": "completed"}),
    "outside_care_teams": ({"organization": "Lakeside Clinic", "members": [{"name": "Dr. Ada Heart"}]},
                           {"status": "inactive"}),
}


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"  # a minimal PDF

@dataclass
class Tenant:
    """One organisation's seeded records."""

    org: Organization
    staff: dict[StaffRole, Staff]
    patient: Patient  # the coordinator (staff[CARE_COORDINATOR]) is on its care team
    duplicate: Patient  # a second patient, e.g. to merge into the first
    records: dict[str, uuid.UUID]  # clinical record kind -> id of a record of `patient`
    member: CareTeamMember  # a non-coordinator member of `patient`'s team (can be ended)
    grant: BreakGlassGrant  # an emergency access (by another coordinator) awaiting review
    target: Staff  # a staff member whose role and status the administrator may change
    spare: Staff  # an eligible clinician who is not yet on `patient`'s team
    outsider: Staff  # a care coordinator who is on no care team
    task: uuid.UUID  # a task for `patient`, owned by the coordinator
    queued_task: uuid.UUID  # a task for `patient` waiting, unowned, in the care coordinators' queue
    fresh: Patient  # a patient without any care plan (the coordinator is on its team)
    plans: dict[str, uuid.UUID]  # "active" (of `patient`), "draft" (of `duplicate`) and their parts
    run: uuid.UUID  # a protocol run (intake) of `patient`
    messages: dict[str, int]  # HL7 messages: "review" (unknown patient, queued), "dead" (AE dead letter)
    hl7_facility: str  # the receiving facility (MSH-6) routed to this organisation
    provider: uuid.UUID  # a directory entry (cardiology)
    referral: uuid.UUID  # a draft referral of `patient` by its PCP to `provider`
    community_service: uuid.UUID  # a food bank in the community directory
    community_referral: uuid.UUID  # a referral of `patient` to it, sent with consent
    result_order: uuid.UUID  # a lab order of `patient` by its PCP, waiting for its result
    referral_document: uuid.UUID  # a PDF letter attached to `referral`
    reconciliation: uuid.UUID  # practice vs discharge list of `patient`, every line decided, not signed
    reconciliation_line: uuid.UUID  # one of its lines
    education_medication: uuid.UUID  # a coded medicine of `duplicate` (the draft plan's patient) with instructions
    export_job: uuid.UUID  # a finished system-level FHIR $export (Patient and Observation) of the supervisor
    tokens: dict[StaffRole, str] = field(default_factory=dict)

    def token(self, role: StaffRole) -> str:
        return self.tokens[role]


@dataclass
class World:
    a: Tenant
    b: Tenant
    session: Session


def build_tenant(session: Session, *, tokens: bool = True) -> Tenant:
    """An organisation with one staff member per role, two patients, one record of each kind and a grant."""
    org = make_org(session)
    staff = {role: make_staff(session, org, role) for role in StaffRole}
    coordinator = staff[StaffRole.CARE_COORDINATOR]
    patient = make_patient(session, org, coordinator, pcp=staff[StaffRole.PRIMARY_CARE_PHYSICIAN])
    duplicate = make_patient(session, org, coordinator)
    system = system_actor(org.id)
    records = {kind: clinical.create_record(session, system, clinical.KINDS[kind], patient.id,
                                            clinical.KINDS[kind].create(**bodies[0])).id
               for kind, bodies in RECORD_BODIES.items()}
    member = care_teams.assign(session, system, patient, CareTeamRole.SOCIAL_WORKER, staff[StaffRole.SOCIAL_WORKER].id)
    outsider = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    responder = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    grant = auth_service.break_glass(session, auth_service.actor_for_staff(responder), patient.id,
                                     "Seeded emergency access for review")
    tasks = [tasks_service.create(session, system, TaskCreate(patient_id=patient.id, title=title, **owner))
             for title, owner in (("Call about medications", {"owner_id": coordinator.id}),
                                  ("Schedule follow-up", {"queue_role": StaffRole.CARE_COORDINATOR}))]
    tenant = Tenant(org=org, staff=staff, patient=patient, duplicate=duplicate, records=records, member=member,
                    grant=grant, target=make_staff(session, org, StaffRole.SCHEDULER),
                    spare=make_staff(session, org, StaffRole.PHARMACIST), outsider=outsider,
                    task=tasks[0].id, queued_task=tasks[1].id, fresh=make_patient(session, org, coordinator),
                    plans=_care_plans(session, staff, patient, duplicate, records["conditions"]),
                    run=_protocol_run(session, patient), **_hl7_messages(session, org),
                    **_referral(session, staff[StaffRole.PRIMARY_CARE_PHYSICIAN], patient),
                    **_medications(session, staff[StaffRole.PRIMARY_CARE_PHYSICIAN], patient, duplicate),
                    export_job=_export(session, staff[StaffRole.SUPERVISOR]))
    if tokens:
        tenant.tokens = {role: make_token(session, s) for role, s in staff.items()}
    return tenant


def _plan_content(session: Session, actor, plan_id: uuid.UUID, condition_id: uuid.UUID | None) -> dict[str, uuid.UUID]:
    ids = {}
    if condition_id is not None:
        ids["problem"] = content.add_problem(session, actor, plan_id, condition_id).id
    ids["goal"] = content.add_goal(session, actor, plan_id, GoalCreate(description="Walk 20 minutes a day")).id
    ids["activity"] = content.add_activity(session, actor, plan_id, ActivityCreate(
        description="Weekly check-in call", goal_id=ids["goal"], frequency_days=7,
        next_due_date=clock.today() + dt.timedelta(days=2))).id
    ids["education"] = content.add_education(session, actor, plan_id, EducationCreate(
        title="Staying active", body="Short walks after meals help.")).id
    return ids


def _care_plans(session: Session, staff: dict[StaffRole, Staff], patient: Patient, duplicate: Patient,
                condition_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """An active plan for `patient` (signed by the PCP) and a draft for `duplicate`, each with content."""
    writer = auth_service.actor_for_staff(staff[StaffRole.CARE_COORDINATOR])
    active = plans.create_plan(session, writer, patient.id, CarePlanCreate(title="Heart failure plan"))
    active_parts = _plan_content(session, writer, active.id, condition_id)
    plans.sign_plan(session, auth_service.actor_for_staff(staff[StaffRole.PRIMARY_CARE_PHYSICIAN]), active.id,
                    expected_version=None)
    draft = plans.create_plan(session, writer, duplicate.id, CarePlanCreate(title="First plan"))
    kind = clinical.KINDS["conditions"]
    condition = clinical.create_record(session, system_actor(patient.organization_id), kind, duplicate.id,
                                       kind.create(**RECORD_BODIES["conditions"][0]))
    draft_parts = _plan_content(session, writer, draft.id, condition.id)
    spare = clinical.create_record(session, system_actor(patient.organization_id), kind, duplicate.id,
                                   kind.create(code="I10", display="Essential hypertension"))
    return {"active": active.id, "draft": draft.id, "spare_condition": spare.id,
            **{f"active_{k}": v for k, v in active_parts.items()},
            **{f"draft_{k}": v for k, v in draft_parts.items()}}


def _referral(session: Session, pcp: Staff, patient: Patient) -> dict[str, uuid.UUID]:
    """A directory entry and a draft referral to it."""
    provider = Provider(organization_id=patient.organization_id, external_id=uuid.uuid4().hex[:10],
                        kind=ProviderKind.PRACTITIONER, name="Dr. Ada Heart", specialty_code="207RC0000X",
                        specialty_display="Cardiovascular Disease")
    session.add(provider)
    session.flush()
    referral = referrals.create_referral(session, auth_service.actor_for_staff(pcp), patient.id, ReferralCreate(
        provider_id=provider.id, reason="Worsening dyspnoea"))
    service = CommunityService(organization_id=patient.organization_id, external_id=uuid.uuid4().hex[:10],
                               name="Eastside Food Bank", needs=["food"])
    session.add(service)
    session.flush()
    community_referral = community.create_referral(
        session, auth_service.actor_for_staff(pcp), patient.id, CommunityReferralCreate(
            service_id=service.id, need="food", consent=True, consent_method="verbal"))
    order = results.create_order(session, auth_service.actor_for_staff(pcp), patient.id,
                                 OrderCreate(code="2345-7", display="Glucose"))
    document = referral_documents.add(session, auth_service.actor_for_staff(pcp), referral.id, PDF,
                                      declared_type="application/pdf", filename="letter.pdf",
                                      kind=DocumentKind.REFERRAL_LETTER)
    return {"provider": provider.id, "referral": referral.id, "community_service": service.id,
            "community_referral": community_referral.id, "result_order": order.id,
            "referral_document": document.id}


def _medications(session: Session, pcp: Staff, patient: Patient, duplicate: Patient) -> dict[str, uuid.UUID]:
    """A discharge list beside the practice list, reconciled line by line (not signed), and instructions."""
    actor = auth_service.actor_for_staff(pcp)
    meds = clinical.KINDS["medications"]
    clinical.create_record(session, actor, meds, patient.id, meds.create(
        display="lisinopril 20 MG Oral Tablet", code="314077", source="hospital_discharge"))
    rec = medications.start_reconciliation(session, actor, patient.id, ReconciliationStart())
    lines = medications.lines_of(session, rec)
    for line in lines:
        medications.decide(session, actor, rec.id, line.id, LineDecision(decision="continue"))
    education = clinical.create_record(session, system_actor(duplicate.organization_id), meds, duplicate.id,
                                       meds.create(display="lisinopril 10 MG Oral Tablet", code="314076"))
    medications.save_instruction(session, actor, InstructionIn(
        ingredient_rxcui="29046", title="Lisinopril", purpose="Lowers blood pressure.",
        how_to_take="One tablet each morning.", watch_for="Dizziness or a dry cough."))
    return {"reconciliation": rec.id, "reconciliation_line": lines[0].id, "education_medication": education.id}


def _export(session: Session, supervisor: Staff) -> uuid.UUID:
    """A finished $export of the supervisor: its files written by the worker's code, in this transaction."""
    job = export.kick_off(session, auth_service.actor_for_staff(supervisor), "system", types="Patient,Observation",
                          since=None, group_id=None, request_url="http://testserver/fhir/$export")
    export.run_job(sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint"), job.id)
    return job.id


def _protocol_run(session: Session, patient: Patient) -> uuid.UUID:
    """The intake run the patient's enrolment starts (the event is dispatched here rather than by a worker)."""
    session.flush()
    enrolled = session.scalars(select(DomainEvent).where(DomainEvent.patient_id == patient.id,
                                                         DomainEvent.type == "patient.enrolled")).one()
    [run_id, *_] = protocols.start_runs(session, [enrolled])
    return run_id


ADT = ("MSH|^~\\&|HIS|GENHOSP|CL|{facility}|20261101080000||ADT^A01|{control}|P|2.5.1\r"
        "EVN|A01|20261101080000\r"
        "PID|1||{mrn}^^^HOSP^MR||Unmatched^Person||19600101|F\r"
        "PV1|1|I|4E^401^B^GENHOSP|||||||||||||||{visit}")


def _hl7_messages(session: Session, org: Organization) -> dict:
    """A route, a message waiting in the review queue (no such patient here) and a dead letter (AE)."""
    facility = f"FAC{uuid.uuid4().hex[:8]}"
    session.add(Hl7Route(organization_id=org.id, receiving_facility=facility, label="seeded feed"))
    ids = {}
    for name, status, ack in (("review", MessageStatus.NEEDS_REVIEW, "AA"), ("dead", MessageStatus.ERROR, "AE")):
        control = uuid.uuid4().hex[:20]
        raw = ADT.format(facility=facility, control=control, mrn=f"H{control[:8]}", visit=f"V{control[:6]}")
        message = Hl7Message(organization_id=org.id, channel="http", raw=raw, received_at=clock.now(),
                             sending_facility="GENHOSP", receiving_facility=facility, control_id=control,
                             message_type="ADT", trigger_event="A01", hl7_version="2.5.1", status=status,
                             ack_code=ack, dedupe_key=f"GENHOSP|{control}", patient_identifier=f"H{control[:8]}",
                             error_text="seeded dead letter" if status == MessageStatus.ERROR else None)
        session.add(message)
        session.flush()
        ids[name] = message.id
    return {"messages": ids, "hl7_facility": facility}
