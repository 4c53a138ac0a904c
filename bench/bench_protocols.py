"""Protocol instantiation: 10,000 simultaneous hospital discharges turned into protocol runs and step tasks.

Each backend runs in its own process on a fresh database holding the synthetic population (`load_demo`, 10,000
patients, a mix of risk tiers). 10,000 `encounter.discharged` events (one per patient, a mix of encounter class and
complexity, all at the same moment) are written at once, then dispatched two ways, each timed:

- path=outbox: the worker's outbox dispatcher as it is (careloop.events.service.dispatch_pending), which hands
  runs of consecutive events to the protocol engine's batch subscription in one savepoint;
- path=batch: the engine's set-based entry point (careloop.protocols.service.start_runs) called directly once per
  claimed batch of 200 events (the floor the dispatcher is compared with).

Each active patient's event starts one run of the hospital-discharge protocol (deceased patients start none) and
creates its first step tasks with business-day due dates in the organisation's time zone. Target: under 10 s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib

EVENTS = 10_000
TARGET_SECONDS = 10.0
PG_URL = benchlib.PG_URL
CHILD = r"""
import datetime as dt, json, sys, time, uuid
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from careloop import clock
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.events import service as events
from careloop.events.models import DomainEvent
from careloop.migrate import upgrade
from careloop.patients.models import Patient
from careloop.protocols import service
from careloop.protocols.models import ProtocolRun
from careloop.synthetic.load import load_demo
from careloop.tasks.models import Task

backend, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if backend == "postgresql":
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "careloop_bench_protocols" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "careloop_bench_protocols"'))
    url = make_url(url).set(database="careloop_bench_protocols").render_as_string(hide_password=False)
engine = make_engine(url)
upgrade(engine)
load_demo(engine, patients=count, seed=7)
factory = make_session_factory(engine)
with session_scope(factory) as session:
    patients = session.execute(select(Patient.id, Patient.organization_id).order_by(Patient.id).limit(count)).all()
    eligible = session.scalar(select(func.count()).select_from(Patient).where(Patient.status == "active"))
    tiers = ("low", "moderate", "high", "very_high")
    for n, (pid, _) in enumerate(patients):
        session.execute(update(Patient).where(Patient.id == pid).values(risk_tier=tiers[n % 4]))


def discharge_everyone():
    now = clock.now()
    with session_scope(factory) as session:
        session.execute(insert(DomainEvent), [
            {"id": uuid.uuid4(), "organization_id": org, "patient_id": pid, "type": "encounter.discharged",
             "payload": {"encounter_id": str(uuid.uuid4()),
                         "encounter_class": ("inpatient", "observation", "emergency")[n % 3],
                         "complexity": ("high", "moderate")[n % 2]},
             "occurred_at": now - dt.timedelta(hours=3), "available_at": now, "attempts": 0}
            for n, (pid, org) in enumerate(patients)])


def counts():
    with session_scope(factory) as session:
        return (session.scalar(select(func.count()).select_from(ProtocolRun)),
                session.scalar(select(func.count()).select_from(Task)),
                session.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.last_error.is_not(None))))


def through_the_outbox():
    events.load_handlers()
    while events.dispatch_pending(factory, batch=200, max_batches=1000):
        pass


def through_the_batch_entry_point():
    # What a batch-aware dispatcher does: claim 200 events, one engine call for all, mark them, commit.
    while True:
        with session_scope(factory) as session:
            claimed = list(session.scalars(select(DomainEvent).where(DomainEvent.dispatched_at.is_(None))
                                           .order_by(DomainEvent.available_at).limit(200)
                                           .with_for_update(skip_locked=True)))
            service.start_runs(session, claimed)
            for event in claimed:
                event.dispatched_at = clock.now()
        if len(claimed) < 200:
            return


figures = {}
for name, dispatch in (("outbox", through_the_outbox), ("batch", through_the_batch_entry_point)):
    runs0, tasks0, _ = counts()
    discharge_everyone()
    started, cpu = time.perf_counter(), time.process_time()
    dispatch()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    runs1, tasks1, failed = counts()
    figures[name] = {"seconds": seconds, "cpu_seconds": cpu, "runs": runs1 - runs0, "tasks": tasks1 - tasks0,
                     "failed": failed, "eligible": eligible}
print(json.dumps(figures))
"""






def _result(params: dict, metric: str, value: float, unit: str, target: float | None = None,
            met: bool | None = None) -> dict:
    return benchlib.result("protocols", params, metric, value, unit, target, met)


def run() -> list[dict]:
    """Instantiate 10,000 discharges on each reachable backend, through the outbox and through the batch entry."""
    out = []
    backends = benchlib.backends()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            url = f"sqlite:///{Path(tmp) / 'protocols.db'}" if backend == "sqlite" else PG_URL
            figures = benchlib.run_child(CHILD, backend, url, EVENTS)
            for path, found in (figures or {}).items():
                out += _results({"backend": backend, "events": EVENTS, "path": path}, found)
    return out


def _results(params: dict, found: dict) -> list[dict]:
    met = found["runs"] == found["eligible"] and found["failed"] == 0 and found["seconds"] < TARGET_SECONDS
    return [
        _result(params, "seconds", found["seconds"], "s", TARGET_SECONDS, met),
        _result(params, "cpu_seconds", found["cpu_seconds"], "s"),
        _result(params, "events_per_second", EVENTS / found["seconds"], "events/s"),
        _result(params, "runs_started", found["runs"], "runs", found["eligible"], found["runs"] == found["eligible"]),
        _result(params, "step_tasks_created", found["tasks"], "tasks"),
        _result(params, "failed_events", found["failed"], "events", 0, found["failed"] == 0),
    ]
