"""Ledger fixtures: a fresh, migrated database per test on the session's real Postgres."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest

from service_runtime.cli import MIGRATIONS
from service_runtime.migrations import discover, migrate

if TYPE_CHECKING:
    from tests.conftest import PostgresServer


@pytest.fixture
async def empty_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.plan.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres.plan.dsn.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def ledger_db(empty_db: str) -> str:
    """The URL of a new database with every ledger migration applied."""
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, "ledger", discover("ledger", MIGRATIONS["ledger"]))
    finally:
        await conn.close()
    return empty_db


@pytest.fixture(scope="module")
async def postgres_module_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """A migrated database shared by one test module (for simulations that build on each other)."""
    name = f"m_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.plan.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres.plan.dsn.rsplit("/", 1)[0] + f"/{name}"
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn, "ledger", discover("ledger", MIGRATIONS["ledger"]))
        finally:
            await conn.close()
        yield url
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
