"""ListWebhookDeliveries filtered by invoice: the deliveries of events about one invoice, redeliveries included."""

from __future__ import annotations

from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from tests.webhooks.conftest import WebhookLedger, receiving


async def by_invoice(wl: WebhookLedger, endpoint_id: str, invoice_id: str) -> list[wpb.WebhookDelivery]:
    reply = await wl.endpoints.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(id=endpoint_id, invoice_id=invoice_id), metadata=wl.auth
    )
    return list(reply.deliveries)


async def test_deliveries_filtered_by_invoice_show_only_that_invoices_events_and_their_redeliveries(
    wl: WebhookLedger,
) -> None:
    async with receiving() as receiver:
        endpoint = await wl.create(receiver.url)
        receiver.secrets = [endpoint.secret]
        first = await wl.invoice("10")
        second = await wl.invoice("20")
        await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=first), metadata=wl.auth)
        await receiver.wait_for(3)
        assert len(await wl.deliveries(endpoint.id)) == 3
        (created,) = await by_invoice(wl, endpoint.id, second)
        assert created.event_type == "invoice.created"
        # Both of its events (made in one dispatcher pass, so in no set order); not the other invoice's.
        assert sorted(d.event_type for d in await by_invoice(wl, endpoint.id, first)) == [
            "invoice.canceled",
            "invoice.created",
        ]
        # A redelivery (which has no order key of its own) is listed with the invoice its event is about.
        again = await wl.endpoints.RedeliverWebhook(
            pb.RedeliverWebhookRequest(id=endpoint.id, delivery_id=created.id), metadata=wl.auth
        )
        listed = await by_invoice(wl, endpoint.id, second)
        # (In no set order: the test ledger's clock stands still, so both share a create_time.)
        assert sorted((d.id, d.redelivery_of) for d in listed) == sorted(
            [(again.delivery.id, created.id), (created.id, "")]
        )
        assert len(await by_invoice(wl, endpoint.id, first)) == 2
        assert await by_invoice(wl, endpoint.id, "inv_none") == []
