"""SMART on FHIR scopes on bearer tokens (App Launch v2, with v1's .read/.write/.* accepted).

`patient/Observation.rs`, `user/*.cruds`, `system/Patient.read`: a context, a resource type (or `*`) and the
interactions allowed (c create, r read, u update, d delete, s search). A token may mix them with CareLoop's
own scopes (`clinical:read`...). What a SMART scope grants is always narrowed by the user's role: it never
adds a permission the role lacks. A token whose scopes are all SMART scopes works on /fhir only.
`patient/` scopes need a patient context: the token is bound to one patient and sees nobody else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from careloop.auth.permissions import Permission

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.(\*|read|write|c?r?u?d?s?)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_PATIENT_TYPES = frozenset({"Patient"})


@dataclass(frozen=True)
class SmartScopes:
    """Interactions allowed per resource type ('*' for every type), and the contexts named."""

    grants: Mapping[str, frozenset[str]]
    contexts: frozenset[str]

    def allows(self, resource_type: str, interaction: str) -> bool:
        return any(interaction in self.grants.get(t, frozenset()) for t in (resource_type, "*"))

    @property
    def needs_patient(self) -> bool:
        return "patient" in self.contexts


def is_smart(scope: str) -> bool:
    return "/" in scope


def parse(scopes: str) -> SmartScopes | None:
    """The SMART scopes among a token's scopes (None when there are none); ValueError names a bad one."""
    grants: dict[str, set[str]] = {}
    contexts = set()
    for scope in scopes.split():
        if not is_smart(scope):
            continue
        match = _SCOPE.match(scope)
        if not match or not match.group(3):
            raise ValueError(scope)
        context, rtype, allowed = match.groups()
        contexts.add(context)
        grants.setdefault(rtype, set()).update(_V1.get(allowed, allowed))
    if not contexts:
        return None
    return SmartScopes({t: frozenset(v) for t, v in grants.items()}, frozenset(contexts))


def implied_permissions(smart: SmartScopes) -> frozenset[Permission]:
    """The CareLoop permissions a FHIR client needs for what the scopes allow (still narrowed by the role)."""
    found: set[Permission] = set()
    for rtype, interactions in smart.grants.items():
        reads, writes = bool(interactions & {"r", "s"}), bool(interactions & {"c", "u", "d"})
        found.add(Permission.PATIENT_READ)  # every FHIR read starts from a patient the caller may see
        if reads:  # Bulk Data $export is the same reads in bulk (only roles holding fhir:export keep it)
            found.add(Permission.BULK_EXPORT)
        if rtype == "*" or rtype in _PATIENT_TYPES:
            found |= {Permission.PATIENT_WRITE} if writes else set()
        if rtype == "*" or rtype not in _PATIENT_TYPES:
            found |= ({Permission.CLINICAL_READ} if reads else set()) | ({Permission.CLINICAL_WRITE} if writes
                                                                           else set())
        if rtype in ("*", "AuditEvent") and reads:
            found.add(Permission.AUDIT_READ)
    return frozenset(found)
