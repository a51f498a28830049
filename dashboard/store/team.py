"""Queries for managing a merchant's team: members' roles, removal, pending invitations (schema `dashboard`).

Every change that could leave a merchant without an owner runs in one transaction that locks the merchant's
members first, so two owners demoting each other at once cannot both succeed (docs/dashboard.md, "Team").
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import asyncpg

OWNER = "owner"


@dataclass(frozen=True)
class Member:
    """A member of a merchant's team."""

    user_id: str
    email: str
    team_role: str


@dataclass(frozen=True)
class PendingInvitation:
    """An invitation not yet accepted nor expired; `ident` is the hex of its token's SHA-256 (not the token)."""

    ident: str
    email: str
    team_role: str
    expire_time: dt.datetime


class Change(enum.StrEnum):
    """The outcome of a change to the team."""

    DONE = "done"
    NOT_FOUND = "not_found"
    LAST_OWNER = "last_owner"


async def members(conn: asyncpg.Connection, merchant_id: str) -> list[Member]:
    """The merchant's members, oldest first."""
    rows = await conn.fetch(
        "SELECT id, email, team_role FROM dashboard.users WHERE merchant_id = $1 ORDER BY create_time, email",
        merchant_id,
    )
    return [Member(r["id"], r["email"], r["team_role"]) for r in rows]


async def pending_invitations(conn: asyncpg.Connection, merchant_id: str, now: dt.datetime) -> list[PendingInvitation]:
    """The merchant's invitations still usable (unaccepted, unexpired), oldest first."""
    rows = await conn.fetch(
        "SELECT token_hash, email, team_role, expire_time FROM dashboard.invitations "
        "WHERE merchant_id = $1 AND accept_time IS NULL AND expire_time > $2 ORDER BY create_time, email",
        merchant_id,
        now,
    )
    return [PendingInvitation(bytes(r["token_hash"]).hex(), r["email"], r["team_role"], r["expire_time"]) for r in rows]


async def _locked_roles(conn: asyncpg.Connection, merchant_id: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT id, team_role FROM dashboard.users WHERE merchant_id = $1 ORDER BY id FOR UPDATE", merchant_id
    )
    return {r["id"]: r["team_role"] for r in rows}


def _leaves_no_owner(roles: dict[str, str], user_id: str) -> bool:
    others = [uid for uid, role in roles.items() if role == OWNER and uid != user_id]
    return roles[user_id] == OWNER and not others


async def set_role(
    conn: asyncpg.Connection, merchant_id: str, user_id: str, team_role: str, now: dt.datetime
) -> Change:
    """Give a member of this merchant another role; the last owner keeps theirs (nothing written then)."""
    async with conn.transaction():
        roles = await _locked_roles(conn, merchant_id)
        if user_id not in roles:
            return Change.NOT_FOUND
        if team_role != OWNER and _leaves_no_owner(roles, user_id):
            return Change.LAST_OWNER
        await conn.execute(
            "UPDATE dashboard.users SET team_role = $3, update_time = $4 WHERE id = $1 AND merchant_id = $2",
            user_id,
            merchant_id,
            team_role,
            now,
        )
    return Change.DONE


async def remove_member(conn: asyncpg.Connection, merchant_id: str, user_id: str) -> Change:
    """Delete a member of this merchant (with their links, codes and preferences); never the last owner.

    Every page looks the session's user up on each request, so a removed member's sessions end at once.
    """
    async with conn.transaction():
        roles = await _locked_roles(conn, merchant_id)
        if user_id not in roles:
            return Change.NOT_FOUND
        if _leaves_no_owner(roles, user_id):
            return Change.LAST_OWNER
        await conn.execute("DELETE FROM dashboard.users WHERE id = $1 AND merchant_id = $2", user_id, merchant_id)
    return Change.DONE


async def revoke_invitation(conn: asyncpg.Connection, merchant_id: str, ident: str, now: dt.datetime) -> Change:
    """Delete a pending invitation of this merchant: its link stops working."""
    try:
        digest = bytes.fromhex(ident)
    except ValueError:
        return Change.NOT_FOUND
    row = await conn.fetchrow(
        "DELETE FROM dashboard.invitations WHERE token_hash = $1 AND merchant_id = $2 AND accept_time IS NULL "
        "AND expire_time > $3 RETURNING email",
        digest,
        merchant_id,
        now,
    )
    return Change.DONE if row is not None else Change.NOT_FOUND
