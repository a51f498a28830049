"""Role passwords travel as SCRAM-SHA-256 verifiers (gateway/db_roles.py, gateway/scram.py), on a real Postgres.

The module runs its own cluster: password (SCRAM) authentication for every role but the admin on TCP, and
`log_statement = all`, so the test reads in the server's own log what the provisioning sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway import parts
from gateway.db_roles import RoleSetupError, password_statement, provision_roles
from gateway.scram import saslprep, scram_sha256_verifier

HBA = """\
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


class LoggedPostgres:
    """A cluster that wants passwords from every role but `postgres` and logs every statement to `log`."""

    def __init__(self, plan: parts.PostgresPlan, log: Path) -> None:
        self.plan = plan
        self.log = log

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        """A URL of `database` as `user` (with `password`)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.plan.port}/{database}"


@pytest.fixture(scope="module")
def logged_postgres(process_registry: list[parts.RunningProcess]) -> Iterator[LoggedPostgres]:
    """Its own Postgres: SCRAM authentication on TCP and log_statement=all."""
    base = parts.make_shared_dir("stablegate-scram-")
    plan, spec = parts.prepare_postgres(base, parts.free_port())
    (plan.data_dir / "pg_hba.conf").write_text(HBA)
    spec.argv += ["-c", "log_statement=all", "-c", "password_encryption=scram-sha-256"]
    spec.log_path = base / "postgres.log"
    proc = parts.start(spec)
    process_registry.append(proc)
    try:
        parts.create_database(plan)
        yield LoggedPostgres(plan, spec.log_path)
    finally:
        proc.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def fresh_db(logged_postgres: LoggedPostgres) -> AsyncIterator[str]:
    """A new database's name on the logged cluster."""
    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(logged_postgres.url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_a_password_is_sent_as_a_scram_verifier_only(logged_postgres: LoggedPostgres, fresh_db: str) -> None:
    # A non-ASCII password (a no-break space SASLprep maps to a space, a character NFKC composes) as well.
    passwords = {"ledger": secrets.token_urlsafe(24), "watcher": f"P\u00e4ss\u00a0wo\u0308rd-{secrets.token_hex(4)}"}
    admin = await asyncpg.connect(logged_postgres.url(fresh_db))
    try:
        await provision_roles(admin, ["ledger", "watcher"], passwords=passwords)
        stored = {
            r["rolname"]: r["rolpassword"]
            for r in await admin.fetch(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1::text[])", list(passwords)
            )
        }
    finally:
        await admin.close()
    assert set(stored) == set(passwords)
    assert all(v.startswith("SCRAM-SHA-256$4096:") for v in stored.values()), stored
    # Each role logs in with its password (asyncpg does the SCRAM exchange), and not with another.
    for service, password in passwords.items():
        conn = await asyncpg.connect(logged_postgres.url(fresh_db, service, password))
        try:
            assert await conn.fetchval("SELECT current_user") == service
        finally:
            await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(logged_postgres.url(fresh_db, "ledger", passwords["watcher"]))
    # The server logged every statement, the ALTER ROLEs among them, and never a password.
    log = logged_postgres.log.read_text(errors="replace")
    assert 'ALTER ROLE "ledger" PASSWORD \'SCRAM-SHA-256$4096:' in log
    for password in passwords.values():
        assert password not in log
        assert password.replace("\u00a0", " ") not in log


async def test_an_empty_password_or_a_bad_name_changes_nothing(logged_postgres: LoggedPostgres, fresh_db: str) -> None:
    admin = await asyncpg.connect(logged_postgres.url(fresh_db))
    try:
        with pytest.raises(RoleSetupError, match="the password of 'dashboard' is empty"):
            await provision_roles(admin, ["dashboard"], passwords={"dashboard": ""})
        with pytest.raises(RoleSetupError, match="not a plain lower-case SQL identifier"):
            await provision_roles(admin, ["dashboard"], passwords={"dash'board": "x"})
        assert await admin.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'dashboard'") == 0
    finally:
        await admin.close()


def test_the_verifier_checks_rfc_7677s_example_exchange() -> None:
    """RFC 7677, 3: a server holding our verifier of "pencil" accepts the example's proof and signs it the same."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_sha256_verifier("pencil", salt=salt)
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert match and match.group(1, 2) == ("4096", "W22ZaJ0SNY7soEsUEjb6gQ=="), verifier
    stored_key, server_key = base64.b64decode(match[3]), base64.b64decode(match[4])
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.digest(stored_key, auth_message.encode(), "sha256")
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key
    server_signature = hmac.digest(server_key, auth_message.encode(), "sha256")
    assert base64.b64encode(server_signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert verifier != scram_sha256_verifier("pencil")  # a random salt each time
    statement = password_statement("ledger", "pencil", salt=salt)
    assert statement == f"ALTER ROLE \"ledger\" PASSWORD '{verifier}'" and "pencil" not in statement


def test_saslprep_maps_spaces_and_normalises_and_keeps_what_it_refuses() -> None:
    assert saslprep("plain ascii") == b"plain ascii"
    assert saslprep("a\u00a0b") == b"a b"  # non-ASCII space
    assert saslprep("a\u00adb") == b"ab"  # soft hyphen: mapped to nothing
    assert saslprep("\u2168") == b"IX"  # NFKC
    assert saslprep("a\u0007\u00e9") == "a\u0007\u00e9".encode()  # a control character: used as it is
