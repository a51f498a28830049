"""Internal CheckoutService: the hosted checkout page reads the invoice a checkout link names."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.ledger.v1 import checkout_service_pb2 as pb
from stablegate.ledger.v1 import checkout_service_pb2_grpc as pb_grpc

from ledger.api.convert import invoice_message
from ledger.core import LedgerCore
from ledger.domain.addresses import parse_address
from ledger.domain.ids import looks_like_id
from ledger.payments import _invoice_data
from ledger.store import invoices as invoice_store
from ledger.store import outbox
from service_runtime.errors import FailedPrecondition, NotFound

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TOKEN_LENGTH = 64


def _not_found() -> NotFound:
    # One message and reason for every refusal: a caller learns nothing about which part of the link was wrong.
    return NotFound("no such checkout", reason="CHECKOUT_NOT_FOUND")


class Checkout(pb_grpc.CheckoutServiceServicer):
    """Reads an invoice for its checkout page, given the link's id and token (the checkout role only)."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    def _check_link(self, invoice_id: str, token: str) -> None:
        if (
            not looks_like_id(invoice_id, "inv")
            or len(token) > MAX_TOKEN_LENGTH
            or not self.core.checkout.opens(invoice_id, token)
        ):
            raise _not_found()

    async def SetCheckoutRefundAddress(
        self, request: pb.SetCheckoutRefundAddressRequest, context: Context
    ) -> pb.SetCheckoutRefundAddressResponse:
        """Set the refund address once; `invoice.updated` in the outbox with the change."""
        self._check_link(request.invoice_id, request.token)
        address = parse_address(request.refund_address, field="refund_address")
        async with self.core.pool.acquire() as conn, conn.transaction():
            if await invoice_store.get_any(conn, request.invoice_id) is None:
                raise _not_found()
            updated = await invoice_store.set_refund_address(conn, request.invoice_id, address)
            if updated is None:
                raise FailedPrecondition(
                    "the invoice already has a refund address; it cannot be changed here",
                    reason="REFUND_ADDRESS_ALREADY_SET",
                    metadata={"field": "refund_address"},
                )
            message = invoice_message(updated, self.core.checkout)
            await outbox.append(
                conn,
                event_type="invoice.updated",
                merchant_id=updated.merchant_id,
                subject_id=updated.id,
                # The summary every invoice.updated carries (docs/webhook-events.schema.json); the merchant reads
                # the invoice for its new refund_address.
                data=_invoice_data(updated),
            )
        return pb.SetCheckoutRefundAddressResponse(invoice=message)

    async def GetCheckoutInvoice(
        self, request: pb.GetCheckoutInvoiceRequest, context: Context
    ) -> pb.GetCheckoutInvoiceResponse:
        """The invoice when the token is its link's; NOT_FOUND (CHECKOUT_NOT_FOUND) otherwise."""
        links = self.core.checkout
        self._check_link(request.invoice_id, request.token)
        async with self.core.pool.acquire() as conn:
            invoice = await invoice_store.get_any(conn, request.invoice_id)
        if invoice is None:
            raise _not_found()
        return pb.GetCheckoutInvoiceResponse(invoice=invoice_message(invoice, links))
