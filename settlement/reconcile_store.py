"""Reconciliation reports in Postgres (schema `settlement`, migration 0002): written once, never changed."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from settlement.reconcile import Line, Report, ReportStatus

_REPORT_COLUMNS = (
    "seq, id, request_id, trigger, chain_id, block_number, status, mismatch_count, error, create_time, complete_time"
)


@dataclass(frozen=True)
class StoredReport:
    """A report as stored, with its position in the list (newest first by `seq`)."""

    seq: int
    report: Report
    mismatch_count: int


def _report(row: asyncpg.Record, lines: tuple[Line, ...]) -> StoredReport:
    report = Report(
        id=row["id"],
        chain_id=int(row["chain_id"]),
        block_number=row["block_number"],
        status=ReportStatus(row["status"]),
        lines=lines,
        error=row["error"],
        create_time=row["create_time"],
        complete_time=row["complete_time"],
        trigger=row["trigger"],
        request_id=row["request_id"],
    )
    return StoredReport(int(row["seq"]), report, int(row["mismatch_count"]))


async def _lines(conn: asyncpg.Connection, report_id: str) -> tuple[Line, ...]:
    rows = await conn.fetch(
        "SELECT account, kind, asset, address, chain_balance, ledger_balance, note "
        "FROM settlement.reconciliation_lines WHERE report_id = $1 ORDER BY position",
        report_id,
    )
    return tuple(
        Line(
            account=r["account"],
            kind=r["kind"],
            asset=r["asset"],
            address=r["address"],
            chain_balance=None if r["chain_balance"] is None else int(r["chain_balance"]),
            ledger_balance=None if r["ledger_balance"] is None else int(r["ledger_balance"]),
            note=r["note"],
        )
        for r in rows
    )


async def insert(conn: asyncpg.Connection, report: Report) -> StoredReport:
    """Store a finished report with its lines; the report already stored under the same request id if any."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO settlement.reconciliation_reports (id, request_id, trigger, chain_id, block_number, status, "
            "mismatch_count, error, create_time, complete_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            f"ON CONFLICT (request_id) DO NOTHING RETURNING {_REPORT_COLUMNS}",
            report.id,
            report.request_id,
            report.trigger,
            report.chain_id,
            report.block_number,
            report.status.value,
            len(report.mismatches),
            report.error,
            report.create_time,
            report.complete_time,
        )
        if row is None:
            earlier = await by_request_id(conn, report.request_id)
            assert earlier is not None, "ON CONFLICT waited for the other insert, which committed"
            return earlier
        await conn.executemany(
            "INSERT INTO settlement.reconciliation_lines (report_id, position, account, kind, asset, address, "
            "chain_balance, ledger_balance, difference, status, note) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                (
                    report.id,
                    position,
                    line.account,
                    line.kind,
                    line.asset,
                    line.address,
                    line.chain_balance,
                    line.ledger_balance,
                    line.difference,
                    line.status.value,
                    line.note,
                )
                for position, line in enumerate(report.lines)
            ],
        )
    return _report(row, report.lines)


async def get(conn: asyncpg.Connection, report_id: str) -> StoredReport | None:
    """A report with its lines, or None."""
    row = await conn.fetchrow(
        f"SELECT {_REPORT_COLUMNS} FROM settlement.reconciliation_reports WHERE id = $1", report_id
    )
    return None if row is None else _report(row, await _lines(conn, report_id))


async def by_request_id(conn: asyncpg.Connection, request_id: str) -> StoredReport | None:
    """The report a request id made, with its lines, or None."""
    row = await conn.fetchrow(
        f"SELECT {_REPORT_COLUMNS} FROM settlement.reconciliation_reports WHERE request_id = $1", request_id
    )
    return None if row is None else _report(row, await _lines(conn, row["id"]))


async def list_reports(
    conn: asyncpg.Connection, *, before_seq: int | None, status: ReportStatus | None, limit: int
) -> list[StoredReport]:
    """Reports newest first (without their lines), older than `before_seq`, of one status if given."""
    rows = await conn.fetch(
        f"SELECT {_REPORT_COLUMNS} FROM settlement.reconciliation_reports "
        "WHERE ($1::bigint IS NULL OR seq < $1) AND ($2::text IS NULL OR status = $2) ORDER BY seq DESC LIMIT $3",
        before_seq,
        status.value if status else None,
        limit,
    )
    return [_report(r, ()) for r in rows]
