"""Scheduled-report subscriptions (schema `dashboard`, migration 0005): add, list, remove, and claim due ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Subscription:
    """One user's daily or weekly report email for one merchant (or every merchant: `merchant_id` None)."""

    id: str
    owner: str
    email: str
    merchant_id: str | None
    frequency: str
    next_run_time: dt.datetime
    last_sent_time: dt.datetime | None
    sent_count: int
    create_time: dt.datetime


_COLUMNS = "id, owner, email, merchant_id, frequency, next_run_time, last_sent_time, sent_count, create_time"


def _row(r: asyncpg.Record) -> Subscription:
    return Subscription(
        r["id"],
        r["owner"],
        r["email"],
        r["merchant_id"],
        r["frequency"],
        r["next_run_time"],
        r["last_sent_time"],
        int(r["sent_count"]),
        r["create_time"],
    )


async def add(
    conn: asyncpg.Connection,
    *,
    sub_id: str,
    owner: str,
    email: str,
    merchant_id: str | None,
    frequency: str,
    next_run_time: dt.datetime,
) -> bool:
    """Subscribe; False when this owner already has this frequency for this scope (nothing changes then)."""
    done = await conn.fetchval(
        "INSERT INTO dashboard.report_subscriptions (id, owner, email, merchant_id, frequency, next_run_time) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
        sub_id,
        owner,
        email,
        merchant_id,
        frequency,
        next_run_time,
    )
    return bool(done)


async def of_owner(conn: asyncpg.Connection, owner: str) -> list[Subscription]:
    """An owner's subscriptions, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM dashboard.report_subscriptions WHERE owner = $1 ORDER BY create_time, id", owner
    )
    return [_row(r) for r in rows]


async def remove(conn: asyncpg.Connection, sub_id: str, owner: str) -> bool:
    """Unsubscribe (only the owner's own subscription); False when there is no such one."""
    done = await conn.fetchval(
        "DELETE FROM dashboard.report_subscriptions WHERE id = $1 AND owner = $2 RETURNING true", sub_id, owner
    )
    return bool(done)


async def claim_due(conn: asyncpg.Connection, now: dt.datetime) -> Subscription | None:
    """Lock one due subscription no other replica holds (inside the caller's transaction); None when none is due."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM dashboard.report_subscriptions "
        "WHERE coalesce(retry_time, next_run_time) <= $1 "
        "ORDER BY coalesce(retry_time, next_run_time), id LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
    )
    return _row(row) if row is not None else None


async def mark_sent(conn: asyncpg.Connection, sub_id: str, next_run_time: dt.datetime, now: dt.datetime) -> None:
    """The period was sent: move to the next one."""
    await conn.execute(
        "UPDATE dashboard.report_subscriptions SET next_run_time = $2, retry_time = NULL, last_error = '', "
        "last_sent_time = $3, sent_count = sent_count + 1 WHERE id = $1",
        sub_id,
        next_run_time,
        now,
    )


async def mark_failed(conn: asyncpg.Connection, sub_id: str, retry_time: dt.datetime, error: str) -> None:
    """The send failed: try the same period again at `retry_time`."""
    await conn.execute(
        "UPDATE dashboard.report_subscriptions SET retry_time = $2, last_error = $3 WHERE id = $1",
        sub_id,
        retry_time,
        error[:200],
    )


async def drop(conn: asyncpg.Connection, sub_id: str) -> None:
    """Remove a subscription whose owner may no longer read its report."""
    await conn.execute("DELETE FROM dashboard.report_subscriptions WHERE id = $1", sub_id)
