"""Team roles and what each may do: decided on the server for every page and action (docs/dashboard.md)."""

from __future__ import annotations

import enum


class TeamRole(enum.StrEnum):
    """A merchant user's role in the merchant's team."""

    OWNER = "owner"
    DEVELOPER = "developer"
    FINANCE = "finance"
    READ_ONLY = "read_only"


class Permission(enum.StrEnum):
    """Something a page or action needs."""

    VIEW_INVOICES = "invoices:view"
    CREATE_API_KEY = "api_keys:create"
    MANAGE_TEAM = "team:manage"


GRANTS: dict[TeamRole, frozenset[Permission]] = {
    TeamRole.OWNER: frozenset(Permission),
    TeamRole.DEVELOPER: frozenset({Permission.VIEW_INVOICES, Permission.CREATE_API_KEY}),
    TeamRole.FINANCE: frozenset({Permission.VIEW_INVOICES}),
    TeamRole.READ_ONLY: frozenset({Permission.VIEW_INVOICES}),
}
"""Deny by default: a permission no role lists is nobody's."""

LABELS: dict[TeamRole, str] = {
    TeamRole.OWNER: "Owner",
    TeamRole.DEVELOPER: "Developer",
    TeamRole.FINANCE: "Finance",
    TeamRole.READ_ONLY: "Read-only",
}


def allows(role: str, permission: Permission) -> bool:
    """True when a user with `role` may do `permission` (an unknown role may do nothing)."""
    try:
        return permission in GRANTS[TeamRole(role)]
    except ValueError:
        return False
