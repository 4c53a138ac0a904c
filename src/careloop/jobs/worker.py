"""The worker: dispatches domain events and runs scheduled sweeps (overdue tasks, plan reviews)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from careloop.db import session_scope
from careloop.events import service as events

log = logging.getLogger("careloop.worker")
Sweep = Callable[[Session], int]
_SWEEPS: dict[str, Sweep] = {}


def sweep(name: str) -> Callable[[Sweep], Sweep]:
    """Decorator: run this function (session) -> count on every worker cycle, in its own transaction."""
    def register(fn: Sweep) -> Sweep:
        _SWEEPS[name] = fn
        return fn
    return register


def run_once(factory: sessionmaker[Session] | None = None) -> dict[str, int]:
    """One cycle: dispatch pending events, then every sweep; returns counts by name."""
    events.load_handlers()
    counts = {"events": events.dispatch_pending(factory)}
    for name, fn in sorted(_SWEEPS.items()):
        with session_scope(factory) as session:
            counts[name] = fn(session)
    counts["events"] += events.dispatch_pending(factory)  # sweeps may publish events
    return counts


def run_forever(factory: sessionmaker[Session] | None = None, *, interval: float = 2.0,
                stop: Callable[[], bool] = lambda: False) -> None:
    """Cycle until stop() is true; an error in one cycle is logged and the next cycle goes on."""
    while not stop():
        try:
            counts = run_once(factory)
            if any(counts.values()):
                log.info("worker cycle %s", counts)
        except Exception as exc:  # keep serving: a transient database error must not kill the worker
            log.error("worker cycle failed: %s", type(exc).__name__)
        deadline = time.monotonic() + interval
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))
