"""Payout servicers: the merchant's PayoutService and settlement's internal PayoutLedgerService."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.merchant.v1 import payout_pb2
from stablegate.merchant.v1 import payout_service_pb2 as pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id, principal
from ledger.api.convert import from_timestamp, payout_message, request_hash
from ledger.api.invoices import idempotency_key
from ledger.core import LedgerCore
from ledger.domain import invoices as rules
from ledger.domain import payout_schedules as schedule_rules
from ledger.domain.addresses import parse_address
from ledger.domain.ids import new_id
from ledger.domain.money import format_amount, parse_amount, parse_non_negative_amount
from ledger.payouts import NewPayout
from ledger.store import payouts as store
from service_runtime.errors import InvalidArgument
from service_runtime.pagination import (
    decode_token,
    encode_token,
    newest_first_next_token,
    newest_first_position,
    page_size,
)

Context = grpc.aio.ServicerContext[Any, Any]
TX_HASH_LENGTH = 66
RESERVED_REQUEST_PREFIXES = (schedule_rules.REQUEST_PREFIX, "auto_refund:")
"""Request id prefixes of payouts the ledger makes itself; a merchant's CreatePayout may not use them."""


def _asset(core: LedgerCore, asset: str) -> None:
    if asset and asset != core.terms.asset:
        raise InvalidArgument(
            f"asset must be {core.terms.asset}", reason="ASSET_UNSUPPORTED", metadata={"field": "asset"}
        )


def _amount(core: LedgerCore, amount: str) -> int:
    if not amount:
        raise InvalidArgument(
            'amount is required, e.g. "250.00"', reason="FIELD_REQUIRED", metadata={"field": "amount"}
        )
    return parse_amount(amount, core.terms.token_decimals, field="amount")


def _own_request_id(value: str) -> str:
    """A merchant's request id: `schedule:…` and `auto_refund:…` are the ledger's own (its automatic payouts)."""
    if value.startswith(RESERVED_REQUEST_PREFIXES):
        raise InvalidArgument(
            f"request_id may not start with {' or '.join(RESERVED_REQUEST_PREFIXES)} (kept for the ledger's own)",
            reason="REQUEST_ID_RESERVED",
            metadata={"field": "request_id"},
        )
    return value


class Payouts(pb_grpc.PayoutServiceServicer):
    """Quote, create, read, list and cancel the calling merchant's payouts."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def GetPayoutQuote(self, request: pb.GetPayoutQuoteRequest, context: Context) -> pb.GetPayoutQuoteResponse:
        """The fee of a payout and whether the available balance covers it now."""
        owner = merchant_id()
        _asset(self.core, request.asset)
        quote = await self.core.payouts.quote(owner, _amount(self.core, request.amount))
        d = self.core.terms.token_decimals
        return pb.GetPayoutQuoteResponse(
            payout_quote=pb.PayoutQuote(
                asset=self.core.terms.asset,
                amount=format_amount(quote.amount, d),
                amount_base_units=str(quote.amount),
                fee=format_amount(quote.fee, d),
                fee_base_units=str(quote.fee),
                total=format_amount(quote.total, d),
                total_base_units=str(quote.total),
                available=format_amount(quote.available, d),
                available_base_units=str(quote.available),
                covered=quote.available >= quote.total,
            )
        )

    async def CreatePayout(self, request: pb.CreatePayoutRequest, context: Context) -> pb.CreatePayoutResponse:
        """Accept a payout to an ACTIVE settlement address, reserving amount plus fee; idempotent by request id."""
        owner = merchant_id()
        _asset(self.core, request.asset)
        amount = _amount(self.core, request.amount)
        if not request.destination_address:
            raise InvalidArgument(
                "destination_address is required", reason="FIELD_REQUIRED", metadata={"field": "destination_address"}
            )
        destination = parse_address(request.destination_address, field="destination_address")
        max_fee = (
            parse_non_negative_amount(request.max_fee, self.core.terms.token_decimals, field="max_fee")
            if request.max_fee
            else None
        )
        new = NewPayout(
            merchant_id=owner,
            destination_address=destination,
            amount=amount,
            max_fee=max_fee,
            description=rules.check_text(request.description, "description", rules.MAX_DESCRIPTION),
            metadata=rules.check_metadata(dict(request.metadata)),
            request_id=_own_request_id(
                rules.check_text(request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200)
            ),
            request_hash=request_hash(request),
            key_id=principal().key_id,
        )
        payout = await self.core.payouts.create(new, self.core.now())
        return pb.CreatePayoutResponse(payout=payout_message(payout, self.core.terms.token_decimals))

    async def GetPayout(self, request: pb.GetPayoutRequest, context: Context) -> pb.GetPayoutResponse:
        """One of the caller's payouts."""
        payout = await self.core.payouts.get(merchant_id(), request.id)
        return pb.GetPayoutResponse(payout=payout_message(payout, self.core.terms.token_decimals))

    async def ListPayouts(self, request: pb.ListPayoutsRequest, context: Context) -> pb.ListPayoutsResponse:
        """The caller's payouts, newest first, filtered by status and creation time."""
        owner = merchant_id()
        limit = page_size(request.page_size)
        status = payout_pb2.PayoutStatus.Name(request.status).removeprefix("PAYOUT_STATUS_") if request.status else None
        created_from = (
            from_timestamp(request.create_time_start, "create_time_start")
            if request.HasField("create_time_start")
            else None
        )
        created_before = (
            from_timestamp(request.create_time_end, "create_time_end") if request.HasField("create_time_end") else None
        )
        query = f"merchant={owner}&status={status}&from={created_from}&before={created_before}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await store.list_page(
                conn,
                owner,
                status=status,
                created_from=created_from,
                created_before=created_before,
                after=after,
                limit=limit,
            )
        d = self.core.terms.token_decimals
        return pb.ListPayoutsResponse(
            payouts=[payout_message(p, d) for p in rows], next_page_token=newest_first_next_token(rows, limit, query)
        )

    async def CancelPayout(self, request: pb.CancelPayoutRequest, context: Context) -> pb.CancelPayoutResponse:
        """Cancel a waiting payout, releasing its reservation."""
        reason = rules.check_text(request.reason, "reason", 500)
        payout = await self.core.payouts.cancel(merchant_id(), request.id, reason, self.core.now())
        return pb.CancelPayoutResponse(payout=payout_message(payout, self.core.terms.token_decimals))


def _payout_id(value: str) -> str:
    if not value:
        raise InvalidArgument("payout_id is required", reason="FIELD_REQUIRED", metadata={"field": "payout_id"})
    return value


def _tx_hash(value: str) -> str:
    if len(value) != TX_HASH_LENGTH or not value.startswith("0x") or value[2:] != value[2:].lower():
        raise InvalidArgument(
            "tx_hash must be 0x + 64 lowercase hex", reason="HASH_INVALID", metadata={"field": "tx_hash"}
        )
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidArgument(
            "tx_hash must be 0x + 64 lowercase hex", reason="HASH_INVALID", metadata={"field": "tx_hash"}
        ) from None
    return value


class PayoutLedger(ledger_grpc.PayoutLedgerServiceServicer):
    """Settlement's side: the payouts to send and what became of them."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def ListQueuedPayouts(
        self, request: ledger_pb.ListQueuedPayoutsRequest, context: Context
    ) -> ledger_pb.ListQueuedPayoutsResponse:
        """QUEUED payouts, oldest first."""
        if request.page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative", reason="PAGE_SIZE_INVALID", metadata={"field": "page_size"}
            )
        limit = min(request.page_size or 100, 1000)
        position = decode_token(request.page_token, "queued")
        after = None
        if position is not None:
            after = (from_iso(str(position["t"])), str(position["i"]))
        rows = await self.core.payouts.list_queued(after, limit)
        token = (
            encode_token({"t": rows[-1].create_time.isoformat(), "i": rows[-1].id}, "queued")
            if len(rows) == limit
            else ""
        )
        d = self.core.terms.token_decimals
        return ledger_pb.ListQueuedPayoutsResponse(
            payouts=[payout_message(p, d) for p in rows],
            next_page_token=token,
            initiator_addresses=await self.core.payouts.list_initiators([p.id for p in rows]),
        )

    async def ClaimPayout(
        self, request: ledger_pb.ClaimPayoutRequest, context: Context
    ) -> ledger_pb.ClaimPayoutResponse:
        """A QUEUED payout is in a batch about to be signed: the merchant can no longer cancel it."""
        batch = rules.check_text(request.batch_id.strip(), "batch_id", 100)
        if not batch:
            raise InvalidArgument("batch_id is required", reason="FIELD_REQUIRED", metadata={"field": "batch_id"})
        payout = await self.core.payouts.claim(_payout_id(request.payout_id), batch, self.core.now())
        return ledger_pb.ClaimPayoutResponse(payout=payout_message(payout, self.core.terms.token_decimals))

    async def MarkPayoutPendingApproval(
        self, request: ledger_pb.MarkPayoutPendingApprovalRequest, context: Context
    ) -> ledger_pb.MarkPayoutPendingApprovalResponse:
        """QUEUED → PENDING_APPROVAL: the signer holds the payout's batch for its approvers."""
        approval = rules.check_text(request.approval_id.strip(), "approval_id", 200)
        if not approval:
            raise InvalidArgument("approval_id is required", reason="FIELD_REQUIRED", metadata={"field": "approval_id"})
        payout = await self.core.payouts.mark_pending_approval(_payout_id(request.payout_id), approval, self.core.now())
        return ledger_pb.MarkPayoutPendingApprovalResponse(
            payout=payout_message(payout, self.core.terms.token_decimals)
        )

    async def MarkPayoutBroadcast(
        self, request: ledger_pb.MarkPayoutBroadcastRequest, context: Context
    ) -> ledger_pb.MarkPayoutBroadcastResponse:
        """QUEUED or PENDING_APPROVAL → BROADCAST; a BROADCAST payout takes a replacement's hash."""
        payout = await self.core.payouts.mark_broadcast(
            _payout_id(request.payout_id), _tx_hash(request.tx_hash), self.core.now()
        )
        return ledger_pb.MarkPayoutBroadcastResponse(payout=payout_message(payout, self.core.terms.token_decimals))

    async def MarkPayoutConfirmed(
        self, request: ledger_pb.MarkPayoutConfirmedRequest, context: Context
    ) -> ledger_pb.MarkPayoutConfirmedResponse:
        """BROADCAST → CONFIRMED, booking the payout out of the treasury."""
        if request.block_number <= 0:
            raise InvalidArgument(
                "block_number is required", reason="FIELD_REQUIRED", metadata={"field": "block_number"}
            )
        payout = await self.core.payouts.mark_confirmed(
            _payout_id(request.payout_id), _tx_hash(request.tx_hash), request.block_number, self.core.now()
        )
        return ledger_pb.MarkPayoutConfirmedResponse(payout=payout_message(payout, self.core.terms.token_decimals))

    async def MarkPayoutFailed(
        self, request: ledger_pb.MarkPayoutFailedRequest, context: Context
    ) -> ledger_pb.MarkPayoutFailedResponse:
        """QUEUED, PENDING_APPROVAL or BROADCAST → FAILED, releasing the reservation."""
        reason = rules.check_text(request.failure_reason.strip(), "failure_reason", 500)
        if not reason:
            raise InvalidArgument(
                "failure_reason is required", reason="FIELD_REQUIRED", metadata={"field": "failure_reason"}
            )
        payout = await self.core.payouts.mark_failed(_payout_id(request.payout_id), reason, self.core.now())
        return ledger_pb.MarkPayoutFailedResponse(payout=payout_message(payout, self.core.terms.token_decimals))


def from_iso(value: str) -> dt.datetime:
    """A page token's time."""
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            "page_token is corrupt", reason="PAGE_TOKEN_INVALID", metadata={"field": "page_token"}
        ) from None
