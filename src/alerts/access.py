"""Who may do what, where (属地管理): roles, jurisdictions and the errors access raises.

A user has one role and one jurisdiction, a 2/4/6-digit division code prefix (province,
city, county). Every read and write is narrowed to the jurisdiction; an alert outside it
is reported as not found by the caller, so its existence does not leak.

Errors (all under ``dianyan.errors.DianyanError``)::

    AccessError
    ├── AuthenticationError   no credentials, or unknown/revoked ones   (HTTP 401)
    └── PermissionDenied      the role may not do this, or not there    (HTTP 403)

>>> u = User("zhang", Role.INSPECTOR, "3704")
>>> scope_region(u, None), scope_region(u, "370481"), scope_region(u, "37")
('3704', '370481', '3704')
>>> may_act(u, "clear"), may(u, Permission.WRITE_EXEMPTIONS)
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts.region import check_region, region_contains
from dianyan.errors import DianyanError


class AccessError(DianyanError):
    """A request is refused for who is asking, not for what it asks."""


class AuthenticationError(AccessError):
    """Missing, malformed, unknown or revoked credentials."""


class PermissionDenied(AccessError):
    """The user is known but their role or jurisdiction does not allow this."""


class Role(StrEnum):
    """What a user is for; values are what the CLI and the API use."""

    INSPECTOR = "inspector"  # works the closed loop on the alerts of their region
    TECH_OFFICE = "tech_office"  # tunes thresholds, approves exemptions (报备), comments
    ADMIN = "admin"  # everything


class Permission(StrEnum):
    READ = "read"
    ACT = "act"  # lifecycle actions: dispatch, claim, verify, enforce, clear
    COMMENT = "comment"
    WRITE_EXEMPTIONS = "write_exemptions"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.INSPECTOR: frozenset({Permission.READ, Permission.ACT, Permission.COMMENT}),
    Role.TECH_OFFICE: frozenset({Permission.READ, Permission.COMMENT, Permission.WRITE_EXEMPTIONS}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated caller: the name is the actor recorded in the audit log."""

    name: str
    role: Role
    region: str


def check_role(text: str) -> Role:
    """``text`` as a Role, or ValueError naming the allowed roles."""
    try:
        return Role(text)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {text!r}; use one of {allowed}.") from None


def may(user: User, permission: Permission) -> bool:
    return permission in _GRANTS[user.role]


def may_act(user: User, action: str) -> bool:
    """Whether the role allows this alert action (comments need less than the rest)."""
    return may(user, Permission.COMMENT if action == "comment" else Permission.ACT)


def require(user: User, permission: Permission) -> None:
    """Raise PermissionDenied unless the user's role grants ``permission``."""
    if not may(user, permission):
        roles = ", ".join(r.value for r, grants in _GRANTS.items() if permission in grants)
        raise PermissionDenied(
            f"role {user.role.value} may not {permission.value.replace('_', ' ')}; "
            f"ask a user with role {roles}."
        )


def scope_region(user: User, requested: str | None) -> str:
    """The region a request may see: ``requested`` narrowed to the user's jurisdiction.

    A wider request is narrowed to the jurisdiction; a region outside it is refused.
    """
    if requested is None:
        return user.region
    check_region(requested)
    if region_contains(user.region, requested):
        return requested
    if region_contains(requested, user.region):
        return user.region
    raise PermissionDenied(
        f"region {requested} is outside your jurisdiction {user.region}; "
        f"ask for {user.region} or a region inside it."
    )


def in_jurisdiction(user: User, county: str) -> bool:
    return region_contains(user.region, county)
