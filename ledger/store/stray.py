"""Stray funds: unallocated payments and the unexpected assets (lookalike tokens, native BNB) at deposit addresses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from ledger.domain.ids import new_id


@dataclass(frozen=True)
class StrayRow:
    """One stray fund as listed: an unallocated payment (open, allocated or refunded) or an unexpected asset."""

    id: str
    kind: str
    """UNALLOCATED_PAYMENT, UNEXPECTED_TOKEN or NATIVE."""
    status: str
    """OPEN, ALLOCATED, REFUND_QUEUED, REFUND_BROADCAST, REFUNDED, QUARANTINE_REQUESTED or QUARANTINED."""
    merchant_id: str
    invoice_id: str
    """The invoice whose deposit address received it."""
    allocated_invoice_id: str
    chain_id: int
    tx_hash: str
    log_index: int
    token_contract: str
    from_address: str
    to_address: str
    amount: int
    block_number: int
    create_time: dt.datetime
    """When it was observed (the list's order)."""
    refund_id: str
    allocated_by: str
    """The admin key that allocated the payment, or that requested a stray token's quarantine."""
    allocate_reason: str
    """Why (the allocation's or the quarantine request's reason)."""


STATUSES = (
    "OPEN",
    "ALLOCATED",
    "REFUND_QUEUED",
    "REFUND_BROADCAST",
    "REFUNDED",
    "QUARANTINE_REQUESTED",
    "QUARANTINED",
)
"""Every status a stray fund can be listed with."""
KINDS = ("UNALLOCATED_PAYMENT", "UNEXPECTED_TOKEN", "NATIVE")
"""Every kind of stray fund."""

_LISTED = """
SELECT 'UNALLOCATED_PAYMENT' AS kind, p.id, p.chain_id, p.tx_hash, p.log_index,
       coalesce(p.allocated_from_invoice_id, p.invoice_id) AS invoice_id, i.merchant_id,
       CASE WHEN p.allocated_from_invoice_id IS NOT NULL THEN p.invoice_id ELSE '' END AS allocated_invoice_id,
       p.token_contract, p.from_address, p.to_address, p.amount, p.block_number, p.observe_time,
       CASE WHEN p.allocated_from_invoice_id IS NOT NULL THEN 'ALLOCATED'
            WHEN r.status IN ('QUEUED', 'PENDING_APPROVAL') THEN 'REFUND_QUEUED'
            WHEN r.status = 'BROADCAST' THEN 'REFUND_BROADCAST'
            WHEN r.status = 'CONFIRMED' THEN 'REFUNDED'
            ELSE 'OPEN' END AS status,
       coalesce(r.id, '') AS refund_id, p.allocated_by, p.allocate_reason
FROM ledger.payments p
JOIN ledger.invoices i ON i.id = coalesce(p.allocated_from_invoice_id, p.invoice_id)
LEFT JOIN LATERAL (
    SELECT id, status FROM ledger.payouts WHERE payment_id = p.id AND kind = 'STRAY_REFUND'
    ORDER BY create_time DESC, id DESC LIMIT 1) r ON true
WHERE p.status = 'UNALLOCATED' OR p.allocated_from_invoice_id IS NOT NULL
UNION ALL
SELECT CASE WHEN s.asset = 'NATIVE' THEN 'NATIVE' ELSE 'UNEXPECTED_TOKEN' END, s.id, s.chain_id, s.tx_hash,
       s.log_index, s.invoice_id, s.merchant_id, '', s.token_contract, s.from_address, s.to_address, s.amount,
       s.block_number, s.observe_time,
       CASE WHEN s.quarantine_tx_hash IS NOT NULL THEN 'QUARANTINED'
            WHEN s.quarantine_request_time IS NOT NULL THEN 'QUARANTINE_REQUESTED' ELSE 'OPEN' END, '',
       s.quarantine_requested_by, s.quarantine_reason
FROM ledger.stray_deposits s
"""


def _row(r: asyncpg.Record) -> StrayRow:
    return StrayRow(
        id=r["id"],
        kind=r["kind"],
        status=r["status"],
        merchant_id=r["merchant_id"],
        invoice_id=r["invoice_id"],
        allocated_invoice_id=r["allocated_invoice_id"],
        chain_id=int(r["chain_id"]),
        tx_hash=r["tx_hash"],
        log_index=int(r["log_index"]),
        token_contract=r["token_contract"],
        from_address=r["from_address"],
        to_address=r["to_address"],
        amount=int(r["amount"]),
        block_number=int(r["block_number"]),
        create_time=r["observe_time"],
        refund_id=r["refund_id"],
        allocated_by=r["allocated_by"],
        allocate_reason=r["allocate_reason"],
    )


async def list_page(
    conn: asyncpg.Connection,
    *,
    kind: str | None,
    status: str | None,
    merchant_id: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[StrayRow]:
    """Stray funds, newest observed first, filtered, after a (observe_time, id) position."""
    rows = await conn.fetch(
        f"SELECT * FROM ({_LISTED}) s WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR status = $2) "
        "AND ($3::text IS NULL OR merchant_id = $3) "
        "AND ($4::timestamptz IS NULL OR (observe_time, id) < ($4, $5)) ORDER BY observe_time DESC, id DESC LIMIT $6",
        kind,
        status,
        merchant_id,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )
    return [_row(r) for r in rows]


async def get(conn: asyncpg.Connection, stray_id: str) -> StrayRow | None:
    """One stray fund by id (a payment id or a stray deposit id)."""
    r = await conn.fetchrow(f"SELECT * FROM ({_LISTED}) s WHERE id = $1", stray_id)
    return _row(r) if r is not None else None


async def record_unexpected(
    conn: asyncpg.Connection,
    *,
    chain_id: int,
    tx_hash: str,
    log_index: int,
    invoice_id: str,
    merchant_id: str,
    token_contract: str,
    from_address: str,
    to_address: str,
    amount: int,
    block_number: int,
    observe_time: dt.datetime,
) -> None:
    """Keep a transfer of another asset than the ledger's at a deposit address (once per transfer log)."""
    if amount <= 0:
        return
    await conn.execute(
        "INSERT INTO ledger.stray_deposits (id, chain_id, tx_hash, log_index, invoice_id, merchant_id, asset, "
        "token_contract, from_address, to_address, amount, block_number, observe_time) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        new_id("sd"),
        chain_id,
        tx_hash,
        log_index,
        invoice_id,
        merchant_id,
        "TOKEN" if token_contract else "NATIVE",
        token_contract,
        from_address,
        to_address,
        amount,
        block_number,
        observe_time,
    )


async def allocate(
    conn: asyncpg.Connection, payment_id: str, invoice_id: str, *, actor: str, reason: str, now: dt.datetime
) -> None:
    """Move an UNALLOCATED payment onto `invoice_id` as FINAL, keeping the invoice it came from and who moved it."""
    await conn.execute(
        "UPDATE ledger.payments SET allocated_from_invoice_id = invoice_id, invoice_id = $2, status = 'FINAL', "
        "allocated_by = $3, allocate_reason = $4, allocate_time = $5, final_time = $5, update_time = $5 "
        "WHERE id = $1 AND status = 'UNALLOCATED'",
        payment_id,
        invoice_id,
        actor,
        reason,
        now,
    )


async def unallocate(conn: asyncpg.Connection, payment_id: str, invoice_id: str) -> None:
    """A reorg reversed an allocated payment: back on the invoice whose address received it, no longer allocated."""
    await conn.execute(
        "UPDATE ledger.payments SET invoice_id = $2, allocated_from_invoice_id = NULL, allocated_by = '', "
        "allocate_reason = '', allocate_time = NULL WHERE id = $1",
        payment_id,
        invoice_id,
    )


async def request_quarantine(
    conn: asyncpg.Connection, stray_id: str, *, actor: str, reason: str, now: dt.datetime
) -> bool:
    """Record an admin's quarantine request for a stray deposit; False when one was recorded already."""
    updated = await conn.fetchval(
        "UPDATE ledger.stray_deposits SET quarantine_request_time = $2, quarantine_requested_by = $3, "
        "quarantine_reason = $4 WHERE id = $1 AND quarantine_request_time IS NULL RETURNING id",
        stray_id,
        now,
        actor,
        reason,
    )
    return updated is not None


@dataclass(frozen=True)
class RequestedQuarantine:
    """A stray token an admin asked to quarantine, not quarantined yet."""

    id: str
    deposit_address: str
    invoice_id: str
    token_contract: str
    amount: int
    request_time: dt.datetime


async def requested_quarantines(
    conn: asyncpg.Connection, chain_id: int, after: tuple[dt.datetime, str] | None, limit: int
) -> list[RequestedQuarantine]:
    """Requested, not yet quarantined stray tokens of a chain, oldest request first, after a position."""
    rows = await conn.fetch(
        "SELECT id, to_address, invoice_id, token_contract, amount, quarantine_request_time "
        "FROM ledger.stray_deposits WHERE chain_id = $1 AND asset = 'TOKEN' AND quarantine_request_time IS NOT NULL "
        "AND quarantine_tx_hash IS NULL AND ($2::timestamptz IS NULL OR (quarantine_request_time, id) > ($2, $3)) "
        "ORDER BY quarantine_request_time, id LIMIT $4",
        chain_id,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )
    return [
        RequestedQuarantine(
            r["id"],
            r["to_address"],
            r["invoice_id"],
            r["token_contract"],
            int(r["amount"]),
            r["quarantine_request_time"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class QuarantineState:
    """A stray deposit's quarantine columns, read under a row lock."""

    id: str
    chain_id: int
    merchant_id: str
    asset: str
    token_contract: str
    deposit_address: str
    amount: int
    requested: bool
    tx_hash: str | None


async def lock_for_quarantine(conn: asyncpg.Connection, stray_id: str) -> QuarantineState | None:
    """A stray deposit's quarantine state, its row locked for the rest of the transaction."""
    r = await conn.fetchrow(
        "SELECT id, chain_id, merchant_id, asset, token_contract, to_address, amount, quarantine_request_time, "
        "quarantine_tx_hash FROM ledger.stray_deposits WHERE id = $1 FOR UPDATE",
        stray_id,
    )
    if r is None:
        return None
    return QuarantineState(
        id=r["id"],
        chain_id=int(r["chain_id"]),
        merchant_id=r["merchant_id"],
        asset=r["asset"],
        token_contract=r["token_contract"],
        deposit_address=r["to_address"],
        amount=int(r["amount"]),
        requested=r["quarantine_request_time"] is not None,
        tx_hash=r["quarantine_tx_hash"],
    )


async def mark_quarantined(
    conn: asyncpg.Connection, stray_id: str, *, tx_hash: str, block_number: int, moved: int, now: dt.datetime
) -> None:
    """Record the final flush that moved a requested stray token to quarantine (call on a locked row)."""
    await conn.execute(
        "UPDATE ledger.stray_deposits SET quarantine_tx_hash = $2, quarantine_block_number = $3, "
        "quarantine_moved = $4, quarantine_time = $5 WHERE id = $1 AND quarantine_tx_hash IS NULL",
        stray_id,
        tx_hash,
        block_number,
        moved,
        now,
    )
