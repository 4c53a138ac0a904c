"""Protocol subscriptions: every event type a loaded protocol names, and the resolution of step tasks."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from careloop.events.models import DomainEvent
from careloop.events.service import subscribe, subscribe_batch
from careloop.protocols import service
from careloop.protocols.registry import get_registry

TASK_RESOLVED = ("task.completed", "task.cancelled", "task.failed")


def on_events(session: Session, events: list[DomainEvent]) -> None:
    """Events some protocol names (triggers, cancellations, step completions), set-based and in order."""
    service.handle_events(session, events)


def on_task_resolved(session: Session, event: DomainEvent) -> None:
    """A step task was completed, cancelled or failed: move its run on."""
    run_id = (event.payload or {}).get("protocol_run_id")
    if run_id:
        service.advance(session, uuid.UUID(run_id))


def subscribe_all() -> set[str]:
    """Subscribe the engine to every event type of the loaded protocols (again after a registry reload)."""
    types = get_registry().event_types()
    for event_type in types:
        subscribe_batch(event_type)(on_events)
    for event_type in TASK_RESOLVED:
        subscribe(event_type)(on_task_resolved)
    return types


subscribe_all()
