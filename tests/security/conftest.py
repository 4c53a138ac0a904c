"""Fixtures of the security suites."""

from __future__ import annotations

import pytest
from security_seed import World, build_tenant
from sqlalchemy.orm import Session

from careloop import clock


@pytest.fixture
def world(session: Session) -> World:
    """Two organisations seeded and committed; A's coordinator is on A's patient's care team."""
    clock.reset()
    w = World(a=build_tenant(session), b=build_tenant(session, tokens=False), session=session)
    session.commit()
    return w

