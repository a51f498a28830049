"""One Postgres role per schema owner (gateway/db_roles.py), on a real Postgres.

Each service's role owns its schema and runs its own migrations; reading another service's schema is a Postgres
permission error; the migrations' bookkeeping shows each role its own rows only.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from gateway.cli import MIGRATIONS, main
from gateway.db_roles import SCHEMA_OWNERS, RoleSetupError, provision_roles, role_statements, service_url
from service_runtime.migrations import Migration, discover, migrate


async def connect_as(db_url: str, service: str) -> asyncpg.Connection:
    """A connection as the service's own role."""
    return await asyncpg.connect(service_url(db_url, service))


async def test_each_role_migrates_its_own_schema_and_cannot_read_anothers(empty_db: str) -> None:
    admin = await asyncpg.connect(empty_db)
    try:
        await provision_roles(admin)
    finally:
        await admin.close()
    # As on Kubernetes: the roles exist first and every service applies its migrations as itself.
    for service in SCHEMA_OWNERS:
        conn = await connect_as(empty_db, service)
        try:
            applied = await migrate(conn, service, discover(service, MIGRATIONS[service]))
            assert applied, service
            assert await conn.fetchval("SELECT current_user") == service
            # Its bookkeeping rows only (row-level security).
            seen = {r["service"] for r in await conn.fetch("SELECT service FROM public.stablegate_migrations")}
            assert seen == {service}
        finally:
            await conn.close()
    watcher = await connect_as(empty_db, "watcher")
    try:
        await watcher.fetchval("SELECT count(*) FROM watcher.addresses")  # its own: fine
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema ledger"):
            await watcher.fetchval("SELECT count(*) FROM ledger.invoices")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await watcher.execute("DELETE FROM settlement.sweeps")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await watcher.execute(
                "INSERT INTO public.stablegate_migrations (service, version, name, checksum) "
                "VALUES ('ledger', 999, 'x', 'x')"
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await watcher.execute("CREATE TABLE public.stray (id int)")
    finally:
        await watcher.close()
    ledger = await connect_as(empty_db, "ledger")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema dashboard"):
            await ledger.fetch("SELECT * FROM dashboard.users LIMIT 1")
    finally:
        await ledger.close()


async def test_a_database_migrated_by_the_admin_is_handed_to_the_roles(empty_db: str) -> None:
    """A database from before the roles (everything owned by the admin): provisioning moves each schema's objects
    to its role, which then reads, writes and migrates on; running it again changes nothing."""
    admin = await asyncpg.connect(empty_db)
    try:
        for service in SCHEMA_OWNERS:
            await migrate(admin, service, discover(service, MIGRATIONS[service]))
        await provision_roles(admin)
        await provision_roles(admin)  # idempotent
        owners = await admin.fetch(
            "SELECT n.nspname AS schema, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r'",
            list(SCHEMA_OWNERS),
        )
        assert owners and all(r["schema"] == r["owner"] for r in owners)
    finally:
        await admin.close()
    watcher = await connect_as(empty_db, "watcher")
    try:
        migrations = discover("watcher", MIGRATIONS["watcher"])
        assert await migrate(watcher, "watcher", migrations) == []  # nothing new, checksums readable
        extra = Migration("watcher", len(migrations) + 1, "9999_extra.sql", "CREATE TABLE watcher.extra (id int)")
        assert await migrate(watcher, "watcher", [*migrations, extra]) == [extra]
        await watcher.execute("INSERT INTO watcher.extra VALUES (1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await watcher.fetchval("SELECT count(*) FROM ledger.journal_entries")
    finally:
        await watcher.close()


def test_names_that_are_not_plain_identifiers_are_refused() -> None:
    with pytest.raises(RoleSetupError, match="not a plain lower-case SQL identifier"):
        role_statements("stablegate", ["ledger; DROP TABLE x"])
    with pytest.raises(RoleSetupError):
        role_statements('db"name')


async def test_the_db_roles_command_sets_the_roles_up(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(main, ["db", "roles", "--database-url", empty_db]) == 0
    assert "ledger, watcher, settlement, dashboard" in capsys.readouterr().out
    dashboard = await connect_as(empty_db, "dashboard")
    try:
        assert await dashboard.fetchval("SELECT has_schema_privilege('dashboard', 'CREATE')") is True
        assert await dashboard.fetchval("SELECT has_schema_privilege('ledger', 'USAGE')") is False
    finally:
        await dashboard.close()
