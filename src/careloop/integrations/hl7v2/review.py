"""People's side of the feed: routes, the review queue (link or create the patient), dead letters, replay."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from careloop import clock
from careloop.audit import service as audit
from careloop.auth import access
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.db import session_scope
from careloop.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from careloop.integrations.hl7v2 import adt
from careloop.integrations.hl7v2.adt import AdtError, AdtEvent
from careloop.integrations.hl7v2.apply import apply_event, apply_to_patient
from careloop.integrations.hl7v2.models import DEAD_LETTER_STATUSES, Hl7Message, Hl7Route, MessageStatus
from careloop.integrations.hl7v2.parse import ParseError, parse
from careloop.integrations.hl7v2.service import Frame, Ingest
from careloop.integrations.hl7v2.visits import write_events
from careloop.organizations.models import Organization
from careloop.patients import service as patients_service
from careloop.patients.schemas import PatientCreate

LIMIT = 200


def add_route(session: Session, org: Organization, receiving_facility: str, label: str | None) -> Hl7Route:
    """Route a receiving facility (MSH-6) to an organisation (operators: CLI)."""
    facility = receiving_facility.strip()
    if not facility or len(facility) > 200:
        raise InvalidInput("Receiving facility must have 1 to 200 characters", field="receiving_facility")
    if session.scalar(select(Hl7Route.id).where(Hl7Route.receiving_facility == facility)):
        raise Conflict("That receiving facility is already routed", code="duplicate_route")
    route = Hl7Route(organization_id=org.id, receiving_facility=facility, label=label)
    session.add(route)
    session.flush()
    return route


def review_queue(session: Session, actor: Actor) -> list[Hl7Message]:
    """Messages waiting for a person to say which patient they are about (oldest first)."""
    actor.require(Permission.HL7_ADMIN)
    stmt = select(Hl7Message).where(Hl7Message.organization_id == actor.organization_id,
                                    Hl7Message.status == MessageStatus.NEEDS_REVIEW).order_by(Hl7Message.id)
    return list(session.scalars(stmt.limit(LIMIT)))


def dead_letters(session: Session, actor: Actor | None, *, limit: int = LIMIT) -> list[Hl7Message]:
    """Rejected and failed messages not yet resolved, newest first (all organisations for operators)."""
    stmt = select(Hl7Message).where(Hl7Message.status.in_(DEAD_LETTER_STATUSES), Hl7Message.resolved_at.is_(None))
    if actor is not None:
        actor.require(Permission.HL7_ADMIN)
        stmt = stmt.where(Hl7Message.organization_id == actor.organization_id)
    return list(session.scalars(stmt.order_by(Hl7Message.id.desc()).limit(limit)))


def get_message(session: Session, actor: Actor, message_id: int) -> Hl7Message:
    """One stored message of the actor's organisation (raw text included: HL7 admins only)."""
    actor.require(Permission.HL7_ADMIN)
    message = session.get(Hl7Message, message_id)
    if message is None or message.organization_id != actor.organization_id:
        raise NotFound("No such message")
    return message


def pending_event(session: Session, message: Hl7Message) -> AdtEvent:
    """Re-read a stored message into its event (it was readable when stored)."""
    tz = session.scalar(select(Organization.timezone).where(Organization.id == message.organization_id))
    try:
        parsed = parse(message.raw)
        return adt.read_event(parsed, adt.read_header(parsed), tz or "UTC")
    except (ParseError, AdtError) as err:
        raise InvalidInput(f"The stored message cannot be read: {err}") from err


def link_patient(session: Session, actor: Actor, message_id: int, patient_id: uuid.UUID) -> Hl7Message:
    """Apply a queued message to the patient a person chose; later queued messages for the same hospital
    identifier follow it."""
    message = _waiting(session, actor, message_id)
    patient = access.load_patient(session, actor, patient_id, Permission.PATIENT_WRITE)
    event = pending_event(session, message)
    _record(session, actor, message, apply_to_patient(session, message.organization_id, event, patient.id,
                                                      message.id))
    audit.record(session, actor, "hl7_link", patient_id=patient.id, record_type="Hl7Message",
                 record_id=str(message.id))
    _apply_followers(session, actor, message)
    return message


def create_patient(session: Session, actor: Actor, message_id: int, coordinator_id: uuid.UUID) -> Hl7Message:
    """Register the message's patient (hospital MRN as identifier), then link the message to them."""
    message = _waiting(session, actor, message_id)
    data = pending_event(session, message).patient
    authority, mrn = data.identifiers[0]
    try:
        create = PatientCreate(mrn=mrn, mrn_authority=authority, given_name=data.given_name or "Unknown",
                               family_name=data.family_name or "Unknown", middle_name=data.middle_name or None,
                               birth_date=data.birth_date, sex=data.sex or "unknown",
                               primary_care_coordinator_id=coordinator_id)
    except ValueError as err:
        raise InvalidInput("The message's demographics are incomplete; link an existing patient instead",
                           field="message") from err
    patient = patients_service.create_patient(session, create, actor=actor, confirm_distinct=True)
    return link_patient(session, actor, message_id, patient.id)


def dismiss(session: Session, actor: Actor, message_id: int, reason: str) -> Hl7Message:
    """Close a queued message or dead letter that needs no action (the reason is kept)."""
    message = get_message(session, actor, message_id)
    if message.status not in (MessageStatus.NEEDS_REVIEW, *DEAD_LETTER_STATUSES) or message.resolved_at:
        raise InvalidTransition("Only queued messages and dead letters can be dismissed")
    reason = " ".join(reason.split())[:300]
    if len(reason) < 3:
        raise InvalidInput("Say why the message needs no action", field="reason")
    if message.status == MessageStatus.NEEDS_REVIEW:
        message.status = MessageStatus.DISMISSED
    message.resolved_at, message.resolved_by_id, message.note = clock.now(), actor.staff_id, reason
    audit.record(session, actor, "hl7_dismiss", record_type="Hl7Message", record_id=str(message.id))
    return message


def replay(factory: sessionmaker[Session] | None, message_id: int, actor: Actor | None = None) -> str:
    """Send a dead letter or queued message through the pipeline again; returns the new ACK code."""
    with session_scope(factory) as session:
        message = get_message(session, actor, message_id) if actor else session.get(Hl7Message, message_id)
        if message is None:
            raise NotFound("No such message")
        if message.status not in (MessageStatus.NEEDS_REVIEW, *DEAD_LETTER_STATUSES) or message.resolved_at:
            raise InvalidTransition("Only queued messages and unresolved dead letters can be replayed")
        raw = message.raw
        session.execute(update(Hl7Message).where(Hl7Message.id == message.id).values(
            dedupe_key=None, resolved_at=clock.now(), resolved_by_id=actor.staff_id if actor else None,
            note="replayed"))
    ack = Ingest(factory).handle([Frame(raw.encode("utf-8"), "replay", None)])[0]
    return ack.split("\r")[1].split(ack[3])[1]


def _waiting(session: Session, actor: Actor, message_id: int) -> Hl7Message:
    message = get_message(session, actor, message_id)
    if message.status != MessageStatus.NEEDS_REVIEW:
        raise InvalidTransition("This message is not waiting for review")
    return message


def _record(session: Session, actor: Actor, message: Hl7Message, applied) -> None:
    message.status, message.patient_id, message.encounter_id = applied.status, applied.patient_id, \
        applied.encounter_id
    message.note, message.processed_at = applied.note, clock.now()
    message.resolved_at, message.resolved_by_id = clock.now(), actor.staff_id
    audit.record_many(session, actor, applied.entries)
    write_events(session, applied.events)


def _apply_followers(session: Session, actor: Actor, first: Hl7Message) -> None:
    """Queued messages with the same hospital identifier, oldest event first, now match by identifier."""
    stmt = select(Hl7Message).where(
        Hl7Message.organization_id == first.organization_id, Hl7Message.status == MessageStatus.NEEDS_REVIEW,
        Hl7Message.patient_identifier == first.patient_identifier, Hl7Message.id != first.id
    ).order_by(Hl7Message.event_at, Hl7Message.id).limit(LIMIT)
    for message in session.scalars(stmt).all():
        try:
            with session.begin_nested():
                applied = apply_event(session, message.organization_id, pending_event(session, message), message.id)
        except (AdtError, InvalidInput) as err:
            message.status, message.error_text = MessageStatus.ERROR, str(err)[:500]
            continue
        if applied.status == MessageStatus.APPLIED:
            _record(session, actor, message, applied)



def find_patient_by_mrn(session: Session, actor: Actor, mrn: str) -> uuid.UUID:
    """The patient a person means by an MRN (the organisation's, or a hospital's already linked)."""
    from careloop.integrations.hl7v2.apply import find_by_identifiers
    from careloop.patients.models import Patient

    mrn = mrn.strip()
    found = set(session.scalars(select(Patient.id).where(Patient.organization_id == actor.organization_id,
                                                         Patient.mrn == mrn, Patient.merged_into_id.is_(None))))
    if not found:
        found = find_by_identifiers(session, actor.organization_id, [(a, mrn) for a in _authorities(session, actor,
                                                                                                    mrn)]).patients
    if len(found) != 1:
        raise InvalidInput("No single patient has that MRN", field="mrn")
    return found.pop()


def _authorities(session: Session, actor: Actor, value: str) -> list[str]:
    from careloop.integrations.hl7v2.models import Hl7PatientIdentifier as X

    return list(session.scalars(select(X.authority).where(X.organization_id == actor.organization_id,
                                                          X.value == value).limit(5)))
