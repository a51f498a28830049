"""Merchant rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from ledger.domain.models import Merchant

_COLUMNS = (
    "id, name, status, contact_email, payout_address, default_expiry_seconds, default_tolerance_base_units, "
    "suspend_reason, create_time, update_time, suspend_time"
)


def _merchant(row: asyncpg.Record) -> Merchant:
    return Merchant(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        contact_email=row["contact_email"] or "",
        payout_address=row["payout_address"] or "",
        default_expiry_seconds=row["default_expiry_seconds"],
        default_tolerance=int(row["default_tolerance_base_units"]),
        suspend_reason=row["suspend_reason"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        suspend_time=row["suspend_time"],
    )


async def insert(
    conn: asyncpg.Connection, *, merchant: Merchant, request_id: str, request_hash: bytes
) -> tuple[Merchant, bool]:
    """Insert a merchant idempotently by request id; returns (the merchant, whether it is new).

    An existing row with the same request id is returned as is when its request hash matches; the caller
    compares hashes via `request_hash_of`.
    """
    row = await conn.fetchrow(
        f"INSERT INTO ledger.merchants (id, name, contact_email, payout_address, default_expiry_seconds, "
        f"default_tolerance_base_units, request_id, request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        f"ON CONFLICT (request_id) DO NOTHING RETURNING {_COLUMNS}",
        merchant.id,
        merchant.name,
        merchant.contact_email,
        merchant.payout_address or None,
        merchant.default_expiry_seconds,
        merchant.default_tolerance,
        request_id,
        request_hash,
    )
    if row is not None:
        return _merchant(row), True
    existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger.merchants WHERE request_id = $1", request_id)
    assert existing is not None
    return _merchant(existing), False


async def request_hash_of(conn: asyncpg.Connection, merchant_id: str) -> bytes | None:
    """The stored request hash of a merchant's onboarding request."""
    value = await conn.fetchval("SELECT request_hash FROM ledger.merchants WHERE id = $1", merchant_id)
    return bytes(value) if value is not None else None


async def get(conn: asyncpg.Connection, merchant_id: str, *, for_update: bool = False) -> Merchant | None:
    """One merchant by id."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger.merchants WHERE id = $1{lock}", merchant_id)
    return _merchant(row) if row is not None else None


async def list_page(
    conn: asyncpg.Connection, *, status: str | None, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Merchant]:
    """Merchants newest first, after a (create_time, id) position."""
    args: list[Any] = [limit]
    where = []
    if status is not None:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if after is not None:
        args.extend(after)
        where.append(f"(create_time, id) < (${len(args) - 1}, ${len(args)})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.merchants {clause} ORDER BY create_time DESC, id DESC LIMIT $1", *args
    )
    return [_merchant(r) for r in rows]


async def set_status(conn: asyncpg.Connection, merchant_id: str, status: str, reason: str) -> Merchant | None:
    """Suspend or reactivate a merchant."""
    row = await conn.fetchrow(
        f"UPDATE ledger.merchants SET status = $2, suspend_reason = $3, update_time = now(), "
        f"suspend_time = CASE WHEN $2 = 'SUSPENDED' THEN now() ELSE NULL END WHERE id = $1 RETURNING {_COLUMNS}",
        merchant_id,
        status,
        reason,
    )
    return _merchant(row) if row is not None else None
