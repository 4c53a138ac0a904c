"""Escalation of overdue tasks: rules from escalation.toml (validated), applied by the worker's sweep."""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import system_actor
from careloop.errors import CareLoopError
from careloop.staff.models import Staff
from careloop.tasks import rules
from careloop.tasks.models import OPEN_STATUSES, PRIORITY_RANK, Notification, Task

RULES_FILE = Path(__file__).with_name("escalation.toml")
BATCH = 500


class EscalationRulesError(CareLoopError):
    code, status, title = "invalid_escalation_rules", 500, "The task escalation rules cannot be used"


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overdue_hours: float = Field(gt=0, le=24 * 365)
    raise_priority: bool = True
    notify_supervisor: bool = False


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_every_minutes: float = Field(default=5, ge=0, le=24 * 60)
    step: list[_Step] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _increasing(self) -> _RulesFile:
        hours = [s.overdue_hours for s in self.step]
        if hours != sorted(set(hours)):
            raise ValueError("steps must be listed in strictly increasing overdue_hours")
        return self


@dataclass(frozen=True)
class EscalationRules:
    steps: tuple[rules.EscalationStep, ...]
    check_every: dt.timedelta


def parse_rules(text: str, file: str) -> EscalationRules:
    """Validate an escalation rules file; EscalationRulesError names the file and the field."""
    try:
        data = _RulesFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as err:
        raise EscalationRulesError(f"{file}: TOML syntax: {err}") from None
    except ValidationError as err:
        problems = [f"{file}: {_field(e['loc'])}: {e['msg']}" for e in err.errors()]
        raise EscalationRulesError("\n".join(problems)) from None
    steps = tuple(rules.EscalationStep(s.overdue_hours, s.raise_priority, s.notify_supervisor) for s in data.step)
    return EscalationRules(steps=steps, check_every=dt.timedelta(minutes=data.check_every_minutes))


def _field(loc: tuple) -> str:
    """('step', 1, 'overdue_hours') -> 'step[1].overdue_hours'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> EscalationRules:
    """The escalation rules shipped with CareLoop (read once)."""
    return parse_rules(path.read_text(encoding="utf-8"), str(path.name))


_last_check: dt.datetime | None = None


def due_for_check(now: dt.datetime, every: dt.timedelta) -> bool:
    """Whether the sweep should look again (escalation works in hours; a full look every cycle is waste)."""
    global _last_check
    if _last_check is not None and _last_check <= now < _last_check + every:
        return False
    _last_check = now
    return True


def _reset_check() -> None:
    global _last_check
    _last_check = None


def escalate_overdue(session: Session, config: EscalationRules | None = None, *, force: bool = False) -> int:
    """Raise priority and notify supervisors for open tasks that reached a new escalation step; returns count."""
    config = config or load_rules()
    now = clock.now()
    if not force and not due_for_check(now, config.check_every):
        return 0
    tasks = session.scalars(_needing_escalation(config.steps, now)).all()
    if len(tasks) == BATCH:
        _reset_check()  # a backlog: take the next batch on the next cycle
    entries: dict[uuid.UUID, list[audit.Entry]] = defaultdict(list)
    for task in tasks:
        plan = rules.plan_escalation(task.priority, task.escalation_level, now - task.due_at, config.steps)
        if plan is None:
            continue
        before = task.priority
        task.priority, task.priority_rank = plan.priority, PRIORITY_RANK[plan.priority]
        task.escalation_level, task.escalated_at = plan.level, now
        notified = plan.notify_supervisor and _notify_supervisor(session, task)
        entries[task.organization_id].append(audit.Entry(
            action="update", patient_id=task.patient_id, record_type="Task", record_id=str(task.id),
            detail={"escalation_level": plan.level, "priority_from": before.value, "priority_to": plan.priority.value,
                    "supervisor_notified": bool(notified)}))
    session.flush()
    for organization_id, batch in entries.items():
        audit.record_many(session, system_actor(organization_id, "careloop-escalation"), batch)
    return sum(len(batch) for batch in entries.values())


def _needing_escalation(steps: tuple[rules.EscalationStep, ...], now: dt.datetime):
    """Open tasks past the next step of their escalation level, oldest due first, locked for this worker."""
    reached = [and_(Task.escalation_level == level, Task.due_at < now - dt.timedelta(hours=step.overdue_hours))
               for level, step in enumerate(steps)]
    return (select(Task).where(Task.status.in_(OPEN_STATUSES), Task.due_at.is_not(None), or_(*reached))
            .order_by(Task.due_at, Task.id).limit(BATCH).with_for_update(skip_locked=True))


def _notify_supervisor(session: Session, task: Task) -> bool:
    """One notification per task to its owner's supervisor (the dedupe key makes a repeat a no-op)."""
    owner = session.get(Staff, task.owner_id) if task.owner_id else None
    if owner is None or owner.supervisor_id is None:
        return False
    now = clock.now()
    values = {"id": uuid.uuid4(), "organization_id": task.organization_id, "recipient_id": owner.supervisor_id,
              "patient_id": task.patient_id, "kind": "task_overdue",
              "message": f"Overdue task escalated: {task.title}"[:300], "link": f"/tasks/{task.id}",
              "dedupe_key": f"task_overdue:{task.id}", "created_at": now, "updated_at": now}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = session.execute(insert(Notification).values(**values)
                             .on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return result.rowcount == 1
