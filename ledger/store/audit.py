"""Audit event rows: appended in the caller's transaction (so an action and its record commit together)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import asyncpg

from ledger.domain.audit import GENESIS_HASH, AuditEvent, chain_hash

AUDIT_LOCK = 0x5354_4741_5544_4954  # "STGAUDIT": serialises appends so the chain has no forks or gaps
_COLUMNS = "sequence, id, actor, action, subject, event_time, details, request_id, prev_hash, hash"


def _event(row: asyncpg.Record) -> AuditEvent:
    details = row["details"]
    return AuditEvent(
        id=row["id"],
        sequence=row["sequence"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        event_time=row["event_time"],
        details=json.loads(details) if isinstance(details, str) else dict(details),
        request_id=row["request_id"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def append(conn: asyncpg.Connection, event: AuditEvent) -> AuditEvent:
    """Append `event` (its sequence and hashes are filled in here); the caller's transaction must be open."""
    if not conn.is_in_transaction():
        raise RuntimeError("audit events are appended inside the action's own transaction")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    last = await conn.fetchrow("SELECT sequence, hash FROM ledger.audit_events ORDER BY sequence DESC LIMIT 1")
    sequence, prev_hash = (last["sequence"] + 1, last["hash"]) if last is not None else (1, GENESIS_HASH)
    chained = dataclasses.replace(event, sequence=sequence, prev_hash=prev_hash)
    chained = dataclasses.replace(chained, hash=chain_hash(prev_hash, chained))
    await conn.execute(
        f"INSERT INTO ledger.audit_events ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        chained.sequence,
        chained.id,
        chained.actor,
        chained.action,
        chained.subject,
        chained.event_time,
        json.dumps(chained.details, sort_keys=True),
        chained.request_id,
        chained.prev_hash,
        chained.hash,
    )
    return chained


async def list_page(
    conn: asyncpg.Connection,
    *,
    before: int | None,
    limit: int,
    actor: str = "",
    action: str = "",
    subject: str = "",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[AuditEvent]:
    """Events newest first, below sequence `before` when given, matching every filter that is set."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("actor", actor), ("action", action), ("subject", subject)):
        if value:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if start is not None:
        args.append(start)
        clauses.append(f"event_time >= ${len(args)}")
    if end is not None:
        args.append(end)
        clauses.append(f"event_time < ${len(args)}")
    if before is not None:
        args.append(before)
        clauses.append(f"sequence < ${len(args)}")
    args.append(limit)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.audit_events {where}ORDER BY sequence DESC LIMIT ${len(args)}", *args
    )
    return [_event(r) for r in rows]
