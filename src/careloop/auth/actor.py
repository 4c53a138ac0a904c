"""Actor: who is acting (a staff user, a system client or, later, a portal user) and what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from careloop.auth.permissions import Permission
from careloop.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    """The authenticated principal of one request, job or CLI command."""

    organization_id: uuid.UUID
    permissions: frozenset[Permission]
    staff_id: uuid.UUID | None = None
    role: str | None = None
    label: str | None = None  # e-mail or client name: for the audit trail, never PHI
    client_name: str | None = None
    org_wide: bool = False
    # Portal users (and patient-scoped tokens) see only these patients; None means "not limited".
    patient_scope: frozenset[uuid.UUID] | None = None
    source_address: str | None = None
    purpose_of_use: str = "TREAT"
    session_id: uuid.UUID | None = field(default=None, compare=False)
    # SMART on FHIR scopes of the token (auth/smart.py): which FHIR types and interactions; None = not limited.
    fhir_scopes: Any = None
    fhir_only: bool = False  # the token holds SMART scopes only: it may call /fhir and nothing else

    def can(self, permission: Permission) -> bool:
        """Whether the actor holds a permission."""
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise Forbidden unless the actor holds the permission."""
        if permission not in self.permissions:
            raise Forbidden()


def system_actor(organization_id: uuid.UUID, name: str = "careloop-system") -> Actor:
    """An organisation-wide actor for jobs, CLI maintenance and the demo loader."""
    return Actor(organization_id=organization_id, permissions=frozenset(Permission), client_name=name,
                 label=name, org_wide=True, purpose_of_use="HOPERAT")
