"""HL7 v2 ADT over MLLP, end to end (received, stored, applied, acknowledged), SQLite and PostgreSQL.

A `careloop mllp` listener runs in its own process (event worker off: admission notices are follow-up work,
not part of the ACK); a load generator in this process sends realistic ADT traffic on loopback: per patient
an ED registration or an admission, an update, a transfer and a discharge, in event order on the patient's
connection, 8 connections, each pipelining up to 32 unacknowledged messages.

- sustained throughput: as fast as the listener acknowledges, bounded by count and time;
- ACK latency: paced at 200 messages/s for 10 s, send-to-ACK time per message (p50, p99).
Every ACK must be AA and every message applied exactly once (checked in the database afterwards).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CARELOOP_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SB, EB, CR = b"\x0b", b"\x1c", b"\r"
FACILITY, AUTHORITY = "CARELOOP", "BENCHHOSP"
CONNECTIONS, WINDOW = 8, 32


# --- database ------------------------------------------------------------------------------------

def prepare_database(url: str, patients: int) -> None:
    """Migrate a fresh database and load an organisation, its route, a coordinator and patients."""
    sys.path.insert(0, str(ROOT / "src"))
    from careloop import models  # noqa: F401
    from careloop.care_teams.models import CareTeamMember
    from careloop.db import make_engine
    from careloop.integrations.hl7v2.models import Hl7Route
    from careloop.migrate import upgrade
    from careloop.organizations.models import Organization
    from careloop.patients import rules
    from careloop.patients.models import Patient
    from careloop.staff.models import Staff

    engine = make_engine(url)
    upgrade(engine)
    now, org_id, staff_id = dt.datetime.now(dt.UTC), uuid.uuid4(), uuid.uuid4()
    rows, members = [], []
    for i in range(patients):
        family, given, birth = f"Bench{i}", "Pat", dt.date(1940, 1, 1) + dt.timedelta(days=i % 20000)
        pid = uuid.uuid4()
        rows.append({"id": pid, "organization_id": org_id, "mrn": f"B{i}", "mrn_authority": AUTHORITY,
                     "given_name": given, "family_name": family, "name_key": rules.name_key(family, given),
                     "alt_name_key": rules.alt_name_key(family, given), "birth_date": birth,
                     "dedupe_key": rules.dedupe_key(family, given, birth), "sex": "female",
                     "preferred_language": "en", "interpreter_needed": False, "communication_preferences": {},
                     "status": "active", "version": 1, "created_at": now, "updated_at": now})
        members.append({"id": uuid.uuid4(), "organization_id": org_id, "patient_id": pid, "staff_id": staff_id,
                        "role": "primary_care_coordinator", "started_at": now, "created_at": now, "updated_at": now})
    with engine.begin() as conn:
        conn.execute(insert(Organization), [{"id": org_id, "name": f"Bench {org_id.hex[:6]}", "version": 1,
                                             "timezone": "America/New_York", "mrn_authority": "urn:bench",
                                             "created_at": now, "updated_at": now}])
        conn.execute(insert(Staff), [{"id": staff_id, "organization_id": org_id, "email": "bench@example.test",
                                      "given_name": "B", "family_name": "C", "role": "care_coordinator",
                                      "version": 1, "created_at": now, "updated_at": now}])
        conn.execute(insert(Hl7Route), [{"id": uuid.uuid4(), "organization_id": org_id,
                                         "receiving_facility": FACILITY, "is_active": True,
                                         "created_at": now, "updated_at": now}])
        conn.execute(insert(Patient), rows)
        conn.execute(insert(CareTeamMember), members)
    engine.dispose()


def fresh_postgres(name: str) -> str | None:
    """URL of a new, empty PostgreSQL database, or None when PostgreSQL is unreachable."""
    sys.path.insert(0, str(ROOT / "src"))
    from sqlalchemy.engine import make_url

    from careloop.db import make_engine

    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        return None
    finally:
        admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def counts(url: str) -> dict[str, int]:
    """Rows by outcome after a run (for the exactly-once checks)."""
    from careloop.clinical.models import Encounter
    from careloop.db import make_engine
    from careloop.events.models import DomainEvent
    from careloop.integrations.hl7v2.models import Hl7Message

    engine = make_engine(url)
    with engine.connect() as conn:
        result = {f"messages_{s}": n for s, n in conn.execute(
            select(Hl7Message.status, func.count()).group_by(Hl7Message.status))}
        result["encounters"] = conn.scalar(select(func.count()).select_from(Encounter))
        result["events"] = conn.scalar(select(func.count()).select_from(DomainEvent))
        result["distinct_controls"] = conn.scalar(select(func.count(func.distinct(Hl7Message.control_id))))
    engine.dispose()
    return result


# --- listener process ----------------------------------------------------------------------------------

def start_listener(url: str, *, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """`careloop mllp` on an ephemeral loopback port; returns the process and its port."""
    env = {**os.environ, "CARELOOP_DATABASE_URL": url, "CARELOOP_LOG_LEVEL": "WARNING", **(extra_env or {})}
    proc = subprocess.Popen([str(ROOT / ".venv/bin/careloop"), "mllp", "--host", "127.0.0.1", "--port", "0",
                             "--no-worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line or "")
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("listener did not start")


# --- traffic -------------------------------------------------------------------------------------------

def traffic(patients: int, start: int = 0, prefix: str = "M") -> list[list[tuple[str, bytes]]]:
    """Per connection, (control id, framed message) in event order: 4 messages per patient visit."""
    base = dt.datetime(2026, 10, 1, 8, 0)
    lanes: list[list[tuple[str, bytes]]] = [[] for _ in range(CONNECTIONS)]
    for i in range(start, start + patients):
        ed = i % 4 == 0
        events = [("A04" if ed else "A01", "E" if ed else "I", 0), ("A08", "E" if ed else "I", 1),
                  ("A02", "I", 2), ("A03", "I", 50)]
        for n, (event, pclass, hours) in enumerate(events):
            control = f"{prefix}{i}-{n}"
            when = (base + dt.timedelta(minutes=i % 10000, hours=hours)).strftime("%Y%m%d%H%M%S")
            admit = base + dt.timedelta(minutes=i % 10000)
            pv1 = ["PV1", "1", pclass, "4E^401^B^GENHOSP"] + [""] * 42
            pv1[7], pv1[19], pv1[44] = "1234^House^Greg", f"V{i}", admit.strftime("%Y%m%d%H%M%S")
            if event == "A03":
                pv1[36], pv1[45] = "01", when
            msg = "\r".join([
                f"MSH|^~\\&|HIS|GENHOSP|CL|{FACILITY}|{when}||ADT^{event}^ADT_{event}|{control}|P|2.5.1",
                f"EVN|{event}|{when}",
                f"PID|1||B{i}^^^{AUTHORITY}^MR||Bench{i}^Pat^Q||19400101|F|||{i} Main St^^Springfield^IL^62701"
                f"||(217) 555-0100|||||ACCT{i}",
                "NK1|1|Bench^Kin|SPO|1 Main St^^Springfield^IL^62701|(217) 555-0101",
                "|".join(pv1),
                "PV2|||R07.9^Chest pain^I10",
                "DG1|1||R07.9^Chest pain, unspecified^I10|||A",
                "IN1|1|MEDICARE|3|MEDICARE|||||||||||||||||||||||||||||||||||123456789A",
            ])
            lanes[i % CONNECTIONS].append((control, SB + msg.encode() + EB + CR))
    return lanes


async def _lane(port: int, items: list[tuple[str, bytes]], results: dict, *, window: int,
                interval: float | None, deadline: float, offset: float = 0.0) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent: dict[str, float] = {}
    slots = asyncio.Semaphore(window)
    order: asyncio.Queue = asyncio.Queue()

    async def receive() -> None:
        for _ in items:
            block = await reader.readuntil(EB + CR)
            msa = block[1:-2].split(b"\r")[1].split(b"|")
            control = msa[2].decode()
            results[control] = (msa[1].decode(), time.perf_counter() - sent[control])
            slots.release()

    receiver = asyncio.create_task(receive())
    started = time.perf_counter() + offset
    for n, (control, data) in enumerate(items):
        if time.monotonic() > deadline:
            break
        if interval:
            await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
        await slots.acquire()
        sent[control] = time.perf_counter()
        writer.write(data)
        await order.put(control)
    try:
        await asyncio.wait_for(receiver, max(1.0, deadline - time.monotonic() + 30))
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        receiver.cancel()
    writer.close()


def send(port: int, lanes: list[list[tuple[str, bytes]]], *, rate: float | None = None,
         max_seconds: float = 120) -> tuple[dict[str, tuple[str, float]], float]:
    """Send every lane on its own connection; returns {control: (ack code, latency s)} and elapsed seconds."""
    results: dict[str, tuple[str, float]] = {}
    interval = len(lanes) / rate if rate else None

    async def main() -> float:
        deadline = time.monotonic() + max_seconds
        t0 = time.perf_counter()
        # paced lanes are staggered so the connections together send evenly, not in bursts of 8
        await asyncio.gather(*[_lane(port, lane, results, window=WINDOW, interval=interval, deadline=deadline,
                                     offset=(interval or 0) * k / len(lanes))
                               for k, lane in enumerate(lanes) if lane])
        return time.perf_counter() - t0

    return results, asyncio.run(main())


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


# --- benchmark -----------------------------------------------------------------------------------------

def bench_backend(backend: str, url: str, *, patients: int = 6000) -> list[dict]:
    """Throughput then paced latency against one database."""
    prepare_database(url, patients + 1000)
    proc, port = start_listener(url)
    out = []
    try:
        send(port, traffic(200, start=patients + 500, prefix="W"), max_seconds=60)  # warm-up
        lanes = traffic(patients)
        total = sum(len(lane) for lane in lanes)
        results, elapsed = send(port, lanes, max_seconds=120)
        ok = sum(1 for code, _ in results.values() if code == "AA")
        rate = ok / elapsed
        out.append(_result(backend, "sustained_throughput", {"messages": total, "connections": CONNECTIONS,
                                                             "window": WINDOW, "aa": ok},
                           rate, "messages/s", 1000, rate >= 1000))
        paced = traffic(500, start=patients, prefix="L")
        lat_results, _ = send(port, paced, rate=200, max_seconds=30)
        latencies = [lat * 1000 for code, lat in lat_results.values() if code == "AA"]
        params = {"rate": 200, "messages": len(latencies), "connections": CONNECTIONS}
        out.append(_result(backend, "ack_latency_p50", params, _percentile(latencies, 50), "ms", None, None))
        p99 = _percentile(latencies, 99)
        out.append(_result(backend, "ack_latency_p99", params, p99, "ms", 50, p99 < 50))
    finally:
        proc.terminate()
        proc.wait(30)
    c = counts(url)
    sent_total = total + len(latencies) + 800
    applied = c.get("messages_applied", 0)
    out.append(_result(backend, "applied_exactly_once", {"acked": ok + len(latencies), **c},
                       applied, "messages", sent_total, applied == c["distinct_controls"]))
    return out


def _result(backend: str, metric: str, params: dict, value: float, unit: str, target, met) -> dict:
    return {"benchmark": "hl7_mllp_adt", "params": {"backend": backend, **params}, "metric": metric,
            "value": round(value, 2), "unit": unit, "target": target, "met": met}


def run() -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += bench_backend("sqlite", f"sqlite:///{tmp}/bench_hl7.db")
    url = fresh_postgres("careloop_bench_hl7")
    if url:
        results += bench_backend("postgresql", url)
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
