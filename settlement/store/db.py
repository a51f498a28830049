"""Settlement's migrations (schema `settlement`), applied by `stablegate db migrate` or at start in dev."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from service_runtime.migrations import discover, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def apply_migrations(url: str) -> list[str]:
    """Apply settlement's pending migrations on a connection of their own; the names applied."""
    conn = await asyncpg.connect(url)
    try:
        return [m.name for m in await migrate(conn, "settlement", discover("settlement", MIGRATIONS_DIR))]
    finally:
        await conn.close()
