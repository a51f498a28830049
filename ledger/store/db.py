"""The asyncpg pool and migrations at start."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from service_runtime.config import redact_url_secrets
from service_runtime.migrations import discover, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUnavailable(RuntimeError):
    """The database did not accept connections in time; the message says where it was looked for."""


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset (a round trip per call): the ledger leaves no session state behind.

    The ledger never LISTENs, opens cursors or sets session settings on pooled connections, and the migrator
    unlocks its advisory lock itself.
    """


async def open_pool(url: str, size: int, *, wait_seconds: float = 30.0) -> asyncpg.Pool:
    """A connection pool to the ledger's database, waiting up to `wait_seconds` for it to come up."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=size, command_timeout=30, reset=_keep_session)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError) as exc:
            if time.monotonic() >= deadline:
                where = redact_url_secrets(url)
                raise DatabaseUnavailable(f"cannot connect to {where} after {wait_seconds:.0f}s: {exc}") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        assert pool is not None
        return pool


async def apply_migrations(url: str) -> list[str]:
    """Apply the ledger's pending migrations on a connection of their own; returns the names applied.

    Not on a pooled connection: the pool skips the reset that would release a migration lock left behind by a
    cancelled start, and a closed connection always releases it.
    """
    conn = await asyncpg.connect(url)
    try:
        new = await migrate(conn, "ledger", discover("ledger", MIGRATIONS_DIR))
    finally:
        await conn.close()
    return [m.name for m in new]
