"""The coordinator's worklist with 100,000 patients and 1,000,000 tasks: first page with the bucket counts.

Each backend gets a database holding the synthetic population (`load_demo`, 100,000 patients) and 1,000,000 tasks
spread over the patients as a year of coordination leaves them: about 13 % still open (requested, accepted,
in progress, on hold), the rest completed, cancelled or failed; owned by the patient's coordinator, by the nurse
or pharmacist, or waiting unowned in the care coordinators' queue; priorities mostly routine; due times from
a year ago to two months ahead. Then ANALYZE, as a database in service has statistics.

Timed: `GET /api/v1/worklist` in-process through the ASGI app (TestClient) with a bearer token, for coordinators
taken in turn (token check, access rules, the counts query, the page query, JSON), after a warm-up; and the
queue view and the supervisors' team view. Target: p95 < 50 ms for the worklist.
Set CARELOOP_BENCH_REUSE=1 to reuse already loaded databases (faster iteration).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

import benchlib

PATIENTS, TASKS = 100_000, 1_000_000
WARMUP, REQUESTS, TARGET_MS = 20, 300, 50
ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "careloop_bench_worklist"
OPEN = ("requested", "accepted", "in_progress", "on_hold")
CLOSED = ("completed", "completed", "completed", "completed", "cancelled", "failed")
PRIORITIES = (("routine", 1),) * 14 + (("urgent", 2),) * 4 + (("asap", 3), ("stat", 4))
FOCUS = ("care_plan_activity", "transition", "referral", "result", "gap", "message", "other")


def _database(backend: str) -> Engine | None:
    """A migrated database holding the population (None when PostgreSQL is unreachable)."""
    from careloop.db import make_engine
    from careloop.migrate import upgrade
    from careloop.patients.models import Patient
    from careloop.synthetic.load import load_demo

    reuse = os.environ.get("CARELOOP_BENCH_REUSE") == "1"
    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"worklist-{PATIENTS}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        if not benchlib.postgres_reachable():
            return None
        admin = make_engine(benchlib.PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")).scalar()  # noqa: S608
            if not (exists and reuse):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
        admin.dispose()
        url = make_url(benchlib.PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).select_from(Patient)).scalar()
    if loaded != PATIENTS:
        load_demo(engine, patients=PATIENTS, seed=42)
    return engine


def _load_tasks(engine: Engine) -> float:
    """Insert TASKS tasks (unless there already are); returns the seconds it took (0 when reused)."""
    from careloop.care_teams.models import CareTeamMember, CareTeamRole
    from careloop.organizations.models import Organization
    from careloop.tasks.models import Task

    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Task)).scalar() >= TASKS:
            return 0.0
        teams: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        for patient_id, role, staff_id in conn.execute(select(
                CareTeamMember.patient_id, CareTeamMember.role, CareTeamMember.staff_id).where(
                CareTeamMember.ended_at.is_(None))):
            teams.setdefault(patient_id, {})[role.value] = staff_id
        org_id = conn.execute(select(Organization.id).limit(1)).scalar()
    started = time.perf_counter()
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    patients = list(teams.items())
    table = Task.__table__
    per_patient, chunk = TASKS // len(patients), []
    with engine.begin() as conn:
        for patient_id, team in patients:
            for _ in range(per_patient):
                chunk.append(_task(rng, now, org_id, patient_id, team, CareTeamRole))
                if len(chunk) == 20_000:
                    conn.execute(table.insert(), chunk)
                    chunk = []
        if chunk:
            conn.execute(table.insert(), chunk)
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _task(rng: random.Random, now: dt.datetime, org_id, patient_id, team: dict, roles) -> dict:
    is_open = rng.random() < 0.13
    status = rng.choice(OPEN) if is_open else rng.choice(CLOSED)
    priority, rank = rng.choice(PRIORITIES)
    due = now + dt.timedelta(hours=rng.randint(-24 * 365, 24 * 60)) if rng.random() < 0.95 else None
    who = rng.random()
    owner, queue = team.get(roles.PRIMARY_CARE_COORDINATOR.value), None
    if who < 0.10:
        owner, queue = None, "care_coordinator"
    elif who < 0.20:
        owner = team.get(roles.RN_CARE_MANAGER.value) or owner
    created = (due or now) - dt.timedelta(days=rng.randint(1, 30))
    return {"id": uuid.uuid4(), "organization_id": org_id, "patient_id": patient_id, "title": "Follow-up call",
            "description": None, "focus_type": rng.choice(FOCUS), "focus_id": None, "owner_id": owner,
            "queue_role": queue, "priority": priority, "priority_rank": rank, "status": status, "due_at": due,
            "completed_at": None if is_open else created + dt.timedelta(days=rng.randint(0, 20)), "outcome": None,
            "status_reason": None, "time_spent_minutes": 0 if is_open else rng.choice((0, 10, 20, 30)),
            "escalation_level": 0, "escalated_at": None, "protocol_run_id": None, "step_key": None,
            "created_by_id": None, "created_at": created, "updated_at": created, "version": 1}


def _clients(app, engine: Engine) -> tuple[list[Callable[[str], None]], Callable[[str], None]]:
    """GET as token-authenticated staff: the five coordinators with the most open tasks, and a supervisor."""
    from fastapi.testclient import TestClient

    from careloop.auth import service as auth_service
    from careloop.db import make_session_factory, session_scope
    from careloop.staff.models import Staff, StaffRole
    from careloop.tasks.models import Task

    with session_scope(make_session_factory(engine)) as session:
        busiest = session.execute(select(Task.owner_id, func.count()).where(Task.status.in_(OPEN)).group_by(
            Task.owner_id).order_by(func.count().desc()).limit(10)).all()
        staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.id.in_([o for o, _ in busiest if o])))}
        coordinators = [staff[o] for o, _ in busiest if o in staff and staff[o].role == StaffRole.CARE_COORDINATOR]
        supervisor = session.scalar(select(Staff).where(Staff.role == StaffRole.SUPERVISOR).limit(1))
        tokens = [auth_service.create_token(session, organization_id=s.organization_id, scopes="*",
                                            ttl=dt.timedelta(hours=2), staff=s)[0]
                  for s in [*coordinators[:5], supervisor]]
    client = TestClient(app).__enter__()  # one event-loop portal for all requests (closed with the process)

    def as_(token: str) -> Callable[[str], None]:
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str) -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.text[:200])
        return get
    return [as_(t) for t in tokens[:-1]], as_(tokens[-1])


def _measure(request: Callable[[int], object]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds of REQUESTS calls after WARMUP calls."""
    for i in range(WARMUP):
        request(i)
    timings = []
    for i in range(REQUESTS):
        started = time.perf_counter()
        request(i)
        timings.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(timings, n=100)
    return q[49], q[94], q[98]


def run() -> list[dict]:
    """Worklist, queue and team-view latency on each reachable backend."""
    import logging

    from careloop.db import make_session_factory
    from careloop.main import create_app

    out = []
    for backend in ("sqlite", "postgresql"):
        engine = _database(backend)
        if engine is None:
            continue
        load_seconds = _load_tasks(engine)
        params = {"backend": backend, "patients": PATIENTS, "tasks": TASKS}
        if load_seconds:
            out.append(benchlib.result("worklist", params, "task_load_seconds", load_seconds, "s"))
        app = create_app(session_factory=make_session_factory(engine))
        logging.getLogger().setLevel(logging.WARNING)  # no access log lines in the figures' output
        coordinators, supervisor = _clients(app, engine)
        scenarios = {
            "my worklist, first page with counts": (coordinators, "/api/v1/worklist", TARGET_MS),
            "my worklist, overdue bucket": (coordinators, "/api/v1/worklist?bucket=overdue", TARGET_MS),
            "my queue, first page with counts": (coordinators, "/api/v1/worklist?view=queue", TARGET_MS),
            "team workload (supervisor)": ([supervisor], "/api/v1/worklist/team", None),
        }
        for name, (callers, path, target) in scenarios.items():
            turn = itertools.cycle(callers)
            p50, p95, p99 = _measure(lambda i, turn=turn, path=path: next(turn)(path))
            p = {**params, "view": name, "requests": REQUESTS}
            out += [benchlib.result("worklist", p, "p50_ms", p50, "ms"),
                    benchlib.result("worklist", p, "p95_ms", p95, "ms", target,
                                    None if target is None else p95 < target),
                    benchlib.result("worklist", p, "p99_ms", p99, "ms")]
            print(f"{backend:10} {name:40} p50 {p50:6.1f}  p95 {p95:6.1f}  p99 {p99:6.1f} ms", flush=True)
        engine.dispose()
    return out


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run()
