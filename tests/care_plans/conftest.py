"""Fixtures of the care plans tests."""

from __future__ import annotations

import pytest
from plan_world import World, build_world


@pytest.fixture
def world(session) -> World:
    return build_world(session)
