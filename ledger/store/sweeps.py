"""Sweep rows and the sweepable deposits query: what settlement's sweeper flushed, and what it should flush next."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

COVERING_SWEEP = (
    "(SELECT s.id FROM ledger.sweep_deposits d JOIN ledger.sweeps s ON s.id = d.sweep_id "
    "WHERE s.chain_id = {chain} AND d.deposit_address = {address} AND s.block_number >= {block} "
    "ORDER BY s.block_number, s.id LIMIT 1)"
)
"""SQL for the recorded sweep that moved a transfer's tokens: the first one at its address in or after its block.

A forwarder flush moves the whole balance, so tokens that arrived in block B left with the first sweep of that
address at or after B. Placeholders: `{chain}`, `{address}`, `{block}` (SQL expressions).
"""


@dataclass(frozen=True)
class SweepableDeposit:
    """A deposit address with FINAL payments not swept yet."""

    deposit_address: str
    invoice_id: str
    amount: int
    payment_ids: tuple[str, ...]
    oldest_block: int


async def sweepable_page(
    conn: asyncpg.Connection, chain_id: int, after: tuple[int, str] | None, limit: int
) -> list[SweepableDeposit]:
    """Addresses with FINAL, unswept payments, by (oldest such payment's block, address), after `after`."""
    rows = await conn.fetch(
        "SELECT to_address, invoice_id, sum(amount) AS amount, "
        "array_agg(id ORDER BY block_number, tx_hash, log_index) AS ids, min(block_number) AS oldest "
        "FROM ledger.payments WHERE chain_id = $1 AND status = 'FINAL' AND sweep_id IS NULL "
        "AND invoice_id IS NOT NULL GROUP BY to_address, invoice_id "
        "HAVING $2::bigint IS NULL OR (min(block_number), to_address) > ($2::bigint, $3::text) "
        "ORDER BY oldest, to_address LIMIT $4",
        chain_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        SweepableDeposit(r["to_address"], r["invoice_id"], int(r["amount"]), tuple(r["ids"]), int(r["oldest"]))
        for r in rows
    ]


@dataclass(frozen=True)
class StoredSweep:
    """A recorded sweep: enough to answer a replay of its request."""

    id: str
    request_hash: bytes
    journal_transaction_id: int
    payment_ids: tuple[str, ...]


async def get(conn: asyncpg.Connection, sweep_id: str) -> StoredSweep | None:
    """The sweep recorded under `sweep_id`, if any."""
    r = await conn.fetchrow(
        "SELECT id, request_hash, journal_transaction_id, payment_ids FROM ledger.sweeps WHERE id = $1", sweep_id
    )
    if r is None:
        return None
    return StoredSweep(r["id"], bytes(r["request_hash"]), int(r["journal_transaction_id"]), tuple(r["payment_ids"]))


async def id_by_tx(conn: asyncpg.Connection, chain_id: int, tx_hash: str) -> str | None:
    """The id of the sweep already recorded for this transaction, if any."""
    value = await conn.fetchval("SELECT id FROM ledger.sweeps WHERE chain_id = $1 AND tx_hash = $2", chain_id, tx_hash)
    return str(value) if value is not None else None


@dataclass(frozen=True)
class HeldPayment:
    """A payment whose tokens sit at a deposit address at or below a block (locked for this transaction)."""

    id: str
    status: str
    amount: int


async def lock_unswept_at(
    conn: asyncpg.Connection, chain_id: int, address: str, block_number: int
) -> list[HeldPayment]:
    """Lock the unswept SEEN, FINAL and UNALLOCATED payments at `address` in blocks up to `block_number`."""
    rows = await conn.fetch(
        "SELECT id, status, amount FROM ledger.payments WHERE chain_id = $1 AND to_address = $2 "
        "AND block_number <= $3 AND sweep_id IS NULL AND status IN ('SEEN', 'FINAL', 'UNALLOCATED') "
        "ORDER BY block_number, tx_hash, log_index FOR UPDATE",
        chain_id,
        address,
        block_number,
    )
    return [HeldPayment(r["id"], r["status"], int(r["amount"])) for r in rows]


@dataclass(frozen=True)
class NewSweep:
    """A sweep to store, as validated."""

    id: str
    request_hash: bytes
    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    sweeper_address: str
    gas_used: int
    effective_gas_price_wei: int
    amount: int
    journal_transaction_id: int
    payment_ids: tuple[str, ...]
    deposits: tuple[tuple[str, int], ...]


async def insert(conn: asyncpg.Connection, sweep: NewSweep) -> None:
    """Store the sweep and what it moved per address, and point the payments it moved at it."""
    await conn.execute(
        "INSERT INTO ledger.sweeps (id, request_hash, chain_id, tx_hash, block_number, block_hash, sweeper_address, "
        "gas_used, effective_gas_price_wei, amount, journal_transaction_id, payment_ids) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        sweep.id,
        sweep.request_hash,
        sweep.chain_id,
        sweep.tx_hash,
        sweep.block_number,
        sweep.block_hash,
        sweep.sweeper_address,
        sweep.gas_used,
        sweep.effective_gas_price_wei,
        sweep.amount,
        sweep.journal_transaction_id,
        list(sweep.payment_ids),
    )
    await conn.executemany(
        "INSERT INTO ledger.sweep_deposits (sweep_id, deposit_address, amount) VALUES ($1, $2, $3)",
        [(sweep.id, address, amount) for address, amount in sweep.deposits],
    )
    await conn.execute(
        "UPDATE ledger.payments SET sweep_id = $1, update_time = now() WHERE id = ANY($2::text[])",
        sweep.id,
        list(sweep.payment_ids),
    )
