"""CareLoop served for real over HTTP in tests (browser tests, FHIR clients): uvicorn on a free loopback port in
a thread, against a database of the test's own (a file: the server's threads cannot share the test
transaction)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(factory) -> Iterator[str]:
    """The app on the session factory, until the block ends; yields its base URL."""
    from careloop.main import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(session_factory=factory), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="careloop-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
