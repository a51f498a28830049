"""`stablegate report settlement|fees|statement`: reports as CSV, read from the ledger's journal.

`settlement` and `fees` are per UTC day and merchant; `statement` is one merchant's month (`--merchant`, `--month
YYYY-MM`), the same figures as `GET /v1/statements/{month}` (ledger/store/statements.py).

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

from ledger.api.statements import read_statement
from ledger.errors import InvalidField
from ledger.store import reports
from ledger.store.statements import Statement

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
    "statement": (
        "section",
        "time",
        "category",
        "journal_kind",
        "transaction_id",
        "reference",
        "gross_base_units",
        "fee_base_units",
        "net_base_units",
        "balance_base_units",
        "amount_base_units",
    ),
}
STATEMENT_TOTALS = ("payments", "fees", "payouts", "refunds", "adjustments")
"""The statement's total rows, in order, between its lines and its closing balance."""


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


def statement_rows(found: Statement) -> list[tuple[object, ...]]:
    """A statement as CSV rows: opening balance, each line, the totals, closing balance (`amount_base_units`)."""
    blank = ("",) * 9
    rows: list[tuple[object, ...]] = [("opening_balance", found.start.isoformat(), *blank[1:], found.opening)]
    rows += [
        (
            "line",
            line.time.isoformat(),
            line.category,
            line.journal_kind,
            line.transaction_id,
            line.reference,
            line.gross,
            line.fee,
            line.net,
            line.balance,
            "",
        )
        for line in found.lines
    ]
    rows += [(name, *blank, getattr(found, name)) for name in STATEMENT_TOTALS]
    rows.append(("closing_balance", found.end.isoformat(), *blank[1:], found.closing))
    return rows


async def statement_csv_rows(url: str, merchant: str, asset: str, month: str) -> list[tuple[object, ...]]:
    """A merchant's statement for a "YYYY-MM" month as CSV rows, read from the database at `url`."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1, timeout=10)
    try:
        return statement_rows(await read_statement(pool, merchant, asset, month, dt.datetime.now(dt.UTC)))
    finally:
        await pool.close()


def cmd_statement(args: argparse.Namespace, database_url: str) -> int:
    """Write one merchant's monthly statement as CSV (the same figures as `GET /v1/statements/{month}`)."""
    if not args.merchant or not args.month:
        print("error: a statement needs --merchant and --month (YYYY-MM)", file=sys.stderr)
        return EXIT_FAILED
    try:
        rows = asyncio.run(statement_csv_rows(database_url, args.merchant, args.asset, args.month))
    except InvalidField as exc:
        print(f"error: --month: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(
            f"error: cannot read the ledger's database: {exc}. Is Postgres up? Check --database-url.", file=sys.stderr
        )
        return EXIT_FAILED
    _write(args.output, "statement", rows)
    return 0


def _write(output: Path | None, kind: str, rows: list[tuple[object, ...]]) -> None:
    if output is None:
        write_csv(sys.stdout, kind, rows)
    else:
        with output.open("w", newline="") as out:
            write_csv(out, kind, rows)
        print(f"{len(rows)} rows written to {output}", file=sys.stderr)


def write_csv(out: TextIO, kind: str, rows: list[tuple[object, ...]]) -> None:
    """The header, then one line per row (amounts as integers in base units)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS[kind])
    writer.writerows(rows)


def cmd_report(args: argparse.Namespace, database_url: str) -> int:
    """Write the settlement or fee report for a range of UTC days (or a monthly statement) as CSV."""
    if args.report == "statement":
        return cmd_statement(args, database_url)
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
    _write(args.output, args.report, rows)
    return 0
