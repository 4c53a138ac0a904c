"""Writing and verifying the audit trail; entries are written in the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit.models import AuditChainHead, AuditEvent
from careloop.auth.actor import Actor

GENESIS = "0" * 64
_HEAD = AuditChainHead.__table__
_HASHED_FIELDS = ("chain", "seq", "occurred_at", "organization_id", "actor_id", "actor_role", "actor_label",
                  "client_name", "action", "outcome", "patient_id", "record_type", "record_id",
                  "source_address", "purpose_of_use", "detail")


@dataclass(frozen=True)
class Entry:
    """What one audit event says, before it is chained."""

    action: str
    outcome: str = "success"
    patient_id: uuid.UUID | None = None
    record_type: str | None = None
    record_id: str | None = None
    detail: dict[str, Any] | None = None


def record(session: Session, actor: Actor | None, action: str, **fields: Any) -> None:
    """Append one audit event for actor (None for anonymous, e.g. a failed sign-in)."""
    record_many(session, actor, [Entry(action=action, **fields)])


def record_many(session: Session, actor: Actor | None, entries: Iterable[Entry],
                *, organization_id: uuid.UUID | None = None, source_address: str | None = None) -> None:
    """Append several events in order (e.g. one per patient a search returned)."""
    entries = list(entries)
    if not entries:
        return
    org = actor.organization_id if actor else organization_id
    chain = str(org) if org else "system"
    session.flush()  # what the caller changed is written before the entries that describe it
    seq, prev = _lock_head(session, chain)
    now = clock.now()
    rows = []
    for entry in entries:
        row = _row(actor, entry, chain=chain, seq=seq + 1, occurred_at=now, organization_id=org,
                   source_address=(actor.source_address if actor else source_address))
        row["prev_hash"] = prev
        row["hash"] = chain_hash(row, prev)
        seq, prev = row["seq"], row["hash"]
        rows.append(row)
    session.execute(AuditEvent.__table__.insert(), rows)
    session.execute(update(_HEAD).where(_HEAD.c.chain == chain).values(seq=seq, hash=prev))


def _row(actor: Actor | None, entry: Entry, **base: Any) -> dict[str, Any]:
    return {
        **base,
        "actor_id": actor.staff_id if actor else None,
        "actor_role": actor.role if actor else None,
        "actor_label": actor.label if actor else None,
        "client_name": actor.client_name if actor else None,
        "action": entry.action,
        "outcome": entry.outcome,
        "patient_id": entry.patient_id,
        "record_type": entry.record_type,
        "record_id": entry.record_id,
        # An entry may state its own purpose (break-the-glass access is ETREAT, whatever the actor's default).
        "purpose_of_use": (entry.detail or {}).get("purpose_of_use") or (actor.purpose_of_use if actor else None),
        "detail": entry.detail or {},
    }


def _lock_head(session: Session, chain: str) -> tuple[int, str]:
    """Lock the chain's head row (created on first use) so concurrent writers link in order; (seq, hash).
    One round trip once the chain exists (Core rows: the head is never an ORM object that could go stale)."""
    stmt = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.chain == chain).with_for_update()
    row = session.execute(stmt).first()
    if row is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(_HEAD).values(chain=chain, seq=0, hash=GENESIS).on_conflict_do_nothing())
        row = session.execute(stmt).one()
    return row.seq, row.hash


def _canonical(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return clock.ensure_utc(value).isoformat()
    return value


def chain_hash(row: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the previous link and the event's canonical JSON."""
    payload = {name: _canonical(row.get(name)) for name in _HASHED_FIELDS}
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place a chain does not verify."""

    chain: str
    seq: int
    event_id: int | None
    reason: str


def verify(session: Session, chains: Iterable[str] | None = None) -> tuple[int, list[Break]]:
    """Recompute every chain (or only those named); return (events checked, first break per broken chain)."""
    checked, breaks = 0, []
    stmt = select(AuditChainHead).order_by(AuditChainHead.chain)
    if chains is not None:
        stmt = stmt.where(AuditChainHead.chain.in_(list(chains)))
    for head in session.scalars(stmt).all():
        count, problem = _verify_chain(session, head)
        checked += count
        if problem:
            breaks.append(problem)
    return checked, breaks


def _verify_chain(session: Session, head: AuditChainHead) -> tuple[int, Break | None]:
    prev, expected_seq, count = GENESIS, 1, 0
    for event in _stream(session, head.chain):
        count += 1
        row = {name: getattr(event, name) for name in _HASHED_FIELDS}
        if event.seq != expected_seq:
            return count, Break(head.chain, expected_seq, event.id, "missing event (deleted?)")
        if event.prev_hash != prev or chain_hash(row, prev) != event.hash:
            return count, Break(head.chain, event.seq, event.id, "content or link altered")
        prev, expected_seq = event.hash, expected_seq + 1
    if expected_seq - 1 != head.seq or prev != head.hash:
        return count, Break(head.chain, expected_seq, None, "events missing at the end of the chain")
    return count, None


def _stream(session: Session, chain: str) -> Iterator[Any]:
    # Plain rows, not ORM objects: the session's identity map could hand back cached, unaltered copies.
    table = AuditEvent.__table__
    stmt = select(table).where(table.c.chain == chain).order_by(table.c.seq)
    yield from session.execute(stmt.execution_options(yield_per=2000))
