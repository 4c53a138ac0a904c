"""Crash test for the HL7 feed: kill -9 the MLLP listener mid-load, restart, resend what was not acknowledged.

Shows, on a SQLite file database, that every acknowledged message is applied exactly once and that nothing
unacknowledged was applied half-way: per visit one encounter, one admission event and one discharge event,
no message left `received`, every applied message pointing at its encounter, `PRAGMA integrity_check` ok.

    .venv/bin/python bench/hl7_fault.py --cycles 5 --patients 1500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hl7 as feed

EB, CR = feed.EB, feed.CR


async def _lane(port: int, items: list[tuple[str, bytes]], acked: set[str], stop_after: float) -> None:
    """Send a lane (window 16) until the connection dies or the lane is done; record AA control ids."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    slots, expected = asyncio.Semaphore(16), len(items)

    async def receive() -> None:
        try:
            for _ in range(expected):
                block = await reader.readuntil(EB + CR)
                msa = block[1:-2].split(b"\r")[1].split(b"|")
                if msa[1] == b"AA":
                    acked.add(msa[2].decode())
                slots.release()
        except (OSError, asyncio.IncompleteReadError):  # the listener was killed: let the sender stop too
            for _ in range(expected + 16):
                slots.release()

    receiver = asyncio.create_task(receive())
    try:
        for _, data in items:
            await slots.acquire()
            if receiver.done():
                break
            writer.write(data)
            await writer.drain()
        await asyncio.wait_for(receiver, stop_after)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        receiver.cancel()
    finally:
        writer.close()


def _send_until_killed(port: int, lanes: list[list[tuple[str, bytes]]], acked: set[str], proc, kill_after: float | None,
                       budget: float) -> None:
    async def main() -> None:
        tasks = [asyncio.create_task(_lane(port, lane, acked, budget)) for lane in lanes if lane]
        if kill_after is not None:
            await asyncio.sleep(kill_after)
            os.kill(proc.pid, signal.SIGKILL)
        if tasks:
            await asyncio.wait(tasks, timeout=budget)

    asyncio.run(main())


def check(url: str, path: str, acked: set[str], visits: int) -> dict:
    """The exactly-once and no-half-way checks; returns the figures (ok=True when all hold)."""
    counts = feed.counts(url)
    with sqlite3.connect(path) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        applied = dict(conn.execute("SELECT control_id, COUNT(*) FROM hl7_message WHERE status = 'applied' "
                                    "GROUP BY control_id").fetchall())
        received = conn.execute("SELECT COUNT(*) FROM hl7_message WHERE status = 'received'").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM hl7_message WHERE status = 'applied' AND encounter_id IS NULL "
                               "AND trigger_event != 'A40'").fetchone()[0]
        events = dict(conn.execute("SELECT type, COUNT(*) FROM domain_event GROUP BY type").fetchall())
        per_visit = conn.execute("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM encounter GROUP BY visit_number)"
                                 ).fetchone()[0]
    missing = sorted(c for c in acked if applied.get(c) != 1)
    result = {"acked": len(acked), "applied_messages": len(applied), "missing_or_twice": len(missing),
              "left_received": received, "applied_without_encounter": orphans, "encounters": counts["encounters"],
              "visits": visits, "max_encounters_per_visit": per_visit, "admitted_events": events.get(
                  "encounter.admitted", 0), "discharged_events": events.get("encounter.discharged", 0),
              "integrity_check": integrity}
    result["ok"] = (not missing and received == 0 and orphans == 0 and per_visit == 1 and integrity == "ok"
                    and counts["encounters"] == visits == result["admitted_events"] == result["discharged_events"])
    return result


def run(cycles: int = 5, patients: int = 1500, seed: int = 1, tmp: str | None = None) -> dict:
    """Load `patients` visits (4 messages each) with `cycles` kill -9s at random moments; then verify."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(dir=tmp) as directory:
        path = f"{directory}/fault.db"
        url = f"sqlite:///{path}"
        feed.prepare_database(url, patients)
        lanes = feed.traffic(patients, prefix="F")
        every = {control for lane in lanes for control, _ in lane}
        acked: set[str] = set()
        started = time.monotonic()
        progress = []
        for cycle in range(cycles + 1):
            proc, port = feed.start_listener(url)
            before = len(acked)
            pending = [[(c, d) for c, d in lane if c not in acked] for lane in lanes]
            last = cycle == cycles
            try:
                _send_until_killed(port, pending, acked, proc, None if last else rng.uniform(0.2, 1.0),
                                   budget=120 if last else 30)
            finally:
                if proc.poll() is None:
                    proc.terminate()
                proc.wait(30)
            progress.append(len(acked) - before)
        result = check(url, path, acked, patients)
        result.update(cycles=cycles, sent=len(every), all_acked=acked == every, acked_per_run=progress,
                      seconds=round(time.monotonic() - started, 1))
        result["ok"] = result["ok"] and result["all_acked"]
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--patients", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.cycles, args.patients, args.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
