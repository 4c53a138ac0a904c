"""The worklist: buckets and counts in the organisation's day, ordering, filters, pagination, queues, scoping;
and the supervisors' team view."""

from __future__ import annotations

import datetime as dt

import pytest
from task_helpers import hours, make_task

from careloop import clock
from careloop.errors import BadRequest, Forbidden, InvalidInput
from careloop.staff.models import StaffRole
from careloop.tasks import assignment, queries
from careloop.tasks import service as tasks
from careloop.tasks.models import TaskFocus, TaskPriority, TaskStatus
from factories import make_patient

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # Tuesday 11:00 in New York
P = TaskPriority


@pytest.fixture(autouse=True)
def _tuesday_morning():
    with clock.frozen_at(NOW):
        yield


def _ids(wl):
    return [r.task.id for r in wl.rows]


def _mine(session, team, **kwargs):
    return queries.worklist(session, team.actor(team.coordinator), queries.WorklistQuery(**kwargs))


def test_buckets_and_counts(session, team):
    overdue = make_task(session, team.patient, team.coordinator, due_at=NOW - hours(2))
    today = make_task(session, team.patient, team.coordinator, due_at=NOW + hours(12))  # 23:00 local
    upcoming = make_task(session, team.patient, team.coordinator, due_at=NOW + hours(13))  # midnight local
    undated = make_task(session, team.patient, team.coordinator)
    closed = make_task(session, team.patient, team.coordinator, due_at=NOW - hours(1))
    tasks.apply_transition(session, None, closed, TaskStatus.COMPLETED)
    make_task(session, team.other_patient, team.backup, due_at=NOW - hours(1))  # someone else's
    wl = _mine(session, team)
    assert wl.counts == {"overdue": 1, "today": 1, "upcoming": 1, "no_due": 1, "total": 4}
    assert {r.task.id: r.bucket for r in wl.rows} == {overdue.id: "overdue", today.id: "today",
                                                      upcoming.id: "upcoming", undated.id: "no_due"}
    for bucket, task in (("overdue", overdue), ("today", today), ("upcoming", upcoming), ("no_due", undated)):
        page = _mine(session, team, bucket=bucket)
        assert _ids(page) == [task.id] and page.counts["total"] == 4  # counts ignore the bucket filter
    done = _mine(session, team, status=TaskStatus.COMPLETED)
    assert _ids(done) == [closed.id]


def test_order_is_priority_then_patient_risk_then_due(session, team):
    risky = make_patient(session, team.org, team.coordinator)
    risky.risk_tier = "very_high"
    team.patient.risk_tier = "low"
    session.flush()
    a = make_task(session, team.patient, team.coordinator, priority=P.URGENT, due_at=NOW + hours(1))
    b = make_task(session, risky, team.coordinator, priority=P.URGENT, due_at=NOW + hours(50))
    c = make_task(session, risky, team.coordinator, priority=P.URGENT, due_at=NOW + hours(5))
    d = make_task(session, risky, team.coordinator, priority=P.URGENT)
    e = make_task(session, team.patient, team.coordinator, priority=P.STAT, due_at=NOW + hours(90))
    f = make_task(session, risky, team.coordinator, priority=P.ROUTINE, due_at=NOW - hours(9))
    assert _ids(_mine(session, team)) == [e.id, c.id, b.id, d.id, a.id, f.id]


def test_keyset_pages_cover_everything_once(session, team):
    made = []
    for n in range(23):
        priority = (P.ROUTINE, P.URGENT, P.ASAP)[n % 3]
        due = None if n % 5 == 0 else NOW + hours(n - 10)
        made.append(make_task(session, team.patient, team.coordinator, priority=priority, due_at=due,
                              title=f"Task {n}"))
    full = _ids(_mine(session, team, limit=100))
    seen, cursor = [], None
    while True:
        page = _mine(session, team, limit=5, cursor=cursor)
        assert page.counts["total"] == 23
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == full and len(set(seen)) == 23
    with pytest.raises(BadRequest):
        _mine(session, team, cursor="not-a-cursor")


def test_filters(session, team):
    second = make_patient(session, team.org, team.coordinator)
    referral = make_task(session, team.patient, team.coordinator, focus_type=TaskFocus.REFERRAL,
                         due_at=NOW + hours(30))
    gap = make_task(session, second, team.coordinator, focus_type=TaskFocus.GAP, due_at=NOW + hours(80))
    held = make_task(session, second, team.coordinator)
    tasks.apply_transition(session, None, held, TaskStatus.ON_HOLD, reason="Waiting")
    assert set(_ids(_mine(session, team, patient_id=second.id))) == {gap.id, held.id}
    assert _ids(_mine(session, team, focus_type=TaskFocus.REFERRAL)) == [referral.id]
    assert _ids(_mine(session, team, status=TaskStatus.ON_HOLD)) == [held.id]
    window = _mine(session, team, due_from=dt.date(2026, 3, 11), due_to=dt.date(2026, 3, 11))
    assert _ids(window) == [referral.id] and window.counts["total"] == 1
    assert _ids(_mine(session, team, due_from=dt.date(2026, 3, 12))) == [gap.id]
    with pytest.raises(InvalidInput):
        _mine(session, team, due_from=dt.date(2026, 3, 12), due_to=dt.date(2026, 3, 11))
    with pytest.raises(BadRequest):
        _mine(session, team, bucket="someday")


def test_queue_view_shows_my_roles_unowned_tasks_on_my_patients(session, team):
    mine = make_task(session, team.patient, None, queue_role=StaffRole.CARE_COORDINATOR, due_at=NOW + hours(1))
    make_task(session, team.patient, None, queue_role=StaffRole.PHARMACIST)  # another role's queue
    make_task(session, team.other_patient, None, queue_role=StaffRole.CARE_COORDINATOR)  # not my patient
    queue = _mine(session, team, view="queue")
    assert _ids(queue) == [mine.id] and queue.counts["today"] == 1
    assert queries.view_totals(session, team.actor(team.coordinator)) == {"mine": 0, "queue": 1}
    assignment.claim(session, team.actor(team.coordinator), mine.id)
    assert queries.view_totals(session, team.actor(team.coordinator)) == {"mine": 1, "queue": 0}


def test_only_patients_the_actor_may_see(session, team):
    task = make_task(session, team.patient, team.coordinator)
    # The coordinator leaves the care team (a new coordinator is assigned) but still owns the task.
    from careloop.care_teams import service as care_teams
    from careloop.care_teams.models import CareTeamRole

    care_teams.assign(session, team.actor(team.supervisor), team.patient, CareTeamRole.PRIMARY_CARE_COORDINATOR,
                      team.outsider.id)
    assert _ids(_mine(session, team)) == []  # (the worker would move it to the new coordinator)
    supervisor_view = queries.worklist(session, team.actor(team.supervisor),
                                       queries.WorklistQuery(owner_id=team.coordinator.id))
    assert _ids(supervisor_view) == [task.id]
    with pytest.raises(Forbidden):  # a coordinator cannot open a colleague's worklist
        queries.worklist(session, team.actor(team.backup), queries.WorklistQuery(owner_id=team.coordinator.id))
    stranger = queries.worklist(session, team.actor(team.stranger), queries.WorklistQuery(view="queue"))
    assert stranger.rows == []


def test_team_view_numbers(session, team):
    for due in (NOW - hours(3), NOW - hours(30), NOW + hours(4), NOW + hours(40), None):
        make_task(session, team.patient, team.coordinator, due_at=due)
    done_monday = make_task(session, team.patient, team.coordinator)
    with clock.frozen_at(NOW - hours(20)):  # Monday
        tasks.apply_transition(session, None, done_monday, TaskStatus.COMPLETED)
    done_last_week = make_task(session, team.patient, team.coordinator)
    with clock.frozen_at(NOW - hours(24 * 3)):  # the Saturday before
        tasks.apply_transition(session, None, done_last_week, TaskStatus.COMPLETED)
    cancelled = make_task(session, team.patient, team.coordinator)
    tasks.apply_transition(session, None, cancelled, TaskStatus.CANCELLED, reason="Duplicate")
    make_task(session, team.other_patient, team.backup, due_at=NOW + hours(2))
    rows = {w.staff.id: w for w in queries.team_workload(session, team.actor(team.supervisor))}
    c = rows[team.coordinator.id]
    assert (c.open, c.overdue, c.due_today, c.completed_this_week) == (5, 2, 1, 1)
    b = rows[team.backup.id]
    assert (b.open, b.overdue, b.due_today, b.completed_this_week) == (1, 0, 1, 0)
    n = rows[team.nurse.id]
    assert (n.open, n.overdue, n.due_today, n.completed_this_week) == (0, 0, 0, 0)
    assert team.stranger.id not in rows
    ordered = list(rows)
    assert ordered[0] == team.coordinator.id  # most overdue first
    reports = {w.staff.id for w in queries.team_workload(session, team.actor(team.supervisor), reports_only=True)}
    assert reports == {team.coordinator.id, team.backup.id}
    with pytest.raises(Forbidden):
        queries.team_workload(session, team.actor(team.coordinator))


def test_today_follows_the_organisation_time_zone(session, team):
    team.org.timezone = "Pacific/Honolulu"  # 05:00 there; the day ends at 10:00 UTC tomorrow
    session.flush()
    task = make_task(session, team.patient, team.coordinator, due_at=NOW + hours(18))
    assert _mine(session, team).rows[0].bucket == "today"
    team.org.timezone = "Europe/London"  # 15:00 there; 09:00 UTC tomorrow is tomorrow
    session.flush()
    assert _mine(session, team).rows[0].bucket == "upcoming"
    assert task.due_at == NOW + hours(18)
