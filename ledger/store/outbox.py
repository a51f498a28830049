"""Outbox events, written in the same transaction as the change they report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from ledger.domain.ids import new_id


async def append(
    conn: asyncpg.Connection,
    *,
    event_type: str,
    merchant_id: str | None,
    subject_id: str,
    data: dict[str, Any],
    event_id: str | None = None,
) -> str:
    """Append an event (the caller's transaction commits it with the change); returns the event id.

    A caller that may repeat itself passes a deterministic `event_id`: the event is then written once.
    """
    event_id = event_id or new_id("evt")
    await conn.execute(
        "INSERT INTO ledger.outbox (event_id, event_type, merchant_id, subject_id, payload) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        event_type,
        merchant_id,
        subject_id,
        json.dumps({"id": event_id, "type": event_type, "data": data}),
    )
    return event_id


async def events_for(conn: asyncpg.Connection, subject_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every event about a subject, oldest first."""
    rows = await conn.fetch(
        "SELECT event_type, payload FROM ledger.outbox WHERE subject_id = $1 ORDER BY id", subject_id
    )
    return [(r["event_type"], json.loads(r["payload"])) for r in rows]


@dataclass(frozen=True)
class OutboxEvent:
    """One event as a consumer reads it."""

    id: int
    event_id: str
    event_type: str
    merchant_id: str | None
    subject_id: str
    payload: dict[str, Any]
    txid: str
    """The writing transaction's id (xid8, as text): with `id`, the consumer's cursor."""


async def register_consumer(conn: asyncpg.Connection, consumer: str) -> None:
    """Create the consumer's cursor (at the start of the outbox; idempotent). Call once, outside `claim`."""
    await conn.execute(
        "INSERT INTO ledger.outbox_cursors (consumer) VALUES ($1) ON CONFLICT (consumer) DO NOTHING", consumer
    )


async def claim(conn: asyncpg.Connection, consumer: str, limit: int) -> list[OutboxEvent] | None:
    """The next settled events after the consumer's cursor, with the cursor row locked for this transaction.

    Only events written by transactions older than every transaction still running are returned, in commit-safe
    (transaction id, id) order, so none is ever skipped. Returns None when another instance of the same consumer
    holds the cursor (FOR UPDATE SKIP LOCKED), so replicas never process the same events at once. Call inside a
    transaction and `advance` before committing; delivery is at least once, consumers are idempotent by
    `event_id`.
    """
    cursor = await conn.fetchrow(
        "SELECT last_txid, last_id FROM ledger.outbox_cursors WHERE consumer = $1 FOR UPDATE SKIP LOCKED", consumer
    )
    if cursor is None:
        registered = await conn.fetchval("SELECT 1 FROM ledger.outbox_cursors WHERE consumer = $1", consumer)
        if registered is None:
            raise LookupError(f"outbox consumer {consumer!r} is not registered: call register_consumer first")
        return None
    rows = await conn.fetch(
        # The text copy has its own name: ORDER BY must sort the xid8 column, not its text (where "1000" < "999").
        "SELECT id, txid::text AS txid_text, event_id, event_type, merchant_id, subject_id, payload "
        "FROM ledger.outbox WHERE (txid, id) > (($1::text)::xid8, $2) "
        "AND txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid, id LIMIT $3",
        str(cursor["last_txid"]),
        cursor["last_id"],
        limit,
    )
    return [
        OutboxEvent(
            r["id"],
            r["event_id"],
            r["event_type"],
            r["merchant_id"],
            r["subject_id"],
            json.loads(r["payload"]),
            r["txid_text"],
        )
        for r in rows
    ]


async def advance(conn: asyncpg.Connection, consumer: str, event: OutboxEvent) -> None:
    """Move the consumer's cursor past an event it has handled (and everything before it)."""
    await conn.execute(
        "UPDATE ledger.outbox_cursors SET last_txid = ($2::text)::xid8, last_id = $3, update_time = now() "
        "WHERE consumer = $1",
        consumer,
        event.txid,
        event.id,
    )
