"""`stablegate reconcile`: run one reconciliation in this process with settlement's settings and print the report.

It reads the same STABLEGATE_SETTLEMENT_* variables as the settlement service, calls the ledger over mutual TLS
with settlement's certificate, reads the chain from its providers and stores the report in schema `settlement`,
exactly as the periodic job does. Exit status: 0 matched, 1 a difference, 2 the run failed (database, ledger or
chain unreachable, block not finalized).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from chain.client import ChainClient, ClientOptions
from service_runtime import mesh
from service_runtime.config import settings_or_exit
from settlement.config import SettlementSettings
from settlement.reconcile import BlockNotFinalized, LineStatus, ReportStatus
from settlement.reconcile_service import Reconciler, ReconciliationMetrics, targets_from
from settlement.reconcile_sources import ChainReader, LedgerReader
from settlement.reconcile_store import StoredReport

EXIT_MATCHED = 0
EXIT_DIFFERENCE = 1
EXIT_FAILED = 2


def report_json(stored: StoredReport) -> dict[str, Any]:
    """A report as plain JSON (amounts as integer strings in base units)."""
    report = stored.report
    return {
        "id": report.id,
        "request_id": report.request_id,
        "trigger": report.trigger,
        "chain_id": report.chain_id,
        "block_number": report.block_number,
        "status": report.status.value,
        "mismatch_count": stored.mismatch_count,
        "error": report.error,
        "create_time": report.create_time.isoformat(),
        "complete_time": report.complete_time.isoformat(),
        "lines": [
            {
                "account": line.account,
                "kind": line.kind,
                "asset": line.asset,
                "address": line.address,
                "chain_balance_base_units": None if line.chain_balance is None else str(line.chain_balance),
                "ledger_balance_base_units": None if line.ledger_balance is None else str(line.ledger_balance),
                "difference_base_units": str(line.difference),
                "status": line.status.value,
                "note": line.note,
            }
            for line in report.lines
        ],
    }


def print_report(stored: StoredReport, console: Console) -> None:
    """The report as a table, the differing lines in red."""
    report = stored.report
    title = f"Reconciliation {report.id} · chain {report.chain_id} · block {report.block_number or '-'}"
    rows = [
        (
            line.account,
            line.address,
            "-" if line.chain_balance is None else str(line.chain_balance),
            "-" if line.ledger_balance is None else str(line.ledger_balance),
            str(line.difference),
            line.status.value + (f" ({line.note})" if line.note else ""),
            {LineStatus.MISMATCHED: "bold red", LineStatus.SKIPPED: "dim"}.get(line.status, ""),
        )
        for line in report.lines
    ]
    columns = ("account", "address", "chain", "ledger", "difference")
    widths = [max([len(column)] + [len(row[index]) for row in rows]) for index, column in enumerate(columns)]
    if sum(widths) + 3 * len(widths) + 24 > console.width:
        # Too narrow for the table without cutting a figure: one block per line instead.
        console.print(title, highlight=False)
        for account, address, chain, ledger, difference, status, style in rows:
            console.print(
                f"{account} ({address})\n  chain {chain}\n  ledger {ledger}\n  difference {difference}\n  {status}",
                style=style or None,
                highlight=False,
            )
    else:
        console.print(_table(title, columns, widths, rows))
    colour = {ReportStatus.MATCHED: "green", ReportStatus.MISMATCHED: "bold red", ReportStatus.FAILED: "bold red"}
    console.print(f"[{colour[report.status]}]{report.status.value}[/]", highlight=False)
    if report.error:
        console.print(f"[bold red]error:[/] {report.error}", highlight=False)


def _table(
    title: str, columns: tuple[str, ...], widths: list[int], rows: list[tuple[str, str, str, str, str, str, str]]
) -> Table:
    table = Table(title=title)
    for column, widest in zip(columns, widths, strict=True):
        # Figures and addresses are never cut or folded (a cut number misreads); the status column folds instead.
        table.add_column(
            column,
            justify="right" if column in ("chain", "ledger", "difference") else "left",
            no_wrap=True,
            min_width=widest,
        )
    table.add_column("status", overflow="fold")
    for *cells, style in rows:
        table.add_row(*cells, style=style)
    return table


async def _run(args: argparse.Namespace, settings: SettlementSettings) -> tuple[int, StoredReport | None, str]:
    try:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return (
            EXIT_FAILED,
            None,
            (f"cannot connect to the database: {exc}. Check STABLEGATE_SETTLEMENT_DATABASE_URL; is Postgres up?"),
        )
    client = ChainClient(settings.rpc_urls, ClientOptions(timeout_seconds=10, rounds=2))
    channel = mesh.channel(settings.ledger_target, settings.tls)
    try:
        async with pool.acquire() as conn:
            try:
                await conn.execute("SELECT 1 FROM settlement.reconciliation_reports LIMIT 1")
            except asyncpg.UndefinedTableError:
                return EXIT_FAILED, None, "the settlement schema is missing: run `stablegate db migrate` first"
        reconciler = Reconciler(
            targets=targets_from(settings),
            chain=ChainReader(client, settings.reconcile_concurrency),
            ledger=LedgerReader(channel, settings.chain_id),
            pool=pool,
            metrics=ReconciliationMetrics(),
            ledger_target=settings.ledger_target,
        )
        request_id = f"cli:{args.request_id or secrets.token_hex(8)}"
        try:
            stored = await reconciler.run(request_id, trigger="cli", block=args.block)
        except BlockNotFinalized as exc:
            return EXIT_FAILED, None, str(exc)
        code = {ReportStatus.MATCHED: EXIT_MATCHED, ReportStatus.MISMATCHED: EXIT_DIFFERENCE}
        return code.get(stored.report.status, EXIT_FAILED), stored, stored.report.error
    finally:
        await channel.close(None)
        await client.close()
        await pool.close()


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Compare the chain with the ledger at the newest finalized block; print and store the report."""
    settings = settings_or_exit(SettlementSettings)
    if args.block is not None and args.block <= 0:
        print("error: --block must be a positive block number", file=sys.stderr)
        return EXIT_FAILED
    code, stored, error = asyncio.run(_run(args, settings))
    if args.json:
        body = report_json(stored) if stored is not None else {"error": error}
        print(json.dumps(body, indent=2, sort_keys=True))
    elif stored is not None:
        # Piped into a file or another program, keep every figure on one line: a wrapped number misreads.
        print_report(stored, Console() if sys.stdout.isatty() else Console(width=200))
    if stored is None:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False)
    return code
