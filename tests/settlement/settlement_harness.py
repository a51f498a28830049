"""Real parts for settlement's tests: an anvil with our contracts (SWEEPER = an HSM key), the signer as a process
with a policy that allows that key to flush, and settlement's schema on a fresh database."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from chain.contracts import Chain as NodeChain
from chain.contracts import Contract, load_artifact
from chain.deploy import Roles, deploy
from chain.rpc import JsonRpc
from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.chain.chain_harness import Chain, rpc, start_chain
from tests.conftest import mesh_channel

GWEI = 10**9
UNIT = 10**18


@dataclass
class SweepChain:
    """A fresh anvil with the test token, the treasury and the factory; the sweeper role on an HSM key."""

    chain: Chain
    treasury: str
    factory: Contract
    sweeper: str

    @property
    def url(self) -> str:
        """JSON-RPC URL of the node."""
        return self.chain.url

    @property
    def token(self) -> str:
        """The test token, lowercase."""
        return self.chain.token

    def deposit_address(self, salt: bytes) -> str:
        """The forwarder address of a salt (the factory's own CREATE2 math), lowercase."""
        return str(self.factory.call1("predict", salt)).lower()

    def token_balance(self, holder: str) -> int:
        """Token base units held by `holder`."""
        data = "0x70a08231" + holder.lower().removeprefix("0x").rjust(64, "0")
        return int(rpc(self.url, "eth_call", [{"to": self.token, "data": data}, "latest"]), 16)

    def nonce(self, tag: str = "latest") -> int:
        """The sweeper key's transaction count."""
        return int(rpc(self.url, "eth_getTransactionCount", [self.sweeper, tag]), 16)

    def automine(self, on: bool) -> None:
        """Mine each transaction at once (on) or only when asked (off)."""
        rpc(self.url, "evm_setAutomine", [on])

    def mine(self, blocks: int = 1) -> None:
        """Mine blocks (with whatever the pool holds)."""
        self.chain.mine(blocks)

    def pool_hashes(self) -> set[str]:
        """Hashes of the transactions anvil holds unmined."""
        content = rpc(self.url, "txpool_content")
        found: set[str] = set()
        for by_sender in content.get("pending", {}).values():
            for tx in by_sender.values():
                found.add(str(tx["hash"]).lower())
        return found


def start_sweep_chain(registry: list[parts.RunningProcess], sweeper: str) -> SweepChain:
    """A fresh anvil (deterministic addresses: token, treasury, factory at the first account's nonces 0, 1, 2)."""
    chain = start_chain("settlement", registry)
    accounts = chain.accounts
    roles = Roles(admin=accounts[0], sweeper=sweeper, hot=accounts[0], cold_safe=accounts[1], quarantine=accounts[2])
    deployment = deploy(NodeChain(JsonRpc(chain.url)), accounts[0], roles, token=chain.token)
    factory = Contract(NodeChain(JsonRpc(chain.url)), deployment.factory, load_artifact("ForwarderFactory"))
    rpc(chain.url, "anvil_setBalance", [sweeper, hex(100 * UNIT)])
    return SweepChain(chain, deployment.treasury.lower(), factory, sweeper.lower())


def sweep_policy(factory: str, token: str, max_fee_wei: int = 1000 * GWEI) -> str:
    """A signer policy that lets SWEEPER keys flush the factory's forwarders of the token."""
    return f"""
version: 1
rules:
  - name: sweeps
    purposes: [SWEEPER]
    intents: [sweep]
    chain_ids: [97]
    contracts: [{factory}]
    tokens: [{token}]
    max_gas_limit: 30000000
    max_fee_per_gas_wei: {max_fee_wei}
    action: ALLOW
"""


@dataclass
class SignerProcess:
    """The signer as it runs: its own process, the module's SoftHSM token, a policy file, mutual TLS."""

    base: Path
    env: dict[str, str]
    pki: DevMesh
    registry: list[parts.RunningProcess]
    port: int = 0
    process: parts.RunningProcess | None = None

    @property
    def target(self) -> str:
        """host:port of the signer."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until it serves."""
        spec, ready = parts.prepare_service("signer", self.base, self.env)
        self.process = parts.start(spec)
        self.registry.append(self.process)
        port = parts.read_ready_file(ready)["grpc_port"]
        assert port is not None
        self.port = port

    def stop(self) -> None:
        """Stop it (drain, then exit)."""
        if self.process is not None:
            self.process.stop()

    def channel(self) -> grpc.aio.Channel:
        """A channel as settlement calls it."""
        return mesh_channel(self.pki, Role.SETTLEMENT, self.port)


def start_signer(
    base: Path, pki: DevMesh, token: parts.SoftHsmToken, policy: str, registry: list[parts.RunningProcess]
) -> SignerProcess:
    """A signer process with a fresh state file (so its nonce guard matches a fresh chain)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "policy.yaml").write_text(policy)
    env = {
        **pki.files(Role.SIGNER).env("signer"),
        **token.env,
        "STABLEGATE_SIGNER_PIN": token.user_pin,
        "STABLEGATE_SIGNER_TOKEN_LABEL": token.label,
        "STABLEGATE_SIGNER_POLICY_PATH": str(base / "policy.yaml"),
        "STABLEGATE_SIGNER_STATE_PATH": str(base / f"state-{os.urandom(4).hex()}.sqlite3"),
        "STABLEGATE_SIGNER_DRAIN_DELAY_SECONDS": "0",
        "STABLEGATE_SIGNER_WORKERS": "1",
    }
    signer = SignerProcess(base, env, pki, registry)
    signer.start()
    return signer


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, *, within: float = 60.0, interval: float = 0.1
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval)


@dataclass
class Rows:
    """Reads of settlement's tables, for assertions."""

    fetch: Callable[..., Awaitable[list[Any]]]
    cache: dict[str, Any] = field(default_factory=dict)

    async def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep, by creation."""
        return [dict(r) for r in await self.fetch("SELECT * FROM settlement.sweeps ORDER BY created_at, id")]

    async def transactions(self) -> list[dict[str, Any]]:
        """Every chain transaction row, by nonce and version."""
        rows = await self.fetch("SELECT * FROM settlement.chain_transactions ORDER BY nonce, version")
        return [dict(r) for r in rows]
