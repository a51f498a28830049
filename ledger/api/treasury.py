"""Internal TreasuryLedgerService: settlement books final hot/cold moves and BNB top-ups of its signing keys."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.ledger.v1 import treasury_ledger_service_pb2 as pb
from stablegate.ledger.v1 import treasury_ledger_service_pb2_grpc as pb_grpc

from ledger.api.sweeps import MAX_BLOCK_NUMBER, MAX_SWEEP_ID, _hash, _required, _wei
from ledger.core import LedgerCore
from ledger.domain.addresses import parse_address
from ledger.domain.money import parse_base_units
from ledger.sweeps import SweepBook
from ledger.treasury_moves import ColdMoveReport, TopUpReport, TreasuryBook
from service_runtime.errors import InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]


def _block(number: int) -> int:
    if number == 0:
        raise _required("block_number is required", "block_number")
    if number > MAX_BLOCK_NUMBER:
        raise InvalidArgument("block_number is out of range", reason="OUT_OF_RANGE", metadata={"field": "block_number"})
    return number


def parse_cold_move(request: pb.RecordColdMoveRequest) -> ColdMoveReport:
    """Validate a RecordColdMove request; each error names its field."""
    if not request.move_id:
        raise _required("move_id is required", "move_id")
    if len(request.move_id) > MAX_SWEEP_ID or not request.move_id.isprintable() or " " in request.move_id:
        raise InvalidArgument(
            f"move_id must be 1 to {MAX_SWEEP_ID} printable characters without spaces",
            reason="MOVE_ID_INVALID",
            metadata={"field": "move_id"},
        )
    if request.direction == pb.COLD_MOVE_DIRECTION_UNSPECIFIED:
        raise _required("direction is required", "direction")
    if request.gas_used > MAX_BLOCK_NUMBER:
        raise InvalidArgument("gas_used is out of range", reason="OUT_OF_RANGE", metadata={"field": "gas_used"})
    if not request.effective_gas_price_wei:
        raise _required("effective_gas_price_wei is required (0 if the chain charged none)", "effective_gas_price_wei")
    return ColdMoveReport(
        move_id=request.move_id,
        chain_id=request.chain_id,
        into_cold=request.direction == pb.COLD_MOVE_DIRECTION_INTO_COLD,
        tx_hash=_hash(request.tx_hash, "tx_hash"),
        block_number=_block(request.block_number),
        block_hash=_hash(request.block_hash, "block_hash"),
        sender_address=parse_address(request.sender_address.lower(), field="sender_address"),
        amount=parse_base_units(request.amount_base_units, field="amount_base_units"),
        gas_used=request.gas_used,
        effective_gas_price_wei=_wei(request.effective_gas_price_wei, "effective_gas_price_wei"),
    )


def parse_top_up(request: pb.RecordGasTopUpRequest) -> TopUpReport:
    """Validate a RecordGasTopUp request; each error names its field."""
    return TopUpReport(
        chain_id=request.chain_id,
        tx_hash=_hash(request.tx_hash, "tx_hash"),
        block_number=_block(request.block_number),
        block_hash=_hash(request.block_hash, "block_hash"),
        from_address=parse_address(request.from_address.lower(), field="from_address"),
        key_address=parse_address(request.key_address.lower(), field="key_address"),
        amount_wei=parse_base_units(request.amount_wei, field="amount_wei"),
    )


class TreasuryLedger(pb_grpc.TreasuryLedgerServiceServicer):
    """Book final hot/cold moves and BNB top-ups (settlement only)."""

    def __init__(self, core: LedgerCore) -> None:
        """Serve on the ledger's shared core (pool, chain terms)."""
        self.core = core

    def _check_chain(self, chain_id: int) -> None:
        SweepBook(self.core.pool, chain_id=self.core.terms.chain_id, asset=self.core.settings.asset).check_chain(
            chain_id
        )

    def _book(self) -> TreasuryBook:
        return TreasuryBook(self.core.pool, asset=self.core.settings.asset)

    async def RecordColdMove(self, request: pb.RecordColdMoveRequest, context: Context) -> pb.RecordColdMoveResponse:
        """Book a final move between the treasury and the cold Safe; idempotent by move_id."""
        self._check_chain(request.chain_id)
        done = await self._book().record_cold_move(parse_cold_move(request))
        return pb.RecordColdMoveResponse(
            journal_transaction_id=str(done.journal_transaction_id), already_recorded=done.already_recorded
        )

    async def RecordGasTopUp(self, request: pb.RecordGasTopUpRequest, context: Context) -> pb.RecordGasTopUpResponse:
        """Book a final BNB top-up of a signing key; idempotent by its transaction hash."""
        self._check_chain(request.chain_id)
        done = await self._book().record_top_up(parse_top_up(request))
        return pb.RecordGasTopUpResponse(
            journal_transaction_id=str(done.journal_transaction_id), already_recorded=done.already_recorded
        )
