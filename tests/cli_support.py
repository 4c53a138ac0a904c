"""Driving the `careloop` command in tests: point it at a database, run it, read its output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from careloop import cli, config, db


def clear_caches() -> None:
    """Forget the settings, engine and session factory so the next command reads the environment again."""
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.get_session_factory.cache_clear()


@contextmanager
def using_database(monkeypatch: pytest.MonkeyPatch, url: str) -> Iterator[str]:
    """The `careloop` command uses this database (CARELOOP_DATABASE_URL) inside the block."""
    monkeypatch.setenv("CARELOOP_DATABASE_URL", url)
    clear_caches()
    try:
        yield url
    finally:
        db.get_engine().dispose()
        monkeypatch.delenv("CARELOOP_DATABASE_URL")
        clear_caches()


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit code and the whole output (stdout and stderr) with whitespace collapsed."""
    result = CliRunner().invoke(cli.app, list(args), input=stdin, env={"COLUMNS": "250"})
    output = result.output + (result.stderr if result.stderr_bytes else "")
    return result.exit_code, " ".join(output.split())
