"""The protocol file format: Pydantic models a YAML definition must satisfy (see docs/protocols.md)."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from careloop.staff.models import StaffRole
from careloop.tasks.models import TaskPriority

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=60)]
Scalar = str | int | float | bool
COORDINATOR = "coordinator"  # the patient's primary care coordinator
# Who does a step: the patient's coordinator, or a staff role.
Assignee = enum.StrEnum("Assignee", {"COORDINATOR": COORDINATOR, **{r.name: r.value for r in StaffRole}})
Unit = Literal["hours", "days", "business_days"]


def _version_text(value: object) -> object:
    """Whole numbers are accepted as versions; 1.10 written unquoted would silently become 1.1."""
    if isinstance(value, bool | float):
        raise ValueError('write the version as text, e.g. "1.2"')
    return str(value) if isinstance(value, int) else value


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _as_matcher(value: Any) -> Any:
    """Shorthands: a plain value means `eq`, a list means `in`."""
    if isinstance(value, dict):
        return value
    return {"in": value} if isinstance(value, list) else {"eq": value}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Matcher(_Strict):
    """One test on a context value; several given must all hold."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    present: bool | None = None


# name -> a value (equal), a list (one of) or a Matcher; every entry must hold.
Condition = dict[Key, Annotated[Matcher, BeforeValidator(_as_matcher)]]


class Trigger(_Strict):
    """An event type that starts the protocol, with conditions on the run context (payload and patient)."""

    event: EventType
    conditions: Condition = Field(default_factory=dict)


class EventRule(_Strict):
    """An event of a type for the same patient whose payload equals the run context on the `match` names."""

    event: EventType
    match: list[Key] = Field(default_factory=list)


class DueRule(_Strict):
    """Due `offset` hours, days or business days after the trigger or after another step's completion."""

    offset: int = Field(ge=0, le=3650)
    unit: Unit
    from_: Key = Field(default="trigger", alias="from")


class Step(_Strict):
    """One task of the protocol."""

    key: Key
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    role: Annotated[list[Assignee], BeforeValidator(_as_list), Field(
        min_length=1, description="Who does it: the first of these roles held on the patient's care team, "
                                  "else the first role's queue")]
    priority: TaskPriority = TaskPriority.ROUTINE
    due: DueRule
    depends_on: list[Key] = Field(default_factory=list)
    complete_on: EventRule | None = None
    when: Condition = Field(default_factory=dict)


class Protocol(_Strict):
    """A standard workflow: what starts it, what stops it, and its steps."""

    key: Key
    name: str = Field(min_length=1, max_length=200)
    version: Annotated[str, BeforeValidator(_version_text), StringConstraints(min_length=1, max_length=20)]
    description: str | None = Field(default=None, max_length=4000)
    triggers: list[Trigger] = Field(min_length=1)
    defaults: dict[Key, Scalar] = Field(default_factory=dict,
                                        description="Context values used when neither patient nor event gives one")
    cancel_on: list[EventRule] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=50)

    def step(self, key: str) -> Step:
        """The step with this key (KeyError when there is none)."""
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)
