"""Live invoice status for the checkout page: read from the ledger, published on Redis, streamed to browsers.

Nothing in the gateway published invoice changes to Redis, and the ledger calls no service (DECISIONS: calls
run one way), so the checkout service feeds Redis itself: while at least one customer has an invoice's page
open, the invoice is read from the ledger every `poll_interval` by one replica at a time (a Redis `SET NX`
with an expiry of one interval elects it), and when what the customer would see changes, that replica
publishes the new status on the invoice's channel. Every replica streams what its own customers' invoices'
channels carry (server-sent events), so a customer sees a change within about one interval whichever replica
their stream landed on. The last published status is kept beside the channel (an hour) so a replica that
starts polling an invoice does not publish again what was already sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import redis.asyncio as redis

from checkout.page import LiveStatus

LAST_SECONDS = 3600


def channel(invoice_id: str) -> str:
    """The Redis pub/sub channel carrying an invoice's live status."""
    return f"checkout:status:{invoice_id}"


def encode(status: LiveStatus) -> str:
    """A status as the JSON published on the channel and sent as the event's data."""
    return json.dumps(status.as_json(), sort_keys=True, separators=(",", ":"))


Reader = Callable[[str, str], Awaitable[LiveStatus | None]]
"""Reads an invoice's current status from the ledger by (invoice id, link token); None if it is gone."""


@dataclass
class StatusFeed:
    """Polls the invoices someone is watching, publishes their changes, and subscribes streams to them."""

    cache: redis.Redis
    read: Reader
    poll_interval: float
    _watched: dict[str, tuple[str, int]] = field(default_factory=dict)
    """invoice id → (link token, number of open streams in this process)."""

    @asynccontextmanager
    async def watching(self, invoice_id: str, token: str) -> AsyncIterator[None]:
        """Keep the invoice polled while the block runs (one stream of a customer's page)."""
        _, count = self._watched.get(invoice_id, (token, 0))
        self._watched[invoice_id] = (token, count + 1)
        try:
            yield
        finally:
            _, count = self._watched[invoice_id]
            if count <= 1:
                del self._watched[invoice_id]
            else:
                self._watched[invoice_id] = (token, count - 1)

    async def publish_if_changed(self, invoice_id: str, status: LiveStatus) -> bool:
        """Publish the status on the invoice's channel unless it is the last one published; True if sent."""
        data = encode(status)
        previous = await self.cache.set(f"checkout:last:{invoice_id}", data, ex=LAST_SECONDS, get=True)
        if isinstance(previous, bytes) and previous.decode() == data:
            return False
        await self.cache.publish(channel(invoice_id), data)
        return True

    async def poll_once(self) -> None:
        """One round: each watched invoice this replica wins the round's lock for is read and published."""
        lock_ms = max(1, int(self.poll_interval * 1000))
        for invoice_id, (token, _) in list(self._watched.items()):
            if not await self.cache.set(f"checkout:poll:{invoice_id}", b"1", nx=True, px=lock_ms):
                continue
            status = await self.read(invoice_id, token)
            if status is not None:
                await self.publish_if_changed(invoice_id, status)

    async def poll_forever(self, on_error: Callable[[BaseException], None]) -> None:
        """Poll until cancelled; a failed round is reported and the next one runs as usual."""
        while True:
            try:
                await self.poll_once()
            except Exception as exc:
                on_error(exc)
            await asyncio.sleep(self.poll_interval)
