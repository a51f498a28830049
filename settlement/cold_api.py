"""ColdStorageService (operator role): request a move out of the cold Safe, read a move."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc
from stablegate.settlement.v1 import cold_storage_service_pb2 as pb
from stablegate.settlement.v1 import cold_storage_service_pb2_grpc as pb_grpc

from service_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from settlement.cold_mover import HotColdMover
from settlement.store import cold_moves as store
from settlement.store.cold_moves import ColdMove

Context = grpc.aio.ServicerContext[Any, Any]
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
UINT256 = 2**256


def to_message(move: ColdMove) -> pb.ColdMove:
    """A stored move as its message."""
    return pb.ColdMove(
        id=move.id,
        direction=move.direction,
        status=move.status,
        amount_base_units=str(move.amount),
        destination_address=move.destination_address,
        cold_safe_address=move.cold_safe_address,
        approval_id=move.approval_id or "",
        tx_hash=move.landed_tx_hash or "",
        journal_transaction_id=move.journal_transaction_id or "",
        failure_reason=move.failure_reason or "",
    )


def _invalid(field: str, message: str, reason: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


class ColdStorage(pb_grpc.ColdStorageServiceServicer):
    """Moves out of cold, requested by operators; carried out by the hot/cold loop."""

    def __init__(self, mover: Callable[[], HotColdMover | None]) -> None:
        """Serve through the running hot/cold loop (None while it is not enabled or not started)."""
        self._mover = mover

    def _running(self) -> HotColdMover:
        mover = self._mover()
        if mover is None:
            raise FailedPrecondition(
                "hot/cold moves are not enabled here (STABLEGATE_SETTLEMENT_HOT_COLD_ENABLED)",
                reason="HOT_COLD_DISABLED",
            )
        return mover

    async def RequestColdWithdrawal(
        self, request: pb.RequestColdWithdrawalRequest, context: Context
    ) -> pb.RequestColdWithdrawalResponse:
        """Persist a move out of cold (PLANNED); the loop asks the owners and relays it."""
        mover = self._running()
        options = mover.options
        if not _REQUEST_ID.match(request.request_id):
            raise _invalid("request_id", "request_id is 1-200 printable characters", "FIELD_REQUIRED")
        text = request.amount_base_units
        if not text.isdigit() or not 0 < int(text) < UINT256:
            raise _invalid("amount_base_units", "amount_base_units is a positive integer string", "AMOUNT_INVALID")
        amount = int(text)
        if not _ADDRESS.match(request.destination_address):
            raise _invalid("destination_address", "destination_address is a 0x address", "ADDRESS_INVALID")
        if request.destination_address.lower() != options.treasury:
            raise _invalid(
                "destination_address",
                f"a move out of cold goes to the treasury {options.treasury} (the only destination the ledger "
                "has an account for)",
                "DESTINATION_NOT_ALLOWED",
            )
        if request.initiator_address and not _ADDRESS.match(request.initiator_address):
            raise _invalid("initiator_address", "initiator_address is a 0x address", "ADDRESS_INVALID")
        cold_safe = await mover.cold_safe()
        async with mover.pool.acquire() as conn:
            move = await store.insert_withdrawal(
                conn,
                move_id=store.new_move_id(),
                request_id=request.request_id,
                chain_id=options.chain_id,
                key_id=options.key_id,
                sender_address=options.hot_address,
                treasury_address=options.treasury,
                token_contract=options.token,
                cold_safe_address=cold_safe,
                amount=amount,
                initiator_address=request.initiator_address,
            )
        if move is None:
            raise FailedPrecondition(
                "another move out of cold is still open; request this one once it is over",
                reason="COLD_MOVE_IN_PROGRESS",
                metadata={"requestId": request.request_id},
            )
        if move.amount != amount or move.initiator_address != request.initiator_address:
            raise AlreadyExists(
                f"request {request.request_id} was made with other content (move {move.id})",
                reason="REQUEST_ID_REUSED",
                metadata={"requestId": request.request_id, "moveId": move.id},
            )
        return pb.RequestColdWithdrawalResponse(move=to_message(move))

    async def GetColdMove(self, request: pb.GetColdMoveRequest, context: Context) -> pb.GetColdMoveResponse:
        """One move; NOT_FOUND (COLD_MOVE_NOT_FOUND) for an unknown id."""
        async with self._running().pool.acquire() as conn:
            move = await store.get(conn, request.id)
        if move is None:
            raise NotFound(f"no cold move {request.id}", reason="COLD_MOVE_NOT_FOUND", metadata={"id": request.id})
        return pb.GetColdMoveResponse(move=to_message(move))
