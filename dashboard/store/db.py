"""The dashboard's pool and migrations (schema `dashboard`), applied by `stablegate db migrate` or at start in dev."""

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


async def open_pool(url: str, size: int, *, wait_seconds: float = 30.0) -> asyncpg.Pool:
    """A connection pool, waiting up to `wait_seconds` for the database to come up."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=size, command_timeout=30)
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
    """Apply the dashboard's pending migrations on a connection of their own; the names applied."""
    conn = await asyncpg.connect(url)
    try:
        return [m.name for m in await migrate(conn, "dashboard", discover("dashboard", MIGRATIONS_DIR))]
    finally:
        await conn.close()
