"""Queries for notification emails (schema `dashboard`, migration 0007): cursors, recipients, sent records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Cursor:
    """One merchant's position in its paid invoices, claimed by one replica for one pass."""

    merchant_id: str
    read_key_sealed: bytes
    paid_after: dt.datetime


@dataclass(frozen=True)
class Recipient:
    """A team member who gets an email about an event."""

    user_id: str
    email: str
    team_role: str


async def seed(conn: asyncpg.Connection, now: dt.datetime) -> None:
    """Give every onboarded merchant without a cursor one starting now (no history is emailed)."""
    await conn.execute(
        "INSERT INTO dashboard.notification_cursors (merchant_id, paid_after) "
        "SELECT merchant_id, $1 FROM dashboard.merchants ON CONFLICT (merchant_id) DO NOTHING",
        now,
    )


async def claim(conn: asyncpg.Connection, now: dt.datetime, done: list[str]) -> Cursor | None:
    """Lock one due cursor no other replica holds and this pass has not handled (FOR UPDATE SKIP LOCKED)."""
    row = await conn.fetchrow(
        "SELECT c.merchant_id, m.read_key_sealed, c.paid_after FROM dashboard.notification_cursors c "
        "JOIN dashboard.merchants m USING (merchant_id) "
        "WHERE (c.retry_time IS NULL OR c.retry_time <= $1) AND c.merchant_id <> ALL($2::text[]) "
        "ORDER BY c.update_time LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
        now,
        done,
    )
    if row is None:
        return None
    return Cursor(row["merchant_id"], bytes(row["read_key_sealed"]), row["paid_after"])


async def recipients(conn: asyncpg.Connection, merchant_id: str, preference: str) -> list[Recipient]:
    """Verified team members of the merchant whose `preference` is on (a user who never saved one: on)."""
    if preference not in {"invoice_paid", "webhook_failing", "payout_sent", "weekly_summary"}:
        raise ValueError(f"unknown preference {preference}")
    rows = await conn.fetch(
        f"SELECT u.id, u.email, u.team_role FROM dashboard.users u "
        f"LEFT JOIN dashboard.notification_preferences p ON p.user_id = u.id "
        f"WHERE u.merchant_id = $1 AND u.email_verify_time IS NOT NULL AND COALESCE(p.{preference}, true) "
        "ORDER BY u.email",
        merchant_id,
    )
    return [Recipient(r["id"], r["email"], r["team_role"]) for r in rows]


async def was_sent(conn: asyncpg.Connection, event_key: str, user_id: str) -> bool:
    """True when this event's email went to this user already."""
    found = await conn.fetchval(
        "SELECT 1 FROM dashboard.notifications_sent WHERE event_key = $1 AND user_id = $2", event_key, user_id
    )
    return found is not None


async def record_sent(conn: asyncpg.Connection, event_key: str, user_id: str, merchant_id: str) -> None:
    """Remember that this event's email went to this user."""
    await conn.execute(
        "INSERT INTO dashboard.notifications_sent (event_key, user_id, merchant_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        event_key,
        user_id,
        merchant_id,
    )


async def advance(conn: asyncpg.Connection, merchant_id: str, paid_after: dt.datetime) -> None:
    """Move the cursor on (never back) after a pass that sent everything; clears a retry."""
    await conn.execute(
        "UPDATE dashboard.notification_cursors SET paid_after = GREATEST(paid_after, $2), retry_time = NULL, "
        "last_error = NULL, update_time = now() WHERE merchant_id = $1",
        merchant_id,
        paid_after,
    )


async def failed(conn: asyncpg.Connection, merchant_id: str, retry_time: dt.datetime, error: str) -> None:
    """Keep the cursor where it is and try again at `retry_time` (the sent records of this pass stay)."""
    await conn.execute(
        "UPDATE dashboard.notification_cursors SET retry_time = $2, last_error = $3, update_time = now() "
        "WHERE merchant_id = $1",
        merchant_id,
        retry_time,
        error,
    )
