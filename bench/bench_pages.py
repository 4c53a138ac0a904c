"""Server render time of the main pages (patient chart, patient list, filtered search) with 100,000 patients.

Each backend gets a fresh database loaded with the synthetic population (SQLite file under var/bench/, and the
PostgreSQL database careloop_bench_pages when reachable). Pages are requested in-process through the ASGI app
(TestClient) as signed-in demo users, after a warm-up; the figures include routing, access checks, queries,
the audit write and its commit, and template rendering. Target: p95 < 100 ms.
Set CARELOOP_BENCH_REUSE=1 to reuse an already loaded database (faster iteration).
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

PATIENTS = 100_000
WARMUP, REQUESTS, TARGET_MS = 20, 200, 100
ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CARELOOP_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NAME_PREFIXES = ("smi", "joh", "gar", "ngu", "mil", "bro", "dav", "lop", "wil", "kim", "pat", "and")


def _database(backend: str) -> Engine | None:
    """A migrated database holding the population (None when PostgreSQL is unreachable)."""
    from careloop.db import make_engine
    from careloop.migrate import upgrade
    from careloop.patients.models import Patient
    from careloop.synthetic.load import load_demo

    reuse = os.environ.get("CARELOOP_BENCH_REUSE") == "1"
    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"pages-{PATIENTS}.db"
        if path.exists() and not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        try:
            admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'careloop_bench_pages'")).scalar()
                if not (exists and reuse):
                    conn.execute(text('DROP DATABASE IF EXISTS "careloop_bench_pages" WITH (FORCE)'))
                    conn.execute(text('CREATE DATABASE "careloop_bench_pages"'))
            admin.dispose()
        except Exception:  # unreachable: left out of the report
            return None
        url = make_url(PG_URL).set(database="careloop_bench_pages").render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).select_from(Patient)).scalar()
    if loaded != PATIENTS:
        load_demo(engine, patients=PATIENTS, seed=42)
        with engine.connect() as conn:  # planner statistics, as a database in service has them
            conn.execute(text("ANALYZE"))
            conn.commit()
    return engine


def _signed_in(app, email: str):
    from fastapi.testclient import TestClient

    from careloop.synthetic.load import DEMO_PASSWORD

    client = TestClient(app).__enter__()  # one event-loop portal for all requests (closed with the process)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    return client


def _my_patients(engine: Engine, email: str) -> list[str]:
    from careloop.care_teams.models import CareTeamMember
    from careloop.staff.models import Staff

    with engine.connect() as conn:
        staff_id = conn.execute(select(Staff.id).where(Staff.email == email)).scalar()
        rows = conn.execute(select(CareTeamMember.patient_id).where(
            CareTeamMember.staff_id == staff_id, CareTeamMember.ended_at.is_(None)).limit(50)).scalars()
        return [str(r) for r in rows]


def _measure(request: Callable[[int], object]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of REQUESTS calls after WARMUP calls."""
    for i in range(WARMUP):
        request(i)
    timings = []
    for i in range(REQUESTS):
        started = time.perf_counter()
        request(i)
        timings.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[94]


def _get(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)


def _post(client, path: str, form: dict[str, str]) -> None:
    """A search form posted with the session's CSRF token (search terms never travel in the URL)."""
    token = client.__dict__.setdefault("_csrf", re.search(r'name="csrf_token" value="([^"]+)"',
                                                          client.get("/patients").text).group(1))
    response = client.post(path, data={"csrf_token": token, **form})
    assert response.status_code == 200, (path, response.status_code)


def _scenarios(engine: Engine, app) -> dict[str, Callable[[int], object]]:
    from careloop.synthetic.load import DEMO_DOMAIN

    coordinator = _signed_in(app, f"coordinator@{DEMO_DOMAIN}")
    supervisor = _signed_in(app, f"supervisor@{DEMO_DOMAIN}")
    charts = itertools.cycle(_my_patients(engine, f"coordinator@{DEMO_DOMAIN}"))
    return {
        "chart (coordinator)": lambda i: _get(coordinator, f"/patients/{next(charts)}"),
        "list first page (coordinator)": lambda i: _get(coordinator, "/patients"),
        "list first page (supervisor)": lambda i: _get(supervisor, "/patients"),
        "search name prefix + status (supervisor)": lambda i: _post(
            supervisor, "/patients", {"name": NAME_PREFIXES[i % len(NAME_PREFIXES)], "status": "active"}),
        "search results fragment (coordinator)": lambda i: _post(
            coordinator, "/patients/results", {"name": NAME_PREFIXES[i % len(NAME_PREFIXES)][:2]}),
    }


def _result(params: dict, metric: str, value: float, target: float | None) -> dict:
    return {"benchmark": "pages", "params": params, "metric": metric, "value": round(value, 2), "unit": "ms",
            "target": target, "met": None if target is None else value < target}


def run() -> list[dict]:
    """p50/p95 render time of each page scenario on each reachable backend."""
    from careloop.db import make_session_factory
    from careloop.main import create_app

    out = []
    for backend in ("sqlite", "postgresql"):
        engine = _database(backend)
        if engine is None:
            continue
        app = create_app(session_factory=make_session_factory(engine))
        for name, request in _scenarios(engine, app).items():
            p50, p95 = _measure(request)
            params = {"backend": backend, "patients": PATIENTS, "page": name, "requests": REQUESTS}
            out += [_result(params, "p50_ms", p50, None), _result(params, "p95_ms", p95, TARGET_MS)]
            print(f"{backend:10} {name:42} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms", flush=True)
        engine.dispose()
    return out


if __name__ == "__main__":
    run()
