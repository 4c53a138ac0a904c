"""The commands `make run` uses, in a fresh interpreter as a user runs them (the test process has every model
imported already, which once hid a demo loader that did not register the tables it writes)."""

from __future__ import annotations

import os
import subprocess
import sys


def _careloop(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
           "CARELOOP_VAR_DIR": str(tmp_path / "var"), "CARELOOP_EXPORT_DIR": str(tmp_path / "exports")}
    return subprocess.run([sys.executable, "-m", "careloop.cli", *args], capture_output=True, text=True, env=env,  # noqa: S603
                          timeout=300, check=False)


def test_migrate_load_the_demo_and_export_in_fresh_processes(tmp_path):
    assert _careloop(tmp_path, "db", "upgrade").returncode == 0
    demo = _careloop(tmp_path, "demo", "--patients", "25", "--seed", "42", "--if-empty")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "loaded 25 patients" in demo.stdout
    again = _careloop(tmp_path, "demo", "--patients", "25", "--seed", "42", "--if-empty")
    assert again.returncode == 0 and "demo not loaded" in again.stdout  # --if-empty: nothing added again
    exported = _careloop(tmp_path, "export", str(tmp_path / "out"), "--org", "Riverside Care Partners",
                         "--type", "Patient")
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert len((tmp_path / "out" / "Patient.ndjson").read_bytes().splitlines()) == 25
