"""Publish domain events inside the caller's transaction; dispatch them to handlers after commit.

A handler runs in the same transaction that marks its event dispatched, so its effects happen exactly
once: a crash rolls back both and the event is handled again later. A failing handler is rolled back to
a savepoint and the event retried with back-off; it never blocks other events.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import uuid
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import careloop
from careloop import clock
from careloop.db import session_scope
from careloop.events.models import DomainEvent

log = logging.getLogger("careloop.events")
Handler = Callable[[Session, DomainEvent], None]
BatchHandler = Callable[[Session, list[DomainEvent]], None]
_HANDLERS: dict[str, list[Handler]] = defaultdict(list)
_BATCH_HANDLERS: dict[str, list[BatchHandler]] = defaultdict(list)
MAX_ATTEMPTS = 10


def subscribe(event_type: str) -> Callable[[Handler], Handler]:
    """Decorator: call the function for every event of this type."""
    def register(handler: Handler) -> Handler:
        if handler not in _HANDLERS[event_type]:
            _HANDLERS[event_type].append(handler)
        return handler
    return register


def subscribe_batch(event_type: str) -> Callable[[BatchHandler], BatchHandler]:
    """Decorator: call the function with lists of events of this type, in dispatch order.

    Consecutive events whose handlers are all the same batch handlers are passed together (set-based work);
    if that fails, each event is retried on its own so one bad event cannot hold the others back.
    """
    def register(handler: BatchHandler) -> BatchHandler:
        if handler not in _BATCH_HANDLERS[event_type]:
            _BATCH_HANDLERS[event_type].append(handler)
        return handler
    return register


@lru_cache(maxsize=1)
def load_handlers() -> tuple[str, ...]:
    """Import every `careloop.<domain>.handlers` module so their subscriptions are registered."""
    loaded = []
    for module in pkgutil.iter_modules(careloop.__path__):
        if module.ispkg and importlib.util.find_spec(f"careloop.{module.name}.handlers") is not None:
            importlib.import_module(f"careloop.{module.name}.handlers")
            loaded.append(module.name)
    return tuple(loaded)


def publish(session: Session, event_type: str, *, organization_id: uuid.UUID, patient_id: uuid.UUID | None = None,
            payload: dict[str, Any] | None = None, occurred_at: dt.datetime | None = None) -> DomainEvent:
    """Record an event in the current transaction; it is dispatched only if the transaction commits."""
    now = clock.now()
    event = DomainEvent(organization_id=organization_id, type=event_type, patient_id=patient_id,
                        payload=payload or {}, occurred_at=occurred_at or now, available_at=now)
    session.add(event)
    session.flush()
    return event


def publish_many(session: Session, event_type: str, *, organization_id: uuid.UUID,
                 patient_ids: list[uuid.UUID]) -> None:
    """The same event for many patients (bulk work), written with one flush."""
    now = clock.now()
    session.add_all([DomainEvent(organization_id=organization_id, type=event_type, patient_id=pid, payload={},
                                 occurred_at=now, available_at=now) for pid in patient_ids])
    session.flush()


def _claim(session: Session, limit: int) -> list[DomainEvent]:
    stmt = (select(DomainEvent).where(DomainEvent.dispatched_at.is_(None), DomainEvent.available_at <= clock.now())
            .order_by(DomainEvent.available_at, DomainEvent.occurred_at).limit(limit)
            .with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def _handlers_of(event_type: str) -> tuple[tuple[Handler, ...], tuple[BatchHandler, ...]]:
    return tuple(_HANDLERS.get(event_type, ())), tuple(_BATCH_HANDLERS.get(event_type, ()))


def _handle(session: Session, event: DomainEvent) -> None:
    singles, batches = _handlers_of(event.type)
    try:
        with session.begin_nested():
            for handler in singles:
                handler(session, event)
            for batch_handler in batches:
                batch_handler(session, [event])
        event.dispatched_at = clock.now()
    except Exception as exc:  # a handler bug must not stop other events; it is retried with back-off
        event.attempts += 1
        event.last_error = f"{type(exc).__name__} (attempt {event.attempts})"
        log.warning("event %s %s failed: %s", event.type, event.id, type(exc).__name__)
        if event.attempts >= MAX_ATTEMPTS:
            event.dispatched_at = clock.now()  # parked: visible through last_error, no longer retried
        else:
            event.available_at = clock.now() + dt.timedelta(seconds=min(3600, 5 * 2 ** event.attempts))


def _handle_chunk(session: Session, batches: tuple[BatchHandler, ...], chunk: list[DomainEvent]) -> None:
    """Consecutive events served only by the same batch handlers: together, or one by one if that fails."""
    if len(chunk) > 1:
        try:
            with session.begin_nested():
                for batch_handler in batches:
                    batch_handler(session, chunk)
        except Exception as exc:
            log.warning("batch of %d events failed (%s); handling them one by one", len(chunk), type(exc).__name__)
        else:
            now = clock.now()
            for event in chunk:
                event.dispatched_at = now
            return
    for event in chunk:
        _handle(session, event)


def _handle_all(session: Session, events: list[DomainEvent]) -> None:
    """Handle claimed events in order, grouping runs of events that only batch handlers serve."""
    chunk: list[DomainEvent] = []
    chunk_batches: tuple[BatchHandler, ...] = ()
    for event in events:
        singles, batches = _handlers_of(event.type)
        if batches and not singles and batches == chunk_batches:
            chunk.append(event)
            continue
        if chunk:
            _handle_chunk(session, chunk_batches, chunk)
        if batches and not singles:
            chunk, chunk_batches = [event], batches
        else:
            chunk, chunk_batches = [], ()
            _handle(session, event)
    if chunk:
        _handle_chunk(session, chunk_batches, chunk)


def dispatch_pending(factory: sessionmaker[Session] | None = None, *, batch: int = 200, max_batches: int = 50) -> int:
    """Handle waiting events, one transaction per batch; returns how many were handled."""
    load_handlers()
    handled = 0
    for _ in range(max_batches):
        with session_scope(factory) as session:
            events = _claim(session, batch)
            _handle_all(session, events)
        handled += len(events)
        if len(events) < batch:
            break
    return handled
