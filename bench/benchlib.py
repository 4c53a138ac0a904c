"""What the benchmarks share: the PostgreSQL URL, its reachability, child processes and the result format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

PG_URL = os.environ.get("CARELOOP_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    """Whether the benchmark PostgreSQL server answers (its runs are left out otherwise)."""
    from sqlalchemy import text

    from careloop.db import make_engine

    try:
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if postgres_reachable() else [])


def run_child(code: str, *args: Any, timeout: int = 1800) -> dict | None:
    """Run a measurement in a fresh interpreter (no shared memory or caches); its last stdout line is JSON."""
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                            check=False, timeout=timeout)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def result(benchmark: str, params: dict, metric: str, value: float, unit: str, target: float | None = None,
           met: bool | None = None) -> dict:
    """One figure in the shared format."""
    return {"benchmark": benchmark, "params": params, "metric": metric, "value": round(value, 2), "unit": unit,
            "target": target, "met": met}
