"""The webhook dispatcher, inside the ledger process: a leased fan-out and a sender (docs/webhooks.md).

- **Fan-out** (one at a time across all replicas): holds a Postgres advisory lock on a dedicated connection
  (TCP keepalives set), reads the outbox as consumer `webhooks` in commit-safe order and makes one delivery per
  matching endpoint, in the same transaction that moves the cursor. A SIGKILLed leader's lock goes with its
  connection; a standby takes over within `LEASE_RETRY_SECONDS`. Two leaders for a moment do no harm: the
  cursor row is locked and deliveries are unique per (endpoint, event).
- **Sender** (every replica): claims due deliveries with `FOR UPDATE SKIP LOCKED` and a lease, posts them
  signed, records the attempt and schedules the retry. `LISTEN` wakes both; nothing polls busily.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from ledger.domain import notifications as notification_rules
from ledger.domain import webhooks as rules
from ledger.domain.ids import new_id
from ledger.domain.webhooks import Attempt
from ledger.metrics import LedgerMetrics
from ledger.notify import Notifier
from ledger.secretbox import Sealer
from ledger.store import notifications as notification_store
from ledger.store import outbox
from ledger.store import webhooks as store
from ledger.store.webhooks import Claimed, NewDelivery
from ledger.webhook_http import WebhookPoster

log = logging.getLogger("stablegate.ledger.webhooks")

CONSUMER = "webhooks"
LEASE_KEY = 0x5747_4842  # "WGHB": the fan-out's advisory lock
LEASE_RETRY_SECONDS = 1.0
FANOUT_BATCH = 500
IDLE_WAKE_SECONDS = 30.0
"""Longest sleep without a notification: a safety net for a lost notification or a crashed sender's lease."""
BACKLOG_SAMPLE_SECONDS = 15.0
"""How often each replica measures the backlog for its metrics (two indexed queries)."""
OUTBOX_BACKLOG_CAP = 100_000
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


@dataclass
class DispatchStats:
    """Counters the tests and the benchmark read."""

    fanned_out: int = 0
    attempts: int = 0
    leader: bool = False


@dataclass
class Dispatcher:
    """Fans the outbox out to deliveries (under the lease) and sends due deliveries."""

    database_url: str
    pool: asyncpg.Pool
    box: Callable[[], Sealer | None]
    poster: WebhookPoster
    now: Callable[[], dt.datetime]
    senders: int
    lease_seconds: float
    disable_after: dt.timedelta
    notifier: Notifier | None = None
    """Sends the email and SMS notifications the fan-out makes (every replica runs one)."""
    metrics: LedgerMetrics | None = None
    """Where the backlog is reported (`ledger_webhook_deliveries_due` and its neighbours); none in bare tests."""
    random: Callable[[], float] = random.random
    wall_clock: Callable[[], float] = time.time
    stats: DispatchStats = field(default_factory=DispatchStats)
    _wake_fanout: asyncio.Event = field(default_factory=asyncio.Event)
    _wake_sender: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)

    _stopping: bool = False

    def start(self, *, fanout: bool = True) -> None:
        """Run the fan-out (if asked) and the sender as background tasks."""
        if fanout:
            self._tasks.append(asyncio.create_task(self._lead_forever(), name="webhook-fanout"))
        self._tasks.append(asyncio.create_task(self._send_forever(), name="webhook-sender"))
        if self.metrics is not None:
            self._tasks.append(asyncio.create_task(self._sample_forever(), name="webhook-backlog"))
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self.notifier.run(), name="notifier"))

    async def stop(self) -> None:
        """Stop both loops and any send in flight (its lease lets another sender retry it)."""
        self._stopping = True
        for task in [*self._tasks, *self._inflight]:
            task.cancel()
        for task in [*self._tasks, *self._inflight]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.poster.close()

    def wake(self) -> None:
        """Look for new events and due deliveries now (after a test moved the clock, say)."""
        self._wake_fanout.set()
        self._wake_sender.set()
        if self.notifier is not None:
            self.notifier.wake()

    # -- backlog metrics ------------------------------------------------------------------------------------

    async def sample_backlog(self) -> None:
        """Measure the backlog now and set the gauges: due deliveries, the oldest one's wait, unfanned events."""
        if self.metrics is None:
            return
        async with self.pool.acquire() as conn:
            due, oldest = await store.backlog(conn, self.now())
            unfanned = await conn.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM ledger.outbox o, ledger.outbox_cursors c WHERE c.consumer = $1 "
                "AND (o.txid, o.id) > (c.last_txid, c.last_id) LIMIT $2) AS pending",
                CONSUMER,
                OUTBOX_BACKLOG_CAP,
            )
        self.metrics.webhooks_due.set(due)
        self.metrics.webhooks_oldest_due.set(oldest)
        self.metrics.outbox_backlog.set(int(unfanned or 0))
        self.metrics.backlog_sampled.set(self.wall_clock())

    async def _sample_forever(self) -> None:
        while not self._stopping:
            try:
                await self.sample_backlog()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("measuring the webhook backlog failed; retrying")
            await asyncio.sleep(BACKLOG_SAMPLE_SECONDS)

    # -- fan-out ----------------------------------------------------------------------------------------------

    async def _lead_forever(self) -> None:
        while not self._stopping:
            try:
                await self._lead_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook fan-out failed; retrying")
            self.stats.leader = False
            await asyncio.sleep(LEASE_RETRY_SECONDS)

    async def _lead_once(self) -> None:
        conn = await asyncpg.connect(self.database_url, server_settings=KEEPALIVES)
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEASE_KEY):
                return
            self.stats.leader = True
            await outbox.register_consumer(conn, CONSUMER)
            await conn.add_listener("ledger_outbox", lambda *_: self._wake_fanout.set())
            while not self._stopping:
                self._wake_fanout.clear()
                while await self.fan_out_once(conn):
                    pass
                if await self._unsettled_events(conn):
                    # Events whose transactions an older, still running one holds back: look again shortly.
                    await asyncio.sleep(0.05)
                    continue
                await _wait(self._wake_fanout, IDLE_WAKE_SECONDS)
        finally:
            # Closing the connection releases the advisory lock.
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    async def _unsettled_events(self, conn: asyncpg.Connection) -> bool:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM ledger.outbox o, ledger.outbox_cursors c WHERE c.consumer = $1 "
                "AND (o.txid, o.id) > (c.last_txid, c.last_id))",
                CONSUMER,
            )
        )

    async def fan_out_once(self, conn: asyncpg.Connection) -> int:
        """Turn one batch of outbox events into deliveries, moving the cursor in the same transaction."""
        async with conn.transaction():
            events = await outbox.claim(conn, CONSUMER, FANOUT_BATCH)
            if not events:
                return 0
            merchants = sorted({e.merchant_id for e in events if e.merchant_id is not None})
            endpoints = await store.subscribers(conn, merchants) if merchants else []
            preferences = await notification_store.preferences_for(conn, merchants) if merchants else {}
            by_merchant: dict[str, list[rules.Endpoint]] = {}
            for endpoint in endpoints:
                by_merchant.setdefault(endpoint.merchant_id, []).append(endpoint)
            created = {
                r["id"]: r["create_time"]
                for r in await conn.fetch(
                    "SELECT id, create_time FROM ledger.outbox WHERE id = ANY($1::bigint[])", [e.id for e in events]
                )
            }
            now = self.now()
            new: list[NewDelivery] = []
            notes: list[notification_store.Notification] = []
            for event in events:
                if (found := preferences.get(event.merchant_id or "")) is not None:
                    prefs, contact = found
                    data = event.payload.get("data", {})
                    notes += [
                        notification_store.Notification(
                            id=new_id("ntf"),
                            merchant_id=prefs.merchant_id,
                            event_id=event.event_id,
                            event_type=event.event_type,
                            channel=m.channel,
                            recipient=m.recipient,
                            subject=m.subject,
                            body=m.body,
                            event_time=now,
                        )
                        for m in notification_rules.messages(prefs, contact, event.event_id, event.event_type, data)
                    ]
                for endpoint in by_merchant.get(event.merchant_id or "", []):
                    if not rules.matches(endpoint.enabled_events, event.event_type):
                        continue
                    body = rules.render_body(
                        event_id=event.event_id,
                        event_type=event.event_type,
                        created=created[event.id],
                        api_version=endpoint.api_version,
                        data=event.payload.get("data", {}),
                    )
                    new.append(
                        NewDelivery(
                            id=new_id("wd"),
                            endpoint_id=endpoint.id,
                            merchant_id=endpoint.merchant_id,
                            event_id=event.event_id,
                            event_type=event.event_type,
                            order_key=event.subject_id,
                            body=body,
                            event_time=now,
                            next_attempt_time=now,
                            create_time=now,
                        )
                    )
            await store.insert_deliveries(conn, new)
            await notification_store.insert(conn, notes, now)
            await outbox.advance(conn, CONSUMER, events[-1])
        self.stats.fanned_out += len(new)
        return len(events)

    # -- sending ----------------------------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        listener: asyncpg.Connection | None = None
        while not self._stopping:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(self.database_url, server_settings=KEEPALIVES)
                    await listener.add_listener("ledger_webhook_deliveries", lambda *_: self._wake_sender.set())
                await self._send_round()
            except asyncio.CancelledError:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(listener.close(timeout=2))
                raise
            except Exception:
                log.exception("webhook sender failed; retrying")
                await asyncio.sleep(1.0)

    async def _send_round(self) -> None:
        self._wake_sender.clear()
        free = self.senders - len(self._inflight)
        claimed: list[Claimed] = []
        if free > 0:
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await store.claim_due(conn, self.now(), self.lease_seconds, free)
            for item in claimed:
                task = asyncio.create_task(self._deliver(item))
                self._inflight.add(task)
                task.add_done_callback(self._finished)
        if claimed and len(claimed) == free:
            return  # there may be more: claim again once a slot frees (the callback wakes us)
        delay = IDLE_WAKE_SECONDS
        if not claimed:
            async with self.pool.acquire() as conn:
                due = await store.next_due_time(conn, self.now())
                lease_wait = await store.lease_wait_seconds(conn, self.now())
            if due is not None:
                delay = min(delay, max((due - self.now()).total_seconds(), 0.01))
            if lease_wait is not None:
                # Another sender holds due deliveries: wake when its lease runs out, in case it crashed.
                delay = min(delay, max(lease_wait, 0.01) + 0.05)
        await _wait(self._wake_sender, delay)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        # A finished delivery may unblock the next one for its invoice, and frees a slot.
        self._wake_sender.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())

    def _secrets(self, endpoint: rules.Endpoint, box: Sealer) -> tuple[list[str], list[str]]:
        """The HMAC secrets and ed25519 keys that sign now: the current ones and, during a rotation, the old."""
        overlap = endpoint.previous_secret_expire_time is not None and endpoint.previous_secret_expire_time > self.now()
        hmac_secrets: list[str] = []
        keys: list[str] = []
        if rules.HMAC_SHA256 in endpoint.signing_algorithms:
            hmac_secrets.append(box.open(endpoint.secret_sealed, endpoint.id))
            if overlap and endpoint.previous_secret_sealed is not None:
                hmac_secrets.append(box.open(endpoint.previous_secret_sealed, endpoint.id))
        if rules.ED25519 in endpoint.signing_algorithms and endpoint.signing_key_sealed is not None:
            keys.append(box.open(endpoint.signing_key_sealed, endpoint.id))
            if overlap and endpoint.previous_signing_key_sealed is not None:
                keys.append(box.open(endpoint.previous_signing_key_sealed, endpoint.id))
        return hmac_secrets, keys

    async def _deliver(self, item: Claimed) -> None:
        delivery, endpoint = item.delivery, item.endpoint
        if item.endpoint_deleted or endpoint.disabled:
            async with self.pool.acquire() as conn:
                why = "endpoint deleted" if item.endpoint_deleted else "endpoint disabled"
                await store.fail_without_attempt(conn, delivery.id, why)
            return
        box = self.box()
        assert box is not None, "deliveries exist only where endpoints could be created"
        timestamp = int(self.wall_clock())
        hmac_secrets, signing_keys = await asyncio.to_thread(self._secrets, endpoint, box)
        headers = {
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": rules.signature_header(
                hmac_secrets, delivery.event_id, timestamp, delivery.body, signing_keys
            ),
            "user-agent": "stablegate-webhooks/1",
        }
        attempt_time = self.now()
        response = await self.poster.post(endpoint.url, headers, delivery.body)
        self.stats.attempts += 1
        now = self.now()
        number = delivery.attempt_count + 1
        verdict = rules.outcome(
            response_status=response.status,
            attempts_made=number,
            now=now,
            event_time=delivery.event_time,
            retry_after=rules.parse_retry_after(response.retry_after, now),
            random=self.random,
        )
        attempt = Attempt(number, attempt_time, response.status, response.duration_ms, response.error, response.excerpt)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.record_attempt(
                conn, delivery.id, attempt, status=verdict.status, next_attempt_time=verdict.next_attempt_time
            )
            since = await store.mark_failing(conn, endpoint.id, verdict.status != "SUCCEEDED", now)
            reason = verdict.disable_endpoint
            if not reason and since is not None and now - since >= self.disable_after:
                reason = "FAILING"
            if reason and await store.disable(conn, endpoint.id, reason, now):
                # The change and its event commit together; the merchant hears of it (email: docs/webhooks.md).
                await outbox.append(
                    conn,
                    event_type="webhook_endpoint.disabled",
                    merchant_id=endpoint.merchant_id,
                    subject_id=endpoint.id,
                    data={"id": endpoint.id, "url": endpoint.url, "disabled_reason": reason},
                )
                log.warning("webhook endpoint disabled", extra={"endpointId": endpoint.id, "reason": reason})


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until the event is set or the time is up.

    Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation that arrives as the event is set, and a
    stopping dispatcher would then never stop.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
