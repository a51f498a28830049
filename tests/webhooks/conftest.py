"""Webhook fixtures: real HTTP receivers on loopback that verify deliveries, and a ledger with webhooks on."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb
from stablegate.merchant.v1 import webhook_service_pb2_grpc as pb_grpc
from standardwebhooks import Webhook, WebhookVerificationError

from ledger.secretbox import new_dev_key
from tests.ledger.ledger_harness import Ledger, running_ledger

WEBHOOK_SCOPES = ("invoices:read", "invoices:write", "balance:read", "webhooks:read", "webhooks:write")


TIMESTAMP_TOLERANCE = 5 * 60
"""Seconds a webhook-timestamp may differ from the receiver's real clock (the specification's suggestion)."""


def verify_v1a(public_key: str, body: bytes, headers: dict[str, str]) -> bool:
    """An ed25519 (`v1a`) check written from the Standard Webhooks specification's text, independent of the
    gateway's code: the signed content is `msg_id.timestamp.payload`; `webhook-signature` is a space-delimited
    list of `version,base64-signature`; a public key is `whpk_` + base64; the timestamp must be near now."""
    try:
        msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        if abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    except (KeyError, ValueError):
        return False
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    for part in headers.get("webhook-signature", "").split(" "):
        version, _, signature = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), signed)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


@dataclass
class Received:
    """One request a receiver got: its headers, body, which secrets (`v1`) and public keys (`v1a`) verified it."""

    headers: dict[str, str]
    body: bytes
    verified_by: list[int]
    v1a_verified_by: list[int] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on loopback. It answers from `script` (then `default`) and verifies each request with
    the `standardwebhooks` library against every secret in `secrets`."""

    port: int = 0
    secrets: list[str] = field(default_factory=list)
    public_keys: list[str] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    default: tuple[int, dict[str, str], float] = (200, {}, 0.0)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = []
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(index)
        by_key = [i for i, key in enumerate(self.public_keys) if verify_v1a(key, body, headers)]
        self.received.append(Received(headers, body, verified, by_key))
        self.arrived.set()
        status, extra, delay = self.script.pop(0) if self.script else self.default
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=extra, text="ok" if status < 300 else "no")

    async def wait_for(self, count: int, within: float = 15.0) -> list[Received]:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), within)
        return self.received


@asynccontextmanager
async def receiving(**options: Any) -> AsyncIterator[Receiver]:
    receiver = Receiver(**options)

    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Listener:
    """A bare TCP listener on loopback that counts connections: proof that a refused send connected nowhere."""

    port: int = 0
    connections: int = 0


@asynccontextmanager
async def listening() -> AsyncIterator[Listener]:
    listener = Listener()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class FakeResolver:
    """An injected resolver (DECISIONS, "SSRF by hostname"): answers from a table, counts the questions."""

    table: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"{host}: no such host")
        return self.table[host]


@dataclass
class WebhookLedger:
    """A ledger with webhooks configured, a merchant with a key that has the webhook scopes, and stubs."""

    ledger: Ledger
    merchant_id: str
    key: str
    resolver: FakeResolver

    @property
    def endpoints(self) -> pb_grpc.WebhookEndpointServiceAsyncStub:
        return pb_grpc.WebhookEndpointServiceStub(self.ledger.channel)

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return self.ledger.auth(self.key)

    async def create(self, url: str, **fields: Any) -> wpb.WebhookEndpoint:
        reply = await self.endpoints.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url=url, **fields), metadata=self.auth
        )
        return reply.webhook_endpoint

    async def deliveries(self, endpoint_id: str) -> list[wpb.WebhookDelivery]:
        reply = await self.endpoints.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(id=endpoint_id, page_size=200), metadata=self.auth
        )
        return list(reply.deliveries)

    async def invoice(self, amount: str = "10") -> str:
        from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

        reply = await self.ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount=amount), metadata=self.auth)
        return reply.invoice.id

    def advance(self, **delta: float) -> None:
        """Move the ledger's clock and wake the dispatcher (the injectable clock of DECISIONS)."""
        self.ledger.clock.advance(**delta)
        self.ledger.core.dispatcher.wake()


PROD_CHAIN: dict[str, Any] = {
    "chain_id": 56,
    "token_contract": "0x55d398326f99059fF775485246999027B3197955",
    "forwarder_factory": "0x" + "12" * 20,
    "forwarder_init_code_hash": "0x" + "34" * 32,
}
"""Chain settings the prod profile accepts (it refuses the ledger's placeholders)."""


def prod_key() -> str:
    """A webhook key without the dev marker (the prod profile refuses demo keys)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@asynccontextmanager
async def webhook_ledger(db_url: str, *, prod: bool = False, **overrides: Any) -> AsyncIterator[WebhookLedger]:
    resolver = FakeResolver()
    options: dict[str, Any] = (
        {"profile": "prod", "webhook_secret_key": prod_key(), "ca_name": "example.com mesh CA", **PROD_CHAIN}
        if prod
        else {"webhook_secret_key": new_dev_key(), "webhook_allow_loopback": True}
    )
    async with running_ledger(db_url, resolver=resolver, **{**options, **overrides}) as ledger:
        merchant_id, key = await ledger.merchant_with_key(scopes=WEBHOOK_SCOPES)
        yield WebhookLedger(ledger, merchant_id, key, resolver)


@pytest.fixture
async def wl(ledger_db: str) -> AsyncIterator[WebhookLedger]:
    async with webhook_ledger(ledger_db) as found:
        yield found
