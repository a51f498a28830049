"""Ledger migrations apply to an empty database; the schema itself enforces the money invariants."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from gateway.cli import MIGRATIONS
from service_runtime.migrations import MigrationError, discover, migrate


def db_migrate(url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def test_db_migrate_applies_everything_to_an_empty_database_then_nothing(empty_db: str) -> None:
    first = db_migrate(empty_db)
    assert first.returncode == 0, first.stderr
    assert "ledger: 0001_init.sql" in first.stdout
    second = db_migrate(empty_db)
    assert second.returncode == 0, second.stderr
    assert "ledger: nothing new" in second.stdout
    conn = await asyncpg.connect(empty_db)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='ledger'")}
    finally:
        await conn.close()
    assert {
        "merchants",
        "api_keys",
        "invoices",
        "payments",
        "accounts",
        "journal_transactions",
        "journal_entries",
        "outbox",
    } <= tables


async def test_a_changed_applied_migration_is_refused(ledger_db: str, tmp_path: Path) -> None:
    changed = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS["ledger"], changed)
    first = changed / "0001_init.sql"
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    conn = await asyncpg.connect(ledger_db)
    try:
        with pytest.raises(MigrationError, match=r"0001_init\.sql changed after it was applied"):
            await migrate(conn, "ledger", discover("ledger", changed))
    finally:
        await conn.close()


def test_a_gap_in_migration_numbers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "0003_c.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="expected migration 0002"):
        discover("x", tmp_path)


def test_db_migrate_without_a_database_says_what_to_do() -> None:
    result = db_migrate("postgresql://postgres@127.0.0.1:1/stablegate")
    assert result.returncode == 1
    assert "cannot connect to the database" in result.stderr
    assert "./dev up" in result.stderr


async def _setup_accounts(conn: asyncpg.Connection) -> tuple[int, int]:
    await conn.execute("INSERT INTO ledger.merchants (id, name) VALUES ('mer_1', 'Shop')")
    clearing = await conn.fetchval(
        "INSERT INTO ledger.accounts (code, kind, asset, normal_side) VALUES ('chain_clearing:USDT', "
        "'chain_clearing', 'USDT', 'D') RETURNING id"
    )
    available = await conn.fetchval(
        "INSERT INTO ledger.accounts (code, kind, merchant_id, asset, normal_side) VALUES "
        "('merchant:mer_1:available:USDT', 'merchant_available', 'mer_1', 'USDT', 'C') RETURNING id"
    )
    return int(clearing), int(available)


async def _post(conn: asyncpg.Connection, request_id: str, entries: list[tuple[int, str, int]]) -> None:
    async with conn.transaction():
        tx = await conn.fetchval(
            "INSERT INTO ledger.journal_transactions (request_id, request_hash, kind) VALUES ($1, '\\x00', 'test') "
            "RETURNING id",
            request_id,
        )
        for account, side, amount in entries:
            await conn.execute(
                "INSERT INTO ledger.journal_entries (transaction_id, account_id, asset, side, amount) "
                "VALUES ($1, $2, 'USDT', $3, $4)",
                tx,
                account,
                side,
                amount,
            )


async def test_journal_keeps_balances_refuses_unbalanced_negative_and_edits(ledger_db: str) -> None:
    conn = await asyncpg.connect(ledger_db)
    try:
        clearing, available = await _setup_accounts(conn)
        await _post(conn, "credit-1", [(clearing, "D", 10**19), (available, "C", 10**19)])
        balances = dict(await conn.fetch("SELECT id, balance FROM ledger.accounts"))
        assert balances == {clearing: 10**19, available: 10**19}

        with pytest.raises(asyncpg.PostgresError, match="does not balance"):
            await _post(conn, "unbalanced", [(clearing, "D", 5), (available, "C", 4)])
        with pytest.raises(asyncpg.CheckViolationError, match="merchant_balance_not_negative"):
            await _post(conn, "overdraw", [(available, "D", 10**19 + 1), (clearing, "C", 10**19 + 1)])
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("UPDATE ledger.journal_entries SET amount = 1")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM ledger.journal_transactions")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("TRUNCATE ledger.journal_entries CASCADE")

        # Nothing of the refused attempts remains.
        assert await conn.fetchval("SELECT count(*) FROM ledger.journal_transactions") == 1
        assert dict(await conn.fetch("SELECT id, balance FROM ledger.accounts")) == balances
    finally:
        await conn.close()
