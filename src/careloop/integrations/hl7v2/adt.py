"""ADT message -> typed event (pure: no database). Errors name the HL7 location and a table-0357 code."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from careloop import clock
from careloop.clinical.models import EncounterClass
from careloop.integrations.hl7v2.parse import Message, Segment

SUPPORTED_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})
SUPPORTED_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13",
                              "A40"})
SUPPORTED_TYPES = {"ADT": SUPPORTED_EVENTS, "ORU": frozenset({"R01"})}  # ORU^R01: results (oru.py)
VISIT_EVENTS = SUPPORTED_EVENTS - {"A40"}
OBSERVATION_CODES = frozenset({"OBS", "OBV"})
_CLASSES = {"I": EncounterClass.INPATIENT, "B": EncounterClass.INPATIENT, "P": EncounterClass.INPATIENT,
            "E": EncounterClass.EMERGENCY}
_SEX = {"F": "female", "M": "male", "O": "other", "A": "other", "N": "other", "U": "unknown"}
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")
_EARLIEST = dt.datetime(1901, 1, 1, tzinfo=dt.UTC)


@dataclass
class AdtError(Exception):
    """A problem with the message content; `code` is from HL7 table 0357, `location` like PID^1^3."""

    text: str
    code: str = "207"
    location: str = ""
    reject: bool = False  # AR (unsupported or unroutable) rather than AE (content to fix)

    def __str__(self) -> str:
        return self.text


@dataclass
class Header:
    """MSH fields used for routing, deduplication and the ACK."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    message_type: str
    trigger_event: str
    version: str
    sent_at_text: str


@dataclass
class PatientData:
    identifiers: list[tuple[str, str]]  # (authority, value), SSNs left out
    family_name: str
    given_name: str
    middle_name: str
    birth_date: dt.date | None
    sex: str | None
    address_line: str
    city: str
    state: str
    postal_code: str
    phone: str

    @property
    def display_identifier(self) -> str:
        authority, value = self.identifiers[0]
        return f"{value}^{authority}"


@dataclass
class VisitData:
    visit_number: str
    encounter_class: EncounterClass
    facility_name: str
    attending: str
    admit_at: dt.datetime | None
    discharge_at: dt.datetime | None
    disposition: str
    reason: str


@dataclass
class AdtEvent:
    header: Header
    event: str
    event_at: dt.datetime
    patient: PatientData
    visit: VisitData | None = None
    prior_identifiers: list[tuple[str, str]] = field(default_factory=list)


def read_header(msg: Message) -> Header:
    """MSH fields; AdtError (AR) when MSH-10 or MSH-9 is missing or too long."""
    msh = msg.segments[0]
    header = Header(sending_application=msh.value(3), sending_facility=msh.value(4) or msh.value(4, 1, 2),
                    receiving_application=msh.value(5), receiving_facility=msh.value(6) or msh.value(6, 1, 2),
                    control_id=msh.value(10).strip(), message_type=msh.value(9, 1, 1).strip(),
                    trigger_event=msh.value(9, 1, 2).strip(), version=msh.value(12).strip(),
                    sent_at_text=msh.value(7))
    if not header.control_id:
        raise AdtError("MSH-10 message control id is missing", "101", "MSH^1^10", reject=True)
    if len(header.control_id) > 199:
        raise AdtError("MSH-10 message control id is longer than 199 characters", "102", "MSH^1^10", reject=True)
    for name in ("sending_application", "sending_facility", "receiving_application", "receiving_facility"):
        if len(getattr(header, name)) > 200:
            raise AdtError("an MSH application or facility is longer than 200 characters", "102", "MSH^1", True)
    return header


def check_supported(header: Header) -> None:
    """AR for message types, events and versions this interface does not take."""
    if header.message_type not in SUPPORTED_TYPES:
        raise AdtError(f"message type {header.message_type[:10] or '(empty)'} is not supported", "200",
                       "MSH^1^9", reject=True)
    if header.trigger_event not in SUPPORTED_TYPES[header.message_type]:
        raise AdtError(f"event {header.trigger_event[:10] or '(empty)'} is not supported", "201", "MSH^1^9",
                       reject=True)
    if header.version not in SUPPORTED_VERSIONS:
        raise AdtError(f"version {header.version[:10] or '(empty)'} is not supported (2.3 to 2.5.1)", "203",
                       "MSH^1^12", reject=True)


def read_event(msg: Message, header: Header, tz: str) -> AdtEvent:
    """The typed event; AdtError (AE) for missing or invalid content."""
    zone = ZoneInfo(tz)
    evn, pid = msg.first("EVN"), msg.first("PID")
    when = (evn.value(2) if evn else "") or header.sent_at_text
    event_at = parse_datetime(when, zone, "EVN^1^2" if evn and evn.value(2) else "MSH^1^7")
    if event_at is None:
        raise AdtError("no event time (EVN-2 or MSH-7)", "101", "EVN^1^2")
    if event_at > clock.now() + dt.timedelta(days=1) or event_at < _EARLIEST:
        raise AdtError("event time is in the future or before 1901", "102", "EVN^1^2")
    if pid is None:
        raise AdtError("PID segment is missing", "100", "PID")
    event = AdtEvent(header=header, event=header.trigger_event, event_at=event_at,
                     patient=read_patient(pid, header, zone))
    pv1 = msg.first("PV1")
    if header.trigger_event in VISIT_EVENTS:
        if pv1 is None and header.trigger_event != "A08":
            raise AdtError("PV1 segment is missing", "100", "PV1")
        event.visit = _visit(pv1, msg, header, zone) if pv1 is not None else None
    if header.trigger_event == "A40":
        event.prior_identifiers = _merge_identifiers(msg, header)
    return event


def _identifiers(seg: Segment, field_num: int, header: Header, location: str) -> list[tuple[str, str]]:
    found = []
    for rep in range(1, seg.repetitions(field_num) + 1):
        value, kind = seg.value(field_num, rep, 1).strip(), seg.value(field_num, rep, 5).strip()
        if not value or kind == "SS":
            continue
        authority = seg.value(field_num, rep, 4).strip() or header.sending_facility
        if len(value) > 200 or len(authority) > 200:
            raise AdtError("identifier is longer than 200 characters", "102", location)
        found.append((authority, value))
    return found[:20]


def read_patient(pid: Segment, header: Header, zone: ZoneInfo) -> PatientData:
    identifiers = _identifiers(pid, 3, header, "PID^1^3")
    if not identifiers:
        raise AdtError("PID-3 patient identifier is missing", "101", "PID^1^3")
    birth = parse_datetime(pid.value(7), zone, "PID^1^7", date_only=True)
    return PatientData(identifiers=identifiers, family_name=pid.value(5, 1, 1).strip()[:100],
                       given_name=pid.value(5, 1, 2).strip()[:100], middle_name=pid.value(5, 1, 3).strip()[:100],
                       birth_date=birth.date() if birth else None, sex=_SEX.get(pid.value(8).strip().upper()),
                       address_line=pid.value(11, 1, 1).strip()[:200], city=pid.value(11, 1, 3).strip()[:100],
                       state=pid.value(11, 1, 4).strip()[:50], postal_code=pid.value(11, 1, 5).strip()[:20],
                       phone=pid.value(13, 1, 1).strip()[:40])


def encounter_class(patient_class: str, patient_type: str, hospital_service: str) -> EncounterClass:
    """PV1-2 (table 0004); observation when PV1-2, PV1-18 or PV1-10 says OBS/OBV."""
    codes = {patient_class.upper(), patient_type.upper(), hospital_service.upper()}
    if codes & OBSERVATION_CODES:
        return EncounterClass.OBSERVATION
    return _CLASSES.get(patient_class.upper(), EncounterClass.AMBULATORY)


def _visit(pv1: Segment, msg: Message, header: Header, zone: ZoneInfo) -> VisitData:
    pv2, dg1 = msg.first("PV2"), msg.first("DG1")
    attending = " ".join(p for p in (pv1.value(7, 1, 3), pv1.value(7, 1, 2)) if p.strip()) or pv1.value(7, 1, 1)
    reason = ""
    if dg1 is not None:
        code, text = dg1.value(3, 1, 1).strip(), (dg1.value(3, 1, 2) or dg1.value(4)).strip()
        reason = " ".join(p for p in (code, text) if p)
    elif pv2 is not None:
        reason = (pv2.value(3, 1, 2) or pv2.value(3, 1, 1)).strip()
    visit_number = pv1.value(19, 1, 1).strip()
    if len(visit_number) > 64:
        raise AdtError("PV1-19 visit number is longer than 64 characters", "102", "PV1^1^19")
    return VisitData(visit_number=visit_number,
                     encounter_class=encounter_class(pv1.value(2).strip(), pv1.value(18).strip(),
                                                     pv1.value(10).strip()),
                     facility_name=(pv1.value(3, 1, 4) or header.sending_facility).strip()[:200],
                     attending=attending.strip()[:200],
                     admit_at=parse_datetime(pv1.value(44), zone, "PV1^1^44"),
                     discharge_at=parse_datetime(pv1.value(45), zone, "PV1^1^45"),
                     disposition=pv1.value(36).strip()[:40], reason=reason[:300])


def _merge_identifiers(msg: Message, header: Header) -> list[tuple[str, str]]:
    mrg = msg.first("MRG")
    found = _identifiers(mrg, 1, header, "MRG^1^1") if mrg is not None else []
    if not found:
        raise AdtError("MRG-1 prior patient identifier is missing", "101", "MRG^1^1")
    return found


def parse_datetime(text: str, zone: ZoneInfo, location: str, *, date_only: bool = False) -> dt.datetime | None:
    """HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) as aware UTC; no offset means the organisation's zone."""
    text = text.strip()
    if not text:
        return None
    match = _DTM.match(text)
    if not match:
        raise AdtError(f"{location.replace('^1^', '-')} is not a valid HL7 date/time", "102", location)
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        moment = dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                             int(second or 0))
        if date_only:
            return moment.replace(tzinfo=dt.UTC)
        if offset:
            sign = 1 if offset[0] == "+" else -1
            delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
            return moment.replace(tzinfo=dt.timezone(sign * delta)).astimezone(dt.UTC)
        return moment.replace(tzinfo=zone).astimezone(dt.UTC)
    except (ValueError, OverflowError) as err:
        raise AdtError(f"{location.replace('^1^', '-')} is not a valid date", "102", location) from err
