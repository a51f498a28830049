"""Each real part starts on a free loopback port, answers, and leaves no process or port behind."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import pytest

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.conftest import edge_envoy_yaml

if TYPE_CHECKING:
    from tests.conftest import AnvilNode, EnvoyProxy, PostgresServer, RedisServer

# Runs in a child process: SOFTHSM2_CONF must be set before the PKCS#11 library loads, and the library can be
# initialised once per process.
HSM_PROBE = r"""
import json, sys
import pkcs11
from pkcs11 import Attribute, KeyType
from pkcs11.exceptions import AttributeSensitive

module, label, pin = sys.argv[1:4]
token = pkcs11.lib(module).get_token(token_label=label)
with token.open(user_pin=pin, rw=True) as session:
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: bytes.fromhex("06052b8104000a")}, local=True)
    pub, priv = params.generate_keypair(
        store=True, label="probe", private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True})
    try:
        priv[Attribute.VALUE]
        readable = True
    except AttributeSensitive:
        readable = False
    print(json.dumps({"ec_point": bytes(pub[Attribute.EC_POINT]).hex(), "private_readable": readable}))
"""


def assert_gone(proc: parts.RunningProcess, port: int) -> None:
    """The process has exited, nothing of its session remains, and its port is closed."""
    assert not proc.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    assert not parts.port_is_open(port)


T = TypeVar("T")


def run_part(spec: parts.ProcessSpec, port: int, probe: Callable[[], T]) -> T:
    """Start a part, run the probe against it, stop it, and prove it left nothing behind."""
    proc = parts.start(spec)
    try:
        assert parts.port_is_open(port)
        result = probe()
    finally:
        proc.stop()
    assert_gone(proc, port)
    return result


def test_postgres_answers_a_query_and_leaves_nothing(tmp_path: Path) -> None:
    base = parts.make_shared_dir("stablegate-pgtest-")
    try:
        port = parts.free_port()
        plan, spec = parts.prepare_postgres(base, port)

        async def query() -> object:
            parts.create_database(plan)
            conn = await asyncpg.connect(plan.dsn)
            try:
                return await conn.fetchval("SELECT current_database() || ':' || (6 * 7)::text")
            finally:
                await conn.close()

        assert run_part(spec, port, lambda: asyncio.run(query())) == "stablegate:42"
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def test_redis_answers_ping_and_leaves_nothing(tmp_path: Path) -> None:
    port = parts.free_port()
    assert run_part(parts.prepare_redis(tmp_path, port), port, lambda: parts.redis_ping(port)) is True


def test_anvil_reports_its_block_number_and_leaves_nothing() -> None:
    port = parts.free_port()
    url = f"http://127.0.0.1:{port}"

    def probe() -> object:
        chain_id = parts.json_rpc(url, "eth_chainId")
        parts.json_rpc(url, "anvil_mine", ["0x5"])
        return chain_id, parts.json_rpc(url, "eth_blockNumber")

    assert run_part(parts.prepare_anvil(port), port, probe) == ("0x61", "0x5")


def test_envoy_is_ready_and_serves_healthz_and_leaves_nothing(tmp_path: Path, mesh_pki: DevMesh) -> None:
    port, admin = parts.free_port(), parts.free_port()
    spec = parts.prepare_envoy(tmp_path, edge_envoy_yaml(tmp_path, port, admin, mesh_pki), admin)

    def probe() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        return parts.http_get(f"http://127.0.0.1:{admin}/ready"), parts.http_get(f"http://127.0.0.1:{port}/healthz")

    ready, healthz = run_part(spec, admin, probe)
    assert ready == (200, b"LIVE\n")
    assert healthz[0] == 200
    assert json.loads(healthz[1]) == {"status": "ok"}
    assert not parts.port_is_open(port)


def test_softhsm_token_logs_in_and_generates_a_non_extractable_secp256k1_key(
    softhsm_token: parts.SoftHsmToken,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", HSM_PROBE, str(softhsm_token.module), softhsm_token.label, softhsm_token.user_pin],
        capture_output=True,
        text=True,
        env={**os.environ, **softhsm_token.env},
        check=True,
    )
    result = json.loads(out.stdout)
    point = bytes.fromhex(result["ec_point"])
    # DER OCTET STRING wrapping an uncompressed point: 04 41 04 || X || Y
    assert point[:3] == b"\x04\x41\x04"
    assert len(point) == 67
    assert result["private_readable"] is False


def test_softhsm_rejects_a_wrong_pin(softhsm_token: parts.SoftHsmToken) -> None:
    out = subprocess.run(
        [sys.executable, "-c", HSM_PROBE, str(softhsm_token.module), softhsm_token.label, "wrong-pin"],
        capture_output=True,
        text=True,
        env={**os.environ, **softhsm_token.env},
        check=False,
    )
    assert out.returncode != 0
    assert "PinIncorrect" in out.stderr


def test_a_part_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    port = parts.free_port()
    blocker = parts.start(parts.prepare_redis(tmp_path / "a", port))
    try:
        with pytest.raises(parts.PartError, match=r"port \d+ on 127.0.0.1 is already in use"):
            parts.start(parts.prepare_redis(tmp_path / "b", port))
    finally:
        blocker.stop()


def test_the_session_fixtures_answer(
    postgres: PostgresServer, redis_server: RedisServer, anvil: AnvilNode, envoy: EnvoyProxy
) -> None:
    db = subprocess.run(
        [str(parts.postgres_bin_dir() / "psql"), postgres.dsn, "-tAc", "SELECT 1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert db.stdout.strip() == "1"
    assert parts.redis_ping(redis_server.port)
    assert parts.json_rpc(anvil.url, "eth_chainId") == "0x61"
    assert parts.http_get(f"http://127.0.0.1:{envoy.admin_port}/ready") == (200, b"LIVE\n")


def test_a_block_of_ports_is_free_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    blocks = [parts.free_port_block(16) for _ in range(20)]
    ports = [port for base in blocks for port in range(base, base + 16)]
    assert len(set(ports)) == len(ports)  # no two blocks overlap
    assert all(20000 <= port < ephemeral_low for port in ports)
    assert not any(parts.port_is_open(port) for port in ports)
    assert parts.free_port() not in ports
