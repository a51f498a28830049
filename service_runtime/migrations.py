"""Versioned, forward-only, checksummed SQL migrations, one directory per owning service.

Files are named `NNNN_description.sql` and applied in order, each in its own transaction, recorded in
`public.stablegate_migrations` with a SHA-256 of its text. A recorded migration whose file has changed is an
error: migrations are forward-only, so a fix is a new file. A Postgres advisory lock serialises concurrent
migrators (several replicas starting at once).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Arbitrary but fixed: the advisory-lock key every migrator takes.
MIGRATION_LOCK_KEY = 0x5347_4D49_4752  # "SGMIGR"

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS public.stablegate_migrations (
    service    text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version)
)
"""


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree, or one failed; the message says how to fix it."""


@dataclass(frozen=True)
class Migration:
    """One migration file of one service."""

    service: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(service: str, directory: Path) -> list[Migration]:
    """The service's migrations in version order; misnamed files and gaps are errors."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(service, int(match.group(1)), path.name, path.read_text()))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"{service}: expected migration {expected:04d}, found {migration.name}")
    return found


async def applied(conn: asyncpg.Connection, service: str) -> dict[int, tuple[str, str]]:
    """Version → (name, checksum) of the service's migrations already applied."""
    rows = await conn.fetch(
        "SELECT version, name, checksum FROM public.stablegate_migrations WHERE service = $1", service
    )
    return {int(r["version"]): (str(r["name"]), str(r["checksum"])) for r in rows}


async def migrate(conn: asyncpg.Connection, service: str, migrations: list[Migration]) -> list[Migration]:
    """Apply what is missing, in order; verify the checksums of what was applied before. Returns the new ones."""
    # Created only when missing: a service's own role (docs/operations.md, "Postgres roles") may read and add
    # its rows but not create tables in `public`, and CREATE TABLE IF NOT EXISTS checks that privilege first.
    if await conn.fetchval("SELECT to_regclass('public.stablegate_migrations')") is None:
        await conn.execute(BOOKKEEPING)
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        done = await applied(conn, service)
        for version, (name, checksum) in sorted(done.items()):
            on_disk = next((m for m in migrations if m.version == version), None)
            if on_disk is None:
                raise MigrationError(f"{service}: database has migration {name}, which is not on disk")
            if on_disk.checksum != checksum:
                raise MigrationError(
                    f"{service}: migration {name} changed after it was applied (checksum differs); migrations are "
                    "forward-only: restore the file and put the change in a new migration"
                )
        new = [m for m in migrations if m.version not in done]
        for migration in new:
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO public.stablegate_migrations (service, version, name, checksum) "
                        "VALUES ($1, $2, $3, $4)",
                        service,
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{service}: migration {migration.name} failed: {exc}") from exc
        return new
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
