"""Queries for password reset links, TOTP recovery codes and session revocation (schema `dashboard`, migration 0004)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg


async def add_reset(conn: asyncpg.Connection, token_hash: bytes, user_id: str, expire_time: dt.datetime) -> None:
    """Keep the hash of a new password reset link's token."""
    await conn.execute(
        "INSERT INTO dashboard.password_resets (token_hash, user_id, expire_time) VALUES ($1, $2, $3)",
        token_hash,
        user_id,
        expire_time,
    )


async def pending_reset(conn: asyncpg.Connection, token_hash: bytes, now: dt.datetime) -> tuple[str, str] | None:
    """(user id, email) of a still-usable (unused, unexpired) reset link, or None."""
    row = await conn.fetchrow(
        "SELECT u.id, u.email FROM dashboard.password_resets r JOIN dashboard.users u ON u.id = r.user_id "
        "WHERE r.token_hash = $1 AND r.use_time IS NULL AND r.expire_time > $2",
        token_hash,
        now,
    )
    return (row["id"], row["email"]) if row is not None else None


async def complete_reset(
    conn: asyncpg.Connection, token_hash: bytes, password_hash: str, now: dt.datetime
) -> tuple[str, str] | None:
    """Use a reset link: (user id, email), or None (nothing written) when the link is unusable by now.

    In one transaction: the link used, the password replaced, every reset link of the user spent, and every
    session of the user revoked.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE dashboard.password_resets SET use_time = $2 "
            "WHERE token_hash = $1 AND use_time IS NULL AND expire_time > $2 RETURNING user_id",
            token_hash,
            now,
        )
        if row is None:
            return None
        user_id: str = row["user_id"]
        await conn.execute(
            "UPDATE dashboard.password_resets SET use_time = $2 WHERE user_id = $1 AND use_time IS NULL", user_id, now
        )
        email: str = await conn.fetchval(
            "UPDATE dashboard.users SET password_hash = $2, sessions_valid_after = $3, update_time = $3 "
            "WHERE id = $1 RETURNING email",
            user_id,
            password_hash,
            now,
        )
    return user_id, email


async def session_revoked(conn: asyncpg.Connection, user_id: str, session_created: float) -> bool:
    """True when a session of this user that began at `session_created` (epoch seconds) was revoked since."""
    after: dt.datetime | None = await conn.fetchval(
        "SELECT sessions_valid_after FROM dashboard.users WHERE id = $1", user_id
    )
    return after is not None and session_created < after.timestamp()


async def replace_codes(conn: asyncpg.Connection, user_id: str, code_hashes: Sequence[bytes]) -> None:
    """The user's recovery codes become exactly these (every older code, used or not, stops working)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM dashboard.recovery_codes WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO dashboard.recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            [(user_id, h) for h in code_hashes],
        )


async def use_code(conn: asyncpg.Connection, user_id: str, code_hash: bytes, now: dt.datetime) -> bool:
    """Spend one unused recovery code of the user; False when it is not one (or was used already)."""
    row = await conn.fetchrow(
        "UPDATE dashboard.recovery_codes SET use_time = $3 "
        "WHERE user_id = $1 AND code_hash = $2 AND use_time IS NULL RETURNING user_id",
        user_id,
        code_hash,
        now,
    )
    return row is not None


async def codes_left(conn: asyncpg.Connection, user_id: str) -> int:
    """How many unused recovery codes the user has."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM dashboard.recovery_codes WHERE user_id = $1 AND use_time IS NULL", user_id
    )
    return count


async def clear_totp(conn: asyncpg.Connection, user_id: str) -> None:
    """Forget the user's TOTP secret (a lost authenticator): the next sign-in enrols a new one."""
    await conn.execute(
        "UPDATE dashboard.users SET totp_secret_sealed = NULL, totp_last_step = NULL, update_time = now() "
        "WHERE id = $1",
        user_id,
    )
