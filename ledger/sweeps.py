"""Booking settlement's sweeps: what the sweeper should flush, and a final sweep's journal transaction.

A sweep is recorded once its transaction is final, in one Postgres transaction: the journal transaction (Dr
treasury / Cr chain_clearing for the tokens moved, Dr gas_expense / Cr gas_float for the gas in BNB), the sweep
row with what moved per address, the payments it moved marked with it, and a `sweep.recorded` outbox event for
operators. Idempotent by the sweep id; the transaction hash can be booked under one sweep id only.

Which payments a sweep moved: a forwarder flush moves the address's whole balance, so every payment at a swept
address in a block at or below the sweep's block that no earlier sweep moved: FINAL ones, and also SEEN ones (a
final sweep block means their block is final too; the watcher's finality report may simply lag) and UNALLOCATED
ones (tokens held for no invoice sit at the same forwarder). The moved amount must cover at least the FINAL ones;
anything beyond what the ledger knows at the address (a transfer the watcher has not reported yet) is booked as
moved all the same (the chain says so) and reported as `surplus_base_units` in the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ledger.domain import postings
from ledger.payments import retrying
from ledger.store import invoices as invoice_store
from ledger.store import journal, outbox
from ledger.store import sweeps as sweep_store
from service_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument

SWEPT_EVENT = "sweep.recorded"
"""Outbox event written when a sweep is booked (operator-level: no merchant)."""


@dataclass(frozen=True)
class SweepReport:
    """A validated RecordSweep request: a final sweep transaction and what it moved per deposit address."""

    sweep_id: str
    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    sweeper_address: str
    gas_used: int
    effective_gas_price_wei: int
    swept: tuple[tuple[str, int], ...]
    """(checksummed deposit address, base units moved), each address once."""

    @property
    def amount(self) -> int:
        """Total tokens moved, base units."""
        return sum(amount for _address, amount in self.swept)

    @property
    def gas_wei(self) -> int:
        """What the gas cost, in wei."""
        return self.gas_used * self.effective_gas_price_wei

    def digest(self) -> bytes:
        """SHA-256 of the whole report, normalized: what makes a replay 'the same request'."""
        body = {
            "sweep_id": self.sweep_id,
            "chain_id": self.chain_id,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "sweeper_address": self.sweeper_address,
            "gas_used": self.gas_used,
            "effective_gas_price_wei": str(self.effective_gas_price_wei),
            "swept": sorted([address, str(amount)] for address, amount in self.swept),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).digest()


@dataclass(frozen=True)
class SweepRecorded:
    """What RecordSweep did (or had done, for a replay)."""

    journal_transaction_id: int
    already_recorded: bool
    payment_ids: tuple[str, ...]


def journal_request_id(sweep_id: str) -> str:
    """The journal request id of a sweep's posting."""
    return f"sweep:{sweep_id}"


class SweepBook:
    """Lists sweepable deposits and books final sweeps for one configured chain and token."""

    def __init__(self, pool: asyncpg.Pool, *, chain_id: int, asset: str) -> None:
        """Book sweeps of `asset` on `chain_id` in the database behind `pool`."""
        self.pool = pool
        self.chain_id = chain_id
        self.asset = asset

    def check_chain(self, chain_id: int) -> None:
        """INVALID_ARGUMENT (`CHAIN_MISMATCH`) unless `chain_id` is this ledger's chain."""
        if chain_id != self.chain_id:
            raise InvalidArgument(
                f"chain_id {chain_id} is not this ledger's chain ({self.chain_id})",
                reason="CHAIN_MISMATCH",
                metadata={"field": "chain_id"},
            )

    async def sweepable(self, after: tuple[int, str] | None, limit: int) -> list[sweep_store.SweepableDeposit]:
        """A page of addresses with FINAL unswept payments, oldest first."""
        async with self.pool.acquire() as conn:
            return await sweep_store.sweepable_page(conn, self.chain_id, after, limit)

    async def record(self, report: SweepReport) -> SweepRecorded:
        """Book a final sweep once (see the module docstring); a deadlock or serialization loss is retried."""
        self.check_chain(report.chain_id)
        return await retrying(lambda: self._record_once(report))

    async def _record_once(self, report: SweepReport) -> SweepRecorded:
        digest = report.digest()
        async with self.pool.acquire() as conn, conn.transaction():
            # Serialise work on one sweep id: a concurrent twin waits here, then finds the first one recorded.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ledger.sweep:' || $1))", report.sweep_id)
            stored = await sweep_store.get(conn, report.sweep_id)
            if stored is not None:
                return _replay(stored, digest)
            other = await sweep_store.id_by_tx(conn, report.chain_id, report.tx_hash)
            if other is not None:
                raise AlreadyExists(
                    f"transaction {report.tx_hash} is already booked as sweep {other}",
                    reason="SWEEP_TX_ALREADY_RECORDED",
                    metadata={"field": "tx_hash", "sweepId": other, "txHash": report.tx_hash},
                )
            payment_ids, details = await self._moved_payments(conn, report)
            posting = postings.sweep(self.asset, report.amount, report.gas_wei)
            tx = await journal.post(conn, posting, request_id=journal_request_id(report.sweep_id))
            if tx is None:
                raise AlreadyExists(
                    f"the journal already holds a sweep posting for {report.sweep_id}",
                    reason="SWEEP_ID_REUSED",
                    metadata={"field": "sweep_id", "sweepId": report.sweep_id},
                )
            await sweep_store.insert(
                conn,
                sweep_store.NewSweep(
                    id=report.sweep_id,
                    request_hash=digest,
                    chain_id=report.chain_id,
                    tx_hash=report.tx_hash,
                    block_number=report.block_number,
                    block_hash=report.block_hash,
                    sweeper_address=report.sweeper_address,
                    gas_used=report.gas_used,
                    effective_gas_price_wei=report.effective_gas_price_wei,
                    amount=report.amount,
                    journal_transaction_id=tx,
                    payment_ids=payment_ids,
                    deposits=report.swept,
                ),
            )
            await outbox.append(
                conn,
                event_type=SWEPT_EVENT,
                merchant_id=None,
                subject_id=report.sweep_id,
                data={
                    "sweep_id": report.sweep_id,
                    "chain_id": report.chain_id,
                    "tx_hash": report.tx_hash,
                    "block_number": report.block_number,
                    "asset": self.asset,
                    "amount_base_units": str(report.amount),
                    "gas_asset": postings.GAS_ASSET,
                    "gas_wei": str(report.gas_wei),
                    "journal_transaction_id": str(tx),
                    "deposits": details,
                },
                event_id=f"evt_sweep_{hashlib.sha256(report.sweep_id.encode()).hexdigest()[:24]}",
            )
            return SweepRecorded(tx, already_recorded=False, payment_ids=payment_ids)

    async def _moved_payments(
        self, conn: asyncpg.Connection, report: SweepReport
    ) -> tuple[tuple[str, ...], list[dict[str, str]]]:
        """Lock the swept addresses' invoices and payments; the payments moved, and per-address figures.

        Refuses an address that is no deposit address, and an amount short of the FINAL unswept payments there.
        """
        # Lock order as everywhere: invoices (here by address, a fixed order between sweeps), then their payments,
        # then accounts (journal.post).
        index = {address: i for i, (address, _amount) in enumerate(report.swept)}
        moved: list[str] = []
        details: list[dict[str, str]] = []
        for address, amount in sorted(report.swept):
            field = f"swept[{index[address]}].deposit_address"
            invoice = await invoice_store.get_by_address(conn, address)
            if invoice is None:
                raise InvalidArgument(
                    f"{address} is not a deposit address of this ledger",
                    reason="NOT_A_DEPOSIT_ADDRESS",
                    metadata={"field": field, "depositAddress": address},
                )
            held = await sweep_store.lock_unswept_at(conn, report.chain_id, address, report.block_number)
            final = sum(p.amount for p in held if p.status == "FINAL")
            known = sum(p.amount for p in held)
            if amount < final:
                raise FailedPrecondition(
                    f"the sweep moved {amount} base units from {address}, less than the {final} its final unswept "
                    "payments hold; the report contradicts the ledger",
                    reason="SWEEP_AMOUNT_SHORT",
                    metadata={
                        "field": f"swept[{index[address]}].amount_base_units",
                        "depositAddress": address,
                        "movedBaseUnits": str(amount),
                        "finalUnsweptBaseUnits": str(final),
                    },
                )
            moved += [p.id for p in held]
            details.append(
                {
                    "deposit_address": address,
                    "invoice_id": invoice.id,
                    "amount_base_units": str(amount),
                    "final_base_units": str(final),
                    "surplus_base_units": str(max(amount - known, 0)),
                }
            )
        return tuple(moved), details


def _replay(stored: sweep_store.StoredSweep, digest: bytes) -> SweepRecorded:
    if stored.request_hash != digest:
        raise AlreadyExists(
            f"sweep {stored.id} was already recorded with another request",
            reason="SWEEP_ID_REUSED",
            metadata={"field": "sweep_id", "sweepId": stored.id},
        )
    return SweepRecorded(stored.journal_transaction_id, already_recorded=True, payment_ids=stored.payment_ids)


def unique_addresses(addresses: Sequence[str]) -> int | None:
    """The index of the first address listed twice, or None."""
    seen: set[str] = set()
    for i, address in enumerate(addresses):
        if address in seen:
            return i
        seen.add(address)
    return None
