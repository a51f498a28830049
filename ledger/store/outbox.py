"""Outbox events, written in the same transaction as the change they report."""

from __future__ import annotations

import json
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
