"""The ingest pipeline shared by MLLP, HTTP and replay: store raw, commit, apply, commit, then ACK.

Messages that arrive together are handled as one batch (group commit): one transaction stores them all
raw, a second applies them, each inside its own savepoint so one bad message cannot spoil the rest.
An ACK is built only after the transaction that decided it has committed, so AA always means applied
(or safely queued for review) and durable. A crash between the two commits leaves rows `received`:
they are applied at the next start-up, and a resend is answered from the stored outcome.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import system_actor
from careloop.db import session_scope
from careloop.integrations.hl7v2 import adt, oru
from careloop.integrations.hl7v2.ack import build_ack
from careloop.integrations.hl7v2.adt import AdtError, AdtEvent, Header
from careloop.integrations.hl7v2.apply import apply_event, prefetch_patients
from careloop.integrations.hl7v2.batch import BatchCache
from careloop.integrations.hl7v2.fastsql import Prepared
from careloop.integrations.hl7v2.models import Hl7Message, Hl7Route, MessageStatus, param
from careloop.integrations.hl7v2.parse import Message, ParseError, parse
from careloop.integrations.hl7v2.visits import Applied, numbered_visit_key, prefetch_visits, write_events
from careloop.organizations.models import Organization

log = logging.getLogger("careloop.hl7")
M = Hl7Message.__table__
_CONTROL = ("\x00", "\x0b", "\x1c")
FEED = "hl7-feed"
PREFETCH_MIN = 4  # messages in a batch before its lookups are loaded in one go



@dataclass
class Frame:
    """Bytes of one message as received, and from where."""

    data: bytes
    channel: str = "mllp"
    source: str | None = None


@dataclass
class Item:
    """One message on its way through a batch."""

    frame: Frame
    text: str = ""
    message: Message | None = None
    header: Header | None = None
    error: AdtError | None = None
    note: str | None = None
    organization_id: uuid.UUID | None = None
    row_id: int | None = None
    status: MessageStatus = MessageStatus.RECEIVED
    ack_code: str | None = None
    updates: dict[str, Any] = field(default_factory=dict)
    event: AdtEvent | None = None
    duplicate_of: Item | None = None  # an earlier copy in the same batch: answered with its outcome


def decode(data: bytes) -> tuple[str, str | None]:
    """UTF-8, else ISO-8859-1 (always decodable) with a note; HL7 v2 is mostly ASCII."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not valid UTF-8: decoded as ISO-8859-1"


def prepare(frame: Frame) -> Item:
    """Decode and split a frame; unreadable ones carry the reason they will be rejected for."""
    item = Item(frame)
    item.text, item.note = decode(frame.data)
    if any(c in item.text for c in _CONTROL):
        item.error = AdtError("NUL, VT or FS control characters inside the message", "102", "MSH", reject=True)
        item.text = item.text.replace("\x00", "\\x00").replace("\x0b", "\\x0b").replace("\x1c", "\\x1c")
    try:
        item.message = parse(item.text)
        item.header = adt.read_header(item.message)
    except ParseError as err:
        item.error = item.error or AdtError(f"unreadable message: {err}", "100", "MSH", reject=True)
    except AdtError as err:
        item.error = item.error or err
    return item


class Ingest:
    """Stores, applies and acknowledges batches of messages (thread-safe: no shared mutable state)."""

    def __init__(self, factory: sessionmaker[Session] | None = None) -> None:
        self.factory = factory

    def handle(self, frames: list[Frame], *, organization_id: uuid.UUID | None = None) -> list[str]:
        """ACK text for each frame, in order (AR for all of them when the database fails).

        With organization_id (an HTTP client's), messages routed to another organisation are rejected.
        """
        items = [prepare(f) for f in frames]
        try:
            with session_scope(self.factory) as session:
                self._store(session, items, organization_id)
        except Exception as err:  # the database is down or read-only: nothing stored, never AA
            log.error("hl7 store failed: %s", type(err).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            return [self._ack(i, "AR", "temporarily unable to store the message; resend later", "207")
                    for i in items]
        to_apply = [i for i in items if i.status == MessageStatus.RECEIVED]
        if to_apply:
            try:
                with session_scope(self.factory) as session:
                    self._apply(session, to_apply)
            except Exception as err:  # rows stay `received`: applied on resend or at the next start-up
                log.error("hl7 apply failed: %s", type(err).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
                for item in to_apply:
                    item.status, item.ack_code = MessageStatus.RECEIVED, "AR"
                    item.error = AdtError("temporarily unable to apply the message; resend later", "207")
        self._settle_copies(items)
        return [self._ack(i) for i in items]

    def recover(self, batch: int = 200) -> int:
        """Apply messages stored but never applied (a crash between the two commits); returns how many."""
        done = 0
        while True:
            with session_scope(self.factory) as session:
                rows = session.execute(select(M.c.id, M.c.raw, M.c.channel, M.c.source_address, M.c.organization_id)
                                       .where(M.c.status == MessageStatus.RECEIVED).order_by(M.c.id)
                                       .limit(batch)).all()
                items = []
                for row in rows:
                    item = prepare(Frame(row.raw.encode("utf-8"), row.channel, row.source_address))
                    item.row_id, item.organization_id = row.id, row.organization_id
                    items.append(item)
                self._apply(session, items)
            done += len(rows)
            if len(rows) < batch:
                return done

    # --- store -----------------------------------------------------------------------------------

    def _store(self, session: Session, items: list[Item], only_org: uuid.UUID | None = None) -> None:
        """Store the batch raw, in arrival order, with one pipelined insert (one round trip on PostgreSQL).
        The unique dedupe key decides which readable messages are copies, race-free on both backends."""
        routes = dict(session.execute(select(Hl7Route.receiving_facility, Hl7Route.organization_id)
                                      .where(Hl7Route.is_active.is_(True))).all())
        now = clock.now()
        for item in items:
            if item.error is None:
                self._route(item, routes, only_org)
        rows = [{"dedupe_key": _dedupe_key(item.header) if item.error is None else None, **self._row(item, now)}
                for item in items]
        conn = session.connection()
        inserted = _INSERT_NEW[conn.dialect.name].many_returning(conn, rows)  # in arrival order
        firsts: dict[str, Item] = {}
        duplicates: dict[uuid.UUID, list[audit.Entry]] = defaultdict(list)
        for item, row, returned in zip(items, rows, inserted, strict=True):
            key = row.pop("dedupe_key")
            if returned:
                item.row_id = returned[0][0]
                if key is not None:
                    firsts[key] = item
            elif key in firsts:
                self._copy(session, item, row, firsts[key], duplicates)
            elif self._duplicate(session, item, row, duplicates):
                firsts[key] = item
        for org_id, entries in duplicates.items():
            audit.record_many(session, system_actor(org_id, FEED), entries)

    def _route(self, item: Item, routes: dict[str, uuid.UUID], only_org: uuid.UUID | None) -> None:
        header = item.header
        item.organization_id = routes.get(header.receiving_facility)
        try:
            if item.organization_id is None or (only_org and item.organization_id != only_org):
                raise AdtError("receiving facility (MSH-6) is not served by this interface", "207",
                               "MSH^1^6", reject=True)
            adt.check_supported(header)
        except AdtError as err:
            item.error = err

    def _row(self, item: Item, now: Any) -> dict[str, Any]:
        h = item.header
        if item.error is not None:
            reject = item.error.reject
            item.status = MessageStatus.REJECTED if reject else MessageStatus.ERROR
            item.ack_code = "AR" if reject else "AE"
        return {"organization_id": item.organization_id, "channel": item.frame.channel,
                "source_address": item.frame.source, "raw": item.text, "received_at": now,
                "sending_application": h.sending_application if h else None,
                "sending_facility": h.sending_facility if h else None,
                "receiving_application": h.receiving_application if h else None,
                "receiving_facility": h.receiving_facility if h else None,
                "control_id": h.control_id if h else None, "message_type": h.message_type[:10] if h else None,
                "trigger_event": h.trigger_event[:10] if h else None, "hl7_version": h.version[:10] if h else None,
                "status": item.status, "ack_code": item.ack_code, "note": item.note,
                "error_text": str(item.error)[:500] if item.error else None,
                "processed_at": now if item.error else None}

    def _duplicate(self, session: Session, item: Item, row: dict[str, Any],
                   duplicates: dict[uuid.UUID, list[audit.Entry]]) -> bool:
        """Same sending facility and MSH-10 as a stored message: answer from the stored outcome, never apply
        twice. True when this copy is to be applied after all (the stored one never was, or failed)."""
        first = session.execute(select(M.c.id, M.c.status, M.c.ack_code, M.c.error_text)
                                .where(M.c.dedupe_key == _dedupe_key(item.header))).one()
        if first.status == MessageStatus.RECEIVED:  # stored before a crash, never applied: apply it now
            item.row_id = first.id
            return True
        if first.status == MessageStatus.ERROR:  # the sender fixed it and resent: a fresh attempt
            session.execute(update(M).where(M.c.id == first.id).values(
                dedupe_key=None, resolved_at=clock.now(), note="superseded by a resend"))
            item.row_id = session.execute(insert(M).values(dedupe_key=_dedupe_key(item.header), **row)
                                          .returning(M.c.id)).scalar_one()
            return True
        item.status, item.ack_code = MessageStatus.DUPLICATE, first.ack_code or "AA"
        item.error = AdtError(first.error_text, "205") if first.error_text and item.ack_code != "AA" else None
        row.update(status=item.status, ack_code=item.ack_code, duplicate_of_id=first.id, processed_at=clock.now(),
                   note=f"duplicate of message {first.id}")
        item.row_id = session.execute(insert(M).values(**row).returning(M.c.id)).scalar_one()
        duplicates[item.organization_id].append(_duplicate_entry(item, first.id))
        return False

    def _copy(self, session: Session, item: Item, row: dict[str, Any], first: Item,
              duplicates: dict[uuid.UUID, list[audit.Entry]]) -> None:
        """A second copy within the same batch: stored as a duplicate and answered with the first's outcome."""
        item.status, item.duplicate_of = MessageStatus.DUPLICATE, first
        row.update(status=item.status, duplicate_of_id=first.row_id, processed_at=clock.now(),
                   note=f"duplicate of message {first.row_id} (same batch)")
        item.row_id = session.execute(insert(M).values(**row).returning(M.c.id)).scalar_one()
        duplicates[item.organization_id].append(_duplicate_entry(item, first.row_id))

    def _settle_copies(self, items: list[Item]) -> None:
        """Copies within a batch take the outcome of the first (stored on the copy for the dead-letter view)."""
        copies = [i for i in items if i.duplicate_of is not None]
        for item in copies:
            first = item.duplicate_of
            item.ack_code = first.ack_code or "AA"
            item.error = AdtError(str(first.error), "205") if first.error is not None else None
        if not copies:
            return
        try:
            with session_scope(self.factory) as session:
                session.execute(update(M).where(M.c.id == bindparam("row_id")).values(ack_code=bindparam("ack")),
                                [{"row_id": i.row_id, "ack": i.ack_code} for i in copies])
        except Exception as err:  # the answer stands; only the stored copy's ack code is missing
            log.error("hl7 duplicate outcome not stored: %s", type(err).__name__)

    # --- apply -----------------------------------------------------------------------------------

    def _apply(self, session: Session, items: list[Item]) -> None:
        """Apply a batch: one savepoint for all; if any message fails half-way, again with one each. A merge
        (A40) is applied on its own, after what came before it is fully written (it moves those rows too)."""
        if not items:
            return
        zones = dict(session.execute(select(Organization.id, Organization.timezone).where(
            Organization.id.in_({i.organization_id for i in items if i.organization_id}))).all())
        entries: dict[uuid.UUID, list[audit.Entry]] = defaultdict(list)
        for segment in _segments(items):
            try:
                with session.begin_nested():
                    events = self._apply_all(session, segment, zones, entries, isolate=False)
            except _Retry as err:  # no PHI: the exception type only
                log.info("hl7 batch of %d redone one message at a time (%s)", len(segment),
                         type(err.__cause__).__name__)
                events = self._apply_all(session, segment, zones, entries, isolate=True)
            write_events(session, events)
            now = clock.now()
            session.connection().execute(_UPDATE_OUTCOME, [{"row_id": i.row_id, "now": now, **i.updates}
                                                           for i in segment])
        for org_id, org_entries in entries.items():
            audit.record_many(session, system_actor(org_id, FEED), org_entries)

    def _apply_all(self, session: Session, items: list[Item], zones: dict[uuid.UUID, str],
                   entries: dict[uuid.UUID, list[audit.Entry]], *, isolate: bool) -> list[dict[str, Any]]:
        """Apply the messages; their audit entries are added to `entries` only once all succeeded."""
        found: dict[uuid.UUID, list[audit.Entry]] = defaultdict(list)
        events: list[dict[str, Any]] = []
        cache = None if isolate else _prefetch(session, items, zones)
        with contextlib.nullcontext() if isolate else _pipelined(session, items):
            for item in items:
                applied = self._apply_one(session, item, zones, cache)
                if applied is not None:
                    found[item.organization_id].extend(applied.entries)
                    events.extend(applied.events)
        for org_id, org_entries in found.items():
            entries[org_id].extend(org_entries)
        return events

    def _apply_one(self, session: Session, item: Item, zones: dict[uuid.UUID, str],
                   cache: BatchCache | None) -> Applied | None:
        updates = {"new_status": MessageStatus.APPLIED, "new_ack": "AA", "new_error": None, "new_note": item.note,
                   "new_patient": None, "new_encounter": None, "new_event_at": None, "new_identifier": None}
        item.updates, applied = updates, None
        try:
            zone = zones.get(item.organization_id, "UTC")
            if _is_result(item):
                applied = self._apply_results(session, item, zone, updates)
            else:
                applied = self._apply_adt(session, item, zone, cache, updates)
        except AdtError as err:
            item.error = err
            updates.update(new_status=MessageStatus.REJECTED if err.reject else MessageStatus.ERROR,
                           new_ack="AR" if err.reject else "AE", new_error=str(err)[:500])
        except (SQLAlchemyError, _Retry):
            raise  # the database itself failed (the batch stays `received`), or the fast path gave up
        except Exception as err:  # a bug must not lose the message: it waits in the dead letters
            log.exception("hl7 apply bug on message %s", item.row_id)
            item.error = AdtError(f"internal error ({type(err).__name__})", "207", reject=True)
            updates.update(new_status=MessageStatus.ERROR, new_ack="AR", new_error=str(item.error))
        else:
            updates.update(new_status=applied.status, new_patient=applied.patient_id,
                           new_encounter=applied.encounter_id, new_note=applied.note or item.note)
        item.status, item.ack_code = updates["new_status"], updates["new_ack"]
        return applied

    def _apply_adt(self, session: Session, item: Item, zone: str, cache: BatchCache | None,
                   updates: dict[str, Any]) -> Applied:
        event = item.event or adt.read_event(item.message, item.header, zone)
        updates["new_event_at"], updates["new_identifier"] = event.event_at, event.patient.display_identifier
        if cache is None:  # isolated: a savepoint per message
            with session.begin_nested():
                return apply_event(session, item.organization_id, event, item.row_id)
        try:
            return apply_event(session, item.organization_id, event, item.row_id, cache)
        except SQLAlchemyError:
            raise
        except Exception as err:  # partly written (even an AdtError): redo the batch with a savepoint per message
            raise _Retry from err

    def _apply_results(self, session: Session, item: Item, zone: str, updates: dict[str, Any]) -> Applied:
        """ORU^R01: always on its own (see _segments) and in a savepoint, so a failure writes nothing."""
        message = oru.read_results(item.message, item.header, zone)
        updates["new_event_at"], updates["new_identifier"] = message.sent_at, message.patient.display_identifier
        with session.begin_nested():
            return oru.apply_results(session, item.organization_id, message,
                                     system_actor(item.organization_id, FEED))

    # --- ACK ---------------------------------------------------------------------------------------

    def _ack(self, item: Item, code: str | None = None, text: str | None = None, error_code: str | None = None) -> str:
        err = item.error
        code = code or item.ack_code or "AA"
        if code == "AA":
            return build_ack(item.message, "AA")
        return build_ack(item.message if item.header else None, code, text=text or (str(err) if err else None),
                         error_code=error_code or (err.code if err else "207"),
                         location=err.location if err else None)


def _is_merge(item: Item) -> bool:
    return item.header is not None and item.header.trigger_event == "A40"


def _is_result(item: Item) -> bool:
    return item.header is not None and item.header.message_type == "ORU"


def _alone(item: Item) -> bool:
    """Applied in a segment of its own: a merge (it moves rows written before it) and a result message (it goes
    through the ORM services, which check row counts: not in a pipeline)."""
    return _is_merge(item) or _is_result(item)


def _segments(items: list[Item]) -> list[list[Item]]:
    """Runs of consecutive messages, each merge and each result message on its own."""
    segments: list[list[Item]] = []
    for item in items:
        if _alone(item) or not segments or _alone(segments[-1][0]):
            segments.append([item])
        else:
            segments[-1].append(item)
    return segments


def _prefetch(session: Session, items: list[Item], zones: dict[uuid.UUID, str]) -> BatchCache:
    """Read every event of the batch, then load the patients and visits they name (see batch.py). A small
    batch skips the loading: two prepared lookups per message cost less than planning the batch queries."""
    cache = BatchCache(enabled=len(items) >= PREFETCH_MIN)
    if not cache.enabled:
        return cache
    ids: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    visit_keys: dict[uuid.UUID, set[str]] = defaultdict(set)
    for item in items:
        try:
            item.event = adt.read_event(item.message, item.header, zones.get(item.organization_id, "UTC"))
        except AdtError:
            continue  # read again (and refused) when its turn comes
        ids[item.organization_id].update(item.event.patient.identifiers)
        key = numbered_visit_key(item.event)
        if key is not None:
            visit_keys[item.organization_id].add(key)
    prefetch_patients(session, cache, ids)
    prefetch_visits(session, cache, visit_keys)
    return cache


def _pipelined(session: Session, items: list[Item]) -> Any:
    """On PostgreSQL, send the batch's writes without waiting for each reply (psycopg pipeline mode: the
    database works through them while the next message is read; only a lookup waits for its answer). Not
    for a batch with a merge: the ORM checks row counts."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or any(_alone(i) for i in items):
        return contextlib.nullcontext()
    return conn.connection.dbapi_connection.pipeline()


class _Retry(Exception):
    """A message failed after writing: the batch is redone with a savepoint per message."""


_UPDATE_OUTCOME = update(M).where(M.c.id == param("row_id", M.c.id)).values(
    status=bindparam("new_status"), ack_code=bindparam("new_ack"), error_text=bindparam("new_error"),
    note=bindparam("new_note"), patient_id=bindparam("new_patient"), encounter_id=bindparam("new_encounter"),
    event_at=bindparam("new_event_at"), patient_identifier=bindparam("new_identifier"),
    processed_at=bindparam("now"))
_INSERT_NEW = {name: Prepared(dialect.insert(M).on_conflict_do_nothing(index_elements=["dedupe_key"])
                        .returning(M.c.id), keyed=True)
               for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


def _dedupe_key(header: Header) -> str:
    return f"{header.sending_facility}|{header.control_id}"


def _duplicate_entry(item: Item, first_id: int) -> audit.Entry:
    return audit.Entry(action="hl7_duplicate", record_type="Hl7Message", record_id=str(item.row_id),
                       detail={"duplicate_of": first_id, "control_id": item.header.control_id[:64]})
