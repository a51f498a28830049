"""Merchant API servicer: refunds of invoices (create, read, list, cancel)."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.merchant.v1 import refund_service_pb2 as pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id, principal
from ledger.api.convert import refund_message, request_hash
from ledger.api.invoices import idempotency_key
from ledger.core import LedgerCore
from ledger.domain import invoices as rules
from ledger.domain.addresses import parse_address
from ledger.domain.ids import new_id
from ledger.domain.money import parse_amount
from ledger.payouts import NewRefund
from ledger.store import payouts as store
from service_runtime.errors import InvalidArgument
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

Context = grpc.aio.ServicerContext[Any, Any]


class Refunds(pb_grpc.RefundServiceServicer):
    """Refund the calling merchant's invoices, in full or in part."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def CreateRefund(self, request: pb.CreateRefundRequest, context: Context) -> pb.CreateRefundResponse:
        """Refund an invoice (at most what it was paid less earlier refunds), reserving the amount."""
        owner = merchant_id()
        if not request.invoice_id:
            raise InvalidArgument("invoice_id is required", reason="FIELD_REQUIRED", metadata={"field": "invoice_id"})
        if not request.refund_address:
            raise InvalidArgument(
                "refund_address is required", reason="FIELD_REQUIRED", metadata={"field": "refund_address"}
            )
        new = NewRefund(
            merchant_id=owner,
            invoice_id=rules.check_text(request.invoice_id, "invoice_id", 200),
            refund_address=parse_address(request.refund_address, field="refund_address"),
            amount=parse_amount(request.amount, self.core.terms.token_decimals, field="amount")
            if request.amount
            else None,
            reason=rules.check_text(request.reason, "reason", 500),
            request_id=rules.check_text(
                request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200
            ),
            request_hash=request_hash(request),
            key_id=principal().key_id,
        )
        refund = await self.core.payouts.create_refund(new, self.core.now())
        return pb.CreateRefundResponse(refund=refund_message(refund, self.core.terms.token_decimals))

    async def GetRefund(self, request: pb.GetRefundRequest, context: Context) -> pb.GetRefundResponse:
        """One of the caller's refunds."""
        refund = await self.core.payouts.get_refund(merchant_id(), request.id)
        return pb.GetRefundResponse(refund=refund_message(refund, self.core.terms.token_decimals))

    async def ListRefunds(self, request: pb.ListRefundsRequest, context: Context) -> pb.ListRefundsResponse:
        """The caller's refunds, newest first, optionally of one invoice."""
        owner = merchant_id()
        limit = page_size(request.page_size)
        invoice_id = rules.check_text(request.invoice_id, "invoice_id", 200) or None
        query = f"merchant={owner}&invoice={invoice_id}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await store.list_page(
                conn,
                owner,
                status=None,
                created_from=None,
                created_before=None,
                after=after,
                limit=limit,
                kind="REFUND",
                invoice_id=invoice_id,
            )
        d = self.core.terms.token_decimals
        return pb.ListRefundsResponse(
            refunds=[refund_message(r, d) for r in rows], next_page_token=newest_first_next_token(rows, limit, query)
        )

    async def CancelRefund(self, request: pb.CancelRefundRequest, context: Context) -> pb.CancelRefundResponse:
        """Cancel a refund that has not been sent, releasing its reservation."""
        refund = await self.core.payouts.cancel(merchant_id(), request.id, "", self.core.now(), kind="REFUND")
        return pb.CancelRefundResponse(refund=refund_message(refund, self.core.terms.token_decimals))
