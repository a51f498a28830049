"""Internal SweepLedgerService: settlement's sweeper learns what to flush and books what it flushed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import grpc
from stablegate.ledger.v1 import sweep_ledger_service_pb2 as pb
from stablegate.ledger.v1 import sweep_ledger_service_pb2_grpc as pb_grpc

from ledger.core import LedgerCore
from ledger.domain.addresses import invoice_salt, parse_address
from ledger.domain.money import parse_base_units
from ledger.payments import retrying
from ledger.store import stray as stray_store
from ledger.stray import mark_quarantined
from ledger.sweeps import SweepBook, SweepReport, unique_addresses
from service_runtime.errors import InvalidArgument
from service_runtime.pagination import decode_token, encode_token, page_size

Context = grpc.aio.ServicerContext[Any, Any]
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
MAX_BLOCK_NUMBER = 2**63 - 1  # Postgres bigint
MAX_SWEEP_ID = 200
MAX_SWEPT = 10_000
_SWEEP_ID = re.compile(r"^[\x21-\x7e]+$")


def _required(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason="FIELD_REQUIRED", metadata={"field": field})


def _hash(value: str, field: str) -> str:
    lowered = value.lower()
    if not _HASH.match(lowered):
        raise InvalidArgument(f"{field} must be 0x and 64 hex digits", reason="HASH_INVALID", metadata={"field": field})
    return lowered


def _wei(text: str, field: str) -> int:
    """A non-negative integer string of wei (0 allowed: a chain may charge no gas)."""
    return 0 if text == "0" else parse_base_units(text, field=field)


def parse_sweep(request: pb.RecordSweepRequest) -> SweepReport:
    """Validate a RecordSweep request before it touches the ledger: every field checked, each error names it."""
    if not request.sweep_id:
        raise _required("sweep_id is required", "sweep_id")
    if len(request.sweep_id) > MAX_SWEEP_ID or not _SWEEP_ID.match(request.sweep_id):
        raise InvalidArgument(
            f"sweep_id must be 1 to {MAX_SWEEP_ID} printable ASCII characters without spaces",
            reason="SWEEP_ID_INVALID",
            metadata={"field": "sweep_id"},
        )
    if request.block_number == 0:
        raise _required("block_number is required", "block_number")
    if request.block_number > MAX_BLOCK_NUMBER:
        raise InvalidArgument("block_number is out of range", reason="OUT_OF_RANGE", metadata={"field": "block_number"})
    if request.gas_used > MAX_BLOCK_NUMBER:
        raise InvalidArgument("gas_used is out of range", reason="OUT_OF_RANGE", metadata={"field": "gas_used"})
    if not request.effective_gas_price_wei:
        raise _required("effective_gas_price_wei is required (0 if the chain charged none)", "effective_gas_price_wei")
    if not request.swept:
        raise _required("swept must list what moved from each deposit address", "swept")
    if len(request.swept) > MAX_SWEPT:
        raise InvalidArgument(
            f"at most {MAX_SWEPT} swept deposits per sweep", reason="TOO_MANY_SWEPT", metadata={"field": "swept"}
        )
    swept = tuple(
        (
            parse_address(item.deposit_address.lower(), field=f"swept[{i}].deposit_address"),
            parse_base_units(item.amount_base_units, field=f"swept[{i}].amount_base_units"),
        )
        for i, item in enumerate(request.swept)
    )
    repeated = unique_addresses([address for address, _amount in swept])
    if repeated is not None:
        raise InvalidArgument(
            f"swept[{repeated}].deposit_address is listed twice; give each address once with what moved from it",
            reason="DEPOSIT_ADDRESS_REPEATED",
            metadata={"field": f"swept[{repeated}].deposit_address"},
        )
    return SweepReport(
        sweep_id=request.sweep_id,
        chain_id=request.chain_id,
        tx_hash=_hash(request.tx_hash, "tx_hash"),
        block_number=request.block_number,
        block_hash=_hash(request.block_hash, "block_hash"),
        sweeper_address=parse_address(request.sweeper_address.lower(), field="sweeper_address"),
        gas_used=request.gas_used,
        effective_gas_price_wei=_wei(request.effective_gas_price_wei, "effective_gas_price_wei"),
        swept=swept,
    )


class SweepLedger(pb_grpc.SweepLedgerServiceServicer):
    """List sweepable deposit addresses and book final sweeps (settlement's sweeper only)."""

    def __init__(self, core: LedgerCore) -> None:
        """Serve on the ledger's shared core (pool, chain terms)."""
        self.core = core

    def _book(self) -> SweepBook:
        terms = self.core.terms
        return SweepBook(self.core.pool, chain_id=terms.chain_id, asset=self.core.settings.asset)

    async def ListSweepableDeposits(
        self, request: pb.ListSweepableDepositsRequest, context: Context
    ) -> pb.ListSweepableDepositsResponse:
        """Addresses with FINAL payments no sweep has moved, oldest first; paged by (oldest block, address)."""
        book = self._book()
        book.check_chain(request.chain_id)
        limit = page_size(request.page_size, default=500, maximum=5000)
        scope = f"sweepable|{book.chain_id}"
        position = decode_token(request.page_token, scope)
        after: tuple[int, str] | None = None
        if position is not None:
            block, address = position.get("b"), position.get("a")
            if not isinstance(block, int) or not isinstance(address, str):
                raise InvalidArgument(
                    "page_token is corrupt", reason="PAGE_TOKEN_INVALID", metadata={"field": "page_token"}
                )
            after = (block, address)
        rows = await book.sweepable(after, limit)
        deposits = [
            pb.SweepableDeposit(
                deposit_address=row.deposit_address,
                salt="0x" + invoice_salt(row.invoice_id).hex(),
                invoice_id=row.invoice_id,
                final_amount_base_units=str(row.amount),
                payment_ids=list(row.payment_ids),
                oldest_block_number=row.oldest_block,
            )
            for row in rows
        ]
        token = (
            encode_token({"b": rows[-1].oldest_block, "a": rows[-1].deposit_address}, scope)
            if len(rows) == limit
            else ""
        )
        return pb.ListSweepableDepositsResponse(deposits=deposits, next_page_token=token)

    async def RecordSweep(self, request: pb.RecordSweepRequest, context: Context) -> pb.RecordSweepResponse:
        """Book a final sweep and its gas, mark what it moved as swept; idempotent by sweep_id."""
        book = self._book()
        book.check_chain(request.chain_id)
        done = await book.record(parse_sweep(request))
        return pb.RecordSweepResponse(
            journal_transaction_id=str(done.journal_transaction_id),
            already_recorded=done.already_recorded,
            swept_payment_ids=list(done.payment_ids),
        )

    async def ListRequestedQuarantines(
        self, request: pb.ListRequestedQuarantinesRequest, context: Context
    ) -> pb.ListRequestedQuarantinesResponse:
        """Stray tokens an admin asked to quarantine, not yet quarantined, oldest request first."""
        book = self._book()
        book.check_chain(request.chain_id)
        limit = page_size(request.page_size, default=500, maximum=5000)
        scope = f"quarantines|{book.chain_id}"
        position = decode_token(request.page_token, scope)
        after: tuple[dt.datetime, str] | None = None
        if position is not None:
            at, stray_id = position.get("t"), position.get("i")
            if not isinstance(at, str) or not isinstance(stray_id, str):
                raise InvalidArgument(
                    "page_token is corrupt", reason="PAGE_TOKEN_INVALID", metadata={"field": "page_token"}
                )
            after = (dt.datetime.fromisoformat(at), stray_id)
        async with self.core.pool.acquire() as conn:
            rows = await stray_store.requested_quarantines(conn, book.chain_id, after, limit)
        quarantines = [
            pb.RequestedQuarantine(
                stray_id=row.id,
                deposit_address=row.deposit_address.lower(),
                salt="0x" + invoice_salt(row.invoice_id).hex(),
                invoice_id=row.invoice_id,
                token_contract=row.token_contract.lower(),
                amount_base_units=str(row.amount),
            )
            for row in rows
        ]
        token = (
            encode_token({"t": rows[-1].request_time.isoformat(), "i": rows[-1].id}, scope)
            if len(rows) == limit
            else ""
        )
        return pb.ListRequestedQuarantinesResponse(quarantines=quarantines, next_page_token=token)

    async def MarkQuarantined(self, request: pb.MarkQuarantinedRequest, context: Context) -> pb.MarkQuarantinedResponse:
        """A requested stray token's move is final: QUARANTINED and `stray.quarantined`, once; idempotent."""
        book = self._book()
        book.check_chain(request.chain_id)
        if not request.stray_id:
            raise _required("stray_id is required", "stray_id")
        tx_hash = _hash(request.tx_hash, "tx_hash")
        if request.block_number == 0:
            raise _required("block_number is required", "block_number")
        if request.block_number > MAX_BLOCK_NUMBER:
            raise InvalidArgument(
                "block_number is out of range", reason="OUT_OF_RANGE", metadata={"field": "block_number"}
            )
        if not request.moved_base_units:
            raise _required("moved_base_units is required (0 if nothing was left to move)", "moved_base_units")
        moved = _wei(request.moved_base_units, "moved_base_units")

        async def step() -> bool:
            async with self.core.pool.acquire() as conn, conn.transaction():
                return await mark_quarantined(
                    conn,
                    chain_id=book.chain_id,
                    stray_id=request.stray_id,
                    tx_hash=tx_hash,
                    block_number=request.block_number,
                    moved=moved,
                    now=self.core.now(),
                )

        return pb.MarkQuarantinedResponse(already_quarantined=await retrying(step))
