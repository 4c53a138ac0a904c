"""Running the MLLP listener as a process (`careloop mllp`) or inside `careloop serve`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable

from fastapi import FastAPI

from careloop.config import get_settings
from careloop.integrations.hl7v2.mllp import Listener
from careloop.runtime import settle_heap


def listener_from_settings(factory=None, *, host: str | None = None, port: int | None = None) -> Listener:
    """A listener configured by CARELOOP_HL7_* settings (host and port may be overridden)."""
    s = get_settings()
    return Listener(factory, host=host or s.hl7_host, port=port if port is not None else s.hl7_port,
                    read_timeout=s.hl7_read_timeout_seconds, max_bytes=s.hl7_max_message_bytes,
                    max_connections=s.hl7_max_connections, batch_size=s.hl7_batch_size)


def run(host: str, port: int, *, worker: bool, on_ready: Callable[[int], None] | None = None) -> None:
    """Listen until SIGINT/SIGTERM; with worker, dispatch domain events (admission notices) alongside."""
    stop_worker = threading.Event()
    thread = None
    if worker:
        from careloop.jobs.worker import run_forever

        thread = threading.Thread(target=run_forever, name="careloop-worker", daemon=True,
                                  kwargs={"stop": stop_worker.is_set,
                                          "interval": get_settings().worker_interval_seconds})
        thread.start()
    try:
        asyncio.run(_serve(host, port, on_ready))
    finally:
        stop_worker.set()
        if thread is not None:
            thread.join(timeout=10)


async def _serve(host: str, port: int, on_ready: Callable[[int], None] | None) -> None:
    listener = listener_from_settings(host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await listener.start()
    settle_heap()
    if on_ready:
        on_ready(listener.port)
    try:
        await stop.wait()
    finally:
        await listener.close()


@contextlib.asynccontextmanager
async def inprocess(app: FastAPI):
    """Lifespan helper: run the listener inside the web server when CARELOOP_HL7_INPROCESS_LISTENER is set."""
    listener = None
    if get_settings().hl7_inprocess_listener:
        listener = listener_from_settings(app.state.session_factory)
        await listener.start()
    app.state.hl7_listener = listener
    try:
        yield listener
    finally:
        if listener is not None:
            await listener.close()
