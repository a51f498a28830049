"""Notification emails: a merchant's team hears that an invoice was paid, as each member's preferences choose.

The dashboard learns of payments as a client of the ledger's API, never of its database: every replica runs a
notifier that, per onboarded merchant, lists the merchant's PAID invoices (`InvoiceService.ListInvoices` with the
merchant's own read key, created within `LOOKBACK` of the cursor) and emails those paid after the merchant's
cursor (`dashboard.notification_cursors.paid_after`, migration 0007) to every verified team member whose role may
see invoices and whose "An invoice is paid" preference is on.

Never twice, never lost (the pattern of dashboard/report_schedule.py): a replica claims one merchant's cursor at a
time with `SELECT … FOR UPDATE SKIP LOCKED` and keeps the row locked while it sends; each email sent is recorded
(`dashboard.notifications_sent`, one row per event and user) in that transaction, and the cursor moves on only
when every email of the pass went out, and then only to `SETTLE` before now (a payment stamped earlier but
committed later is still found; one found again was recorded and is not sent again). Another replica skips the
locked row; once the transaction commits, the records and the cursor say what was sent. A failed send keeps the
cursor, records what did go out, and sets a `retry_time`: the next pass sends only the rest. A crash after the
SMTP server took an email but before the commit would send that one email again (at least once, never silently
lost). The email names the invoice, its amount and a link; never a key, a secret or a deposit address.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import asyncpg
from aiohttp import web

from dashboard.app import PARTS, SETTINGS
from dashboard.domain.rbac import Permission, allows
from dashboard.ledger_client import LedgerClient, LedgerRefused, LedgerUnavailable, PaidInvoice
from dashboard.mailer import Mailer, MailFailed, NoMailer
from dashboard.sealing import Sealer
from dashboard.store import notifications as store

log = logging.getLogger("stablegate.dashboard.notify")

LOOKBACK = dt.timedelta(days=7)
"""Paid invoices are looked for among those created this long before the cursor (an invoice is paid within its
lifetime, which is shorter)."""
SETTLE = dt.timedelta(minutes=5)
"""How far behind now the cursor stays: longer than any ledger transaction takes to commit its payment."""
MAX_PAGES = 10
"""Pages of 200 paid invoices read per merchant and pass."""
PREFERENCE = "invoice_paid"


def invoice_paid_email(invoice: PaidInvoice, public_url: str) -> tuple[str, str]:
    """Subject and body of the email about one paid invoice (nothing secret: id, amount, time, a link)."""
    when = invoice.paid_time.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    base = public_url.rstrip("/")
    subject = f"Invoice {invoice.id} paid: {invoice.amount} {invoice.asset}"
    body = (
        f"Invoice {invoice.id} was paid at {when}: {invoice.amount} {invoice.asset}.\n"
        + (f"Description: {invoice.description}\n" if invoice.description else "")
        + f"\nSee it on the dashboard: {base}/dashboard/invoices/{invoice.id}\n"
        f'You get this email because "An invoice is paid" is on in your notification preferences: '
        f"{base}/dashboard/notifications\n"
    )
    return subject, body


class Notifier:
    """Sends the notification emails that are due; safe to run in every replica at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        ledger: Callable[[], LedgerClient | None],
        sealer: Callable[[], Sealer | None],
        mailer: Callable[[], Mailer],
        public_url: str,
        *,
        retry_seconds: int = 300,
    ) -> None:
        self._pool = pool
        self._ledger = ledger
        self._sealer = sealer
        self._mailer = mailer
        self._public_url = public_url
        self._retry = dt.timedelta(seconds=retry_seconds)

    async def run_once(self, now: dt.datetime) -> int:
        """One pass over every merchant no other replica holds; how many emails this call sent."""
        ledger, sealer = self._ledger(), self._sealer()
        if ledger is None or sealer is None:
            return 0
        async with self._pool.acquire() as conn:
            await store.seed(conn, now)
        sent = 0
        done: list[str] = []
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                cursor = await store.claim(conn, now, done)
                if cursor is None:
                    return sent
                done.append(cursor.merchant_id)
                try:
                    read_key = sealer.open(cursor.read_key_sealed, cursor.merchant_id)
                    paid = await self._paid_after(ledger, read_key, cursor.paid_after)
                except (ValueError, LedgerUnavailable, LedgerRefused) as exc:
                    # ValueError: the key does not open with this replica's sealing key (a misconfigured replica);
                    # the merchant waits, the others go on.
                    log.warning("paid invoices unavailable; will retry", extra={"merchant_id": cursor.merchant_id})
                    await store.failed(conn, cursor.merchant_id, now + self._retry, type(exc).__name__)
                    continue
                people = [
                    r
                    for r in await store.recipients(conn, cursor.merchant_id, PREFERENCE)
                    if allows(r.team_role, Permission.VIEW_INVOICES)
                ]
                went: list[str] = []  # filled as each email goes out, so a failure midway still counts them
                try:
                    for invoice in paid:
                        await self._send(conn, cursor.merchant_id, invoice, people, went)
                except MailFailed as exc:
                    sent += len(went)
                    log.warning("notification not sent; will retry", extra={"merchant_id": cursor.merchant_id})
                    await store.failed(conn, cursor.merchant_id, now + self._retry, type(exc).__name__)
                    continue
                sent += len(went)
                # The cursor trails now by SETTLE, not the newest payment seen: a payment the ledger stamped
                # earlier but committed later is still found; what is found again is in notifications_sent.
                await store.advance(conn, cursor.merchant_id, now - SETTLE)

    async def run_forever(self, interval: float, now: Callable[[], dt.datetime]) -> None:
        """Run `run_once` every `interval` seconds until cancelled; a failing pass is logged and retried."""
        while True:
            try:
                await self.run_once(now())
            except Exception:
                log.exception("notification pass failed; retrying")
            await asyncio.sleep(interval)

    async def _paid_after(self, ledger: LedgerClient, read_key: str, after: dt.datetime) -> list[PaidInvoice]:
        found: list[PaidInvoice] = []
        token = ""
        for _ in range(MAX_PAGES):
            page, token = await ledger.paid_invoices(read_key, after - LOOKBACK, token)
            found.extend(i for i in page if i.paid_time >= after)
            if not token:
                break
        return sorted(found, key=lambda i: (i.paid_time, i.id))

    async def _send(
        self,
        conn: asyncpg.Connection,
        merchant_id: str,
        invoice: PaidInvoice,
        people: list[store.Recipient],
        went: list[str],
    ) -> None:
        key = f"invoice.paid:{invoice.id}"
        subject, body = invoice_paid_email(invoice, self._public_url)
        for person in people:
            if await store.was_sent(conn, key, person.user_id):
                continue
            await self._mailer().send(person.email, subject, body)
            await store.record_sent(conn, key, person.user_id, merchant_id)
            went.append(person.user_id)
            log.info("notification sent", extra={"merchant_id": merchant_id, "event": key, "user_id": person.user_id})


NOTIFIER = web.AppKey("notifier", list["asyncio.Task[None]"])


def install(app: web.Application) -> None:
    """Run a notifier in this replica while the app runs (not when `NOTIFY_INTERVAL_SECONDS` is 0 or no database)."""

    async def start(_: web.Application) -> None:
        parts, settings = app[PARTS], app[SETTINGS]
        seconds = settings.notify_interval_seconds
        if seconds <= 0 or parts.pool is None or isinstance(parts.mailer, NoMailer):
            return  # off, no database, or no SMTP server: nothing could be sent
        notifier = Notifier(
            parts.pool, lambda: parts.ledger, lambda: parts.sealer, lambda: parts.mailer, settings.public_url
        )
        app[NOTIFIER].append(asyncio.create_task(notifier.run_forever(seconds, parts.now)))

    async def stop(_: web.Application) -> None:
        for task in app[NOTIFIER]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app[NOTIFIER] = []
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
