"""The outbox: events are dispatched only after commit, handlers run exactly once, failures retry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from careloop import clock
from careloop.events import service as events
from careloop.events.models import DomainEvent
from careloop.jobs import worker
from factories import make_org, make_patient, make_staff

calls: list[str] = []


@events.subscribe("test.ping")
def _record_ping(session, event):
    calls.append(event.payload["n"])


@events.subscribe("test.flaky")
def _fail(session, event):
    session.add(DomainEvent(organization_id=event.organization_id, type="test.side_effect",
                            occurred_at=clock.now(), available_at=clock.now()))
    session.flush()
    raise RuntimeError("boom with PHI-like text Jane Doe")


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


def test_event_published_in_a_rolled_back_transaction_is_never_dispatched(session, session_factory):
    org = make_org(session)
    session.commit()
    with pytest.raises(RuntimeError), session.begin_nested():
        events.publish(session, "test.ping", organization_id=org.id, payload={"n": "lost"})
        raise RuntimeError("request failed")
    events.publish(session, "test.ping", organization_id=org.id, payload={"n": "kept"})
    session.commit()
    assert events.dispatch_pending(session_factory) >= 1
    assert calls == ["kept"]


def test_dispatch_marks_events_and_never_runs_a_handler_twice(session, session_factory):
    org = make_org(session)
    for n in range(3):
        events.publish(session, "test.ping", organization_id=org.id, payload={"n": str(n)})
    session.commit()
    worker.run_once(session_factory)
    worker.run_once(session_factory)
    assert sorted(calls) == ["0", "1", "2"]
    pending = session.scalars(select(DomainEvent).where(DomainEvent.type == "test.ping",
                                                        DomainEvent.dispatched_at.is_(None))).all()
    assert pending == []


def test_failing_handler_is_rolled_back_and_retried_with_backoff(session, session_factory, caplog):
    org = make_org(session)
    event = events.publish(session, "test.flaky", organization_id=org.id)
    session.commit()
    events.dispatch_pending(session_factory)
    session.expire_all()
    failed = session.get(DomainEvent, event.id)
    assert failed.dispatched_at is None and failed.attempts == 1
    assert failed.last_error.startswith("RuntimeError")
    assert failed.available_at > clock.now()
    # the handler's own writes were rolled back with its savepoint
    assert session.scalars(select(DomainEvent).where(DomainEvent.type == "test.side_effect")).all() == []
    assert "Jane Doe" not in caplog.text
    clock.advance(dt.timedelta(hours=2))
    events.dispatch_pending(session_factory)
    session.expire_all()
    assert session.get(DomainEvent, event.id).attempts == 2


def test_handler_failing_forever_is_parked_after_max_attempts(session, session_factory):
    org = make_org(session)
    event = events.publish(session, "test.flaky", organization_id=org.id)
    session.commit()
    for _ in range(events.MAX_ATTEMPTS):
        events.dispatch_pending(session_factory)
        clock.advance(dt.timedelta(hours=2))
    session.expire_all()
    parked = session.get(DomainEvent, event.id)
    assert parked.attempts == events.MAX_ATTEMPTS and parked.dispatched_at is not None


def test_events_carry_patient_and_payload(session):
    org = make_org(session)
    patient = make_patient(session, org, make_staff(session, org))
    event = events.publish(session, "test.ping", organization_id=org.id, patient_id=patient.id, payload={"n": "x"})
    assert event.patient_id == patient.id and event.payload == {"n": "x"}
    assert event.occurred_at <= clock.now()


batches: list[list[str]] = []


@events.subscribe_batch("test.batched")
@events.subscribe_batch("test.batched_poison")
def _record_batch(session, chunk):
    if any(e.payload.get("poison") for e in chunk):
        session.add(DomainEvent(organization_id=chunk[0].organization_id, type="test.batch_side_effect",
                                occurred_at=clock.now(), available_at=clock.now()))
        session.flush()
        raise RuntimeError("poisoned")
    batches.append([e.payload["n"] for e in chunk])


def _publish_all(session, org, kinds):
    for n, kind in enumerate(kinds):
        events.publish(session, kind, organization_id=org.id, payload={"n": str(n), "poison": kind.endswith("poison")})
        clock.advance(dt.timedelta(microseconds=10))  # a strict dispatch order
    session.commit()


def test_consecutive_batch_events_are_handled_together_and_in_order(session, session_factory):
    batches.clear()
    org = make_org(session)
    _publish_all(session, org, ["test.batched", "test.batched", "test.ping", "test.batched", "test.batched"])
    events.dispatch_pending(session_factory)
    assert batches == [["0", "1"], ["3", "4"]]  # the per-event ping splits the runs; order is kept
    assert calls == ["2"]


def test_a_failing_batch_is_retried_event_by_event(session, session_factory):
    batches.clear()
    org = make_org(session)
    _publish_all(session, org, ["test.batched", "test.batched_poison", "test.batched"])
    events.dispatch_pending(session_factory)
    assert batches == [["0"], ["2"]]  # the good events get through on their own
    poisoned = session.scalars(select(DomainEvent).where(DomainEvent.organization_id == org.id,
                                                         DomainEvent.type == "test.batched_poison")).one()
    assert poisoned.dispatched_at is None and poisoned.attempts == 1
    side_effects = session.scalars(select(DomainEvent).where(DomainEvent.organization_id == org.id,
                                                             DomainEvent.type == "test.batch_side_effect")).all()
    assert side_effects == []  # the failed batch and the failed single attempt left nothing behind
