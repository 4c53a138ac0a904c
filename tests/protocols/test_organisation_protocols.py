"""An organisation's own protocols: a new protocol for its own event, and its version of a shipped one."""

from __future__ import annotations

from pathlib import Path

import pytest
from protocol_world import build_world, dispatch, publish, runs, step_tasks

from careloop.protocols import handlers, registry

FALLS = """\
key: falls_follow_up
name: Falls follow-up
version: "2024.1"
triggers:
  - event: assessment.fall_reported
steps:
  - key: home_safety_check
    title: Home safety check after a fall
    role: [community_health_worker, coordinator]
    due: {offset: 3, unit: business_days}
"""


@pytest.fixture
def org_protocols(tmp_path: Path):
    """Point the registry at a temporary organisations' directory, and back afterwards."""
    yield tmp_path
    registry.reload()
    handlers.subscribe_all()


def test_an_organisation_adds_and_overrides_protocols(session, session_factory, org_protocols):
    mine, other = build_world(session), build_world(session)
    directory = org_protocols / str(mine.org.id)
    directory.mkdir()
    (directory / "falls.yaml").write_text(FALLS)
    shipped = Path(registry.SHIPPED / "hospital_discharge.yaml").read_text()
    (directory / "discharge.yaml").write_text(shipped.replace("offset: 72, unit: hours", "offset: 48, unit: hours")
                                              .replace('version: "1.0"', 'version: "1.0-riverside"'))
    registry.reload(org_root=org_protocols)
    assert "assessment.fall_reported" in handlers.subscribe_all()

    for world in (mine, other):
        world.patient.risk_tier = "high"
        session.commit()
        publish(session, world, "assessment.fall_reported")
        publish(session, world, "encounter.discharged", at=world.local(2026, 11, 20, 12), encounter_id="e",
                encounter_class="inpatient")
    dispatch(session, session_factory)

    [falls] = runs(session, mine.patient, "falls_follow_up")
    assert falls.protocol_version == "2024.1"
    assert step_tasks(session, falls)["home_safety_check"].owner_id == mine.coordinator.id
    assert runs(session, other.patient, "falls_follow_up") == []
    [ours], [theirs] = runs(session, mine.patient, "hospital_discharge"), runs(session, other.patient,
                                                                                  "hospital_discharge")
    assert (ours.protocol_version, theirs.protocol_version) == ("1.0-riverside", "1.0")
    hours = {r.id: (step_tasks(session, r)["home_visit"].due_at - r.anchor_at).total_seconds() / 3600
             for r in (ours, theirs)}
    assert (hours[ours.id], hours[theirs.id]) == (48, 72)
