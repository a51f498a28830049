"""The team queries against a real Postgres (the dashboard's migrations applied): the last owner stays even when
two owners demote each other at once; a member of another merchant is not found; a removed member's
invitations outlive them (migration 0006)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

import asyncpg

from dashboard.store import team
from dashboard.store.db import apply_migrations

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


async def _merchant(conn: asyncpg.Connection, owners: int) -> tuple[str, list[str]]:
    """A merchant with `owners` owners (verified users); its id and theirs."""
    merchant_id = "mer_" + secrets.token_hex(6)
    await conn.execute(
        "INSERT INTO dashboard.merchants (merchant_id, name, read_key_sealed) VALUES ($1, 'Team Store Co', $2)",
        merchant_id,
        b"sealed",
    )
    users = []
    for _ in range(owners):
        user_id = "usr_" + secrets.token_hex(8)
        await conn.execute(
            "INSERT INTO dashboard.users (id, email, password_hash, team_role, merchant_id, email_verify_time) "
            "VALUES ($1, $2, '$argon2id$x', 'owner', $3, $4)",
            user_id,
            f"{user_id}@shop.example",
            merchant_id,
            NOW,
        )
        users.append(user_id)
    return merchant_id, users


async def _roles(conn: asyncpg.Connection, merchant_id: str) -> list[str]:
    return sorted(m.team_role for m in await team.members(conn, merchant_id))


def test_two_owners_demoting_each_other_at_once_leave_one_owner(postgres: PostgresServer) -> None:
    async def run() -> None:
        await apply_migrations(postgres.dsn)
        setup = await asyncpg.connect(postgres.dsn)
        first = await asyncpg.connect(postgres.dsn)
        second = await asyncpg.connect(postgres.dsn)
        try:
            merchant_id, (a, b) = await _merchant(setup, 2)
            outcomes = await asyncio.gather(
                team.set_role(first, merchant_id, a, "developer", NOW),
                team.set_role(second, merchant_id, b, "finance", NOW),
            )
            assert sorted(outcomes) == sorted([team.Change.DONE, team.Change.LAST_OWNER])
            assert (await _roles(setup, merchant_id)).count("owner") == 1
            # The same for two removals at once: one owner is left, with their row.
            merchant_id, (c, d) = await _merchant(setup, 2)
            outcomes = await asyncio.gather(
                team.remove_member(first, merchant_id, c), team.remove_member(second, merchant_id, d)
            )
            assert sorted(outcomes) == sorted([team.Change.DONE, team.Change.LAST_OWNER])
            assert await _roles(setup, merchant_id) == ["owner"]
        finally:
            for conn in (setup, first, second):
                await conn.close()

    asyncio.run(run())


def test_other_merchants_members_are_not_found_and_invitations_outlive_their_sender(postgres: PostgresServer) -> None:
    async def run() -> None:
        await apply_migrations(postgres.dsn)
        conn = await asyncpg.connect(postgres.dsn)
        try:
            mine, (owner, member) = await _merchant(conn, 2)
            theirs, (stranger,) = await _merchant(conn, 1)
            assert await team.set_role(conn, mine, stranger, "read_only", NOW) is team.Change.NOT_FOUND
            assert await team.remove_member(conn, mine, stranger) is team.Change.NOT_FOUND
            assert await _roles(conn, theirs) == ["owner"]
            # The member (an owner) invites someone, then is removed: the invitation stays, its sender NULL.
            digest = hashlib.sha256(secrets.token_bytes(16)).digest()
            await conn.execute(
                "INSERT INTO dashboard.invitations (token_hash, merchant_id, email, team_role, invited_by, expire_time)"
                " VALUES ($1, $2, 'new@shop.example', 'finance', $3, $4)",
                digest,
                mine,
                member,
                NOW + dt.timedelta(days=1),
            )
            assert await team.remove_member(conn, mine, member) is team.Change.DONE
            pending = await team.pending_invitations(conn, mine, NOW)
            assert [(p.ident, p.email) for p in pending] == [(digest.hex(), "new@shop.example")]
            sender = await conn.fetchval("SELECT invited_by FROM dashboard.invitations WHERE token_hash = $1", digest)
            assert sender is None
            # Another merchant cannot revoke it; a malformed id is not found; its own owner can.
            assert await team.revoke_invitation(conn, theirs, digest.hex(), NOW) is team.Change.NOT_FOUND
            assert await team.revoke_invitation(conn, mine, "zz", NOW) is team.Change.NOT_FOUND
            assert await team.revoke_invitation(conn, mine, digest.hex(), NOW) is team.Change.DONE
            assert await team.pending_invitations(conn, mine, NOW) == []
            # The last owner: neither demoted nor removed.
            assert await team.set_role(conn, mine, owner, "developer", NOW) is team.Change.LAST_OWNER
            assert await team.remove_member(conn, mine, owner) is team.Change.LAST_OWNER
            assert await _roles(conn, mine) == ["owner"]
        finally:
            await conn.close()

    asyncio.run(run())
