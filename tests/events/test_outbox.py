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
