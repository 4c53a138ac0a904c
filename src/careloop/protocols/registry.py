"""The protocols in force: those shipped with CareLoop, and each organisation's own from its directory.

An organisation's files live in `<var_dir>/protocols/<organisation id>/*.yaml`; a file with the key of a shipped
protocol replaces it for that organisation. A shipped file that does not validate stops the process at load time;
an organisation's file that does not validate is left out (logged, and shown by `careloop protocols validate`),
so one organisation's typo cannot stop every other organisation's work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from careloop.config import get_settings
from careloop.protocols.definition import EventRule, Protocol, Step
from careloop.protocols.loader import Problem, collect, load_directory

log = logging.getLogger("careloop.protocols")
SHIPPED = Path(__file__).parent / "definitions"


def organization_root() -> Path:
    """Where organisations' own protocol directories live."""
    return get_settings().var_dir / "protocols"


@dataclass
class Registry:
    """Protocol definitions by organisation, with the lookups the engine makes on every event."""

    shipped: dict[str, Protocol]
    by_org: dict[uuid.UUID, dict[str, Protocol]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _cache: dict[tuple[str, uuid.UUID, str], list] = field(default_factory=dict, repr=False)

    def protocols(self, organization_id: uuid.UUID) -> dict[str, Protocol]:
        """Every protocol in force for an organisation, by key."""
        return {**self.shipped, **self.by_org.get(organization_id, {})}

    def get(self, organization_id: uuid.UUID, key: str) -> Protocol | None:
        """One protocol in force for an organisation."""
        return self.protocols(organization_id).get(key)

    def event_types(self) -> set[str]:
        """Every event type any loaded protocol listens to (triggers, cancellations, step completions)."""
        types = set()
        for protocol in [*self.shipped.values(), *(p for org in self.by_org.values() for p in org.values())]:
            types |= {t.event for t in protocol.triggers} | {c.event for c in protocol.cancel_on}
            types |= {s.complete_on.event for s in protocol.steps if s.complete_on}
        return types

    def _lookup(self, kind: str, organization_id: uuid.UUID, event_type: str, build: Callable) -> list:
        key = (kind, organization_id, event_type)
        if key not in self._cache:
            self._cache[key] = build(self.protocols(organization_id).values())
        return self._cache[key]

    def triggered_by(self, organization_id: uuid.UUID, event_type: str) -> list[Protocol]:
        """Protocols this event type starts."""
        return self._lookup("trigger", organization_id, event_type, lambda ps: [
            p for p in ps if any(t.event == event_type for t in p.triggers)])

    def cancelled_by(self, organization_id: uuid.UUID, event_type: str) -> list[tuple[Protocol, EventRule]]:
        """Protocols (with the rule) whose runs this event type cancels."""
        return self._lookup("cancel", organization_id, event_type, lambda ps: [
            (p, c) for p in ps for c in p.cancel_on if c.event == event_type])

    def completed_by(self, organization_id: uuid.UUID, event_type: str) -> list[tuple[Protocol, Step]]:
        """Steps (with their protocol) that this event type completes."""
        return self._lookup("complete", organization_id, event_type, lambda ps: [
            (p, s) for p in ps for s in p.steps if s.complete_on and s.complete_on.event == event_type])


def load_registry(shipped: Path = SHIPPED, org_root: Path | None = None) -> Registry:
    """Load and validate the shipped protocols (strictly) and every organisation's directory."""
    registry = Registry(shipped=load_directory(shipped))
    root = organization_root() if org_root is None else org_root
    if not root.is_dir():
        return registry
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            org_id = uuid.UUID(directory.name)
        except ValueError:
            registry.problems.append(Problem(str(directory), 1, "", "the directory name must be an organisation id"))
            continue
        registry.by_org[org_id], problems = collect(directory)
        registry.problems += problems
    for problem in registry.problems:
        log.error("protocol file left out: %s", problem)
    return registry


_current: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _current
    if _current is None:
        _current = load_registry()
    return _current


def reload(org_root: Path | None = None) -> Registry:
    """Load again: after an organisation's file changed, or in tests with another organisations' directory."""
    global _current
    _current = load_registry(org_root=org_root)
    return _current
