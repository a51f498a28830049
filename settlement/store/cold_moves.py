"""Queries over moves between the treasury and the cold Safe (schema `settlement`).

A move's chain transactions are rows of the sweeper's `chain_transactions` (with `cold_move_id` set), so nonces,
signed bytes, broadcasts and versions work exactly as for sweeps (`settlement.store.sweeps`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from settlement.domain.fees import TxFees
from settlement.store.sweeps import (
    _TX_SELECT,
    COLD_MOVES,
    ChainTx,
    Landed,
    _tx,
    drop_versions,
    owner_mined,
    owner_unmined,
    take_nonce,
)

OPEN_MOVE = ("PLANNED", "AWAITING_APPROVAL", "SENT", "MINED")


@dataclass(frozen=True)
class ColdMove:
    """One move as stored."""

    id: str
    chain_id: int
    direction: str
    key_id: str
    sender_address: str
    treasury_address: str
    token_contract: str
    cold_safe_address: str
    amount: int
    initiator_address: str
    status: str
    approval_id: str | None
    nonce: int | None
    gas_limit: int | None
    landed_tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    journal_transaction_id: str | None
    failure_reason: str | None
    destination_address: str = ""
    safe_nonce: int | None = None
    request_id: str | None = None


def new_move_id() -> str:
    """A fresh move id (also the ledger's idempotency key for RecordColdMove)."""
    return "cmv_" + secrets.token_hex(12)


def _move(row: asyncpg.Record) -> ColdMove:
    return ColdMove(
        id=row["id"],
        chain_id=int(row["chain_id"]),
        direction=row["direction"],
        key_id=row["key_id"],
        sender_address=row["sender_address"],
        treasury_address=row["treasury_address"],
        token_contract=row["token_contract"],
        cold_safe_address=row["cold_safe_address"],
        amount=int(row["amount"]),
        initiator_address=row["initiator_address"],
        status=row["status"],
        approval_id=row["approval_id"],
        nonce=None if row["nonce"] is None else int(row["nonce"]),
        gas_limit=None if row["gas_limit"] is None else int(row["gas_limit"]),
        landed_tx_hash=row["landed_tx_hash"],
        block_number=None if row["block_number"] is None else int(row["block_number"]),
        block_hash=row["block_hash"],
        journal_transaction_id=row["journal_transaction_id"],
        failure_reason=row["failure_reason"],
        destination_address=row["destination_address"],
        safe_nonce=None if row["safe_nonce"] is None else int(row["safe_nonce"]),
        request_id=row["request_id"],
    )


async def insert_move(
    conn: asyncpg.Connection,
    *,
    move_id: str,
    chain_id: int,
    key_id: str,
    sender_address: str,
    treasury_address: str,
    token_contract: str,
    cold_safe_address: str,
    amount: int,
    planned_from_balance: int,
    initiator_address: str,
) -> bool:
    """Persist a move into cold (PLANNED); False when one is already open for this treasury (nothing written)."""
    done = await conn.fetchval(
        "INSERT INTO settlement.cold_moves (id, chain_id, direction, key_id, sender_address, treasury_address, "
        "token_contract, cold_safe_address, amount, planned_from_balance, initiator_address, status, "
        "destination_address) VALUES ($1, $2, 'INTO_COLD', $3, $4, $5, $6, $7, $8, $9, $10, 'PLANNED', $7) "
        "ON CONFLICT (chain_id, treasury_address, direction) "
        "WHERE status IN ('PLANNED', 'AWAITING_APPROVAL', 'SENT', 'MINED') DO NOTHING RETURNING id",
        move_id,
        chain_id,
        key_id,
        sender_address.lower(),
        treasury_address.lower(),
        token_contract.lower(),
        cold_safe_address.lower(),
        amount,
        planned_from_balance,
        initiator_address,
    )
    return done is not None


async def moves_in(conn: asyncpg.Connection, chain_id: int, statuses: Sequence[str]) -> list[ColdMove]:
    """Moves in any of `statuses`, oldest first."""
    rows = await conn.fetch(
        "SELECT * FROM settlement.cold_moves WHERE chain_id = $1 AND status = ANY($2::text[]) ORDER BY created_at, id",
        chain_id,
        list(statuses),
    )
    return [_move(r) for r in rows]


async def get(conn: asyncpg.Connection, move_id: str) -> ColdMove | None:
    """One move by id."""
    row = await conn.fetchrow("SELECT * FROM settlement.cold_moves WHERE id = $1", move_id)
    return None if row is None else _move(row)


async def set_status(
    conn: asyncpg.Connection,
    move_id: str,
    status: str,
    *,
    failure: str | None = None,
    approval_id: str | None = None,
) -> None:
    """Move a move to `status` (keeping its approval id unless a new one is given)."""
    await conn.execute(
        "UPDATE settlement.cold_moves SET status = $2, failure_reason = coalesce($3, failure_reason), "
        "approval_id = coalesce($4, approval_id), updated_at = now() WHERE id = $1",
        move_id,
        status,
        failure,
        approval_id,
    )


async def set_approval(conn: asyncpg.Connection, move_id: str, approval_id: str) -> None:
    """Keep `approval_id` as the approval the move's newest held version waits for (its status unchanged)."""
    await conn.execute(
        "UPDATE settlement.cold_moves SET approval_id = $2, updated_at = now() WHERE id = $1", move_id, approval_id
    )


async def start_transaction(
    conn: asyncpg.Connection, move: ColdMove, *, chain_latest: int, gas_limit: int, fees: TxFees
) -> ChainTx:
    """Take the key's next nonce for a move and store version 0 as SIGNING, atomically.

    Only a move without a transaction takes a nonce (under a row lock), so a move gets one nonce, ever.
    """
    async with conn.transaction():
        status = await conn.fetchval("SELECT status FROM settlement.cold_moves WHERE id = $1 FOR UPDATE", move.id)
        if status not in ("PLANNED", "AWAITING_APPROVAL"):
            raise LookupError(f"cold move {move.id} is {status}: it has taken its nonce already")
        taken = await conn.fetchval(
            "SELECT count(*) FROM settlement.chain_transactions WHERE cold_move_id = $1 AND status <> 'DENIED'", move.id
        )
        if taken:
            raise LookupError(f"cold move {move.id} has a transaction already")
        nonce = await take_nonce(conn, move.chain_id, move.sender_address, chain_latest)
        await conn.execute(
            "UPDATE settlement.cold_moves SET nonce = $2, gas_limit = $3, status = 'SENT', updated_at = now() "
            "WHERE id = $1",
            move.id,
            nonce,
            gas_limit,
        )
        return await _insert_version(conn, move, nonce, 0, gas_limit=gas_limit, fees=fees)


async def start_replacement(conn: asyncpg.Connection, move: ColdMove, previous: ChainTx, fees: TxFees) -> ChainTx:
    """Store the next version of a move's nonce (same call, higher fees) as SIGNING."""
    return await _insert_version(
        conn, move, previous.nonce, previous.version + 1, gas_limit=previous.gas_limit, fees=fees
    )


async def _insert_version(
    conn: asyncpg.Connection, move: ColdMove, nonce: int, version: int, *, gas_limit: int, fees: TxFees
) -> ChainTx:
    row = await conn.fetchrow(
        "INSERT INTO settlement.chain_transactions (request_id, chain_id, from_address, nonce, version, cold_move_id, "
        "gas_limit, max_fee_per_gas_wei, max_priority_fee_wei, legacy, status) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'SIGNING') RETURNING *, 0::float8 AS age_seconds",
        f"{move.id}:n{nonce}:v{version}:{secrets.token_hex(4)}",
        move.chain_id,
        move.sender_address,
        nonce,
        version,
        move.id,
        gas_limit,
        fees.max_fee_per_gas,
        fees.max_priority_fee_per_gas,
        fees.legacy,
    )
    assert row is not None
    return _tx(row)


async def versions(conn: asyncpg.Connection, move_id: str) -> list[ChainTx]:
    """Every version of a move's transaction, oldest first."""
    rows = await conn.fetch(_TX_SELECT + " WHERE cold_move_id = $1 ORDER BY version, id", move_id)
    return [_tx(r) for r in rows]


async def store_mined(conn: asyncpg.Connection, move_id: str, landed: Landed) -> None:
    """One version has a receipt: it is MINED, its siblings REPLACED, the move MINED."""
    await owner_mined(conn, COLD_MOVES, move_id, landed)


async def store_unmined(conn: asyncpg.Connection, move_id: str) -> None:
    """The block that held the move was reorged away: back to SENT, every signed version live again."""
    await owner_unmined(conn, COLD_MOVES, move_id)


async def store_dropped(conn: asyncpg.Connection, move_id: str) -> None:
    """The move's nonce was used by a transaction that is none of its versions: it can never land."""
    async with conn.transaction():
        await drop_versions(conn, COLD_MOVES, move_id)
        await set_status(conn, move_id, "DROPPED", failure="NONCE_USED_ELSEWHERE")


async def store_recorded(conn: asyncpg.Connection, move_id: str, moved: int, journal_transaction_id: str) -> None:
    """The ledger booked the move: what moved, the journal id, the move over."""
    await conn.execute(
        "UPDATE settlement.cold_moves SET status = 'RECORDED', moved_amount = $2, journal_transaction_id = $3, "
        "updated_at = now() WHERE id = $1",
        move_id,
        moved,
        journal_transaction_id,
    )


async def insert_withdrawal(
    conn: asyncpg.Connection,
    *,
    move_id: str,
    request_id: str,
    chain_id: int,
    key_id: str,
    sender_address: str,
    treasury_address: str,
    token_contract: str,
    cold_safe_address: str,
    amount: int,
    initiator_address: str,
) -> ColdMove | None:
    """Persist an operator's move out of cold to the treasury (PLANNED); None when another one is open.

    A replayed request id returns the move it made (the caller compares what was asked).
    """
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM settlement.cold_moves WHERE request_id = $1", request_id)
        if row is not None:
            return _move(row)
        done = await conn.fetchval(
            "INSERT INTO settlement.cold_moves (id, chain_id, direction, request_id, key_id, sender_address, "
            "treasury_address, token_contract, cold_safe_address, destination_address, amount, planned_from_balance, "
            "initiator_address, status) VALUES ($1, $2, 'OUT_OF_COLD', $3, $4, $5, $6, $7, $8, $6, $9, 0, $10, "
            "'PLANNED') ON CONFLICT (chain_id, treasury_address, direction) "
            "WHERE status IN ('PLANNED', 'AWAITING_APPROVAL', 'SENT', 'MINED') DO NOTHING RETURNING id",
            move_id,
            chain_id,
            request_id,
            key_id,
            sender_address.lower(),
            treasury_address.lower(),
            token_contract.lower(),
            cold_safe_address.lower(),
            amount,
            initiator_address,
        )
        if done is None:
            return None
        return await get(conn, move_id)


@dataclass(frozen=True)
class OwnerSignature:
    """One COLD_OWNER key's signature of a move out of cold, as stored."""

    key_id: str
    owner_address: str
    request_id: str
    status: str
    approval_id: str | None
    signature: str | None


async def start_owner_requests(
    conn: asyncpg.Connection, move_id: str, safe_nonce: int, owners: Sequence[tuple[str, str]]
) -> None:
    """Fix the Safe nonce the owners sign for and store one SIGNING request per (key id, owner address)."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.cold_moves SET safe_nonce = $2, updated_at = now() WHERE id = $1 AND safe_nonce IS NULL",
            move_id,
            safe_nonce,
        )
        await conn.executemany(
            "INSERT INTO settlement.cold_move_owner_signatures (move_id, key_id, owner_address, request_id, status) "
            "VALUES ($1, $2, $3, $4, 'SIGNING') ON CONFLICT DO NOTHING",
            [(move_id, key, owner.lower(), f"{move_id}:owner:{key}") for key, owner in owners],
        )


async def owner_signatures(conn: asyncpg.Connection, move_id: str) -> list[OwnerSignature]:
    """The owners' requests of a move, by key id."""
    rows = await conn.fetch(
        "SELECT * FROM settlement.cold_move_owner_signatures WHERE move_id = $1 ORDER BY key_id", move_id
    )
    return [
        OwnerSignature(r["key_id"], r["owner_address"], r["request_id"], r["status"], r["approval_id"], r["signature"])
        for r in rows
    ]


async def store_owner_answer(
    conn: asyncpg.Connection,
    move_id: str,
    key_id: str,
    *,
    status: str,
    approval_id: str | None = None,
    signature: str | None = None,
    safe_tx_hash: str | None = None,
    denial: str | None = None,
) -> None:
    """Store what the signer answered one owner's request."""
    await conn.execute(
        "UPDATE settlement.cold_move_owner_signatures SET status = $3, approval_id = coalesce($4, approval_id), "
        "signature = $5, safe_tx_hash = $6, denial_reason = $7, updated_at = now() WHERE move_id = $1 AND key_id = $2",
        move_id,
        key_id,
        status,
        approval_id,
        signature,
        safe_tx_hash,
        denial,
    )
