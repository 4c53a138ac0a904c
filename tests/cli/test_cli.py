"""The `careloop` command on real databases: schema, organisations, users, demo population, bad input.

Each test points CARELOOP_DATABASE_URL at its own SQLite file; one runs the same commands on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

import pg
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.migrate import alembic_config
from careloop.organizations.models import Organization
from careloop.patients.models import Patient
from careloop.staff.models import Staff
from cli_support import run, using_database


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch) -> Iterator[str]:
    """An empty SQLite file (not migrated) that `careloop` uses through CARELOOP_DATABASE_URL."""
    with using_database(monkeypatch, f"sqlite:///{tmp_path / 'cli.db'}") as url:
        yield url


def count(url: str, model) -> int:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return session.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


def test_db_upgrade_then_current_names_the_head(database_url):
    code, output = run("db", "upgrade")
    assert code == 0, output
    code, output = run("db", "current")
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert code == 0 and output.split() == heads, output


def test_orgs_and_users_with_piped_and_generated_passwords(database_url):
    assert run("db", "upgrade")[0] == 0
    code, output = run("orgs", "create", "Lakeside Practice", "--timezone", "America/Chicago")
    assert code == 0 and "Lakeside Practice" in output, output
    code, output = run("users", "create", "--org", "Lakeside Practice", "--email", "nina@lakeside-care.org",
                       "--role", "care_coordinator", stdin="correct horse battery staple 42\n")
    assert code == 0 and "nina@lakeside-care.org" in output and "password (shown once)" not in output, output
    code, output = run("users", "create", "--org", "Lakeside Practice", "--email", "omar@lakeside-care.org",
                       "--role", "supervisor", stdin="")
    assert code == 0 and "password (shown once)" in output, output
    assert count(database_url, Staff) == 2


@pytest.mark.parametrize("args, stdin, message", [
    (["--org", "Lakeside Practice", "--email", "x@lakeside-care.org", "--role", "wizard"], None, "role must be one of"),
    (["--org", "No Such Org", "--email", "x@lakeside-care.org", "--role", "scheduler"], None, "rganisation"),
    (["--org", "Lakeside Practice", "--email", "x@lakeside-care.org", "--role", "scheduler"], "short\n", "assword"),
    (["--org", "Lakeside Practice", "--email", "not-an-email", "--role", "scheduler"], None, "mail"),
])
def test_users_create_refuses_bad_input_and_writes_nothing(database_url, args, stdin, message):
    assert run("db", "upgrade")[0] == 0
    assert run("orgs", "create", "Lakeside Practice")[0] == 0
    code, output = run("users", "create", *args, stdin=stdin)
    assert code == 2 and "error" in output and message in output, output
    assert count(database_url, Staff) == 0


def test_duplicate_email_is_refused(database_url):
    assert run("db", "upgrade")[0] == 0
    assert run("orgs", "create", "Lakeside Practice")[0] == 0
    args = ["users", "create", "--org", "Lakeside Practice", "--email", "nina@lakeside-care.org", "--role", "scheduler"]
    assert run(*args)[0] == 0
    code, output = run(*args)
    assert code == 2 and "error" in output, output
    assert count(database_url, Staff) == 1


def test_demo_refuses_a_non_empty_database_unless_appending(database_url):
    assert run("db", "upgrade")[0] == 0
    code, output = run("demo", "--patients", "40", "--seed", "1")
    assert code == 0 and "loaded 40 patients" in output and "coordinator@demo.careloop.test" in output, output
    code, output = run("demo", "--patients", "40", "--seed", "1")
    assert code == 2 and "--append" in output, output
    assert count(database_url, Patient) == 40
    code, output = run("demo", "--patients", "40", "--seed", "1", "--if-empty")
    assert code == 0 and "demo not loaded" in output, output
    assert run("demo", "--patients", "10", "--seed", "2", "--append")[0] == 0
    assert count(database_url, Patient) == 50 and count(database_url, Organization) == 1


def test_bad_options_exit_non_zero(database_url):
    assert run("demo", "--patients", "0")[0] == 2
    assert run("serve", "--port", "70000")[0] == 2
    assert run("no-such-command")[0] == 2


def test_the_same_commands_on_postgresql(monkeypatch):
    try:
        engine, name = pg.create("cli", migrate=False)
    except pg.Unreachable as err:
        pytest.skip(str(err))
    try:
        with using_database(monkeypatch, engine.url.render_as_string(hide_password=False)) as url:
            assert run("db", "upgrade")[0] == 0
            code, output = run("demo", "--patients", "30", "--seed", "5")
            assert code == 0 and "loaded 30 patients" in output, output
            assert count(url, Patient) == 30
            assert run("demo", "--patients", "30")[0] == 2
    finally:
        pg.drop(engine, name)


def test_directory_import_from_csv_and_its_errors(database_url, tmp_path):
    from careloop.referrals.models import Provider

    assert run("db", "upgrade")[0] == 0
    assert run("orgs", "create", "Lakeside Practice")[0] == 0
    good = tmp_path / "directory.csv"
    good.write_text("external_id,name,specialty_code,specialty_display,accepting_new_patients\n"
                    "1234567890,Dr. Ada Heart,207RC0000X,Cardiovascular Disease,no\n"
                    "ORG-77,Lakeside Kidney Center,207RX0202X,Nephrology,yes\n", encoding="utf-8")
    code, output = run("directory", "import", str(good), "--org", "Lakeside Practice")
    assert code == 0 and "2 created, 0 updated" in output
    assert run("directory", "import", str(good), "--org", "Lakeside Practice")[1].endswith("0 created, 2 updated")
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,name,specialty_code,specialty_display\nX1,Dr. No Code,cardio,Cardiology\n")
    code, output = run("directory", "import", str(bad), "--org", "Lakeside Practice")
    assert code == 2 and "Row 2: specialty_code is not valid" in output
    assert run("directory", "import", str(good), "--org", "Nowhere")[0] == 2
    assert count(database_url, Provider) == 2
