"""One Postgres role per schema owner: each service logs in as itself and reaches its own schema only.

`stablegate db roles` (and `stablegate up`, on its database) makes, for each service with a schema (the ledger,
the watcher, settlement, the dashboard), a login role named after the service that:

- owns its schema and everything in it (tables, views, sequences, functions, types), so its migrations run as
  itself (MIGRATE_ON_START) and its store reads and writes as before;
- has no privilege on the other schemas: the watcher's role reading a ledger table is a Postgres permission
  error (`tests/cli/test_db_roles.py`);
- may connect, make temporary tables and create a schema in the database (the first migration of each service
  says `CREATE SCHEMA IF NOT EXISTS`, which Postgres checks against the database's CREATE privilege even when
  the schema is there; a new schema would be the role's own and grants it nothing on the others);
- sees and adds only its own rows of `public.stablegate_migrations` (row-level security, `service =
  current_user`), which it may not create: the provisioning makes it.

Everyone else (PUBLIC) loses CONNECT on the database. Running it again changes nothing (each step is
idempotent), and it moves objects an earlier, shared-role setup left to another owner into the role's hands.
The same layout on Kubernetes is CloudNativePG's managed roles plus the Cluster's post-init SQL
(deploy/kubernetes/base/postgres.yaml; docs/operations.md, "Postgres roles").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import asyncpg

from gateway.scram import scram_sha256_verifier
from service_runtime.migrations import BOOKKEEPING

SCHEMA_OWNERS = ("ledger", "watcher", "settlement", "dashboard")
"""The services that own a schema of the same name; each gets a role of that name."""
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_VERIFIER = re.compile(r"^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")


class RoleSetupError(ValueError):
    """A service or database name that cannot be a role or a database here; the message names it."""


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise RoleSetupError(f"{name!r} is not a plain lower-case SQL identifier")
    return f'"{name}"'


def _own_everything_in_schema(role: str) -> str:
    """A DO block giving `role` every object in its schema (tables first: their sequences and indexes follow)."""
    return f"""
DO $$
DECLARE obj record;
BEGIN
  FOR obj IN SELECT c.oid::regclass AS name FROM pg_class c
             WHERE c.relnamespace = '{role}'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND pg_get_userbyid(c.relowner) <> '{role}' LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {_ident(role)}', obj.name);
  END LOOP;
  FOR obj IN SELECT c.oid::regclass AS name FROM pg_class c
             WHERE c.relnamespace = '{role}'::regnamespace AND c.relkind = 'S'
               AND pg_get_userbyid(c.relowner) <> '{role}'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO {_ident(role)}', obj.name);
  END LOOP;
  FOR obj IN SELECT p.oid::regprocedure AS name FROM pg_proc p
             WHERE p.pronamespace = '{role}'::regnamespace AND pg_get_userbyid(p.proowner) <> '{role}' LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO {_ident(role)}', obj.name);
  END LOOP;
  FOR obj IN SELECT t.oid::regtype AS name, t.typtype AS kind FROM pg_type t
             WHERE t.typnamespace = '{role}'::regnamespace AND t.typtype IN ('e', 'd', 'r')
               AND pg_get_userbyid(t.typowner) <> '{role}' LOOP
    IF obj.kind = 'd' THEN
      EXECUTE format('ALTER DOMAIN %s OWNER TO {_ident(role)}', obj.name);
    ELSE
      EXECUTE format('ALTER TYPE %s OWNER TO {_ident(role)}', obj.name);
    END IF;
  END LOOP;
END $$"""


def role_statements(database: str, services: Sequence[str] = SCHEMA_OWNERS) -> list[str]:
    """The SQL that sets the roles up in `database` (run as a superuser or the database's owner with CREATEROLE)."""
    db = _ident(database)
    statements = [
        BOOKKEEPING,
        "ALTER TABLE public.stablegate_migrations ENABLE ROW LEVEL SECURITY",
        """DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'stablegate_migrations'
                 AND policyname = 'own_service_rows') THEN
    CREATE POLICY own_service_rows ON public.stablegate_migrations
      USING (service = current_user) WITH CHECK (service = current_user);
  END IF;
END $$""",
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ]
    for service in services:
        role = _ident(service)
        statements += [
            f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{service}') THEN CREATE ROLE {role} LOGIN; END IF;
END $$""",
            f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
            f"GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {db} TO {role}",
            f"CREATE SCHEMA IF NOT EXISTS {role} AUTHORIZATION {role}",
            f"ALTER SCHEMA {role} OWNER TO {role}",
            _own_everything_in_schema(service),
            f"GRANT SELECT, INSERT ON public.stablegate_migrations TO {role}",
        ]
    return statements


async def provision_roles(
    conn: asyncpg.Connection,
    services: Sequence[str] = SCHEMA_OWNERS,
    passwords: Mapping[str, str] | None = None,
) -> None:
    """Set the service roles up in the connection's database, in one transaction (idempotent).

    `passwords` (service → password) sets their passwords, sent as SCRAM-SHA-256 verifiers (`password_statement`);
    without one a role has none (trust or peer authentication, as `stablegate up`'s local cluster uses). A bad
    name or an empty password is refused before anything runs.
    """
    database = str(await conn.fetchval("SELECT current_database()"))
    statements = role_statements(database, services)
    statements += [password_statement(service, password) for service, password in (passwords or {}).items()]
    async with conn.transaction():
        for statement in statements:
            await conn.execute(statement)


def password_statement(service: str, password: str, *, salt: bytes | None = None) -> str:
    """`ALTER ROLE … PASSWORD` with the password's SCRAM-SHA-256 verifier, never the password itself.

    A utility statement takes no parameters, so whatever it carries is in its text, and its text is in the
    server's log when DDL is logged (`log_statement`). The verifier is computed here (gateway/scram.py) and
    Postgres stores it as it is (`tests/cli/test_db_roles.py::test_a_password_is_sent_as_a_scram_verifier_only`).
    """
    role = _ident(service)
    if not password:
        raise RoleSetupError(f"the password of {service!r} is empty")
    verifier = scram_sha256_verifier(password, salt=salt)
    if not _VERIFIER.match(verifier):  # base64 and separators only: nothing to quote
        raise RoleSetupError(f"the SCRAM verifier of {service!r} is malformed")
    return f"ALTER ROLE {role} PASSWORD '{verifier}'"


def service_url(admin_url: str, service: str) -> str:
    """The admin URL with the service's role as its user (no password: for trust/peer authentication)."""
    scheme, sep, rest = admin_url.partition("://")
    if not sep:
        raise RoleSetupError("a database URL starts with postgresql://")
    _, at, host = rest.rpartition("@")
    return f"{scheme}://{service}@{host if at else rest}"
