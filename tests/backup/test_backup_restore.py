"""Backup and restore on one machine: a backup taken mid-run restores into fresh parts and reconciles with the chain.

The gateway runs as `./dev up` runs it (tests/e2e/e2e_harness.py). Invoices are paid before, during and after an
online `stablegate backup create`; the gateway keeps crediting and sweeping after the backup. Then its services and
its Postgres stop (the machine is lost), the backup is restored with `stablegate backup restore` into fresh parts (a
new Postgres data directory and port, a new signer store, a new SoftHSM token directory), the services start on the
restored data against the same anvil chain, and the chain is the truth they catch up with: the watcher rescans from
its restored cursor, the sweeper books the sweeps the lost gateway made after the backup (it never sweeps twice),
and `stablegate reconcile` is clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway import parts
from service_runtime.devcerts import mesh_files_in
from tests.e2e.e2e_harness import UNIT, Gateway, program_env, wait_until

pytestmark = pytest.mark.timeout(600)

SERVICES = ("signer", "ledger", "watcher", "settlement", "edge")
"""The services the restored gateway runs (in start order); Envoy, Redis and anvil stay as `up` runs them."""


def cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`stablegate …` as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env={**base, **(env or {})},
        cwd=parts.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def backup_args(g: Gateway, to: Path) -> list[str]:
    """`backup create` of `up`'s gateway: its database, its signer's store, its SoftHSM token directory."""
    return [
        "backup",
        "create",
        "--to",
        str(to),
        "--database-url",
        program_env(g.state, "ledger")["STABLEGATE_LEDGER_DATABASE_URL"],
        "--signer-state",
        program_env(g.state, "signer")["STABLEGATE_SIGNER_STATE_PATH"],
        "--hsm-token-dir",
        str(g.state / "softhsm" / "softhsm-tokens"),
        "--rpc-url",
        f"http://127.0.0.1:{g.ports['anvil']}",
    ]


def secrets_of(g: Gateway) -> list[str]:
    """Secrets that must never appear in a command's output."""
    dev = json.loads((g.state / "dev-secrets.json").read_text())
    return [dev["so_pin"], dev["user_pin"], g.admin_key, g.api_key]


def tree_modes(root: Path) -> set[str]:
    """The permission bits of every file and directory under `root` (files `f0600`, directories `d0700`)."""
    found = set()
    for path in [root, *root.rglob("*")]:
        kind = "d" if path.is_dir() else "f"
        found.add(f"{kind}{stat.S_IMODE(path.stat().st_mode):04o}")
    return found


def paid(g: Gateway, invoice_id: str) -> bool:
    """The invoice reads PAID through the merchant's REST API."""
    return bool(g.status(invoice_id)["status"] == "INVOICE_STATUS_PAID")


def tx_count(g: Gateway, address: str) -> int:
    """A key's mined transaction count on the chain."""
    return int(str(g.rpc.request("eth_getTransactionCount", address, "latest")), 16)


def test_restore_refuses_a_backup_that_does_not_match_its_manifest_and_changes_nothing(
    gateway: Gateway, tmp_path: Path
) -> None:
    g = gateway
    backup = tmp_path / "backup"
    made = cli(backup_args(g, backup))
    assert made.returncode == 0, made.stderr
    output = made.stdout + made.stderr
    assert not [s for s in secrets_of(g) if s in output], "a secret was printed"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["files"]) >= {
        "postgres/base.tar.gz", "postgres/pg_wal.tar.gz", "postgres/backup_manifest", "signer-state.sqlite3"
    }  # fmt: skip
    assert any(name.startswith("hsm-token/") for name in manifest["files"])
    assert set(manifest["postgres"]["migrations"]) == {"ledger", "watcher", "settlement", "dashboard"}
    assert manifest["chain"]["watcher_cursors_before_backup"][0]["chain_id"] == 97
    assert manifest["chain"]["rpc_at_start"]["head"] > 0
    assert manifest["signer"]["audit_sequence"] > 0  # the key ceremony and sweeps left audit records
    assert tree_modes(backup) == {"d0700", "f0600"}
    # A second backup into the same place is refused.
    again = cli(backup_args(g, backup))
    assert again.returncode == 1 and "not empty" in again.stderr

    targets = tmp_path / "targets"
    targets.mkdir()
    restore = [
        "backup", "restore", "--pgdata", str(targets / "pgdata"), "--signer-state", str(targets / "signer.sqlite3"),
        "--hsm-token-dir", str(targets / "tokens"),
    ]  # fmt: skip

    def refused(source: Path, reason: str) -> None:
        ran = cli([*restore, "--from", str(source)])
        assert ran.returncode == 1, ran.stdout
        assert reason in ran.stderr, ran.stderr
        assert "nothing was restored" in ran.stderr or "no manifest.json" in ran.stderr
        assert not list(targets.iterdir()), "a refused restore changed the target"

    # One byte changed in the signer's store.
    flipped = tmp_path / "flipped"
    shutil.copytree(backup, flipped)
    data = bytearray((flipped / "signer-state.sqlite3").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (flipped / "signer-state.sqlite3").write_bytes(bytes(data))
    refused(flipped, "signer-state.sqlite3: sha256 differs from the manifest")
    # The WAL archive missing: the base backup alone cannot become consistent.
    partial = tmp_path / "partial"
    shutil.copytree(backup, partial)
    (partial / "postgres" / "pg_wal.tar.gz").unlink()
    refused(partial, "postgres/pg_wal.tar.gz: missing")
    # Interrupted before its manifest was written.
    unfinished = tmp_path / "unfinished"
    shutil.copytree(backup, unfinished)
    (unfinished / "manifest.json").unlink()
    refused(unfinished, "the backup is incomplete")
    # A target that is not empty is refused before anything is written.
    (targets / "signer.sqlite3").write_bytes(b"keep me")
    ran = cli([*restore, "--from", str(backup)])
    assert ran.returncode == 1 and "exists" in ran.stderr, ran.stderr
    assert sorted(p.name for p in targets.iterdir()) == ["signer.sqlite3"]
    assert (targets / "signer.sqlite3").read_bytes() == b"keep me"


def test_a_backup_that_cannot_finish_leaves_its_directory_empty_and_says_why(gateway: Gateway, tmp_path: Path) -> None:
    args = backup_args(gateway, tmp_path / "failed")
    no_db = cli([*args, "--database-url", "postgresql://postgres@127.0.0.1:1/stablegate"])
    assert no_db.returncode == 1 and "cannot connect to the database" in no_db.stderr, no_db.stderr
    assert not list((tmp_path / "failed").iterdir())
    no_signer = cli([*args, "--signer-state", str(tmp_path / "no-such-store.sqlite3")])
    assert no_signer.returncode == 1 and "no-such-store.sqlite3 does not exist" in no_signer.stderr, no_signer.stderr
    assert not list((tmp_path / "failed").iterdir())
    (tmp_path / "garbage.sqlite3").write_bytes(b"not a database" * 100)
    garbage = cli([*args, "--signer-state", str(tmp_path / "garbage.sqlite3")])
    assert garbage.returncode == 1 and "copying the signer's store failed" in garbage.stderr, garbage.stderr
    assert not list((tmp_path / "failed").iterdir())  # the base backup taken before the failure is removed


@contextmanager
def restored_gateway(g: Gateway, backup: Path, base: Path) -> Iterator[dict[str, dict[str, str]]]:
    """`backup restore` into fresh parts, then Postgres and the services on them; yields each service's env."""
    pgdata, signer_state, tokens = base / "postgres" / "pgdata", base / "signer" / "state.sqlite3", base / "tokens"
    (base / "postgres").mkdir(mode=0o755, parents=True)
    ran = cli([
        "backup", "restore", "--from", str(backup), "--pgdata", str(pgdata), "--signer-state", str(signer_state),
        "--hsm-token-dir", str(tokens),
    ])  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not [s for s in secrets_of(g) if s in ran.stdout + ran.stderr]
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old_pg = g.ports["postgres"]
    new_pg = parts.free_port()
    envs: dict[str, dict[str, str]] = {}
    for name in SERVICES:
        env = {
            k: v.replace(f"127.0.0.1:{old_pg}/", f"127.0.0.1:{new_pg}/") for k, v in program_env(g.state, name).items()
        }
        if name == "signer":
            env["STABLEGATE_SIGNER_STATE_PATH"] = str(signer_state)
        if name in ("signer", "ledger"):  # the restored token directory holds the signer's and the ledger's KEK token
            env["SOFTHSM2_CONF"] = str(conf)
        envs[name] = env
    assert all(str(old_pg) not in json.dumps(env) for env in envs.values())
    started: list[parts.RunningProcess] = []
    try:
        _, pg_spec = parts.prepare_postgres(base / "postgres", new_pg, durable=True)
        assert (pgdata / "PG_VERSION").exists()  # restored, not initialised
        pg_spec.log_path = base / "postgres.log"
        pg_spec.ready_timeout = 120
        started.append(parts.start(pg_spec))
        probe = mesh_files_in(g.state / "pki", "operator")
        for name in SERVICES:
            port = int(envs[name][f"STABLEGATE_{name.upper()}_GRPC_PORT"])
            spec = parts.ProcessSpec(
                name=name,
                argv=[sys.executable, "-m", name],
                ready=lambda port=port: parts.grpc_serving(port, probe),  # type: ignore[misc]
                port=port,
                env=envs[name],
                cwd=parts.REPO_ROOT,
                log_path=base / f"{name}.log",
                ready_timeout=120,
                stop_timeout=20,
            )
            started.append(parts.start(spec))
        yield envs
    finally:
        for process in reversed(started):
            process.stop()


def found_sweeps(dsn: str) -> list[str]:
    """The transactions the restored sweeper found on chain and booked (sweep ids `swp_found_…`)."""

    async def read() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT tx_hash FROM ledger.sweeps WHERE id LIKE 'swp_found_%' ORDER BY tx_hash")
        finally:
            await conn.close()
        return [str(r["tx_hash"]) for r in rows]

    return asyncio.run(read())


def journal_faults(dsn: str) -> list[str]:
    """Journal transactions that do not balance per asset, and accounts whose balance is not their entries' fold."""

    async def check() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            unbalanced = await conn.fetch(
                "SELECT transaction_id, asset FROM ledger.journal_entries GROUP BY transaction_id, asset "
                "HAVING sum(CASE side WHEN 'D' THEN amount ELSE -amount END) <> 0"
            )
            drifted = await conn.fetch(
                "SELECT a.code FROM ledger.accounts a LEFT JOIN ledger.journal_entries e ON e.account_id = a.id "
                "GROUP BY a.id, a.code, a.balance, a.normal_side HAVING a.balance <> coalesce(sum(CASE WHEN "
                "e.side = a.normal_side THEN e.amount ELSE -e.amount END), 0)"
            )
            entries = await conn.fetchval("SELECT count(*) FROM ledger.journal_entries")
        finally:
            await conn.close()
        faults = [f"transaction {r['transaction_id']} {r['asset']} unbalanced" for r in unbalanced]
        faults += [f"account {r['code']} balance is not the fold of its entries" for r in drifted]
        return faults if entries else ["the journal is empty"]

    return asyncio.run(check())


AMOUNTS = {"before": (2, 3, 4), "during": (5, 6, 7), "after": (1, 2, 3)}
"""Tokens paid to the invoices of each phase (small: the treasury stays under the hot/cold ceiling)."""


def backup_while_paying(g: Gateway, invoices: dict[str, list[dict[str, Any]]], backup: Path) -> None:
    """`backup create` while the customer pays the `during` invoices and the sweeper moves the `before` ones."""
    errors: list[BaseException] = []

    def pay_during() -> None:
        try:
            for invoice, units in zip(invoices["during"], AMOUNTS["during"], strict=True):
                g.pay(invoice["deposit_address"], units * UNIT)
                time.sleep(0.3)
        except BaseException as exc:  # reported below
            errors.append(exc)

    payer = threading.Thread(target=pay_during)
    payer.start()
    made = cli(backup_args(g, backup))
    payer.join()
    log = (g.state / "logs" / "postgres.log").read_text(errors="replace")[-3000:]
    assert made.returncode == 0, f"{made.stderr}\npostgres log:\n{log}"
    assert not errors, errors


def reconciled(env: dict[str, str]) -> None:
    """`stablegate reconcile` with these settings until a run is MATCHED; fails with the last differences."""
    last: list[Any] = []

    def matched() -> bool:
        ran = cli(["reconcile", "--json"], env)
        report = json.loads(ran.stdout) if ran.stdout.strip().startswith("{") else {}
        last[:] = [ran.returncode, [ln for ln in report.get("lines", []) if ln["status"] != "MATCHED"], ran.stderr]
        return ran.returncode == 0 and report.get("status") == "MATCHED"

    try:
        wait_until("a MATCHED reconciliation of the restored gateway", matched, timeout=150, every=3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


def test_a_backup_taken_mid_run_restores_into_fresh_parts_and_reconciles_with_the_chain(gateway: Gateway) -> None:
    g = gateway
    sweeper = program_env(g.state, "settlement")["STABLEGATE_SETTLEMENT_SWEEPER_ADDRESS"]
    invoices = {
        phase: [g.invoice(str(n), description=f"{phase} the backup, {n}") for n in amounts]
        for phase, amounts in AMOUNTS.items()
    }
    everything = invoices["before"] + invoices["during"] + invoices["after"]
    paid_units = [*AMOUNTS["before"], *AMOUNTS["during"], *AMOUNTS["after"]]
    units = dict(zip([i["id"] for i in everything], paid_units, strict=True))
    for invoice in invoices["before"]:
        g.pay(invoice["deposit_address"], units[invoice["id"]] * UNIT)
    paid_before = {g.wait_status(i["id"], "PAID", timeout=90)["id"] for i in invoices["before"]}

    base = parts.make_shared_dir("stablegate-backup-test-")
    try:
        backup = base / "backup"
        # The backup runs while the customer pays and the sweeper moves the first deposits to the treasury.
        backup_while_paying(g, invoices, backup)
        # After the backup: more payments, credited and swept by the gateway that is about to be lost.
        for invoice in invoices["after"]:
            g.pay(invoice["deposit_address"], units[invoice["id"]] * UNIT)
        for invoice in everything:
            g.wait_status(invoice["id"], "PAID", timeout=90)
            address = str(invoice["deposit_address"])
            wait_until(f"the sweep of {invoice['id']}", lambda a=address: g.balance_of(a) == 0, 120)  # type: ignore[misc]
        sweeps_on_chain = tx_count(g, sweeper)
        assert g.reconciled()["status"] == "MATCHED"  # the lost gateway was in order

        # The machine is lost: its services and its Postgres stop (anvil, Redis and Envoy stay as the world).
        ctl = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(g.state / "supervisord.conf"), "stop"]
        stopped = subprocess.run(
            [*ctl, *SERVICES, "checkout", "dashboard", "postgres"], capture_output=True, text=True, check=False
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not parts.port_is_open(g.ports["postgres"]) and not parts.port_is_open(g.ports["ledger"])

        with restored_gateway(g, backup, base / "restored") as envs:
            # Every invoice paid before the backup is PAID at once, from the restored database.
            assert {i["id"] for i in invoices["before"] if paid(g, i["id"])} == paid_before
            # The others become PAID as the watcher rescans the chain from its restored cursor.
            for invoice in everything:
                read = g.wait_status(invoice["id"], "PAID", timeout=120)
                assert read["amount_paid_base_units"] == str(units[invoice["id"]] * UNIT)
            reconciled(envs["settlement"])
            # No sweep twice: the restored sweeper signed nothing (every deposit was swept before the loss); the
            # sweeps the lost gateway made after the backup were booked from the chain instead.
            assert tx_count(g, sweeper) == sweeps_on_chain
            dsn = envs["settlement"]["STABLEGATE_SETTLEMENT_DATABASE_URL"]
            assert found_sweeps(dsn), "no sweep after the backup was found on chain and booked"
            assert journal_faults(dsn) == []
            audit = cli(["signer", "audit", "verify", "--state", envs["signer"]["STABLEGATE_SIGNER_STATE_PATH"]])
            assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
