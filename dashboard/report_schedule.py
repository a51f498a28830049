"""Scheduled report emails: periods, and the scheduler every dashboard replica runs.

A subscription's `next_run_time` is the end of the next period to send (a UTC midnight): a daily one sends the
day before it, a weekly one (due on Mondays) the seven days before it. A replica claims one due subscription at a
time with `SELECT … FOR UPDATE SKIP LOCKED`, builds the CSVs from the ledger, sends the email and moves
`next_run_time` one period on, all in that row's transaction: another replica skips the locked row, and once the
transaction commits the period is no longer due, so two replicas never send the same period twice
(`tests/dashboard/test_dashboard_reports.py::test_two_schedulers_send_each_period_once`). A send that fails rolls
nothing forward: the row gets a `retry_time` and the same period is tried again. A crash after the SMTP server
took the email but before the commit would send it again (at least once, never silently lost).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

import asyncpg

from dashboard.ledger_client import LedgerRefused, LedgerUnavailable
from dashboard.mailer import Attachment, Mailer, MailFailed
from dashboard.report_data import ReportClient, duration, percent, performance_csv, volume_csv
from dashboard.store import subscriptions as store
from dashboard.store import users

log = logging.getLogger("stablegate.dashboard.reports")

PERIOD_DAYS = {"daily": 1, "weekly": 7}
REPORT_ROLES = frozenset({"owner", "finance", "read_only"})
"""Merchant team roles that may see reports (and receive them by email); a developer may not."""


def first_run(frequency: str, now: dt.datetime) -> dt.datetime:
    """When a new subscription first sends: the next UTC midnight (daily), or the next Monday's (weekly)."""
    midnight = dt.datetime.combine(now.astimezone(dt.UTC).date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    if frequency == "weekly":
        midnight += dt.timedelta(days=(7 - midnight.weekday()) % 7)
    return midnight


def period(frequency: str, due: dt.datetime) -> tuple[dt.date, dt.date]:
    """The UTC days (first, last) a run due at `due` reports."""
    last = due.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return last - dt.timedelta(days=PERIOD_DAYS[frequency] - 1), last


ADMIN_SUBSCRIPTION_LIFETIME = dt.timedelta(days=90)
"""An admin's report subscription lapses this long after it was made (docs/dashboard.md, "Reports and analytics")."""


class ReportScheduler:
    """Sends due scheduled reports; safe to run in every replica at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        reports: Callable[[], ReportClient],
        mailer: Callable[[], Mailer],
        *,
        retry_seconds: int = 300,
    ) -> None:
        self._pool = pool
        self._reports = reports
        self._mailer = mailer
        self._retry = dt.timedelta(seconds=retry_seconds)

    async def run_once(self, now: dt.datetime) -> int:
        """Send every period due at `now` that no other replica holds; how many emails this call sent."""
        sent = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                due = await store.claim_due(conn, now)
                if due is None:
                    return sent
                if not await self._still_allowed(conn, due, now):
                    log.info("subscription dropped: its owner may no longer read it", extra={"subscription": due.id})
                    await store.drop(conn, due.id)
                    continue
                try:
                    await self._send(due)
                except (LedgerUnavailable, LedgerRefused, MailFailed) as exc:
                    log.warning("scheduled report not sent; will retry", extra={"subscription": due.id})
                    await store.mark_failed(conn, due.id, now + self._retry, type(exc).__name__)
                    continue
                step = dt.timedelta(days=PERIOD_DAYS[due.frequency])
                await store.mark_sent(conn, due.id, due.next_run_time + step, now)
                sent += 1
                log.info("scheduled report sent", extra={"subscription": due.id})

    async def run_forever(self, interval: float, now: Callable[[], dt.datetime]) -> None:
        """Run `run_once` every `interval` seconds until cancelled; a failing pass is logged and retried."""
        while True:
            try:
                await self.run_once(now())
            except Exception:
                log.exception("scheduled reports pass failed; retrying")
            await asyncio.sleep(interval)

    async def _still_allowed(self, conn: asyncpg.Connection, sub: store.Subscription, now: dt.datetime) -> bool:
        """A merchant user's subscription stands only while they are on that merchant's team in a report role.

        An admin's lapses `ADMIN_SUBSCRIPTION_LIFETIME` after it was made: the dashboard cannot ask the identity
        provider whether the admin still holds an admin role, so an admin removed there stops getting every
        merchant's figures by then; a current admin subscribes again.
        """
        if sub.owner.startswith("admin:"):
            return now - sub.create_time <= ADMIN_SUBSCRIPTION_LIFETIME
        if not sub.owner.startswith("user:"):
            return False
        user = await users.user_by_id(conn, sub.owner.removeprefix("user:"))
        return user is not None and user.merchant_id == sub.merchant_id and user.team_role in REPORT_ROLES

    async def _send(self, sub: store.Subscription) -> None:
        first, last = period(sub.frequency, sub.next_run_time)
        start, end = first.isoformat(), last.isoformat()
        client = self._reports()
        volume = await client.volume(sub.merchant_id, "day", start, end)
        performance = await client.performance(sub.merchant_id, start, end)
        scope = sub.merchant_id or "all merchants"
        total, perf = volume.total, performance.total
        body = (
            f"stablegate {sub.frequency} report for {scope}, {start} to {end} (UTC).\n\n"
            f"Volume: {total.volume} {volume.asset}\nFees: {total.fees} {volume.asset}\n"
            f"Revenue: {total.revenue} {volume.asset}\nPayments: {total.payments}\n"
            f"Invoices created: {perf.invoices}, paid: {perf.paid} ({percent(perf.conversion_bps)}), "
            f"underpaid: {percent(perf.underpaid_bps)}, late: {percent(perf.late_bps)}, "
            f"median time to pay: {duration(perf.median_seconds_to_pay)}\n\n"
            "The figures per day and per merchant are attached as CSV.\n"
            "Unsubscribe on the dashboard's reports page.\n"
        )
        suffix = f"{start}_{end}.csv"
        await self._mailer().send(
            sub.email,
            f"stablegate {sub.frequency} report {start}" + (f" to {end}" if end != start else ""),
            body,
            [
                Attachment(f"volume_{suffix}", "text", "csv", volume_csv(volume).encode()),
                Attachment(f"performance_{suffix}", "text", "csv", performance_csv(performance).encode()),
            ],
        )
