"""Email (a real SMTP server, aiosmtpd) and SMS (a local HTTP server with Twilio's Messages API shape) for the
events a merchant opts into, made by the webhook fan-out from the same outbox; opted-out merchants get nothing."""

from __future__ import annotations

import asyncio
import base64
import email
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from gateway import parts
from ledger.domain.notifications import Preferences
from ledger.store import notifications as notification_store
from tests.webhooks.conftest import WebhookLedger, receiving, webhook_ledger

SID = "AC" + "0" * 32
TOKEN = "twilio-test-token"


@dataclass
class Mailbox:
    """What the SMTP server accepted."""

    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    loop: asyncio.AbstractEventLoop | None = None

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append((envelope, email.message_from_bytes(content)))
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.arrived.set)
        return "250 Message accepted for delivery"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Mailbox, int]]:
    mailbox = Mailbox(loop=asyncio.get_running_loop())
    port = parts.free_port()  # below the ephemeral range: no outgoing connection takes it before the server binds
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@dataclass
class SmsProvider:
    """Twilio's Messages API shape: answers from `script` (then 201) and keeps every request's form."""

    port: int = 0
    script: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def messages(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        auth = request.headers.get("authorization", "")
        self.requests.append({"account": request.match_info["sid"], "auth": auth, **form})
        self.arrived.set()
        if auth != "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode():
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        status = self.script.pop(0) if self.script else 201
        if status >= 300:
            return web.json_response(
                {"code": 20500, "message": "Internal Server Error", "status": status}, status=status
            )
        return web.json_response(
            {"sid": f"SM{len(self.requests):032x}", "status": "queued", "to": form["To"], "from": form["From"]},
            status=201,
        )


@asynccontextmanager
async def sms_provider(**options: Any) -> AsyncIterator[SmsProvider]:
    provider = SmsProvider(**options)
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", provider.messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    provider.port = server.sockets[0].getsockname()[1]
    try:
        yield provider
    finally:
        await runner.cleanup()


async def set_preferences(wl: WebhookLedger, merchant_id: str, **fields: Any) -> None:
    prefs = Preferences(
        merchant_id,
        fields.get("email_address", ""),
        tuple(fields.get("email_events", ())),
        fields.get("sms_number", ""),
        tuple(fields.get("sms_events", ())),
    )
    async with wl.ledger.core.pool.acquire() as conn:
        await notification_store.set_preferences(conn, prefs, wl.ledger.clock())


async def wait_for(event: asyncio.Event, check: Any, within: float = 15.0) -> None:
    async def loop() -> None:
        while not check():
            event.clear()
            await event.wait()

    await asyncio.wait_for(loop(), within)


async def test_an_opted_in_merchant_gets_email_and_sms_a_5xx_provider_is_retried_an_opted_out_one_nothing(
    ledger_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with smtp_server() as (mailbox, smtp_port), sms_provider(script=[503, 502]) as provider:
        settings: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "email_from": "alerts@gateway.example",
            "sms_api_url": f"http://127.0.0.1:{provider.port}",
            "sms_account_sid": SID,
            "sms_auth_token": TOKEN,
            "sms_from": "+15005550006",
        }
        async with webhook_ledger(ledger_db, **settings) as wl, receiving(default=(410, {}, 0.0)) as gone:
            opted_out, quiet_key = await wl.ledger.merchant_with_key("Quiet shop")
            await set_preferences(wl, opted_out)  # a row with no events: opted out of both channels
            await set_preferences(
                wl,
                wl.merchant_id,
                email_events=["invoice.canceled", "webhook_endpoint.disabled"],
                sms_number="+15551234567",
                sms_events=["webhook_endpoint.disabled"],
            )
            quiet = wl.ledger.auth(quiet_key)
            other = await wl.ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="1"), metadata=quiet)
            await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=other.invoice.id), metadata=quiet)
            invoice = await wl.invoice("10")
            await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice), metadata=wl.auth)
            endpoint = await wl.create(gone.url)  # answers 410: disabled, and the merchant is told
            await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=endpoint.id), metadata=wl.auth)
            await wait_for(mailbox.arrived, lambda: len(mailbox.messages) >= 2)
            subjects = {m["Subject"]: (env, m) for env, m in mailbox.messages}
            canceled = next(v for k, v in subjects.items() if "invoice.canceled" in k)
            envelope, message = canceled
            assert envelope.mail_from == "alerts@gateway.example"
            assert envelope.rcpt_tos == ["ops@shop.example"]  # the merchant's contact email by default
            assert invoice in message.get_payload()
            disabled = next(m for k, (_, m) in subjects.items() if "webhook_endpoint.disabled" in k)
            assert gone.url in disabled.get_payload() and "GONE_410" in disabled.get_payload()
            assert "invoice.created" not in " ".join(subjects)  # not opted into

            # SMS: the provider answers 503 then 502; each is retried on the schedule (the injectable clock).
            await wait_for(provider.arrived, lambda: len(provider.requests) >= 1)
            for _ in range(2):
                wl.advance(minutes=31)
                await asyncio.sleep(0.05)
            await wait_for(provider.arrived, lambda: len(provider.requests) >= 3)
            assert [r["To"] for r in provider.requests] == ["+15551234567"] * 3
            assert all(r["From"] == "+15005550006" and r["account"] == SID for r in provider.requests)
            assert gone.url in provider.requests[-1]["Body"]

            async def all_sent() -> bool:
                return not await wl.ledger.value("SELECT count(*) FROM ledger.notifications WHERE status <> 'SENT'")

            # Sent (and marked SENT) a moment after the provider has the last request: up to 30 s on a loaded machine.
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                if await all_sent():
                    break
                await asyncio.sleep(0.05)
            rows = await wl.ledger.fetch(
                "SELECT merchant_id, channel, event_type, status, attempt_count, provider_id FROM ledger.notifications "
                "ORDER BY channel, event_type"
            )
            assert [(r["channel"], r["event_type"], r["status"]) for r in rows] == [
                ("email", "invoice.canceled", "SENT"),
                ("email", "webhook_endpoint.disabled", "SENT"),
                ("sms", "webhook_endpoint.disabled", "SENT"),
            ]
            assert rows[2]["attempt_count"] == 3 and rows[2]["provider_id"].startswith("SM")
            assert {r["merchant_id"] for r in rows} == {wl.merchant_id}  # the opted-out merchant got nothing
            await asyncio.sleep(0.3)
            assert len(mailbox.messages) == 2 and len(provider.requests) == 3
    assert TOKEN not in caplog.text  # the provider's token is never logged


def test_preferences_take_known_events_and_sms_only_for_critical_ones() -> None:
    from ledger.domain.notifications import check_preferences
    from ledger.errors import InvalidField

    check_preferences(["invoice.paid"], ["webhook_endpoint.disabled"], "+15551234567")
    for email_events, sms_events, number, field_name in (
        (["invoice.bogus"], [], "", "email_events"),
        ([], ["invoice.paid"], "+15551234567", "sms_events"),
        ([], ["merchant.balance_shortfall"], "", "sms_number"),
    ):
        with pytest.raises(InvalidField) as caught:
            check_preferences(email_events, sms_events, number)
        assert caught.value.field == field_name
