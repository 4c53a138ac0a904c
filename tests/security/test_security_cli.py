"""The `careloop` command's security verbs on a real migrated SQLite file: tokens create/revoke, audit verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from careloop.audit import service as audit
from careloop.auth import service as auth_service
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.errors import Unauthenticated
from careloop.migrate import upgrade
from cli_support import run, using_database
from factories import actor_of, make_org, make_staff


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch) -> Iterator[Engine]:
    """A migrated SQLite file that the `careloop` command uses through CARELOOP_DATABASE_URL."""
    with using_database(monkeypatch, f"sqlite:///{tmp_path / 'cli.db'}") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def test_cli_audit_verify_names_the_first_broken_link(cli_database):
    with session_scope(make_session_factory(cli_database)) as session:
        org = make_org(session)
        actor = actor_of(make_staff(session, org))
        for n in range(4):
            audit.record(session, actor, "read", record_type="Test", record_id=str(n))
    code, output = run("audit", "verify")
    assert code == 0 and "audit trail intact" in output, output

    with cli_database.connect() as conn:
        target = conn.execute(text("SELECT id FROM audit_event WHERE chain = :c AND seq = 2"),
                              {"c": str(org.id)}).scalar_one()
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET action = 'nothing' WHERE id = :id"), {"id": target})
        conn.commit()
    code, output = run("audit", "verify")
    assert code == 1, output
    assert f"broken chain {org.id} at seq 2 (event id {target}): content or link altered" in output


def _resolve(engine: Engine, raw: str):
    with session_scope(make_session_factory(engine)) as session:
        return auth_service.resolve_token(session, raw, None)


def test_cli_tokens_are_scoped_expire_and_can_be_revoked(cli_database):
    with session_scope(make_session_factory(cli_database)) as session:
        staff = make_staff(session, make_org(session))
        email = staff.email
    code, output = run("tokens", "create", "--user", email.upper(), "--scopes", "patient:read", "--expires", "1h")
    assert code == 0, output
    raw = next(word for word in output.split() if word.startswith(auth_service.TOKEN_PREFIX))
    actor = _resolve(cli_database, raw)
    assert {p.value for p in actor.permissions} == {"patient:read"}

    code, output = run("tokens", "revoke", raw)
    assert code == 0 and "revoked" in output
    with pytest.raises(Unauthenticated):
        _resolve(cli_database, raw)


@pytest.mark.parametrize("args", [("--user", "nobody@careloop-test.org"), ("--scopes", "patient:everything"),
                                  ("--expires", "forever"), ("--expires", "400d")])
def test_cli_refuses_bad_token_requests(cli_database, args):
    with session_scope(make_session_factory(cli_database)) as session:
        email = make_staff(session, make_org(session)).email
    options = {"--user": email, "--scopes": "patient:read", "--expires": "1h"} | dict([args])
    code, output = run("tokens", "create", *(item for pair in options.items() for item in pair))
    assert code == 2, output
    assert auth_service.TOKEN_PREFIX not in output
