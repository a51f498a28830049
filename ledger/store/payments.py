"""Payment rows: one per token transfer log seen at a deposit address."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import asyncpg

from ledger.domain.lifecycle import PaymentFact
from ledger.store.sweeps import COVERING_SWEEP


@dataclass(frozen=True)
class PaymentRow:
    """A stored payment."""

    id: str
    chain_id: int
    tx_hash: str
    log_index: int
    invoice_id: str | None
    token_contract: str
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    amount: int
    status: str
    observe_time: dt.datetime
    generation: int = 0
    """How many times the transfer has moved to another block; keys the payment's postings and events."""


_COLUMNS = (
    "id, chain_id, tx_hash, log_index, invoice_id, token_contract, block_number, block_hash, from_address, "
    "to_address, amount, status, observe_time, generation"
)


def _row(r: asyncpg.Record) -> PaymentRow:
    return PaymentRow(
        id=r["id"],
        chain_id=int(r["chain_id"]),
        tx_hash=r["tx_hash"],
        log_index=r["log_index"],
        invoice_id=r["invoice_id"],
        token_contract=r["token_contract"],
        block_number=int(r["block_number"]),
        block_hash=r["block_hash"],
        from_address=r["from_address"],
        to_address=r["to_address"],
        amount=int(r["amount"]),
        status=r["status"],
        observe_time=r["observe_time"],
        generation=int(r["generation"]),
    )


async def get(conn: asyncpg.Connection, chain_id: int, tx_hash: str, log_index: int) -> PaymentRow | None:
    """The payment for a transfer log, locked for this transaction."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.payments WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3 FOR UPDATE",
        chain_id,
        tx_hash,
        log_index,
    )
    return _row(r) if r is not None else None


async def invoice_of(conn: asyncpg.Connection, chain_id: int, tx_hash: str, log_index: int) -> str | None:
    """The invoice a payment belongs to, read without locking (to lock the invoice first)."""
    value = await conn.fetchval(
        "SELECT invoice_id FROM ledger.payments WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3",
        chain_id,
        tx_hash,
        log_index,
    )
    return str(value) if value is not None else None


async def move_to_block(
    conn: asyncpg.Connection, payment: PaymentRow, block_number: int, block_hash: str, status: str
) -> PaymentRow:
    """Record that a transfer now sits in another block, with its new status; returns the moved payment.

    Every move starts a new generation, even a move back to a block the transfer sat in before (A → B → A), so
    the postings of this appearance never share a request id with an earlier one's.
    """
    # The sweep that moved it is decided again for the new block: the first recorded sweep of its address at or
    # after that block, if any (a flush moves the whole balance), else none yet.
    covering = COVERING_SWEEP.format(chain="$5::bigint", address="$6::text", block="$2::bigint")
    generation = await conn.fetchval(
        "UPDATE ledger.payments SET block_number = $2, block_hash = $3, status = $4, generation = generation + 1, "
        f"sweep_id = {covering}, update_time = now() WHERE id = $1 RETURNING generation",
        payment.id,
        block_number,
        block_hash,
        status,
        payment.chain_id,
        payment.to_address,
    )
    return replace(payment, block_number=block_number, block_hash=block_hash, status=status, generation=int(generation))


async def insert(conn: asyncpg.Connection, row: PaymentRow, *, late: bool) -> PaymentRow | None:
    """Store a new payment; None if the transfer log is already stored (a concurrent report).

    A transfer reported after a recorded sweep of its address at or after its block (the watcher lagging behind
    the sweeper) left with that sweep, and is stored as swept by it.
    """
    covering = COVERING_SWEEP.format(chain="$2::bigint", address="$10::text", block="$7::bigint")
    r = await conn.fetchrow(
        f"INSERT INTO ledger.payments (id, chain_id, tx_hash, log_index, invoice_id, token_contract, block_number, "
        f"block_hash, from_address, to_address, amount, status, late, observe_time, sweep_id) VALUES ($1, $2, $3, "
        f"$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, {covering}) ON CONFLICT (chain_id, tx_hash, log_index) "
        f"DO NOTHING RETURNING {_COLUMNS}",
        row.id,
        row.chain_id,
        row.tx_hash,
        row.log_index,
        row.invoice_id,
        row.token_contract,
        row.block_number,
        row.block_hash,
        row.from_address,
        row.to_address,
        row.amount,
        row.status,
        late,
        row.observe_time,
    )
    return _row(r) if r is not None else None


async def set_status(conn: asyncpg.Connection, payment_id: str, status: str) -> None:
    """Move a payment to FINAL or REVERSED."""
    await conn.execute(
        "UPDATE ledger.payments SET status = $2, update_time = now(), "
        "final_time = CASE WHEN $2 = 'FINAL' THEN now() ELSE final_time END WHERE id = $1",
        payment_id,
        status,
    )


async def facts_for(conn: asyncpg.Connection, invoice_id: str) -> list[PaymentFact]:
    """The invoice's payments as lifecycle facts."""
    rows = await conn.fetch(
        "SELECT id, amount, status, observe_time FROM ledger.payments WHERE invoice_id = $1", invoice_id
    )
    return [PaymentFact(r["id"], int(r["amount"]), r["status"], r["observe_time"]) for r in rows]


@dataclass(frozen=True)
class SeenPayment:
    """Where a SEEN payment sits, as listed (unlocked) for finality: its key and its block."""

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    invoice_id: str | None = None
    """The invoice it was listed under (locked first when payments are credited together)."""


async def seen_at_or_below(conn: asyncpg.Connection, chain_id: int, block_number: int) -> list[SeenPayment]:
    """SEEN payments in blocks at or below a finalized block, in block order (read without locking)."""
    rows = await conn.fetch(
        "SELECT tx_hash, log_index, block_number, block_hash, invoice_id FROM ledger.payments WHERE chain_id = $1 "
        "AND status = 'SEEN' AND block_number <= $2 ORDER BY block_number, tx_hash, log_index",
        chain_id,
        block_number,
    )
    return [
        SeenPayment(r["tx_hash"], int(r["log_index"]), int(r["block_number"]), r["block_hash"], r["invoice_id"])
        for r in rows
    ]
