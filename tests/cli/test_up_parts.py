"""The pieces of `stablegate up` that need no whole gateway: the kept chain, the database on a fresh chain, the
port plan, and the admin API asked again while it answers 503."""

from __future__ import annotations

import dataclasses
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from rich.console import Console

from gateway import anvil_launch, localrun, parts
from gateway.cli import MIGRATIONS
from service_runtime.migrations import discover, migrate
from tests.conftest import PostgresServer

WHOLE = json.dumps({"block": {}, "accounts": {}, "best_block_number": 7, "blocks": [], "transactions": []})


def test_the_kept_chain_is_only_ever_replaced_by_a_whole_dump(tmp_path: Path) -> None:
    """anvil writes its dump in place; a torn one (SIGKILL mid-write) never replaces the copy kept whole."""
    keeper = localrun.ChainKeeper(tmp_path)
    assert keeper.keep() is None  # nothing dumped yet: a fresh chain
    keeper.directory.mkdir()
    keeper.dump.write_text(WHOLE)
    assert keeper.keep() == keeper.kept
    assert keeper.kept.read_text() == WHOLE
    assert keeper.kept.stat().st_mode & 0o777 == 0o600
    keeper.dump.write_text(WHOLE[:20])  # torn
    assert localrun.ChainKeeper(tmp_path).keep() == keeper.kept
    assert keeper.kept.read_text() == WHOLE
    newer = WHOLE.replace('"best_block_number": 7', '"best_block_number": 9')
    keeper.dump.write_text(newer)
    assert keeper.keep() == keeper.kept
    assert json.loads(keeper.kept.read_text())["best_block_number"] == 9
    keeper.dump.unlink()
    keeper.kept.write_text("{}")  # not a dump at all
    assert keeper.keep() is None
    assert [p.name for p in keeper.directory.iterdir()] == [anvil_launch.CHAIN_KEPT]  # no temporary file left


def test_anvil_launch_loads_the_newest_whole_dump_and_mines_by_itself(tmp_path: Path) -> None:
    """Every start of `up`'s anvil (supervisord's restarts too) loads the whole dump with the highest block."""
    anvil = ["/bin/anvil", "--port", "1"]
    assert anvil_launch.newest_whole_dump(tmp_path) is None
    assert anvil_launch.anvil_argv(anvil, None, 1) == anvil  # fresh: as given (a block per transaction)
    dump, kept = tmp_path / anvil_launch.CHAIN_DUMP, tmp_path / anvil_launch.CHAIN_KEPT
    kept.write_text(WHOLE)
    assert anvil_launch.newest_whole_dump(tmp_path) == kept
    dump.write_text(WHOLE.replace('"best_block_number": 7', '"best_block_number": "0x9"'))
    assert anvil_launch.dump_height(dump) == 9
    assert anvil_launch.newest_whole_dump(tmp_path) == dump
    assert anvil_launch.anvil_argv(anvil, dump, 1) == [*anvil, "--load-state", str(dump), "--block-time", "1"]
    dump.write_text(WHOLE[:30])  # torn by a SIGKILL mid-write: the kept copy
    assert anvil_launch.newest_whole_dump(tmp_path) == kept
    dump.write_text(WHOLE.replace('"best_block_number": 7', '"best_block_number": 5'))  # older than the kept one
    assert anvil_launch.newest_whole_dump(tmp_path) == kept
    with pytest.raises(SystemExit):
        anvil_launch.main(["--chain-dir", str(tmp_path), "--block-seconds", "1"])  # no anvil after --
    with pytest.raises(SystemExit):
        anvil_launch.main(["--chain-dir", str(tmp_path), "--block-seconds", "0", "--", "/bin/anvil"])


def test_a_chain_up_does_not_keep_is_set_aside_and_anvil_runs_through_the_launcher(tmp_path: Path) -> None:
    """A fresh start renames an old chain's files (never loaded, never lost); the supervised command is the launcher."""
    keeper = localrun.ChainKeeper(tmp_path)
    keeper.directory.mkdir()
    keeper.dump.write_text(WHOLE)
    keeper.kept.write_text(WHOLE)
    assert sorted(p.name for p in keeper.set_aside()) == [
        anvil_launch.CHAIN_DUMP + ".set-aside",
        anvil_launch.CHAIN_KEPT + ".set-aside",
    ]
    assert anvil_launch.newest_whole_dump(keeper.directory) is None
    spec = localrun.supervised_anvil(parts.prepare_anvil(8545, dump_state=keeper.dump), keeper.directory)
    launcher = ["-m", "gateway.anvil_launch", "--chain-dir", str(keeper.directory), "--block-seconds", "1", "--"]
    assert spec.argv[1:8] == launcher and Path(spec.argv[8]).name == "anvil"
    assert "--load-state" not in spec.argv and spec.cwd == parts.REPO_ROOT


@pytest.fixture
async def gateway_db(postgres: PostgresServer) -> parts.PostgresPlan:
    """A database of its own with the watcher's and settlement's migrations applied."""
    plan = dataclasses.replace(postgres.plan, database=f"up_{secrets.token_hex(5)}")
    parts.create_database(plan)
    conn = await asyncpg.connect(plan.dsn)
    try:
        for service in ("watcher", "settlement"):
            await migrate(conn, service, discover(service, MIGRATIONS[service]))
        await conn.execute(
            "INSERT INTO watcher.cursors (chain_id, scanned_number, scanned_hash) VALUES (97, 120, '0xab')"
        )
        await conn.execute("INSERT INTO settlement.nonces (chain_id, address, next_nonce) VALUES (97, '0xkey', 3)")
    finally:
        await conn.close()
    return plan


def psql(plan: parts.PostgresPlan, sql: str) -> str:
    argv = [str(parts.postgres_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(plan.port), "-U", "postgres"]
    return parts.run_checked([*argv, "-d", plan.database, "-tAc", sql]).strip()


def test_a_kept_chain_keeps_the_watcher_cursor_and_the_nonces(gateway_db: parts.PostgresPlan, tmp_path: Path) -> None:
    localrun.prepare_database(gateway_db, fresh_chain=False, chain_dir=tmp_path / "anvil")
    assert psql(gateway_db, "SELECT scanned_number FROM watcher.cursors") == "120"
    assert psql(gateway_db, "SELECT next_nonce FROM settlement.nonces") == "3"


def test_a_fresh_chain_forgets_the_old_chain_when_settlement_sent_nothing(
    gateway_db: parts.PostgresPlan, tmp_path: Path
) -> None:
    localrun.prepare_database(gateway_db, fresh_chain=True, chain_dir=tmp_path / "anvil")
    assert psql(gateway_db, "SELECT count(*) FROM watcher.cursors") == "0"
    assert psql(gateway_db, "SELECT next_nonce, chain_latest IS NULL FROM settlement.nonces") == "0|t"


def test_a_fresh_chain_under_settlement_transactions_is_refused_and_nothing_changes(
    gateway_db: parts.PostgresPlan, tmp_path: Path
) -> None:
    """Nonces already used on a lost chain can never agree with a fresh one: refused, with what to do."""
    psql(
        gateway_db,
        "INSERT INTO settlement.chain_transactions (request_id, chain_id, from_address, nonce, version, gas_limit, "
        "max_fee_per_gas_wei, max_priority_fee_wei, status, raw_transaction, tx_hash) "
        "VALUES ('r1', 97, '0xkey', 2, 0, 21000, 1, 1, 'MINED', '0x02', '0x01')",
    )
    with pytest.raises(localrun.UpError) as refused:
        localrun.prepare_database(gateway_db, fresh_chain=True, chain_dir=tmp_path / "anvil")
    assert "records 1 settlement transactions" in str(refused.value)
    assert f"rm -rf {tmp_path}" in str(refused.value)
    assert psql(gateway_db, "SELECT scanned_number FROM watcher.cursors") == "120"
    assert psql(gateway_db, "SELECT next_nonce FROM settlement.nonces") == "3"


def test_every_default_port_is_below_the_ephemeral_range_and_a_base_inside_it_is_refused() -> None:
    low, high = parts.ephemeral_port_range()
    assert max(localrun.DEFAULT_PORTS.values()) < 32768
    with pytest.raises(localrun.UpError) as refused:
        localrun.assign_ports(low - 3)
    assert f"ephemeral range {low}..{high}" in str(refused.value)
    assert f"pick a base from 1024 to {low - len(localrun.DEFAULT_PORTS)}" in str(refused.value)
    with pytest.raises(localrun.UpError):
        localrun.assign_ports(high)
    ports = localrun.assign_ports(low - len(localrun.DEFAULT_PORTS))
    assert max(ports.values()) == low - 1


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next status of the server's script (its last one once it runs out)."""

    def do_POST(self) -> None:
        script: list[int] = self.server.script  # type: ignore[attr-defined]
        status = script.pop(0) if len(script) > 1 else script[0]
        body = json.dumps({"id": "mer_1"} if status == 200 else {"message": "upstream connect error"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def flaky() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_admin_api_is_asked_again_while_it_answers_503(flaky: http.server.HTTPServer) -> None:
    url = f"http://127.0.0.1:{flaky.server_address[1]}/admin/v1/merchants"
    flaky.script = [503, 503, 200]  # type: ignore[attr-defined]
    assert localrun.rest_call_retrying(url, "k", {"name": "x"}, pause=0.05) == (200, {"id": "mer_1"})
    flaky.script = [400, 200]  # type: ignore[attr-defined]
    assert localrun.rest_call_retrying(url, "k", {"name": "x"}, pause=0.05)[0] == 400  # not transient: at once
    flaky.script = [503]  # type: ignore[attr-defined]
    started = time.monotonic()
    assert localrun.rest_call_retrying(url, "k", {"name": "x"}, within=0.5, pause=0.05)[0] == 503
    assert 0.5 <= time.monotonic() - started < 5


def test_a_connection_still_refused_at_the_end_is_a_clear_error() -> None:
    port = parts.free_port()
    with pytest.raises(localrun.UpError, match="did not answer"):
        localrun.rest_call_retrying(f"http://127.0.0.1:{port}/admin/v1/merchants", "k", within=0.3, pause=0.05)


def test_the_signer_state_an_older_up_kept_moves_into_a_private_directory(tmp_path: Path) -> None:
    """`<state>/signer-state.sqlite3` (0644 under an older `up`) and its WAL move to `<state>/signer/`, 0600 in 0700."""
    old = tmp_path / localrun.SIGNER_STATE_FILE
    old.write_text("audit")
    (tmp_path / f"{localrun.SIGNER_STATE_FILE}-wal").write_text("wal")
    old.chmod(0o644)
    path = localrun.LocalGateway(tmp_path, None, Console())._signer_state_path()
    assert path == tmp_path / "signer" / localrun.SIGNER_STATE_FILE
    assert (path.read_text(), path.stat().st_mode & 0o777) == ("audit", 0o600)
    assert (path.parent / f"{localrun.SIGNER_STATE_FILE}-wal").read_text() == "wal"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not old.exists()
