"""`stablegate report settlement|fees`: the per-day, per-merchant reports as CSV, read from the ledger's journal.

The CLI reads the ledger's database directly (as `stablegate db migrate` and `admin keys create` do): the reports
are read-only folds of the journal (`ledger/store/reports.py`). Exit status: 0 written, 2 bad dates or the
database unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import sys
from pathlib import Path
from typing import TextIO

import asyncpg

from ledger.store import reports

EXIT_FAILED = 2
MAX_DAYS = 366
"""The longest range one report covers."""

HEADERS = {
    "settlement": (
        "day",
        "merchant_id",
        "asset",
        "invoices_paid",
        "payments_credited",
        "volume_base_units",
        "reversed_base_units",
    ),
    "fees": ("day", "merchant_id", "asset", "fees_base_units", "gas_spent_base_units", "sweeps", "swept_base_units"),
}


def _date(value: str | None, name: str, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


async def _rows(url: str, kind: str, since: dt.date, until: dt.date, merchant: str | None) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if kind == "settlement":
            return [
                (r.day.isoformat(), r.merchant_id, r.asset, r.invoices_paid, r.payments_credited, r.volume, r.reversed)
                for r in await reports.settlement_report(conn, since, until, merchant)
            ]
        return [
            (f.day.isoformat(), f.merchant_id, f.asset, f.fees, f.gas_spent, f.sweeps, f.swept)
            for f in await reports.fee_report(conn, since, until, merchant)
        ]
    finally:
        await conn.close()


def write_csv(out: TextIO, kind: str, rows: list[tuple[object, ...]]) -> None:
    """The header, then one line per row (amounts as integers in base units)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS[kind])
    writer.writerows(rows)


def cmd_report(args: argparse.Namespace, database_url: str) -> int:
    """Write the settlement or fee report for a range of UTC days as CSV."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        since = _date(args.since, "--since", today)
        until = _date(args.until, "--until", since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if until < since:
        print(f"error: --until ({until}) is before --since ({since})", file=sys.stderr)
        return EXIT_FAILED
    if (until - since).days + 1 > MAX_DAYS:
        print(f"error: one report covers at most {MAX_DAYS} days", file=sys.stderr)
        return EXIT_FAILED
    try:
        rows = asyncio.run(_rows(database_url, args.report, since, until, args.merchant))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"error: cannot read the ledger's database: {exc}. Is Postgres up? Check --database-url."
        print(message, file=sys.stderr)
        return EXIT_FAILED
    output: Path | None = args.output
    if output is None:
        write_csv(sys.stdout, args.report, rows)
    else:
        with output.open("w", newline="") as out:
            write_csv(out, args.report, rows)
        print(f"{len(rows)} rows written to {output}", file=sys.stderr)
    return 0
