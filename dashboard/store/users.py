"""Queries over the dashboard's users, their email verification links and their merchants (schema `dashboard`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class User:
    """A merchant user as stored (the password hash and sealed TOTP secret never leave the server)."""

    id: str
    email: str
    password_hash: str
    email_verified: bool
    totp_secret_sealed: bytes | None
    totp_last_step: int | None
    team_role: str
    merchant_id: str | None


@dataclass(frozen=True)
class Merchant:
    """A ledger merchant the dashboard onboarded, with its sealed read key."""

    merchant_id: str
    name: str
    read_key_sealed: bytes


_USER_COLUMNS = (
    "id, email, password_hash, email_verify_time IS NOT NULL AS verified, totp_secret_sealed, totp_last_step, "
    "team_role, merchant_id"
)


def _user(row: asyncpg.Record | None) -> User | None:
    if row is None:
        return None
    sealed = row["totp_secret_sealed"]
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        email_verified=bool(row["verified"]),
        totp_secret_sealed=bytes(sealed) if sealed is not None else None,
        totp_last_step=row["totp_last_step"],
        team_role=row["team_role"],
        merchant_id=row["merchant_id"],
    )


async def create_user(
    conn: asyncpg.Connection,
    user_id: str,
    email: str,
    password_hash: str,
    *,
    team_role: str = "owner",
    merchant_id: str | None = None,
    verified_at: dt.datetime | None = None,
) -> bool:
    """Insert a user; False (nothing written) when the email is already taken."""
    row = await conn.fetchrow(
        "INSERT INTO dashboard.users (id, email, password_hash, team_role, merchant_id, email_verify_time) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING RETURNING id",
        user_id,
        email,
        password_hash,
        team_role,
        merchant_id,
        verified_at,
    )
    return row is not None


async def user_by_email(conn: asyncpg.Connection, email: str) -> User | None:
    """The user with this (normalized) email."""
    return _user(await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM dashboard.users WHERE email = $1", email))


async def user_by_id(conn: asyncpg.Connection, user_id: str) -> User | None:
    """The user with this id."""
    return _user(await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM dashboard.users WHERE id = $1", user_id))


async def add_verification(conn: asyncpg.Connection, token_hash: bytes, user_id: str, expire_time: dt.datetime) -> None:
    """Keep the hash of a new verification link's token."""
    await conn.execute(
        "INSERT INTO dashboard.email_verifications (token_hash, user_id, expire_time) VALUES ($1, $2, $3)",
        token_hash,
        user_id,
        expire_time,
    )


async def pending_verification(conn: asyncpg.Connection, token_hash: bytes, now: dt.datetime) -> User | None:
    """The user a still-usable (unused, unexpired) verification link belongs to, or None."""
    row = await conn.fetchrow(
        "SELECT u.id, u.email, u.password_hash, u.email_verify_time IS NOT NULL AS verified, u.totp_secret_sealed, "
        "u.totp_last_step, u.team_role, u.merchant_id "
        "FROM dashboard.email_verifications v JOIN dashboard.users u ON u.id = v.user_id "
        "WHERE v.token_hash = $1 AND v.use_time IS NULL AND v.expire_time > $2",
        token_hash,
        now,
    )
    return _user(row)


async def complete_onboarding(
    conn: asyncpg.Connection,
    token_hash: bytes,
    user_id: str,
    merchant: Merchant,
    now: dt.datetime,
) -> bool:
    """In one transaction: the merchant, the user verified and bound to it, the link used.

    False if the link was used (or expired) meanwhile, and then nothing is written.
    """
    async with conn.transaction():
        used = await conn.fetchrow(
            "UPDATE dashboard.email_verifications SET use_time = $3 "
            "WHERE token_hash = $1 AND user_id = $2 AND use_time IS NULL AND expire_time > $3 RETURNING user_id",
            token_hash,
            user_id,
            now,
        )
        if used is None:
            return False
        await conn.execute(
            "INSERT INTO dashboard.merchants (merchant_id, name, read_key_sealed) VALUES ($1, $2, $3) "
            "ON CONFLICT (merchant_id) DO NOTHING",
            merchant.merchant_id,
            merchant.name,
            merchant.read_key_sealed,
        )
        await conn.execute(
            "UPDATE dashboard.users SET email_verify_time = $2, merchant_id = $3, update_time = $2 WHERE id = $1",
            user_id,
            now,
            merchant.merchant_id,
        )
    return True


async def merchant(conn: asyncpg.Connection, merchant_id: str) -> Merchant | None:
    """The merchant the dashboard onboarded under this id."""
    row = await conn.fetchrow(
        "SELECT merchant_id, name, read_key_sealed FROM dashboard.merchants WHERE merchant_id = $1", merchant_id
    )
    if row is None:
        return None
    return Merchant(row["merchant_id"], row["name"], bytes(row["read_key_sealed"]))


async def enrol_totp(conn: asyncpg.Connection, user_id: str, sealed: bytes, step: int) -> bool:
    """Store the user's first TOTP secret with the step of the code that confirmed it; False if one was set."""
    row = await conn.fetchrow(
        "UPDATE dashboard.users SET totp_secret_sealed = $2, totp_last_step = $3, update_time = now() "
        "WHERE id = $1 AND totp_secret_sealed IS NULL RETURNING id",
        user_id,
        sealed,
        step,
    )
    return row is not None


async def accept_totp_step(conn: asyncpg.Connection, user_id: str, step: int) -> bool:
    """Record a TOTP step as used; False when it (or a later one) was used already (a replayed code)."""
    row = await conn.fetchrow(
        "UPDATE dashboard.users SET totp_last_step = $2 "
        "WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
        user_id,
        step,
    )
    return row is not None


@dataclass(frozen=True)
class Invitation:
    """A pending invitation to a merchant's team."""

    merchant_id: str
    merchant_name: str
    email: str
    team_role: str


async def add_invitation(
    conn: asyncpg.Connection,
    token_hash: bytes,
    invitation: Invitation,
    *,
    invited_by: str,
    expire_time: dt.datetime,
) -> None:
    """Keep the hash of a new invitation link's token (the invitation's merchant name is not stored)."""
    await conn.execute(
        "INSERT INTO dashboard.invitations (token_hash, merchant_id, email, team_role, invited_by, expire_time) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        token_hash,
        invitation.merchant_id,
        invitation.email,
        invitation.team_role,
        invited_by,
        expire_time,
    )


async def pending_invitation(conn: asyncpg.Connection, token_hash: bytes, now: dt.datetime) -> Invitation | None:
    """The invitation a still-usable (unaccepted, unexpired) link stands for, or None."""
    row = await conn.fetchrow(
        "SELECT i.merchant_id, m.name, i.email, i.team_role FROM dashboard.invitations i "
        "JOIN dashboard.merchants m ON m.merchant_id = i.merchant_id "
        "WHERE i.token_hash = $1 AND i.accept_time IS NULL AND i.expire_time > $2",
        token_hash,
        now,
    )
    if row is None:
        return None
    return Invitation(row["merchant_id"], row["name"], row["email"], row["team_role"])


async def accept_invitation(
    conn: asyncpg.Connection, token_hash: bytes, user_id: str, password_hash: str, now: dt.datetime
) -> bool:
    """In one transaction: the invitation used and its user created, verified, in the merchant's team.

    False (nothing written) when the link was used or expired meanwhile, or the email has an account by now.
    """
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "UPDATE dashboard.invitations SET accept_time = $2 "
                "WHERE token_hash = $1 AND accept_time IS NULL AND expire_time > $2 "
                "RETURNING merchant_id, email, team_role",
                token_hash,
                now,
            )
            if row is None:
                return False
            created = await create_user(
                conn,
                user_id,
                row["email"],
                password_hash,
                team_role=row["team_role"],
                merchant_id=row["merchant_id"],
                verified_at=now,
            )
            if not created:
                raise _Rollback
    except _Rollback:
        return False
    return True


class _Rollback(Exception):
    """Undo an invitation's acceptance (its email got an account in between)."""


async def team(conn: asyncpg.Connection, merchant_id: str) -> list[tuple[str, str]]:
    """(email, team role) of each member of the merchant's team, oldest first."""
    rows = await conn.fetch(
        "SELECT email, team_role FROM dashboard.users WHERE merchant_id = $1 ORDER BY create_time, email", merchant_id
    )
    return [(r["email"], r["team_role"]) for r in rows]
