r"""A minimal shop on the stablegate Python SDK.

An invoice at checkout, a redirect to the hosted checkout page, and the order fulfilled on the verified
`invoice.paid` webhook:

    STABLEGATE_URL=http://127.0.0.1:8080 STABLEGATE_KEY=sk_test_... STABLEGATE_WEBHOOK_SECRET=whsec_... SHOP_PORT=8000 \
        python shop.py

- `GET /buy/<item>` makes an order, creates its invoice (the order id as the Idempotency-Key, so a retried
  checkout never bills twice) and answers `303` to the invoice's `checkout_url`;
- `POST /webhooks/stablegate` verifies the delivery (Standard Webhooks; 400 when it does not verify), and on
  `invoice.paid` reads the invoice back and fulfils its order (once, whatever the redeliveries);
- `GET /orders/<id>` shows an order as JSON.

Register `<shop URL>/webhooks/stablegate` as a webhook endpoint (`client.webhook_endpoints.create(...)`) and give
the shop its secret. Orders live in memory: a real shop keeps them in its database.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stablegate_sdk import Stablegate, StablegateError, WebhookVerificationError, WebhookVerifier
from stablegate_sdk.models import InvoiceStatus

CATALOGUE = {"coffee": "4.50", "mug": "12"}
"""What the shop sells, and the price in USDT (decimal strings: never floats)."""


@dataclass
class Order:
    """One order: awaiting_payment, then fulfilled."""

    id: str
    item: str
    amount: str
    status: str = "awaiting_payment"
    invoice_id: str = ""


class Shop:
    """The shop's logic, apart from HTTP."""

    def __init__(self, client: Stablegate, verifier: WebhookVerifier) -> None:
        self.client = client
        self.verifier = verifier
        self.orders: dict[str, Order] = {}
        self.handled_events: set[str] = set()
        self.lock = threading.Lock()

    def checkout(self, item: str) -> tuple[Order, str]:
        """A new order for `item` and the hosted checkout page to send the customer to."""
        order = Order(id=f"order_{secrets.token_hex(6)}", item=item, amount=CATALOGUE[item])
        invoice = self.client.invoices.create(
            order.amount, order_id=order.id, description=f"1 {item}", idempotency_key=order.id
        )
        order.invoice_id = str(invoice.id)
        with self.lock:
            self.orders[order.id] = order
        return order, str(invoice.checkout_url)

    def webhook(self, body: bytes, headers: dict[str, str]) -> int:
        """Handle one delivery; the HTTP status to answer."""
        try:
            event = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            return 400
        with self.lock:
            if event.id in self.handled_events:  # delivery is at least once
                return 200
        if event.type == "invoice.paid":
            invoice = self.client.invoices.get(str(event.data["id"]))  # the API is the source of truth
            with self.lock:
                order = next((o for o in self.orders.values() if o.invoice_id == invoice.id), None)
                if order is not None and invoice.status == InvoiceStatus.INVOICE_STATUS_PAID:
                    order.status = "fulfilled"
        with self.lock:
            self.handled_events.add(event.id)
        return 200


def serve(shop: Shop, port: int) -> ThreadingHTTPServer:
    """The shop's HTTP server on 127.0.0.1:`port` (0: any free port), not yet serving."""

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: Any = None, location: str | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if location:
                self.send_header("location", location)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            kind, _, name = self.path.strip("/").partition("/")
            if kind == "buy" and name in CATALOGUE:
                try:
                    order, checkout_url = shop.checkout(name)
                except StablegateError as exc:
                    self.reply(502, {"error": str(exc)})
                    return
                self.reply(303, {"order_id": order.id}, location=checkout_url)
            elif kind == "orders" and name in shop.orders:
                self.reply(200, asdict(shop.orders[name]))
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/webhooks/stablegate":
                self.reply(404, {"error": "not found"})
                return
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            self.reply(shop.webhook(body, {k.lower(): v for k, v in self.headers.items()}))

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    """Run the shop from the environment's settings."""
    client = Stablegate(os.environ["STABLEGATE_KEY"], base_url=os.environ["STABLEGATE_URL"])
    shop = Shop(client, WebhookVerifier(os.environ["STABLEGATE_WEBHOOK_SECRET"]))
    server = serve(shop, int(os.environ.get("SHOP_PORT", "8000")))
    print(f"shop listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
