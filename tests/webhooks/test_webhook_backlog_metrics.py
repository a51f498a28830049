"""The dispatcher's backlog on the ledger's metrics (what the DispatcherBacklog alert and the HPA read):
due deliveries, how long the oldest has waited, and outbox events not yet fanned out."""

from __future__ import annotations

import asyncio
import time

from stablegate.merchant.v1 import webhook_pb2 as wpb

from tests.webhooks.conftest import WebhookLedger, receiving
from tests.webhooks.test_webhook_delivery import wait_until


async def test_a_due_delivery_shows_on_the_backlog_gauges_until_it_is_sent(wl: WebhookLedger) -> None:
    ledger, dispatcher = wl.ledger, wl.ledger.core.dispatcher

    async def sampled() -> bool:  # the background sampler measured at startup
        return ledger.metric("ledger_webhook_backlog_sampled_timestamp_seconds") > 0

    await wait_until(sampled)
    assert ledger.metric("ledger_webhook_backlog_sampled_timestamp_seconds") <= time.time()
    async with receiving(default=(500, {}, 0.0)) as receiver:
        endpoint = await wl.create(receiver.url)
        await wl.invoice()
        await receiver.wait_for(1)

        async def retrying() -> bool:
            (d,) = await wl.deliveries(endpoint.id)
            return d.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING and d.attempt_count == 1

        await wait_until(retrying)
        await dispatcher.sample_backlog()
        assert ledger.metric("ledger_webhook_deliveries_due") == 0  # its retry is 5 s away: not yet a backlog
        assert ledger.metric("ledger_webhook_oldest_due_seconds") == 0
        assert ledger.metric("ledger_outbox_unfanned_events") == 0

        # Ten minutes pass on the ledger's clock without waking the sender (it sleeps ~5 real seconds): the retry
        # is now due and has waited about 9m55s.
        ledger.clock.advance(minutes=10)
        await dispatcher.sample_backlog()
        assert ledger.metric("ledger_webhook_deliveries_due") == 1
        assert 590 <= ledger.metric("ledger_webhook_oldest_due_seconds") <= 600

        dispatcher.wake()
        await receiver.wait_for(2)

        async def retried() -> bool:
            (d,) = await wl.deliveries(endpoint.id)
            return d.attempt_count == 2 and d.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING

        await wait_until(retried)
        await dispatcher.sample_backlog()
        assert ledger.metric("ledger_webhook_deliveries_due") == 0
        assert ledger.metric("ledger_webhook_oldest_due_seconds") == 0


async def test_outbox_events_the_fan_out_has_not_reached_are_counted(wl: WebhookLedger) -> None:
    ledger, dispatcher = wl.ledger, wl.ledger.core.dispatcher
    await dispatcher.sample_backlog()
    baseline = ledger.metric("ledger_outbox_unfanned_events")
    # Hold the fan-out's cursor row (as a stuck leader would): new events pile up behind it.
    async with ledger.core.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM ledger.outbox_cursors WHERE consumer = 'webhooks' FOR UPDATE")
        await wl.invoice()
        await wl.invoice()
        await asyncio.sleep(0.2)
        await dispatcher.sample_backlog()
        assert ledger.metric("ledger_outbox_unfanned_events") == baseline + 2
    dispatcher.wake()

    async def drained() -> bool:
        await dispatcher.sample_backlog()
        return ledger.metric("ledger_outbox_unfanned_events") == 0

    await wait_until(drained)
