"""`stablegate payouts run-schedules`: one pass of the payout scheduler, now (ledger/schedules.py).

For an operator (a ledger run with `STABLEGATE_LEDGER_PAYOUT_SCHEDULE_INTERVAL_SECONDS=0`, or to pay now) and for
tests. It reads the ledger's settings (payout fee, minimum, chain and token) and works on its database directly, as
`stablegate report` does; it is safe beside running ledgers: each merchant's period is paid at most once. Exit
status: 0 done (even when some merchants were skipped), 1 when a merchant's payout failed, 2 when the run could not
start (settings or database).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys

from ledger.config import LedgerSettings
from ledger.payouts import PayoutBook, PayoutTerms
from ledger.schedules import FAILED, Outcome, PayoutScheduler
from ledger.store.db import open_pool

EXIT_SOME_FAILED = 1
EXIT_FAILED = 2


def _terms(settings: LedgerSettings) -> PayoutTerms:
    return PayoutTerms(
        asset=settings.asset,
        chain_id=settings.chain_id,
        token_contract=settings.token_contract,
        decimals=settings.token_decimals,
        fixed_fee=settings.payout_fee_base_units,
        minimum=settings.payout_minimum_base_units,
    )


async def run_schedules(settings: LedgerSettings, url: str, now: dt.datetime) -> list[Outcome]:
    """One scheduler pass at `now` on the database at `url`, with the ledger's payout terms."""
    pool = await open_pool(url, 2, wait_seconds=10)
    try:
        return await PayoutScheduler(PayoutBook(pool, _terms(settings))).run(now)
    finally:
        await pool.close()


def cmd_run_schedules(args: argparse.Namespace, settings: LedgerSettings, url: str) -> int:
    """Run the scheduler once and print what it did for each scheduled merchant."""
    try:
        now = dt.datetime.fromisoformat(args.at) if args.at else dt.datetime.now(dt.UTC)
    except ValueError:
        print(f"error: --at must be an ISO 8601 time, got {args.at!r}", file=sys.stderr)
        return EXIT_FAILED
    if now.tzinfo is None:
        print("error: --at needs a UTC offset, e.g. 2026-11-26T10:00:00+00:00", file=sys.stderr)
        return EXIT_FAILED
    try:
        outcomes = asyncio.run(run_schedules(settings, url, now))
    except (OSError, TimeoutError) as exc:
        print(f"error: the ledger database is unreachable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    rows = [
        {"merchant_id": o.merchant_id, "outcome": o.outcome, "payout_id": o.payout_id or "", "amount": str(o.amount)}
        for o in outcomes
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['merchant_id']}\t{row['outcome']}\t{row['payout_id']}\t{row['amount']}")
    return EXIT_SOME_FAILED if any(o.outcome == FAILED for o in outcomes) else 0
