"""The admin audit log's store on a real Postgres: appended in the action's transaction, chained, append-only.

Concurrent admin actions serialise on the audit lock, so the chain never forks and sequences have no gaps.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from ledger.domain.audit import GENESIS_HASH, AuditEvent, chain_hash
from ledger.store import audit as audit_store


class ActionFailed(Exception):
    """An admin action that fails after its audit event was written."""


async def failing_action(conn: asyncpg.Connection) -> None:
    """Writes the event, then fails: the transaction takes both back."""
    async with conn.transaction():
        await audit_store.append(conn, event(1))
        raise ActionFailed


def event(n: int) -> AuditEvent:
    return AuditEvent(
        id=f"aud_{n}",
        sequence=0,
        actor="admin_key:adm_test",
        action="merchant.suspend",
        subject=f"merchants/mer_{n}",
        event_time=dt.datetime(2026, 11, 25, 12, 0, n, 123456, tzinfo=dt.UTC),
        details={"reason": f"case {n}"},
        request_id=f"req-{n}",
    )


async def test_an_event_commits_with_its_action_or_not_at_all(ledger_db: str) -> None:
    conn = await asyncpg.connect(ledger_db)
    try:
        with pytest.raises(RuntimeError, match="inside the action's own transaction"):
            await audit_store.append(conn, event(1))
        with pytest.raises(ActionFailed):
            await failing_action(conn)
        assert await conn.fetchval("SELECT count(*) FROM ledger.audit_events") == 0
        async with conn.transaction():
            first = await audit_store.append(conn, event(1))
        async with conn.transaction():
            second = await audit_store.append(conn, event(2))
        assert (first.sequence, first.prev_hash) == (1, GENESIS_HASH)
        assert (second.sequence, second.prev_hash) == (2, first.hash)
        stored = await audit_store.list_page(conn, before=None, limit=10)
        assert [e.hash for e in stored] == [second.hash, first.hash]
        # The stored rows recompute to the same chain (times kept to the microsecond, details as written).
        assert stored[1].hash == chain_hash(GENESIS_HASH, stored[1])
        assert stored[0].hash == chain_hash(stored[1].hash, stored[0])
        # Append-only: no update, no delete.
        for statement in ("UPDATE ledger.audit_events SET actor = 'x'", "DELETE FROM ledger.audit_events"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_concurrent_appends_make_one_chain_without_gaps(ledger_db: str) -> None:
    pool = await asyncpg.create_pool(ledger_db, min_size=4, max_size=8)
    assert pool is not None
    try:

        async def append(n: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await audit_store.append(conn, event(n))

        await asyncio.gather(*(append(n) for n in range(1, 31)))
        async with pool.acquire() as conn:
            events = list(reversed(await audit_store.list_page(conn, before=None, limit=100)))
    finally:
        await pool.close()
    assert [e.sequence for e in events] == list(range(1, 31))
    previous = GENESIS_HASH
    for stored in events:
        assert stored.prev_hash == previous
        assert stored.hash == chain_hash(previous, stored)
        previous = stored.hash
