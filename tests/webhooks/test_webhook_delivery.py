"""Delivery from the outbox to real receivers on loopback: signatures, retries, Retry-After, 410, order, log."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import pytest
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from tests.webhooks.conftest import WebhookLedger, receiving, webhook_ledger


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Until a condition on the ledger's database holds (rows change in Postgres: there is no event to await)."""

    async def poll() -> None:
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


async def test_invoice_events_arrive_signed_per_standard_webhooks_and_filtered(wl: WebhookLedger) -> None:
    async with receiving() as everything, receiving() as paid_only:
        all_ep = await wl.create(everything.url, enabled_events=["invoice.*"])
        paid_ep = await wl.create(paid_only.url, enabled_events=["invoice.paid"])
        everything.secrets, paid_only.secrets = [all_ep.secret], [paid_ep.secret]
        invoice_id = await wl.invoice("10")
        await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice_id), metadata=wl.auth)
        got = await everything.wait_for(2)
        assert [r.json["type"] for r in got] == ["invoice.created", "invoice.canceled"]  # per-invoice order
        for r in got:
            assert r.verified_by == [0]  # the standardwebhooks library verified it, against the real clock
            assert r.headers["webhook-id"] == r.json["id"]
            assert set(r.json) == {"id", "type", "created", "api_version", "data"}
            assert r.json["data"]["id"] == invoice_id
            assert r.json["api_version"] == "2026-11-25"
        await asyncio.sleep(0.3)
        assert paid_only.received == []  # filtered out: never sent
        log = await wl.deliveries(all_ep.id)
        assert {d.status for d in log} == {wpb.WEBHOOK_DELIVERY_STATUS_SUCCEEDED}
        assert all(d.attempts[0].response_status == 200 and d.attempts[0].response_excerpt == "ok" for d in log)
        assert await wl.deliveries(paid_ep.id) == []


async def test_a_receiver_down_for_three_attempts_gets_the_same_webhook_id_on_the_fourth(wl: WebhookLedger) -> None:
    async with receiving(script=[(500, {}, 0.0)] * 3) as receiver:
        endpoint = await wl.create(receiver.url)
        receiver.secrets = [endpoint.secret]
        await wl.invoice()
        await receiver.wait_for(1)
        # The schedule: 5 s, 5 min, 30 min after the failures (with up to 10 % jitter), on the injected clock.
        for attempt, step in enumerate((dt.timedelta(seconds=6), dt.timedelta(minutes=6), dt.timedelta(minutes=34))):

            async def recorded(made: int = attempt + 1) -> bool:
                (d,) = await wl.deliveries(endpoint.id)
                return d.attempt_count == made

            await wait_until(recorded)
            (delivery,) = await wl.deliveries(endpoint.id)
            assert delivery.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING
            due = delivery.next_attempt_time.ToDatetime(tzinfo=dt.UTC)
            assert due - wl.ledger.clock() <= step
            wl.advance(seconds=step.total_seconds())
            await receiver.wait_for(len(receiver.received) + 1)
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert len(receiver.received) == 4 and len(ids) == 1
        assert all(r.verified_by == [0] for r in receiver.received)

        async def succeeded() -> bool:
            (d,) = await wl.deliveries(endpoint.id)
            return d.status == wpb.WEBHOOK_DELIVERY_STATUS_SUCCEEDED and d.attempt_count == 4

        await wait_until(succeeded)
        (d,) = await wl.deliveries(endpoint.id)
        assert [a.response_status for a in d.attempts] == [500, 500, 500, 200]


async def test_retry_after_is_honoured(wl: WebhookLedger) -> None:
    async with receiving(script=[(503, {"Retry-After": "600"}, 0.0)]) as receiver:
        endpoint = await wl.create(receiver.url)
        await wl.invoice()
        await receiver.wait_for(1)

        async def retrying() -> bool:
            (d,) = await wl.deliveries(endpoint.id)
            return d.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING

        await wait_until(retrying)
        (d,) = await wl.deliveries(endpoint.id)
        wait = d.next_attempt_time.ToDatetime(tzinfo=dt.UTC) - d.last_attempt_time.ToDatetime(tzinfo=dt.UTC)
        assert wait >= dt.timedelta(seconds=600)  # not the scheduled 5 s
        wl.advance(seconds=60)
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 1
        wl.advance(seconds=541)
        await receiver.wait_for(2)


async def test_410_gone_disables_the_endpoint_and_tells_the_merchant(wl: WebhookLedger) -> None:
    async with receiving(default=(410, {}, 0.0)) as receiver:
        endpoint = await wl.create(receiver.url)
        invoice_id = await wl.invoice()
        await receiver.wait_for(1)

        async def disabled() -> bool:
            got = await wl.endpoints.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=wl.auth)
            return got.webhook_endpoint.disabled

        await wait_until(disabled)
        got = await wl.endpoints.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=wl.auth)
        assert got.webhook_endpoint.disabled_reason == "GONE_410"
        (d,) = await wl.deliveries(endpoint.id)
        assert d.status == wpb.WEBHOOK_DELIVERY_STATUS_FAILED
        assert await wl.ledger.events(endpoint.id) == ["webhook_endpoint.disabled"]
        await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice_id), metadata=wl.auth)
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 1  # nothing more goes to a disabled endpoint


async def test_a_slow_receiver_times_out_and_is_retried(ledger_db: str) -> None:

    async with (
        webhook_ledger(ledger_db, webhook_timeout_seconds=0.5) as wl,
        receiving(script=[(200, {}, 2.0)]) as receiver,
    ):
        endpoint = await wl.create(receiver.url)
        await wl.invoice()

        async def timed_out() -> bool:
            (d,) = await wl.deliveries(endpoint.id) or (None,)
            return d is not None and d.last_error == "timeout"

        await wait_until(timed_out)
        (d,) = await wl.deliveries(endpoint.id)
        assert d.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING and d.last_response_status == 0
        wl.advance(seconds=6)
        await receiver.wait_for(2)


async def test_redeliver_and_replay_failed_and_send_test(wl: WebhookLedger) -> None:
    async with receiving() as receiver:
        endpoint = await wl.create(receiver.url)
        receiver.secrets = [endpoint.secret]
        await wl.invoice()
        (first,) = await receiver.wait_for(1)
        (original,) = await wl.deliveries(endpoint.id)
        again = await wl.endpoints.RedeliverWebhook(
            pb.RedeliverWebhookRequest(id=endpoint.id, delivery_id=original.id), metadata=wl.auth
        )
        assert again.delivery.redelivery_of == original.id and again.delivery.event_id == original.event_id
        second = (await receiver.wait_for(2))[1]
        assert second.headers["webhook-id"] == first.headers["webhook-id"] and second.body == first.body
        test = await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=endpoint.id), metadata=wl.auth)
        assert test.delivery.test
        third = (await receiver.wait_for(3))[2]
        assert third.json["type"] == "webhook.test" and third.json["data"]["test"] is True
        assert third.verified_by == [0]
        # Nothing failed yet: replay finds nothing; a failed one is replayed.
        since = wl.ledger.clock() - dt.timedelta(hours=1)
        start = pb.ReplayFailedWebhooksRequest(id=endpoint.id)
        start.start_time.FromDatetime(since)
        assert (await wl.endpoints.ReplayFailedWebhooks(start, metadata=wl.auth)).replayed_count == 0
        await wl.ledger.fetch("UPDATE ledger.webhook_deliveries SET status = 'FAILED' WHERE id = $1", original.id)
        assert (await wl.endpoints.ReplayFailedWebhooks(start, metadata=wl.auth)).replayed_count == 1
        await receiver.wait_for(4)


async def test_a_later_event_for_an_invoice_waits_while_an_earlier_one_is_retrying(wl: WebhookLedger) -> None:
    async with receiving(script=[(500, {}, 0.0)]) as receiver:
        endpoint = await wl.create(receiver.url)
        invoice_id = await wl.invoice()
        other_invoice = await wl.invoice()  # another invoice's events do not wait
        await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice_id), metadata=wl.auth)
        await receiver.wait_for(2)
        await asyncio.sleep(0.3)
        got = [(r.json["type"], r.json["data"]["id"]) for r in receiver.received]
        assert ("invoice.canceled", invoice_id) not in got  # waits behind the failed invoice.created
        assert ("invoice.created", other_invoice) in got
        wl.advance(seconds=6)
        await receiver.wait_for(4)
        mine = [r.json["type"] for r in receiver.received if r.json["data"]["id"] == invoice_id]
        assert mine == ["invoice.created", "invoice.created", "invoice.canceled"]
        assert len(await wl.deliveries(endpoint.id)) == 3


async def test_a_redirect_is_never_followed_and_secrets_are_never_logged(
    wl: WebhookLedger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with receiving() as target, receiving() as redirecting:
        redirecting.default = (307, {"location": target.url}, 0.0)
        endpoint = await wl.create(redirecting.url, signing_algorithms=[wpb.WEBHOOK_SIGNING_ALGORITHM_ED25519, 1])
        rotate = pb.RotateWebhookSecretRequest(id=endpoint.id)
        rotated = await wl.endpoints.RotateWebhookSecret(rotate, metadata=wl.auth)
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=endpoint.id), metadata=wl.auth)
        await redirecting.wait_for(1)

        async def recorded() -> bool:
            return bool(await wl.ledger.value("SELECT count(*) FROM ledger.webhook_attempts"))

        await wait_until(recorded)
        (delivery,) = await wl.deliveries(endpoint.id)
        assert delivery.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING
        assert delivery.attempts[0].response_status == 307
        await asyncio.sleep(0.2)
        assert target.received == []  # the Location was not followed
    for secret in (endpoint.secret, rotated.webhook_endpoint.secret):
        assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text
    assert "whsk_" not in caplog.text
