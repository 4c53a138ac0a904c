"""The audit trail is append-only at the database and hash-chained: any change or deletion is found."""

from __future__ import annotations

import itertools
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

import pg
from careloop.audit import service as audit
from careloop.audit.models import AuditEvent
from careloop.auth.actor import system_actor
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.migrate import upgrade
from factories import StaffRole, auth, make_org, make_staff, make_token


@pytest.fixture
def trail(session):
    """An organisation whose chain holds five events; returns (org, events in order)."""
    org = make_org(session)
    actor = system_actor(org.id)
    for n in range(5):
        audit.record(session, actor, "read", record_type="Test", record_id=str(n))
    session.commit()
    return org, _chain(session, org.id)


def _chain(session, org_id) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.chain == str(org_id)).order_by(AuditEvent.seq)))


def _break_of(session, org_id) -> audit.Break | None:
    _, breaks = audit.verify(session)
    mine = [b for b in breaks if b.chain == str(org_id)]
    return mine[0] if mine else None


def drop_append_only_triggers(session) -> None:
    """What an attacker with database access would do first; undone when the test's transaction rolls back."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))
    else:
        session.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET outcome = 'failure' WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_database_refuses_to_change_or_delete_audit_rows(session, trail, statement):
    _, events = trail
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(statement), {"id": events[2].id})
    session.expire_all()
    assert len(_chain(session, trail[0].id)) == 5


@pytest.mark.parametrize("statement, message", [
    ("DELETE FROM audit_chain_head WHERE chain = :chain", "cannot be deleted"),
    ("UPDATE audit_chain_head SET seq = seq - 1 WHERE chain = :chain", "only moves forward"),
])
def test_the_chain_head_cannot_be_deleted_or_rewound(session, trail, statement, message):
    """Rewinding the head would let someone cut off the chain's tail unnoticed."""
    org, _ = trail
    with pytest.raises(DBAPIError, match=message), session.begin_nested():
        session.execute(text(statement), {"chain": str(org.id)})
    session.expire_all()
    assert audit.verify(session, chains=[str(org.id)]) == (5, [])


def test_an_untouched_chain_verifies(session, trail):
    org, events = trail
    checked, _ = audit.verify(session)
    assert checked >= 5 and _break_of(session, org.id) is None
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(events))


def test_an_altered_row_is_the_first_broken_link(session, trail):
    org, events = trail
    drop_append_only_triggers(session)
    session.execute(text("UPDATE audit_event SET actor_label = 'someone else' WHERE id = :id"), {"id": events[2].id})
    assert _break_of(session, org.id) == audit.Break(str(org.id), 3, events[2].id, "content or link altered")


def test_a_row_rehashed_after_alteration_breaks_the_next_link(session, trail):
    org, events = trail
    drop_append_only_triggers(session)
    forged = {name: getattr(events[1], name) for name in audit._HASHED_FIELDS} | {"outcome": "failure"}
    session.execute(text("UPDATE audit_event SET outcome = 'failure', hash = :hash WHERE id = :id"),
                    {"hash": audit.chain_hash(forged, events[1].prev_hash), "id": events[1].id})
    assert _break_of(session, org.id) == audit.Break(str(org.id), 3, events[2].id, "content or link altered")


def test_a_deleted_row_is_found(session, trail):
    org, events = trail
    drop_append_only_triggers(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[1].id})
    assert _break_of(session, org.id) == audit.Break(str(org.id), 2, events[2].id, "missing event (deleted?)")


def test_deleting_the_last_row_is_found(session, trail):
    org, events = trail
    drop_append_only_triggers(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[-1].id})
    assert _break_of(session, org.id) == audit.Break(str(org.id), 5, None, "events missing at the end of the chain")


def test_verify_api_reports_the_break_to_the_organisation_only(session, client, trail):
    org, events = trail
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    other = make_org(session)
    other_supervisor = make_staff(session, other, StaffRole.SUPERVISOR)
    mine, theirs = make_token(session, supervisor), make_token(session, other_supervisor)
    session.commit()
    intact = client.get("/api/v1/audit/verify", headers=auth(mine)).json()
    assert intact["intact"] is True and intact["breaks"] == [] and intact["checked"] >= 5

    drop_append_only_triggers(session)
    session.execute(text("UPDATE audit_event SET record_id = 'x' WHERE id = :id"), {"id": events[3].id})
    session.commit()
    broken = client.get("/api/v1/audit/verify", headers=auth(mine))
    assert broken.status_code == 200
    assert broken.json()["intact"] is False
    assert broken.json()["breaks"] == [{"chain": str(org.id), "seq": 4, "event_id": events[3].id,
                                        "reason": "content or link altered"}]
    other_view = client.get("/api/v1/audit/verify", headers=auth(theirs)).json()
    assert other_view["intact"] is True and other_view["checked"] < intact["checked"]
    assert client.get("/api/v1/audit/verify", headers=auth(make_token(session, make_staff(session, org)))
                      ).status_code == 403


# --- concurrent writers ----------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_engine(request, tmp_path: Path) -> Engine:
    """A dedicated database whose transactions really commit (not the test's rolled-back one)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'concurrent.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    test_engine = request.getfixturevalue("postgres_engine")
    if test_engine is None:
        pytest.skip("PostgreSQL unreachable")
    engine, name = pg.create("audit_concurrency")
    try:
        yield engine
    finally:
        pg.drop(engine, name)


def test_concurrent_writers_keep_one_intact_chain(scratch_engine):
    factory = make_session_factory(scratch_engine)
    with session_scope(factory) as session:
        org_id = make_org(session).id
    writers, transactions, start = 2, 20, threading.Barrier(2)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            start.wait()
            for n in range(transactions):
                with session_scope(factory) as session:
                    audit.record_many(session, system_actor(org_id), [
                        audit.Entry(action="read", record_type="Test", record_id=f"{worker}-{n}-{k}")
                        for k in range(2)])
        except BaseException as err:  # reported to the test thread
            failures.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with session_scope(factory) as session:
        checked, breaks = audit.verify(session)
        seqs = session.scalars(select(AuditEvent.seq).where(AuditEvent.chain == str(org_id))
                               .order_by(AuditEvent.seq)).all()
    assert breaks == []
    assert checked == writers * transactions * 2
    assert seqs == list(range(1, writers * transactions * 2 + 1))


def test_each_organisation_has_its_own_chain(session):
    first, second = make_org(session), make_org(session)
    audit.record(session, system_actor(first.id), "read")
    audit.record(session, system_actor(second.id), "read")
    audit.record(session, None, "login", outcome="failure")  # anonymous: the system chain
    session.flush()
    assert [e.seq for e in _chain(session, first.id)] == [1]
    assert [e.seq for e in _chain(session, second.id)] == [1]
    anonymous = session.scalars(select(AuditEvent).where(AuditEvent.chain == "system")).all()
    assert anonymous and anonymous[-1].organization_id is None
    assert uuid.UUID(_chain(session, first.id)[0].chain) == first.id
