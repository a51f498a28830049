"""The watcher as the processes it runs as: one scanner under a lease, SIGKILL and restart lose nothing."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as inv_grpc

from gateway import parts
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.chain.chain_harness import Chain, start_chain
from tests.chain.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

UNIT = 10**18


@dataclass
class Gateway:
    """A ledger process and the watcher processes started against one chain and one database."""

    chain: Chain
    dsn: str
    base: Path
    pki: DevMesh
    ledger_port: int = 0
    watchers: dict[str, parts.RunningProcess] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)

    def start_watcher(self, name: str, **extra: str) -> None:
        env = {
            **self.pki.files(Role.WATCHER).env("watcher"),
            "STABLEGATE_WATCHER_DATABASE_URL": self.dsn,
            "STABLEGATE_WATCHER_MIGRATE_ON_START": "true",
            "STABLEGATE_WATCHER_LEDGER_TARGET": f"127.0.0.1:{self.ledger_port}",
            "STABLEGATE_WATCHER_RPC_URLS": f'["{self.chain.url}"]',
            "STABLEGATE_WATCHER_TOKEN_CONTRACT": self.chain.token,
            "STABLEGATE_WATCHER_START_BLOCK": "1",
            "STABLEGATE_WATCHER_SCAN_INTERVAL_SECONDS": "0.2",
            "STABLEGATE_WATCHER_LEASE_RETRY_SECONDS": "0.3",
            "STABLEGATE_WATCHER_DRAIN_DELAY_SECONDS": "0",
            **{f"STABLEGATE_WATCHER_{k.upper()}": v for k, v in extra.items()},
        }
        directory = self.base / name
        directory.mkdir(exist_ok=True)
        spec, ready = parts.prepare_service("watcher", directory, env)
        self.watchers[name] = parts.start(spec)
        self.metrics[name] = int(parts.read_ready_file(ready)["metrics_port"] or 0)

    def metric(self, name: str, metric: str, *labels: str) -> float | None:
        """A watcher's metric from its /metrics endpoint (None if it does not answer); `labels` are substrings
        its label set must contain."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics[name]}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(metric + " ") or (line.startswith(metric + "{") and all(f in line for f in labels)):
                return float(line.split()[-1])
        return None


@pytest.fixture
def gateway(postgres: PostgresServer, mesh_pki: DevMesh, tmp_path: Path) -> Iterator[Gateway]:
    started: list[parts.RunningProcess] = []
    database = f"w_{secrets.token_hex(4)}"
    psql = str(parts.postgres_bin_dir() / "psql")
    admin_db = ["-h", "127.0.0.1", "-p", str(postgres.plan.port), "-U", "postgres", "-d", "postgres"]
    parts.run_checked([psql, *admin_db, "-c", f"CREATE DATABASE {database}"])
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{database}"
    chain = start_chain("watcher", started)
    world = Gateway(chain, dsn, tmp_path, mesh_pki)
    try:
        spec, ready = parts.prepare_service(
            "ledger",
            tmp_path,
            {
                **mesh_pki.files(Role.LEDGER).env("ledger"),
                "STABLEGATE_LEDGER_DATABASE_URL": dsn,
                "STABLEGATE_LEDGER_MIGRATE_ON_START": "true",
                "STABLEGATE_LEDGER_TOKEN_CONTRACT": chain.token,
                "STABLEGATE_LEDGER_LOG_LEVEL": "WARNING",
            },
        )
        started.append(parts.start(spec))
        world.ledger_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        yield world
    finally:
        for proc in [*world.watchers.values(), *reversed(started)]:
            proc.stop()


async def invoices(world: Gateway, count: int) -> list[str]:
    """`count` invoices of 1 token each; their deposit addresses."""
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "admin", "keys", "create", "--name", "t", "--database-url", world.dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    admin = (("authorization", f"Bearer {made.stdout.strip()}"),)
    async with mesh.channel(f"127.0.0.1:{world.ledger_port}", world.pki.files(Role.EDGE)) as channel:
        merchant = await merchants_grpc.MerchantAdminServiceStub(channel).OnboardMerchant(
            merchants_pb.OnboardMerchantRequest(name="Shop", contact_email="a@b.example"), metadata=admin
        )
        key = await keys_grpc.ApiKeyAdminServiceStub(channel).IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=merchant.merchant.id, scopes=["invoices:write"]), metadata=admin
        )
        auth = (("authorization", f"Bearer {key.api_key.plaintext_key}"),)
        stub = inv_grpc.InvoiceServiceStub(channel)
        return [
            (await stub.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="1"), metadata=auth)).invoice.deposit_address
            for _ in range(count)
        ]


async def wait_all_paid(world: Gateway, count: int, within: float = 60) -> None:
    """Until every invoice is PAID (mining empty blocks so finality advances); then the books are checked."""
    conn = await asyncpg.connect(world.dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            paid = await conn.fetchval("SELECT count(*) FROM ledger.invoices WHERE status = 'PAID'")
            if paid == count:
                break
            assert time.monotonic() < deadline, f"{paid} of {count} paid"
            world.chain.mine(2)
            await asyncio.sleep(0.3)
        assert await conn.fetchval("SELECT count(*) FROM ledger.payments") == count
        credited = await conn.fetchval(
            "SELECT coalesce(sum(balance), 0) FROM ledger.accounts WHERE kind = 'merchant_available'"
        )
        assert int(credited) == count * UNIT
    finally:
        await conn.close()


async def wait_for(check: Callable[[], bool], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_two_replicas_scan_as_one_and_the_standby_takes_over_when_the_leader_is_killed(
    gateway: Gateway,
) -> None:
    gateway.start_watcher("a")
    await wait_for(lambda: gateway.metric("a", "watcher_leader") == 1.0)
    gateway.start_watcher("b")
    addresses = await invoices(gateway, 20)
    gateway.chain.mint(gateway.chain.token, gateway.chain.accounts[1], 40 * UNIT)
    for address in addresses[:10]:
        gateway.chain.transfer(address, UNIT)
    await asyncio.sleep(1.5)
    assert gateway.metric("b", "watcher_leader") == 0.0  # only one scans
    assert (gateway.metric("b", "watcher_scanned_blocks_total") or 0.0) == 0.0

    gateway.watchers["a"].popen.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await wait_for(lambda: gateway.metric("b", "watcher_leader") == 1.0)
    assert time.monotonic() - killed < 5  # a killed leader's connection drops at once; b's next try takes it
    for address in addresses[10:]:
        gateway.chain.transfer(address, UNIT)
    await wait_all_paid(gateway, 20)


async def test_a_watcher_killed_mid_scan_and_restarted_credits_every_payment_once(gateway: Gateway) -> None:
    addresses = await invoices(gateway, 40)
    gateway.chain.mint(gateway.chain.token, gateway.chain.accounts[1], 40 * UNIT)
    for address in addresses:
        gateway.chain.transfer(address, UNIT)
        gateway.chain.mine(3)
    # Small log ranges make the backfill take many passes, so the kill lands in the middle of it.
    gateway.start_watcher("a", max_block_range="2")
    await wait_for(lambda: (gateway.metric("a", "watcher_scanned_blocks_total") or 0) >= 20)
    gateway.watchers["a"].popen.send_signal(signal.SIGKILL)
    gateway.watchers["a"].popen.wait(timeout=10)
    conn = await asyncpg.connect(gateway.dsn)
    try:
        partial = await conn.fetchval("SELECT count(*) FROM ledger.payments")
    finally:
        await conn.close()
    assert partial < 40  # killed before it had seen everything
    gateway.start_watcher("a2")
    await wait_all_paid(gateway, 40)


async def test_a_failing_providers_breaker_opens_and_closes_again_on_the_metrics_endpoint(gateway: Gateway) -> None:
    proxy = FaultProxy(gateway.chain.url, mode="http_error")
    await proxy.start()
    try:
        providers = f'["{proxy.url}", "{gateway.chain.url}"]'
        gateway.start_watcher("a", rpc_urls=providers, breaker_fail_max="2", breaker_reset_seconds="1")
        state = ("chain_rpc_breaker_state", f"{proxy.port}")
        await wait_for(lambda: gateway.metric("a", *state) == 2.0)  # open: the first provider answers 502
        addresses = await invoices(gateway, 3)
        gateway.chain.mint(gateway.chain.token, gateway.chain.accounts[1], 3 * UNIT)
        for address in addresses:
            gateway.chain.transfer(address, UNIT)
        await wait_all_paid(gateway, 3)  # the second provider carries the scan meanwhile
        proxy.mode = "ok"
        await wait_for(lambda: gateway.metric("a", *state) == 0.0)  # closed again after its trial call
        assert (gateway.metric("a", "chain_rpc_breaker_opened_total", f"{proxy.port}") or 0) >= 1
        assert gateway.metric("a", "watcher_lag_blocks") is not None
    finally:
        await proxy.close()
