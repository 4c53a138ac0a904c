"""Fixtures for the HL7 feed: an organisation routed from receiving facility CARELOOP, staff, an ingest."""

from __future__ import annotations

import asyncio
import threading

import pytest

from careloop.integrations.hl7v2.mllp import Listener
from careloop.integrations.hl7v2.models import Hl7Route
from careloop.integrations.hl7v2.service import Frame, Ingest
from careloop.staff.models import StaffRole
from factories import make_org, make_staff


@pytest.fixture
def org(session):
    organization = make_org(session, timezone="America/Chicago")
    session.add(Hl7Route(organization_id=organization.id, receiving_facility="CARELOOP", label="test feed"))
    session.commit()
    return organization


@pytest.fixture
def coordinator(session, org):
    staff = make_staff(session, org, StaffRole.CARE_COORDINATOR)
    session.commit()
    return staff


@pytest.fixture
def ingest(session_factory, org):
    return Ingest(session_factory)


@pytest.fixture
def send(ingest):
    """Send messages (str) through the ingest pipeline; returns the ACK text (or list for a list)."""
    def _send(*texts: str | bytes, channel: str = "mllp"):
        frames = [Frame(t.encode() if isinstance(t, str) else t, channel, "127.0.0.1") for t in texts]
        acks = ingest.handle(frames)
        return acks[0] if len(texts) == 1 else acks
    return _send


@pytest.fixture
def port(session_factory, org):
    """A listener on an ephemeral loopback port, in its own event-loop thread."""
    loop = asyncio.new_event_loop()
    listener = Listener(session_factory, host="127.0.0.1", port=0, read_timeout=1.0, max_bytes=64 * 1024)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(listener.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield listener.port
    asyncio.run_coroutine_threadsafe(listener.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
