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
    CREATE_INVOICE = "invoices:create"
    VIEW_BALANCE = "balance:view"
    VIEW_WEBHOOKS = "webhooks:view"
    MANAGE_WEBHOOKS = "webhooks:manage"
    VIEW_API_KEYS = "api_keys:view"  # pragma: allowlist secret
    REVOKE_API_KEY = "api_keys:revoke"  # pragma: allowlist secret
    VIEW_PAYOUTS = "payouts:view"
    CREATE_PAYOUT = "payouts:create"
    SET_NOTIFICATIONS = "notifications:set"


GRANTS: dict[TeamRole, frozenset[Permission]] = {
    TeamRole.OWNER: frozenset(Permission),
    TeamRole.DEVELOPER: frozenset(
        {
            Permission.VIEW_INVOICES,
            Permission.CREATE_API_KEY,
            Permission.CREATE_INVOICE,
            Permission.VIEW_BALANCE,
            Permission.VIEW_WEBHOOKS,
            Permission.MANAGE_WEBHOOKS,
            Permission.VIEW_API_KEYS,
            Permission.REVOKE_API_KEY,
            Permission.SET_NOTIFICATIONS,
        }
    ),
    TeamRole.FINANCE: frozenset(
        {
            Permission.VIEW_INVOICES,
            Permission.CREATE_INVOICE,
            Permission.VIEW_BALANCE,
            Permission.VIEW_PAYOUTS,
            Permission.CREATE_PAYOUT,
            Permission.SET_NOTIFICATIONS,
        }
    ),
    TeamRole.READ_ONLY: frozenset(
        {
            Permission.VIEW_INVOICES,
            Permission.VIEW_BALANCE,
            Permission.VIEW_WEBHOOKS,
            Permission.VIEW_API_KEYS,
            Permission.VIEW_PAYOUTS,
            Permission.SET_NOTIFICATIONS,
        }
    ),
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
