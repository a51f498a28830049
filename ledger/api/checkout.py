"""Internal CheckoutService: the hosted checkout page reads the invoice a checkout link names."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.ledger.v1 import checkout_service_pb2 as pb
from stablegate.ledger.v1 import checkout_service_pb2_grpc as pb_grpc

from ledger.api.convert import invoice_message
from ledger.core import LedgerCore
from ledger.domain.ids import looks_like_id
from ledger.store import invoices as invoice_store
from service_runtime.errors import NotFound

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TOKEN_LENGTH = 64


def _not_found() -> NotFound:
    # One message and reason for every refusal: a caller learns nothing about which part of the link was wrong.
    return NotFound("no such checkout", reason="CHECKOUT_NOT_FOUND")


class Checkout(pb_grpc.CheckoutServiceServicer):
    """Reads an invoice for its checkout page, given the link's id and token (the checkout role only)."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def GetCheckoutInvoice(
        self, request: pb.GetCheckoutInvoiceRequest, context: Context
    ) -> pb.GetCheckoutInvoiceResponse:
        """The invoice when the token is its link's; NOT_FOUND (CHECKOUT_NOT_FOUND) otherwise."""
        links = self.core.checkout
        if (
            not looks_like_id(request.invoice_id, "inv")
            or len(request.token) > MAX_TOKEN_LENGTH
            or not links.opens(request.invoice_id, request.token)
        ):
            raise _not_found()
        async with self.core.pool.acquire() as conn:
            invoice = await invoice_store.get_any(conn, request.invoice_id)
        if invoice is None:
            raise _not_found()
        return pb.GetCheckoutInvoiceResponse(invoice=invoice_message(invoice, links))
