"""Booking the platform's own money moves once final on chain: hot/cold moves and BNB top-ups of signing keys.

Settlement reads the final receipt (or transaction) and reports it; the ledger books it once, in one Postgres
transaction with its row and an operator outbox event (`cold_move.recorded`, `gas_top_up.recorded`):

| report | journal |
|---|---|
| a move into cold | Dr cold_storage / Cr treasury (tokens), Dr gas_expense / Cr gas_float (BNB) |
| a move out of cold | Dr treasury / Cr cold_storage (tokens), Dr gas_expense / Cr gas_float (BNB) |
| a BNB top-up of a signing key | Dr gas_float / Cr platform_capital (BNB) |

A move is idempotent by its move id and a transaction is booked under one move id only; a top-up is idempotent
by its transaction hash. A replay with other content is ALREADY_EXISTS, never a silent no-op.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import asyncpg

from ledger.domain import postings
from ledger.payments import retrying
from ledger.store import journal, outbox
from service_runtime.errors import AlreadyExists

COLD_MOVE_EVENT = "cold_move.recorded"
"""Outbox event written when a hot/cold move is booked (operator-level: no merchant)."""
TOP_UP_EVENT = "gas_top_up.recorded"
"""Outbox event written when a BNB top-up of a signing key is booked (operator-level)."""


def _digest(body: dict[str, object]) -> bytes:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).digest()


@dataclass(frozen=True)
class ColdMoveReport:
    """A validated RecordColdMove request."""

    move_id: str
    chain_id: int
    into_cold: bool
    tx_hash: str
    block_number: int
    block_hash: str
    sender_address: str
    amount: int
    gas_used: int
    effective_gas_price_wei: int

    @property
    def gas_wei(self) -> int:
        """What the gas cost, in wei."""
        return self.gas_used * self.effective_gas_price_wei

    @property
    def direction(self) -> str:
        """INTO_COLD or OUT_OF_COLD (as stored)."""
        return "INTO_COLD" if self.into_cold else "OUT_OF_COLD"


@dataclass(frozen=True)
class TopUpReport:
    """A validated RecordGasTopUp request."""

    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    from_address: str
    key_address: str
    amount_wei: int


@dataclass(frozen=True)
class Booked:
    """What a Record call did (or had done, for a replay)."""

    journal_transaction_id: int
    already_recorded: bool


class TreasuryBook:
    """Books hot/cold moves of one token and top-ups in the native asset, on one chain."""

    def __init__(self, pool: asyncpg.Pool, *, asset: str) -> None:
        """Book moves of `asset` in the database behind `pool`."""
        self.pool = pool
        self.asset = asset

    async def record_cold_move(self, report: ColdMoveReport) -> Booked:
        """Book a final move once (see the module docstring)."""
        return await retrying(lambda: self._cold_move_once(report))

    async def _cold_move_once(self, report: ColdMoveReport) -> Booked:
        digest = _digest(asdict(report))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ledger.cold_move:' || $1))", report.move_id)
            stored = await conn.fetchrow(
                "SELECT request_hash, journal_transaction_id FROM ledger.cold_moves WHERE id = $1", report.move_id
            )
            if stored is not None:
                if bytes(stored["request_hash"]) != digest:
                    raise AlreadyExists(
                        f"cold move {report.move_id} was already recorded with another request",
                        reason="COLD_MOVE_ID_REUSED",
                        metadata={"field": "move_id", "moveId": report.move_id},
                    )
                return Booked(int(stored["journal_transaction_id"]), already_recorded=True)
            other = await conn.fetchval(
                "SELECT id FROM ledger.cold_moves WHERE chain_id = $1 AND tx_hash = $2", report.chain_id, report.tx_hash
            )
            if other is not None:
                raise AlreadyExists(
                    f"transaction {report.tx_hash} is already booked as cold move {other}",
                    reason="COLD_MOVE_TX_ALREADY_RECORDED",
                    metadata={"field": "tx_hash", "moveId": str(other), "txHash": report.tx_hash},
                )
            posting = postings.cold_move(self.asset, report.amount, report.gas_wei, into_cold=report.into_cold)
            tx = await journal.post(conn, posting, request_id=f"cold_move:{report.move_id}")
            if tx is None:
                raise AlreadyExists(
                    f"the journal already holds a posting for cold move {report.move_id}",
                    reason="COLD_MOVE_ID_REUSED",
                    metadata={"field": "move_id", "moveId": report.move_id},
                )
            await conn.execute(
                "INSERT INTO ledger.cold_moves (id, request_hash, chain_id, direction, tx_hash, block_number, "
                "block_hash, sender_address, asset, amount, gas_used, effective_gas_price_wei, journal_transaction_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                report.move_id,
                digest,
                report.chain_id,
                report.direction,
                report.tx_hash,
                report.block_number,
                report.block_hash,
                report.sender_address,
                self.asset,
                report.amount,
                report.gas_used,
                report.effective_gas_price_wei,
                tx,
            )
            await outbox.append(
                conn,
                event_type=COLD_MOVE_EVENT,
                merchant_id=None,
                subject_id=report.move_id,
                data={
                    "move_id": report.move_id,
                    "direction": report.direction,
                    "chain_id": report.chain_id,
                    "tx_hash": report.tx_hash,
                    "block_number": report.block_number,
                    "asset": self.asset,
                    "amount_base_units": str(report.amount),
                    "gas_asset": postings.GAS_ASSET,
                    "gas_wei": str(report.gas_wei),
                    "journal_transaction_id": str(tx),
                },
                event_id=f"evt_cold_move_{hashlib.sha256(report.move_id.encode()).hexdigest()[:24]}",
            )
            return Booked(tx, already_recorded=False)

    async def record_top_up(self, report: TopUpReport) -> Booked:
        """Book a final BNB top-up once, by its transaction hash."""
        return await retrying(lambda: self._top_up_once(report))

    async def _top_up_once(self, report: TopUpReport) -> Booked:
        digest = _digest(asdict(report))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ledger.gas_top_up:' || $1))", report.tx_hash)
            stored = await conn.fetchrow(
                "SELECT request_hash, journal_transaction_id FROM ledger.gas_top_ups WHERE chain_id = $1 "
                "AND tx_hash = $2",
                report.chain_id,
                report.tx_hash,
            )
            if stored is not None:
                if bytes(stored["request_hash"]) != digest:
                    raise AlreadyExists(
                        f"top-up {report.tx_hash} was already recorded with other figures",
                        reason="TOP_UP_ALREADY_RECORDED",
                        metadata={"field": "tx_hash", "txHash": report.tx_hash},
                    )
                return Booked(int(stored["journal_transaction_id"]), already_recorded=True)
            tx = await journal.post(
                conn, postings.gas_top_up(report.amount_wei), request_id=f"gas_top_up:{report.tx_hash}"
            )
            if tx is None:
                raise AlreadyExists(
                    f"the journal already holds a posting for top-up {report.tx_hash}",
                    reason="TOP_UP_ALREADY_RECORDED",
                    metadata={"field": "tx_hash", "txHash": report.tx_hash},
                )
            await conn.execute(
                "INSERT INTO ledger.gas_top_ups (chain_id, tx_hash, request_hash, block_number, block_hash, "
                "from_address, key_address, amount_wei, journal_transaction_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                report.chain_id,
                report.tx_hash,
                digest,
                report.block_number,
                report.block_hash,
                report.from_address,
                report.key_address,
                report.amount_wei,
                tx,
            )
            await outbox.append(
                conn,
                event_type=TOP_UP_EVENT,
                merchant_id=None,
                subject_id=report.tx_hash,
                data={
                    "chain_id": report.chain_id,
                    "tx_hash": report.tx_hash,
                    "block_number": report.block_number,
                    "from_address": report.from_address,
                    "key_address": report.key_address,
                    "asset": postings.GAS_ASSET,
                    "amount_wei": str(report.amount_wei),
                    "journal_transaction_id": str(tx),
                },
                event_id=f"evt_top_up_{hashlib.sha256(report.tx_hash.encode()).hexdigest()[:24]}",
            )
            return Booked(tx, already_recorded=False)
