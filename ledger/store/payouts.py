"""Payout rows."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg

from ledger.domain.payouts import PayoutRecord

_COLUMNS = (
    "id, merchant_id, settlement_address_id, destination_address, asset, chain_id, token_contract, amount, fee, "
    "status, description, metadata, tx_hash, block_number, failure_reason, create_time, update_time, "
    "broadcast_time, confirm_time, cancel_time, kind, invoice_id, reason, approval_id, payout_trigger"
)


def _record(r: asyncpg.Record) -> PayoutRecord:
    return PayoutRecord(
        id=r["id"],
        merchant_id=r["merchant_id"] or "",
        settlement_address_id=r["settlement_address_id"],
        destination_address=r["destination_address"],
        asset=r["asset"],
        chain_id=int(r["chain_id"]),
        token_contract=r["token_contract"],
        amount=int(r["amount"]),
        fee=int(r["fee"]),
        status=r["status"],
        description=r["description"],
        metadata=json.loads(r["metadata"]),
        tx_hash=r["tx_hash"],
        block_number=int(r["block_number"]) if r["block_number"] is not None else None,
        failure_reason=r["failure_reason"],
        create_time=r["create_time"],
        update_time=r["update_time"],
        broadcast_time=r["broadcast_time"],
        confirm_time=r["confirm_time"],
        cancel_time=r["cancel_time"],
        kind=r["kind"],
        invoice_id=r["invoice_id"],
        reason=r["reason"],
        approval_id=r["approval_id"],
        trigger=r["payout_trigger"],
    )


async def insert(
    conn: asyncpg.Connection,
    payout: PayoutRecord,
    *,
    request_id: str,
    request_hash: bytes,
    payment_id: str | None = None,
    created_by_key_id: str | None = None,
) -> PayoutRecord:
    """Store an accepted payout (the caller holds the merchant's lock, so its request id is free).

    `payment_id` is the unallocated payment a STRAY_REFUND returns; a REVENUE withdrawal has no merchant.
    """
    r = await conn.fetchrow(
        "INSERT INTO ledger.payouts (id, merchant_id, settlement_address_id, destination_address, asset, chain_id, "
        "token_contract, amount, fee, status, description, metadata, request_id, request_hash, create_time, "
        "update_time, kind, invoice_id, reason, payment_id, created_by_key_id, payout_trigger) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15, $15, $16, $17, $18, $19, $20, $21) "
        f"RETURNING {_COLUMNS}",
        payout.id,
        payout.merchant_id or None,
        payout.settlement_address_id,
        payout.destination_address,
        payout.asset,
        payout.chain_id,
        payout.token_contract,
        payout.amount,
        payout.fee,
        payout.status,
        payout.description,
        json.dumps(payout.metadata),
        request_id,
        request_hash,
        payout.create_time,
        payout.kind,
        payout.invoice_id,
        payout.reason,
        payment_id,
        created_by_key_id,
        payout.trigger,
    )
    return _record(r)


async def find_by_request(
    conn: asyncpg.Connection, merchant_id: str, request_id: str
) -> tuple[PayoutRecord, bytes] | None:
    """The payout or refund made under a request id (stored as `<kind>:<request id>`), with its request hash."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS}, request_hash FROM ledger.payouts WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    return (_record(r), bytes(r["request_hash"])) if r is not None else None


async def get(
    conn: asyncpg.Connection,
    payout_id: str,
    *,
    merchant_id: str | None = None,
    kind: str | None = None,
    lock: bool = False,
) -> PayoutRecord | None:
    """A payout or refund (only the merchant's, of the kind, when given), locked when `lock`."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.payouts WHERE id = $1 AND ($2::text IS NULL OR merchant_id = $2) "
        "AND ($3::text IS NULL OR kind = $3)" + (" FOR UPDATE" if lock else ""),
        payout_id,
        merchant_id,
        kind,
    )
    return _record(r) if r is not None else None


async def list_page(
    conn: asyncpg.Connection,
    merchant_id: str,
    *,
    status: str | None,
    created_from: dt.datetime | None,
    created_before: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
    kind: str = "PAYOUT",
    invoice_id: str | None = None,
) -> list[PayoutRecord]:
    """The merchant's payouts (or refunds), newest first, filtered, after a (create_time, id) position."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.payouts WHERE merchant_id = $1 AND ($3::text IS NULL OR status = $3) "
        "AND kind = $8 AND ($9::text IS NULL OR invoice_id = $9) "
        "AND ($4::timestamptz IS NULL OR create_time >= $4) AND ($5::timestamptz IS NULL OR create_time < $5) "
        "AND ($6::timestamptz IS NULL OR (create_time, id) < ($6, $7)) ORDER BY create_time DESC, id DESC LIMIT $2",
        merchant_id,
        limit,
        status,
        created_from,
        created_before,
        after[0] if after else None,
        after[1] if after else "",
        kind,
        invoice_id,
    )
    return [_record(r) for r in rows]


async def refunds_of(conn: asyncpg.Connection, invoice_id: str) -> list[PayoutRecord]:
    """Every refund of an invoice."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.payouts WHERE kind = 'REFUND' AND invoice_id = $1 ORDER BY create_time, id",
        invoice_id,
    )
    return [_record(r) for r in rows]


async def queued(conn: asyncpg.Connection, *, after: tuple[dt.datetime, str] | None, limit: int) -> list[PayoutRecord]:
    """QUEUED payouts, oldest first, after a (create_time, id) position."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.payouts WHERE status = 'QUEUED' "
        "AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3)) ORDER BY create_time, id LIMIT $1",
        limit,
        after[0] if after else None,
        after[1] if after else "",
    )
    return [_record(r) for r in rows]


async def initiators(conn: asyncpg.Connection, payout_ids: list[str]) -> dict[str, str]:
    """The owner address of the key that created each payout, where it has one."""
    rows = await conn.fetch(
        "SELECT p.id, k.owner_address FROM ledger.payouts p JOIN ledger.api_keys k ON k.id = p.created_by_key_id "
        "WHERE p.id = ANY($1::text[]) AND k.owner_address <> ''",
        payout_ids,
    )
    return {str(r["id"]): str(r["owner_address"]) for r in rows}


async def set_pending_approval(
    conn: asyncpg.Connection, payout_id: str, approval_id: str, now: dt.datetime
) -> PayoutRecord:
    """QUEUED → PENDING_APPROVAL with the signer's approval id."""
    r = await conn.fetchrow(
        "UPDATE ledger.payouts SET status = 'PENDING_APPROVAL', approval_id = $2, update_time = $3 WHERE id = $1 "
        f"RETURNING {_COLUMNS}",
        payout_id,
        approval_id,
        now,
    )
    return _record(r)


async def claimed_by(conn: asyncpg.Connection, payout_id: str) -> str | None:
    """The settlement batch that claimed the payout, if any."""
    value = await conn.fetchval("SELECT claimed_by_batch FROM ledger.payouts WHERE id = $1", payout_id)
    return None if value is None else str(value)


async def claim(conn: asyncpg.Connection, payout_id: str, batch_id: str, now: dt.datetime) -> PayoutRecord:
    """Record the settlement batch that is about to sign the payout (status unchanged)."""
    r = await conn.fetchrow(
        f"UPDATE ledger.payouts SET claimed_by_batch = $2, update_time = $3 WHERE id = $1 RETURNING {_COLUMNS}",
        payout_id,
        batch_id,
        now,
    )
    return _record(r)


async def replace_tx_hash(conn: asyncpg.Connection, payout_id: str, tx_hash: str, now: dt.datetime) -> PayoutRecord:
    """Name another transaction (a replacement of the same nonce) as the payout's, keeping its status."""
    r = await conn.fetchrow(
        f"UPDATE ledger.payouts SET tx_hash = $2, update_time = $3 WHERE id = $1 RETURNING {_COLUMNS}",
        payout_id,
        tx_hash,
        now,
    )
    return _record(r)


async def update(
    conn: asyncpg.Connection,
    payout_id: str,
    *,
    status: str,
    now: dt.datetime,
    tx_hash: str | None = None,
    block_number: int | None = None,
    failure_reason: str | None = None,
    cancel_reason: str | None = None,
) -> PayoutRecord:
    """Move a payout to `status`, stamping the time of that step and what it brings."""
    r = await conn.fetchrow(
        "UPDATE ledger.payouts SET status = $2, update_time = $3, tx_hash = coalesce($4, tx_hash), "
        "block_number = coalesce($5, block_number), failure_reason = coalesce($6, failure_reason), "
        "cancel_reason = coalesce($7, cancel_reason), "
        "broadcast_time = CASE WHEN $2 = 'BROADCAST' THEN $3 ELSE broadcast_time END, "
        "confirm_time = CASE WHEN $2 = 'CONFIRMED' THEN $3 ELSE confirm_time END, "
        "cancel_time = CASE WHEN $2 = 'CANCELED' THEN $3 ELSE cancel_time END "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        payout_id,
        status,
        now,
        tx_hash,
        block_number,
        failure_reason,
        cancel_reason,
    )
    return _record(r)
