"""Queries over payout batches (schema `settlement`): the batch, its lines, and its chain transactions.

A batch's chain transactions are rows of the sweeper's `chain_transactions` (with `payout_batch_id` set), so
nonces, signed bytes, broadcasts, versions, receipts and reorgs work exactly as for sweeps and cold moves
(`settlement.store.sweeps`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from settlement.domain.fees import TxFees
from settlement.store.sweeps import (
    _TX_SELECT,
    LIVE_TX,
    ChainTx,
    Landed,
    TxOwner,
    _tx,
    owner_mined,
    owner_unmined,
    take_nonce,
)

PAYOUT_BATCHES = TxOwner("settlement.payout_batches", "payout_batch_id")
OPEN_BATCH = ("PLANNED", "AWAITING_APPROVAL", "SIGNED", "SENT", "MINED")
OVER = ("CONFIRMED", "FAILED", "REPLANNED")


@dataclass(frozen=True)
class PayoutLine:
    """One payout (or refund) of a batch: the ledger's payout id, where it goes and how much."""

    payout_id: str
    destination_address: str
    amount: int


@dataclass(frozen=True)
class PayoutBatch:
    """One batch as stored."""

    id: str
    chain_id: int
    key_id: str
    sender_address: str
    treasury_address: str
    token_contract: str
    batch_id: str
    initiator_address: str
    status: str
    approval_id: str | None
    nonce: int | None
    gas_limit: int | None
    landed_tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    failure_reason: str | None
    lines: tuple[PayoutLine, ...]
    planned_block: int = 0
    """The finalized block when its payouts were first planned (where a search for its payment starts)."""


def new_batch_ref() -> str:
    """A fresh batch row id."""
    return "pob_" + secrets.token_hex(12)


def _batch(row: asyncpg.Record, lines: list[asyncpg.Record]) -> PayoutBatch:
    return PayoutBatch(
        id=row["id"],
        chain_id=int(row["chain_id"]),
        key_id=row["key_id"],
        sender_address=row["sender_address"],
        treasury_address=row["treasury_address"],
        token_contract=row["token_contract"],
        batch_id=row["batch_id"],
        initiator_address=row["initiator_address"],
        status=row["status"],
        approval_id=row["approval_id"],
        nonce=None if row["nonce"] is None else int(row["nonce"]),
        gas_limit=None if row["gas_limit"] is None else int(row["gas_limit"]),
        landed_tx_hash=row["landed_tx_hash"],
        block_number=None if row["block_number"] is None else int(row["block_number"]),
        block_hash=row["block_hash"],
        failure_reason=row["failure_reason"],
        lines=tuple(PayoutLine(r["payout_id"], r["destination_address"], int(r["amount"])) for r in lines),
        planned_block=int(row["planned_block"]),
    )


async def open_payout_ids(conn: asyncpg.Connection, chain_id: int) -> set[str]:
    """Payouts in a batch that is not over (never planned twice)."""
    rows = await conn.fetch(
        "SELECT l.payout_id FROM settlement.payout_batch_lines l JOIN settlement.payout_batches b "
        "ON b.id = l.batch_ref WHERE b.chain_id = $1 AND l.open",
        chain_id,
    )
    return {str(r["payout_id"]) for r in rows}


async def insert_batch(
    conn: asyncpg.Connection,
    *,
    batch_ref: str,
    chain_id: int,
    key_id: str,
    sender_address: str,
    treasury_address: str,
    token_contract: str,
    batch_id: str,
    initiator_address: str,
    lines: Sequence[PayoutLine],
    chain_latest: int,
    gas_limit: int,
    fees: TxFees,
    planned_block: int,
) -> ChainTx:
    """Persist a batch with its lines, take the HOT key's next nonce and store version 0 SIGNING, atomically.

    All before the signer is asked: a crash after this asks the signer again with the same request id.
    """
    async with conn.transaction():
        nonce = await take_nonce(conn, chain_id, sender_address, chain_latest)
        await conn.execute(
            "INSERT INTO settlement.payout_batches (id, chain_id, key_id, sender_address, treasury_address, "
            "token_contract, batch_id, initiator_address, status, nonce, gas_limit, planned_block) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PLANNED', $9, $10, $11)",
            batch_ref,
            chain_id,
            key_id,
            sender_address.lower(),
            treasury_address.lower(),
            token_contract.lower(),
            batch_id,
            initiator_address,
            nonce,
            gas_limit,
            planned_block,
        )
        await conn.executemany(
            "INSERT INTO settlement.payout_batch_lines (batch_ref, position, payout_id, destination_address, amount) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(batch_ref, i, x.payout_id, x.destination_address.lower(), x.amount) for i, x in enumerate(lines)],
        )
        return await _insert_version(
            conn,
            batch_ref,
            chain_id=chain_id,
            sender_address=sender_address,
            nonce=nonce,
            version=0,
            gas_limit=gas_limit,
            fees=fees,
        )


async def _insert_version(
    conn: asyncpg.Connection,
    batch_ref: str,
    *,
    chain_id: int,
    sender_address: str,
    nonce: int,
    version: int,
    gas_limit: int,
    fees: TxFees,
) -> ChainTx:
    row = await conn.fetchrow(
        "INSERT INTO settlement.chain_transactions (request_id, chain_id, from_address, nonce, version, "
        "payout_batch_id, gas_limit, max_fee_per_gas_wei, max_priority_fee_wei, legacy, status) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'SIGNING') RETURNING *, 0::float8 AS age_seconds",
        # Derived from the batch: asking again after a crash (or while the approvers decide) gets the same answer.
        f"{batch_ref}:n{nonce}:v{version}",
        chain_id,
        sender_address.lower(),
        nonce,
        version,
        batch_ref,
        gas_limit,
        fees.max_fee_per_gas,
        fees.max_priority_fee_per_gas,
        fees.legacy,
    )
    assert row is not None
    return _tx(row)


async def start_replacement(conn: asyncpg.Connection, batch: PayoutBatch, previous: ChainTx, fees: TxFees) -> ChainTx:
    """Store the next version of a batch's nonce (same call, higher fees) as SIGNING."""
    return await _insert_version(
        conn,
        batch.id,
        chain_id=batch.chain_id,
        sender_address=batch.sender_address,
        nonce=previous.nonce,
        version=previous.version + 1,
        gas_limit=previous.gas_limit,
        fees=fees,
    )


async def batches_in(conn: asyncpg.Connection, chain_id: int, statuses: Sequence[str]) -> list[PayoutBatch]:
    """Batches in any of `statuses`, oldest first (by nonce)."""
    rows = await conn.fetch(
        "SELECT * FROM settlement.payout_batches WHERE chain_id = $1 AND status = ANY($2::text[]) "
        "ORDER BY nonce NULLS LAST, created_at, id",
        chain_id,
        list(statuses),
    )
    if not rows:
        return []
    lines = await conn.fetch(
        "SELECT * FROM settlement.payout_batch_lines WHERE batch_ref = ANY($1::text[]) ORDER BY batch_ref, position",
        [r["id"] for r in rows],
    )
    by_batch: dict[str, list[asyncpg.Record]] = {}
    for line in lines:
        by_batch.setdefault(line["batch_ref"], []).append(line)
    return [_batch(r, by_batch.get(r["id"], [])) for r in rows]


async def get(conn: asyncpg.Connection, batch_ref: str) -> PayoutBatch | None:
    """One batch by its row id."""
    row = await conn.fetchrow("SELECT * FROM settlement.payout_batches WHERE id = $1", batch_ref)
    if row is None:
        return None
    lines = await conn.fetch(
        "SELECT * FROM settlement.payout_batch_lines WHERE batch_ref = $1 ORDER BY position", batch_ref
    )
    return _batch(row, list(lines))


async def set_status(
    conn: asyncpg.Connection,
    batch_ref: str,
    status: str,
    *,
    failure: str | None = None,
    approval_id: str | None = None,
) -> None:
    """Move a batch to `status`; a batch that is over frees its payouts' lines."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.payout_batches SET status = $2, failure_reason = coalesce($3, failure_reason), "
            "approval_id = coalesce($4, approval_id), updated_at = now() WHERE id = $1",
            batch_ref,
            status,
            failure,
            approval_id,
        )
        if status in OVER:
            await conn.execute("UPDATE settlement.payout_batch_lines SET open = false WHERE batch_ref = $1", batch_ref)


async def set_approval(conn: asyncpg.Connection, batch_ref: str, approval_id: str) -> None:
    """Keep `approval_id` as the approval the batch's newest held version waits for (its status unchanged)."""
    await conn.execute(
        "UPDATE settlement.payout_batches SET approval_id = $2, updated_at = now() WHERE id = $1",
        batch_ref,
        approval_id,
    )


async def versions(conn: asyncpg.Connection, batch_ref: str) -> list[ChainTx]:
    """Every version of a batch's transaction, oldest first."""
    rows = await conn.fetch(_TX_SELECT + " WHERE payout_batch_id = $1 ORDER BY version, id", batch_ref)
    return [_tx(r) for r in rows]


async def store_mined(conn: asyncpg.Connection, batch_ref: str, landed: Landed) -> None:
    """One version has a receipt: it is MINED, its siblings REPLACED, the batch MINED."""
    await owner_mined(conn, PAYOUT_BATCHES, batch_ref, landed)


async def store_unmined(conn: asyncpg.Connection, batch_ref: str) -> None:
    """The block that held the batch was reorged away: back to SENT, every signed version live again."""
    await owner_unmined(conn, PAYOUT_BATCHES, batch_ref)


async def store_replanned(
    conn: asyncpg.Connection,
    batch: PayoutBatch,
    *,
    reason: str,
    new_batch_ref: str | None,
    lines: Sequence[PayoutLine],
    chain_latest: int,
    fees: TxFees,
    batch_id: str,
) -> ChainTx | None:
    """The batch is not sent: its versions ended, it is REPLANNED, and `lines` (if any) form a new batch.

    The new batch takes the key's next free nonce: this batch's own when nothing was signed for it (the signer keeps
    one call per nonce, so a signed nonce is never given to another call); version 0 of it is returned.
    """
    async with conn.transaction():
        # A version never signed is DENIED (nothing signed: its nonce is free again, and the new batch takes it
        # first); a signed one is DROPPED (only when its nonce went to another transaction).
        await conn.execute(
            "UPDATE settlement.chain_transactions SET status = CASE WHEN status = 'SIGNING' THEN 'DENIED' "
            "ELSE 'DROPPED' END, denial_reason = CASE WHEN status = 'SIGNING' THEN $2 ELSE denial_reason END, "
            "updated_at = now() WHERE payout_batch_id = $1 AND status = ANY($3::text[])",
            batch.id,
            f"REPLANNED:{reason}",
            list(LIVE_TX),
        )
        await set_status(conn, batch.id, "REPLANNED", failure=reason)
        if not lines or new_batch_ref is None:
            return None
        assert batch.gas_limit is not None
        tx = await insert_batch(
            conn,
            batch_ref=new_batch_ref,
            chain_id=batch.chain_id,
            key_id=batch.key_id,
            sender_address=batch.sender_address,
            treasury_address=batch.treasury_address,
            token_contract=batch.token_contract,
            batch_id=batch_id,
            initiator_address=batch.initiator_address,
            lines=lines,
            chain_latest=chain_latest,
            gas_limit=batch.gas_limit,
            fees=fees,
            planned_block=batch.planned_block,
        )
        await conn.execute(
            "UPDATE settlement.payout_batches SET replanned_into = $2 WHERE id = $1", batch.id, new_batch_ref
        )
        return tx


async def store_landed(conn: asyncpg.Connection, batch_ref: str, landed: Landed) -> None:
    """Record where the batch's payment landed (its own version, or an earlier send of the same batch id)."""
    await conn.execute(
        "UPDATE settlement.payout_batches SET landed_tx_hash = $2, block_number = $3, block_hash = $4, "
        "updated_at = now() WHERE id = $1",
        batch_ref,
        landed.tx_hash,
        landed.block_number,
        landed.block_hash,
    )


async def known_batch_ids(conn: asyncpg.Connection, chain_id: int, batch_ids: Sequence[str]) -> set[str]:
    """Which of these treasury batch ids some stored batch carries (in any status)."""
    if not batch_ids:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT batch_id FROM settlement.payout_batches WHERE chain_id = $1 AND batch_id = ANY($2::text[])",
        chain_id,
        [b.lower() for b in batch_ids],
    )
    return {str(r["batch_id"]) for r in rows}


async def newest_planned_block(conn: asyncpg.Connection, chain_id: int) -> int | None:
    """Where the search for lost batches starts (None when no batch is stored).

    The newest `planned_block` of any stored batch, but no later than the oldest batch released because its nonce
    was used elsewhere. A batch these rows do not hold (one a lost gateway planned after a backup of them) was
    planned later, so it landed in this block or after it. A batch released because the lost gateway used its
    nonce sends its payouts back to planning, where they must meet that gateway's batch again: a restart between
    the release and that planning, after a newer batch was stored, would otherwise start the search past it (and
    pay them twice).
    """
    value = await conn.fetchval(
        "SELECT least(max(planned_block), min(planned_block) FILTER (WHERE status = 'REPLANNED' "
        "AND failure_reason = 'NONCE_USED_ELSEWHERE')) FROM settlement.payout_batches WHERE chain_id = $1",
        chain_id,
    )
    return None if value is None else int(value)


async def insert_recovered(
    conn: asyncpg.Connection,
    *,
    batch_ref: str,
    chain_id: int,
    key_id: str,
    sender_address: str,
    treasury_address: str,
    token_contract: str,
    batch_id: str,
    lines: Sequence[PayoutLine],
    nonce: int,
    landed: Landed,
    planned_block: int,
) -> None:
    """Store a batch found paid on chain (not in these rows: a restore lost it) as MINED by `landed`.

    It has no chain transaction rows of ours (we never signed it); the tracking pass confirms it at finality.
    """
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO settlement.payout_batches (id, chain_id, key_id, sender_address, treasury_address, "
            "token_contract, batch_id, status, nonce, planned_block, landed_tx_hash, block_number, block_hash, "
            "gas_used, effective_gas_price_wei) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 'MINED', $8, $9, $10, $11, $12, $13, $14)",
            batch_ref,
            chain_id,
            key_id,
            sender_address.lower(),
            treasury_address.lower(),
            token_contract.lower(),
            batch_id.lower(),
            nonce,
            planned_block,
            landed.tx_hash,
            landed.block_number,
            landed.block_hash,
            landed.gas_used,
            landed.effective_gas_price,
        )
        await conn.executemany(
            "INSERT INTO settlement.payout_batch_lines (batch_ref, position, payout_id, destination_address, amount) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(batch_ref, i, x.payout_id, x.destination_address.lower(), x.amount) for i, x in enumerate(lines)],
        )


async def store_paid_unsigned(conn: asyncpg.Connection, batch_ref: str, landed: Landed) -> None:
    """A batch never signed here was paid by a transaction of its batch id: its versions DENIED, it MINED by that."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.chain_transactions SET status = 'DENIED', denial_reason = 'PAID_BY_ANOTHER_SEND', "
            "updated_at = now() WHERE payout_batch_id = $1 AND status = 'SIGNING'",
            batch_ref,
        )
        await store_landed(conn, batch_ref, landed)
        await set_status(conn, batch_ref, "MINED")
