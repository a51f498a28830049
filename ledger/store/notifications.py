"""Notification preferences and notifications in Postgres."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ledger.domain.notifications import Preferences


async def set_preferences(conn: asyncpg.Connection, prefs: Preferences, now: dt.datetime) -> None:
    """Store a merchant's preferences (replacing any)."""
    await conn.execute(
        "INSERT INTO ledger.notification_preferences (merchant_id, email_address, email_events, sms_number, "
        "sms_events, update_time) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id) DO UPDATE SET "
        "email_address = $2, email_events = $3, sms_number = $4, sms_events = $5, update_time = $6",
        prefs.merchant_id,
        prefs.email_address,
        list(prefs.email_events),
        prefs.sms_number,
        list(prefs.sms_events),
        now,
    )


async def preferences_for(conn: asyncpg.Connection, merchant_ids: Sequence[str]) -> dict[str, tuple[Preferences, str]]:
    """The preferences of these merchants that have any, with each merchant's contact email."""
    rows = await conn.fetch(
        "SELECT p.merchant_id, p.email_address, p.email_events, p.sms_number, p.sms_events, m.contact_email "
        "FROM ledger.notification_preferences p JOIN ledger.merchants m ON m.id = p.merchant_id "
        "WHERE p.merchant_id = ANY($1::text[])",
        list(merchant_ids),
    )
    return {
        r["merchant_id"]: (
            Preferences(
                r["merchant_id"],
                r["email_address"],
                tuple(r["email_events"]),
                r["sms_number"],
                tuple(r["sms_events"]),
            ),
            r["contact_email"] or "",
        )
        for r in rows
    }


@dataclass(frozen=True)
class Notification:
    """A notification to send (or sent)."""

    id: str
    merchant_id: str
    event_id: str
    event_type: str
    channel: str
    recipient: str
    subject: str
    body: str
    event_time: dt.datetime
    attempt_count: int = 0


async def insert(conn: asyncpg.Connection, items: Sequence[Notification], now: dt.datetime) -> None:
    """Insert notifications due now; one per (event, channel), however often the fan-out runs."""
    if not items:
        return
    await conn.executemany(
        "INSERT INTO ledger.notifications (id, merchant_id, event_id, event_type, channel, recipient, subject, body, "
        "event_time, next_attempt_time, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) "
        "ON CONFLICT (event_id, channel) DO NOTHING",
        [
            (
                n.id,
                n.merchant_id,
                n.event_id,
                n.event_type,
                n.channel,
                n.recipient,
                n.subject,
                n.body,
                n.event_time,
                now,
            )
            for n in items
        ],
    )


async def claim_due(conn: asyncpg.Connection, now: dt.datetime, lease_seconds: float, limit: int) -> list[Notification]:
    """Lease up to `limit` due notifications nobody else holds (FOR UPDATE SKIP LOCKED)."""
    rows = await conn.fetch(
        "WITH due AS (SELECT id FROM ledger.notifications WHERE status IN ('PENDING', 'RETRYING') "
        "AND next_attempt_time <= $1 AND (lease_until IS NULL OR lease_until <= clock_timestamp()) "
        "ORDER BY next_attempt_time LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE ledger.notifications n SET lease_until = clock_timestamp() + make_interval(secs => $2) FROM due "
        "WHERE n.id = due.id RETURNING n.id, n.merchant_id, n.event_id, n.event_type, n.channel, n.recipient, "
        "n.subject, n.body, n.event_time, n.attempt_count",
        now,
        lease_seconds,
        limit,
    )
    return [Notification(**dict(r)) for r in rows]


async def next_due_time(conn: asyncpg.Connection, after: dt.datetime) -> dt.datetime | None:
    """When the next open notification falls due after `after`."""
    value: dt.datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_time) FROM ledger.notifications WHERE status IN ('PENDING', 'RETRYING') "
        "AND next_attempt_time > $1",
        after,
    )
    return value


async def record(
    conn: asyncpg.Connection,
    notification_id: str,
    *,
    status: str,
    attempts: int,
    next_attempt_time: dt.datetime | None,
    error: str,
    provider_id: str,
) -> None:
    """Store an attempt's outcome and release the lease."""
    await conn.execute(
        "UPDATE ledger.notifications SET status = $2, attempt_count = $3, next_attempt_time = $4, last_error = $5, "
        "provider_id = $6, lease_until = NULL WHERE id = $1",
        notification_id,
        status,
        attempts,
        next_attempt_time,
        error[:1000],
        provider_id,
    )
