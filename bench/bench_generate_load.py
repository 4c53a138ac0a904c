"""Generate + load throughput of the synthetic population (patients/s, rows/s) and peak memory.

Each load runs in its own process on a fresh database so runs do not share memory or caches.
Target: 100,000 patients into SQLite in under 120 s with peak memory under 1 GiB.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib

SIZES = (10_000, 100_000)
PG_URL = benchlib.PG_URL
CHILD = r"""
import json, resource, sys, time
from sqlalchemy import text
from sqlalchemy.engine import make_url
from careloop.db import make_engine
from careloop.migrate import upgrade
from careloop.synthetic.load import load_demo
backend, url, patients = sys.argv[1], sys.argv[2], int(sys.argv[3])
if backend == "postgresql":
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "careloop_bench_load" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "careloop_bench_load"'))
    url = make_url(url).set(database="careloop_bench_load").render_as_string(hide_password=False)
engine = make_engine(url)
upgrade(engine)
summary = load_demo(engine, patients=patients, seed=42)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": summary.seconds, "rows": sum(summary.rows.values()), "peak_mib": peak_kib / 1024}))
"""






def run() -> list[dict]:
    """Load each size on each backend; report throughput and memory."""
    out = []
    backends = benchlib.backends()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for patients in SIZES:
                url = f"sqlite:///{Path(tmp) / f'load-{patients}.db'}" if backend == "sqlite" else PG_URL
                figures = benchlib.run_child(CHILD, backend, url, patients)
                if figures is None:
                    continue
                params = {"backend": backend, "patients": patients}
                target_s = 120 if backend == "sqlite" and patients == 100_000 else None
                out += [
                    _result(params, "seconds", figures["seconds"], "s", target_s,
                            None if target_s is None else figures["seconds"] < target_s),
                    _result(params, "patients_per_second", patients / figures["seconds"], "patients/s"),
                    _result(params, "rows_per_second", figures["rows"] / figures["seconds"], "rows/s"),
                    _result(params, "rows", figures["rows"], "rows"),
                    _result(params, "peak_memory", figures["peak_mib"], "MiB", 1024, figures["peak_mib"] < 1024),
                ]
    return out


def _result(params: dict, metric: str, value: float, unit: str, target: float | None = None,
            met: bool | None = None) -> dict:
    return benchlib.result("generate_load", params, metric, value, unit, target, met)
