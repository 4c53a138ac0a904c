"""What a batch of ADT messages reads, fetched up front in one query per kind and kept current as it writes.

Applying a message reads who holds its identifiers (and their demographics) and the visit it names; done
message by message that is a database round trip each, which on PostgreSQL costs more than everything else
the message does. The batch path loads all of them at once (`apply.prefetch_patients`,
`visits.prefetch_visits`) and every write the feed makes to those rows updates the cache as well, so a later
message in the same batch reads exactly what the database would return. A key never loaded (or a cache that
was switched off) falls back to the query.

Only the fast path (one savepoint for the whole batch) uses a cache: when a savepoint is rolled back the cache
is dropped with it. A merge (A40) changes who holds what through the patient service, so it switches the
cache off for the rest of the batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from careloop import clock

IdKey = tuple[uuid.UUID, str, str]  # organisation, assigning authority, value
VisitKey = tuple[uuid.UUID, str]  # organisation, visit key


@dataclass
class BatchCache:
    """Identifier holders, patients and visits as this transaction sees them."""

    # (org, authority, value) -> [(patient id, True when held through a cross-reference row)]
    holders: dict[IdKey, list[tuple[uuid.UUID, bool]]] = field(default_factory=dict)
    # patient id -> {"merged_into_id", demographic fields..., "newest"}
    patients: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    # (org, visit key) -> visit row, or None when no such visit exists
    visits: dict[VisitKey, Any] = field(default_factory=dict)
    enabled: bool = True

    def covers(self, org_id: uuid.UUID, ids: list[tuple[str, str]]) -> bool:
        return self.enabled and all((org_id, a, v) in self.holders for a, v in ids) and all(
            pid in self.patients for a, v in ids for pid, _ in self.holders[(org_id, a, v)])

    def rows(self, org_id: uuid.UUID, ids: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The rows `apply._find_statement` would return for these identifiers."""
        out = []
        for authority, value in ids:
            for pid, via_xref in self.holders[(org_id, authority, value)]:
                out.append({"id": pid, "authority": authority if via_xref else None, "value": value,
                            **self.patients[pid]})
        return out

    def add_xref(self, org_id: uuid.UUID, authority: str, value: str, patient_id: uuid.UUID) -> None:
        holders = self.holders.get((org_id, authority, value))
        if holders is not None:
            holders.append((patient_id, True))
        if patient_id not in self.patients:  # its demographics were never loaded: make later lookups query
            self.holders.pop((org_id, authority, value), None)

    def update_patient(self, patient_id: uuid.UUID, changes: dict[str, Any]) -> None:
        current = self.patients.get(patient_id)
        if current is not None:
            current.update({k: v for k, v in changes.items() if k in current})

    def stamp(self, org_id: uuid.UUID, ids: list[tuple[str, str]], at: Any) -> None:
        """The cross-references of these identifiers now carry demographics from `at`."""
        for authority, value in ids:
            for pid, via_xref in self.holders.get((org_id, authority, value), ()):
                current = self.patients.get(pid)
                if via_xref and current is not None:
                    newest = current["newest"]
                    current["newest"] = at if newest is None or clock.ensure_utc(newest) < at else newest

    def visit(self, key: VisitKey) -> tuple[bool, Any]:
        """(True, row or None) when the key was loaded, (False, None) when it must be queried."""
        if not self.enabled or key not in self.visits:
            return False, None
        return True, self.visits[key]

    def set_visit(self, key: VisitKey, row: Any) -> None:
        if self.enabled:
            self.visits[key] = row

