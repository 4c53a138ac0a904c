"""The workspace shell: who is signed in, for which organisation, and the navigation they may use."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import page_actor
from careloop.auth.permissions import Permission
from careloop.config import get_settings
from careloop.organizations import service as org_service
from careloop.routing import db
from careloop.staff import service as staff_service
from careloop.web.formatting import label


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    any_of: tuple[Permission, ...]


# Items appear here as their capability lands (Referrals and Dashboard come later).
NAV = (
    NavItem("Worklist", "/worklist", (Permission.TASK_READ,)),
    NavItem("Patients", "/patients", (Permission.PATIENT_READ,)),
    NavItem("Transitions", "/transitions", (Permission.TRANSITIONS_READ,)),
    NavItem("Referrals", "/referrals", (Permission.REFERRAL_READ,)),
    NavItem("Protocols", "/protocols", (Permission.PROTOCOL_READ,)),
    NavItem("Admin", "/admin/audit", (Permission.AUDIT_READ, Permission.BREAK_GLASS_REVIEW, Permission.HL7_ADMIN,
                                      Permission.BULK_EXPORT)),
)


@dataclass(frozen=True)
class Shell:
    """What every workspace page shows about the signed-in user, as plain values (usable after a rollback)."""

    user_name: str
    role: str
    organization: str
    timezone: str
    csrf_token: str
    permissions: frozenset[Permission]
    idle_seconds: int

    def can(self, permission: Permission) -> bool:
        """Whether the signed-in user holds a permission (to show or hide actions)."""
        return permission in self.permissions

    @property
    def nav(self) -> list[NavItem]:
        """Navigation items the user may open."""
        return [item for item in NAV if any(p in self.permissions for p in item.any_of)]


def workspace(request: Request, session: Session = Depends(db), actor: Actor = Depends(page_actor)) -> Shell:
    """Dependency of every workspace page: the shell, also kept on request.state for error pages."""
    staff = staff_service.get_staff(session, actor, actor.staff_id)
    org = org_service.find_organization(session, str(actor.organization_id))
    shell = Shell(user_name=staff.display_name, role=label(staff.role), organization=org.name,
                  timezone=org.timezone, csrf_token=request.state.web_session.csrf_token,
                  permissions=actor.permissions, idle_seconds=get_settings().session_idle_minutes * 60)
    request.state.shell = shell
    return shell
