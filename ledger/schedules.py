"""The payout scheduler: pays every due merchant its whole available balance less the payout fee.

`PayoutScheduler.run(now)` looks at every schedule that is not MANUAL and, for each due merchant, in one
transaction of its own: locks the merchant's row (as CreatePayout does, so the merchant's payouts are decided one
at a time), returns early if this period's payout exists already (its request id `schedule:<merchant>:<period>` is
unique per merchant in `ledger.payouts`, so two replicas or a rerun never pay a period twice), checks the schedule's
settlement address is ACTIVE, locks the balance accounts and makes the payout through `PayoutBook.reserve` — the
same code as CreatePayout: same reservation, same `payout.created` event, with `trigger` SCHEDULED. A run that
skips notes why on the schedule (`last_outcome`); a due merchant whose transaction fails does not stop the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ledger.domain import payout_schedules as rules
from ledger.domain import settlement_addresses as address_rules
from ledger.domain.payouts import payout_fee
from ledger.payouts import PayoutBook
from ledger.store import journal
from ledger.store import merchants as merchant_store
from ledger.store import payout_schedules as store
from ledger.store import payouts as payout_store
from ledger.store import settlement_addresses as address_store

log = logging.getLogger("stablegate.ledger.schedules")

PAID = "PAID"
NOT_DUE = "NOT_DUE"
ALREADY_PAID = "ALREADY_PAID"
BELOW_MINIMUM = "BELOW_MINIMUM"
PAYOUT_IN_PROGRESS = "PAYOUT_IN_PROGRESS"
ADDRESS_NOT_USABLE = "SETTLEMENT_ADDRESS_NOT_USABLE"
ADDRESS_REVOKED = "SETTLEMENT_ADDRESS_REVOKED"
FAILED = "FAILED"


@dataclass(frozen=True)
class Outcome:
    """What one run did for one merchant: PAID (with the payout), or why not."""

    merchant_id: str
    outcome: str
    payout_id: str | None = None
    amount: int = 0


class PayoutScheduler:
    """Runs the merchants' payout schedules against a `PayoutBook`."""

    def __init__(self, book: PayoutBook) -> None:
        """Make scheduled payouts through `book` (its pool, terms and reservation code)."""
        self.book = book

    async def run(self, now: dt.datetime) -> list[Outcome]:
        """One pass over every scheduled merchant at `now`; returns what it did for each, in merchant id order."""
        async with self.book.pool.acquire() as conn:
            merchants = await store.scheduled_merchants(conn)
        outcomes: list[Outcome] = []
        for merchant_id in merchants:
            try:
                outcomes.append(await self.run_one(merchant_id, now))
            except Exception:
                log.exception("scheduled payout failed", extra={"merchant_id": merchant_id})
                outcomes.append(Outcome(merchant_id, FAILED))
        return outcomes

    async def run_forever(self, interval: float, clock: Callable[[], dt.datetime]) -> None:
        """Run a pass every `interval` seconds until canceled (the ledger app's background loop).

        Every replica may run it: each merchant's payout is decided under its row lock and its period's request id
        is unique, so two replicas never pay one period twice.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run(clock())
            except Exception:
                log.exception("payout schedule pass failed; retrying")

    async def run_one(self, merchant_id: str, now: dt.datetime) -> Outcome:
        """Pay one merchant if its schedule is due at `now`, in one transaction."""
        async with self.book.pool.acquire() as conn, conn.transaction():
            await merchant_store.get(conn, merchant_id, for_update=True)
            schedule = await store.get(conn, merchant_id)
            if schedule is None or schedule.frequency == "MANUAL":
                return Outcome(merchant_id, NOT_DUE)
            return await self._pay(conn, schedule, now)

    async def _pay(self, conn: asyncpg.Connection, schedule: rules.ScheduleRecord, now: dt.datetime) -> Outcome:
        merchant_id = schedule.merchant_id
        available_ref, reserved_ref = self.book.accounts(merchant_id)
        key = await self._period(conn, schedule, now)
        if isinstance(key, Outcome):
            return key
        request_id = rules.request_id(merchant_id, key)
        replay = await payout_store.find_by_request(conn, merchant_id, request_id)
        if replay is not None:
            return Outcome(merchant_id, ALREADY_PAID, replay[0].id, replay[0].amount)
        found = (
            await address_store.get(conn, merchant_id, schedule.settlement_address_id)
            if schedule.settlement_address_id
            else None
        )
        if found is None or found[0].state == "REVOKED":
            return await self._skip(conn, merchant_id, now, ADDRESS_REVOKED)
        address = found[0]
        if not address_rules.usable(address, now):
            return await self._skip(conn, merchant_id, now, ADDRESS_NOT_USABLE)
        locked = await journal.lock_balances(conn, [available_ref, reserved_ref])
        fee = self.book.terms.fixed_fee
        amount = rules.payout_amount(locked[available_ref], fee)
        if amount <= 0 or amount < max(schedule.minimum_amount, self.book.terms.minimum):
            return await self._skip(conn, merchant_id, now, BELOW_MINIMUM)
        fee = payout_fee(fee, amount)
        payout = await self.book.reserve(
            conn,
            merchant_id=merchant_id,
            address=address,
            amount=amount,
            fee=fee,
            description=f"Scheduled payout ({schedule.frequency.lower()}, {key})",
            metadata={},
            request_id=request_id,
            request_hash=hashlib.sha256(request_id.encode()).digest(),
            now=now,
            trigger="SCHEDULED",
        )
        await store.record_run(conn, merchant_id, now, PAID, payout.id)
        return Outcome(merchant_id, PAID, payout.id, amount)

    async def _period(
        self, conn: asyncpg.Connection, schedule: rules.ScheduleRecord, now: dt.datetime
    ) -> str | Outcome:
        """The period key due at `now`, or the outcome when none is due."""
        merchant_id = schedule.merchant_id
        if schedule.frequency != "THRESHOLD":
            due = rules.period_key(schedule, now)
            return Outcome(merchant_id, NOT_DUE) if due is None else due
        code = journal.account_code(self.book.accounts(merchant_id)[0])
        balance = int(await conn.fetchval("SELECT balance FROM ledger.accounts WHERE code = $1", code) or 0)
        if balance < schedule.threshold:
            return Outcome(merchant_id, NOT_DUE)
        if await store.open_scheduled(conn, merchant_id):
            return await self._skip(conn, merchant_id, now, PAYOUT_IN_PROGRESS)
        return f"T{await store.count_scheduled(conn, merchant_id) + 1}"

    @staticmethod
    async def _skip(conn: asyncpg.Connection, merchant_id: str, now: dt.datetime, outcome: str) -> Outcome:
        await store.record_run(conn, merchant_id, now, outcome, None)
        return Outcome(merchant_id, outcome)
