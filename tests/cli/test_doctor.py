"""`stablegate doctor` against real parts: a good configuration passes, each broken one names its FAIL.

A real anvil with chain id 56 stands in for a BSC mainnet node (the test token's runtime code put at BSC-USD's
address with `anvil_setCode`), the session's anvil (chain 97) is "the wrong chain", Postgres and Redis are the
session's, and the signer is a real gRPC server requiring the mesh's client certificates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chain.contracts import load_artifact
from chain.networks import BSC_MAINNET_USDT
from chain.rpc import JsonRpc
from gateway import parts
from gateway.cli import MIGRATIONS
from service_runtime.devcerts import DevMesh
from tests.conftest import AnvilNode, PostgresServer, RedisServer, mesh_server_credentials


def stablegate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a clean environment (no STABLEGATE_* from outside), one table row per line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "1000", **env},
        timeout=120,
        check=False,
    )


def rows(output: str) -> dict[str, tuple[str, str, str]]:
    """The doctor's table as {check: (status, detail, next step)}."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 6 and cells[2] in ("PASS", "WARN", "FAIL"):
            found[cells[1]] = (cells[2], cells[3], cells[4])
    return found


@dataclass(frozen=True)
class Bsc:
    """A chain-56 anvil with BSC-USD's address holding an 18-decimal token."""

    url: str

    def mine(self) -> None:
        """Mine a block now, so the head is recent."""
        JsonRpc(self.url).request("evm_mine")


@pytest.fixture(scope="module")
def bsc(process_registry: list[parts.RunningProcess]) -> Bsc:
    """A real local JSON-RPC node answering chain id 56, BSC-USD's address holding a token's code."""
    port = parts.free_port()
    proc = parts.start(parts.prepare_anvil(port, chain_id=56))
    process_registry.append(proc)
    url = f"http://127.0.0.1:{port}"
    runtime = "0x" + load_artifact("StablegateTestToken").deployed_bytecode.hex()
    JsonRpc(url).request("anvil_setCode", BSC_MAINNET_USDT, runtime)
    return Bsc(url)


@pytest.fixture(scope="module")
def signer_server(mesh_pki: DevMesh) -> Iterator[int]:
    """A gRPC server with the signer's certificate that requires a mesh client certificate."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_secure_port("127.0.0.1:0", mesh_server_credentials(mesh_pki, "signer"))
    server.start()
    yield port
    server.stop(None)


@pytest.fixture
async def migrated_db(empty_db: str) -> str:
    """A database with every service's migrations applied by `stablegate db migrate`."""
    done = stablegate("db", "migrate", "--database-url", empty_db, env={})
    assert done.returncode == 0, done.stderr
    return empty_db


def good_env(pki: DevMesh, db: str, redis: RedisServer, bsc: Bsc, signer_port: int) -> dict[str, str]:
    """A mainnet configuration of every service, its RPC the chain-56 anvil."""
    env = {"STABLEGATE_NETWORK": "bsc-mainnet", "STABLEGATE_NETWORK_RPC_URLS": json.dumps([bsc.url])}
    for service in ("ledger", "watcher", "settlement", "signer", "edge"):
        env.update(pki.files(service).env(service))
    for service in ("ledger", "watcher", "settlement"):
        env[f"STABLEGATE_{service.upper()}_DATABASE_URL"] = db
    env["STABLEGATE_LEDGER_REDIS_URL"] = redis.url
    env["STABLEGATE_EDGE_REDIS_URL"] = redis.url
    env["STABLEGATE_SETTLEMENT_SIGNER_TARGET"] = f"127.0.0.1:{signer_port}"
    return env


@pytest.fixture
def env(mesh_pki: DevMesh, migrated_db: str, redis_server: RedisServer, bsc: Bsc, signer_server: int) -> dict[str, str]:
    """The good configuration."""
    return good_env(mesh_pki, migrated_db, redis_server, bsc, signer_server)


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, tuple[str, str, str]], str]:
    """Run `stablegate doctor` and return its exit code, its rows and its whole output."""
    done = stablegate("doctor", "--timeout", "3", *args, env=env)
    return done.returncode, rows(done.stdout), done.stdout + done.stderr


async def test_a_good_mainnet_configuration_passes_every_check_and_exits_0(
    env: dict[str, str], bsc: Bsc, tmp_path: Path
) -> None:
    bsc.mine()
    # Read from an env file, as an operator would after `stablegate chain deploy` and `mesh certs`.
    env_file = tmp_path / "gateway.env"
    env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in env.items()))
    code, found, out = doctor({}, "--env-file", str(env_file))
    assert code == 0, out
    failing = {k: v for k, v in found.items() if v[0] == "FAIL"}
    assert failing == {}
    for service in ("ledger", "watcher", "settlement", "signer", "edge"):
        assert found[f"config {service}"][0] == "PASS"
    assert found["network"][0] == "PASS" and "chain 56" in found["network"][1]
    for service in MIGRATIONS.keys() - {"dashboard"}:  # not configured here: its own test below
        assert found[f"migrations {service}"][0] == "PASS"
    assert any(k.startswith("postgres ") and v[0] == "PASS" for k, v in found.items())
    assert any(k.startswith("redis ") and v[0] == "PASS" for k, v in found.items())
    assert found[f"rpc {bsc.url}"][0] == "PASS" and "chain 56" in found[f"rpc {bsc.url}"][1]
    assert found[f"token {BSC_MAINNET_USDT}"] == ("PASS", "contract present, decimals 18", "")
    assert found["hsm module"][0] == "PASS"
    assert any(k.startswith("signer ") and v[0] == "PASS" for k, v in found.items())
    assert found["envoy config"][0] == "PASS"
    assert found["certificate STABLEGATE_LEDGER_TLS__CERT_FILE"][0] == "PASS"


async def test_a_node_of_another_chain_fails_with_its_chain_id(env: dict[str, str], anvil: AnvilNode) -> None:
    env["STABLEGATE_NETWORK_RPC_URLS"] = json.dumps([anvil.url])  # the session's anvil is chain 97
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, fix = found[f"rpc {anvil.url}"]
    assert status == "FAIL" and "chain id 97, but the configuration is for chain 56" in detail
    assert "point RPC_URLS at a node of the configured network" in fix
    assert found[f"token {BSC_MAINNET_USDT}"][0] == "FAIL"  # nothing to read it from


async def test_an_unreachable_provider_fails_and_a_good_one_still_passes(env: dict[str, str], bsc: Bsc) -> None:
    dead = f"http://127.0.0.1:{parts.free_port()}"
    # Providers carry API keys in their paths: the table names scheme, host and port only.
    env["STABLEGATE_NETWORK_RPC_URLS"] = json.dumps([dead + "/v1/apikey0123456789", bsc.url])
    bsc.mine()
    code, found, out = doctor(env)
    assert code == 1, out
    assert found[f"rpc {dead}"][0] == "FAIL" and "cannot reach the JSON-RPC node" in found[f"rpc {dead}"][1]
    assert found[f"rpc {bsc.url}"][0] == "PASS"
    assert found[f"token {BSC_MAINNET_USDT}"][0] == "PASS"
    assert "apikey0123456789" not in out


async def test_a_stale_head_fails(env: dict[str, str], bsc: Bsc) -> None:
    bsc.mine()
    await asyncio.sleep(2.5)
    code, found, out = doctor(env, "--head-max-age", "1")
    assert code == 1, out
    status, detail, _ = found[f"rpc {bsc.url}"]
    assert status == "FAIL" and "s old (more than 1 s): the node is not syncing" in detail


async def test_pinned_decimals_that_differ_from_the_chain_fail(
    mesh_pki: DevMesh, migrated_db: str, redis_server: RedisServer, anvil: AnvilNode, signer_server: int
) -> None:
    # bsc-testnet takes the token and its decimals from config: name the 18-decimal test token with 6.
    chain = JsonRpc(anvil.url)
    from chain.contracts import Chain

    node = Chain(chain)
    token = node.deploy(load_artifact("StablegateTestToken"), "T", "T", sender=node.accounts()[0]).address
    chain.request("evm_mine")
    env = good_env(mesh_pki, migrated_db, redis_server, Bsc(anvil.url), signer_server)
    env |= {
        "STABLEGATE_NETWORK": "bsc-testnet",
        "STABLEGATE_NETWORK_TOKEN_CONTRACT": token,
        "STABLEGATE_NETWORK_TOKEN_DECIMALS": "6",
    }
    code, found, out = doctor(env, "--head-max-age", "0")
    assert code == 1, out
    status, detail, fix = found[f"token {token}"]
    assert status == "FAIL" and "decimals() is 18 on chain, but 6 are pinned" in detail
    assert "TOKEN_DECIMALS" in fix
    assert found[f"rpc {anvil.url}"][0] == "PASS"  # chain 97 is right for testnet

    env["STABLEGATE_NETWORK_TOKEN_DECIMALS"] = "18"
    code, found, out = doctor(env, "--head-max-age", "0")
    assert found[f"token {token}"][0] == "PASS", out


async def test_a_missing_certificate_fails_naming_the_variable(env: dict[str, str], bsc: Bsc) -> None:
    bsc.mine()
    env["STABLEGATE_LEDGER_TLS__CERT_FILE"] = "/nonexistent/ledger.pem"
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, fix = found["certificate STABLEGATE_LEDGER_TLS__CERT_FILE"]
    assert status == "FAIL" and detail == "/nonexistent/ledger.pem does not exist"
    assert "stablegate mesh certs" in fix
    assert found["config ledger"][0] == "FAIL"


async def test_a_certificate_near_expiry_warns_and_an_expired_one_fails(
    env: dict[str, str], bsc: Bsc, tmp_path: Path
) -> None:
    def cert(name: str, days: float) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        built = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        path = tmp_path / f"{name}.pem"
        path.write_bytes(built.public_bytes(serialization.Encoding.PEM))
        return str(path)

    bsc.mine()
    env["STABLEGATE_WATCHER_TLS__CA_FILE"] = cert("soon", 3)
    env["STABLEGATE_SETTLEMENT_TLS__CA_FILE"] = cert("gone", -1)
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, _ = found["certificate STABLEGATE_WATCHER_TLS__CA_FILE"]
    assert status == "WARN" and "expires in 2 days" in detail
    status, detail, fix = found["certificate STABLEGATE_SETTLEMENT_TLS__CA_FILE"]
    assert status == "FAIL" and "expired" in detail and fix == "renew the certificate"


async def test_an_unmigrated_database_and_a_dead_redis_fail_with_the_next_step(
    env: dict[str, str], bsc: Bsc, postgres: PostgresServer
) -> None:
    # A second, empty database (the `env` fixture's own is migrated).
    name = f"u_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.plan.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    empty_db = postgres.plan.dsn.rsplit("/", 1)[0] + f"/{name}"
    bsc.mine()
    dead_redis = f"redis://127.0.0.1:{parts.free_port()}/0"
    for service in ("ledger", "watcher", "settlement"):
        env[f"STABLEGATE_{service.upper()}_DATABASE_URL"] = empty_db
    env["STABLEGATE_LEDGER_REDIS_URL"] = env["STABLEGATE_EDGE_REDIS_URL"] = dead_redis
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, fix = found["migrations ledger"]
    assert status == "FAIL" and "not applied" in detail and "stablegate db migrate" in fix
    assert found[f"redis {dead_redis}"][0] == "FAIL"
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_an_unreachable_signer_and_a_missing_hsm_module_fail(env: dict[str, str], bsc: Bsc) -> None:
    bsc.mine()
    target = f"127.0.0.1:{parts.free_port()}"
    env["STABLEGATE_SETTLEMENT_SIGNER_TARGET"] = target
    env["STABLEGATE_SIGNER_PKCS11_MODULE"] = "/nonexistent/libpkcs11.so"
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, fix = found[f"signer {target}"]
    assert status == "FAIL" and "no mutual-TLS connection" in detail and "start the signer" in fix
    assert found["hsm module"][0] == "FAIL" and "/nonexistent/libpkcs11.so" in found["hsm module"][1]


async def test_a_service_setting_that_contradicts_the_network_fails_its_config(env: dict[str, str], bsc: Bsc) -> None:
    bsc.mine()
    env["STABLEGATE_WATCHER_CHAIN_ID"] = "97"
    code, found, out = doctor(env)
    assert code == 1, out
    status, detail, _ = found["config watcher"]
    assert status == "FAIL"
    assert "STABLEGATE_WATCHER_CHAIN_ID: 97 contradicts STABLEGATE_NETWORK=bsc-mainnet (chain_id 56)" in detail


def test_no_configuration_at_all_is_a_fail() -> None:
    code, found, out = doctor({})
    assert code == 1, out
    assert found["config"][0] == "FAIL" and "no STABLEGATE_<SERVICE>_* variable is set" in found["config"][1]
    assert found["network"][0] == "WARN"


async def test_the_dashboard_needs_an_admin_key_and_a_way_to_send_email(
    env: dict[str, str], mesh_pki: DevMesh, migrated_db: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    smtp_port = parts.free_port()  # nothing listens there yet
    dashboard = {
        **env,
        **mesh_pki.files("dashboard").env("dashboard"),
        "STABLEGATE_DASHBOARD_DATABASE_URL": migrated_db,
        "STABLEGATE_DASHBOARD_REDIS_URL": redis_server.url,
        "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
        "STABLEGATE_DASHBOARD_SMTP_PORT": str(smtp_port),
    }
    _, found, out = doctor(dashboard)
    assert found["config dashboard"][0] == "PASS", out
    assert found["migrations dashboard"][0] == "PASS", out
    assert found["dashboard admin key"][0] == "WARN", out
    assert found[f"dashboard smtp 127.0.0.1:{smtp_port}"][0] == "FAIL", out

    key_file = tmp_path / "admin-key"
    key_file.write_text("ak_written_later\n")
    with socket.create_server(("127.0.0.1", smtp_port)):
        _, found, out = doctor({**dashboard, "STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY_PATH": str(key_file)})
    assert found["dashboard admin key"][0] == "PASS", out
    assert found[f"dashboard smtp 127.0.0.1:{smtp_port}"][0] == "PASS", out
    assert "ak_written_later" not in out
