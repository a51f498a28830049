"""Real parts for settlement's tests: an anvil with our contracts (SWEEPER = an HSM key), the signer as a process
with a policy that allows that key to flush, and settlement's schema on a fresh database."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from chain.client import ChainClient, ClientOptions
from chain.contracts import Chain as NodeChain
from chain.contracts import Contract, load_artifact
from chain.deploy import Roles, deploy, forwarder_init_code_hash
from chain.fees import FeeCaps
from chain.rpc import JsonRpc
from chain.safe import deploy_safe
from gateway import parts
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.domain.sweeps import Deposit, GasBudget
from settlement.ledger_client import GrpcSweepLedger
from settlement.signing import SweepSigner
from settlement.store.db import apply_migrations
from settlement.sweeper import Sweeper, SweeperOptions
from signer.keystore.base import KeyInfo
from tests.chain.chain_harness import Chain, rpc, start_chain, wait_until_fed
from tests.conftest import mesh_channel
from tests.ledger.ledger_harness import Ledger, running_ledger
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.scanner import Scanner, ScanOptions
from watcher.store.state import apply_migrations as apply_watcher_migrations

GWEI = 10**9
UNIT = 10**18


@dataclass
class SweepChain:
    """A fresh anvil with the test token, the treasury and the factory; the sweeper role on an HSM key."""

    chain: Chain
    treasury: str
    factory: Contract
    sweeper: str
    cold_safe: str = ""
    """The treasury's cold Safe: a Safe 1.4.1 when the chain was made with cold owners, else an anvil account."""
    hot: str = ""
    """The address holding HOT_ROLE on the treasury."""

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


def start_sweep_chain(
    registry: list[parts.RunningProcess],
    sweeper: str,
    *,
    hot: str | None = None,
    cold_owners: list[str] | None = None,
) -> SweepChain:
    """A fresh anvil (deterministic addresses: token, treasury, factory at the first account's nonces 0, 1, 2).

    With `cold_owners`, the treasury's cold Safe is a Safe 1.4.1 they own with threshold len(owners) (deployed by
    another account, so the first account's nonces stay as planned); `hot` (default the first account) holds
    HOT_ROLE and gets BNB for gas.
    """
    chain = start_chain("settlement", registry)
    accounts = chain.accounts
    node = NodeChain(JsonRpc(chain.url))
    cold_safe = accounts[1]
    if cold_owners:
        cold_safe = deploy_safe(node, accounts[3], cold_owners, len(cold_owners)).address
    hot = hot or accounts[0]
    roles = Roles(admin=accounts[0], sweeper=sweeper, hot=hot, cold_safe=cold_safe, quarantine=accounts[2])
    deployment = deploy(node, accounts[0], roles, token=chain.token)
    factory = Contract(node, deployment.factory, load_artifact("ForwarderFactory"))
    rpc(chain.url, "anvil_setBalance", [sweeper, hex(100 * UNIT)])
    rpc(chain.url, "anvil_setBalance", [hot, hex(100 * UNIT)])
    return SweepChain(chain, deployment.treasury.lower(), factory, sweeper.lower(), cold_safe.lower(), hot.lower())


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


def cold_move_rules(chain: SweepChain, threshold: int, approvers: Sequence[str], *, unfreeze: bool = False) -> str:
    """Signer-policy rules (to follow a `rules:` list) for HOT moves into cold: up to `threshold` base units signed
    at once, larger ones held for two of the `officers` group (`approvers`), held requests lapsing after an hour;
    with `unfreeze`, two of them may also lift a freeze."""
    lift = "unfreeze: {group: officers, threshold: 2}\n" if unfreeze else ""
    return f"""
  - name: small-cold-moves
    purposes: [HOT]
    intents: [cold_move]
    chain_ids: [97]
    contracts: [{chain.treasury}]
    tokens: [{chain.token}]
    max_amount: {threshold}
    action: ALLOW
  - name: large-cold-moves
    purposes: [HOT]
    intents: [cold_move]
    chain_ids: [97]
    contracts: [{chain.treasury}]
    tokens: [{chain.token}]
    action: REQUIRE_APPROVAL
    approval: {{group: officers, threshold: 2}}
approval_ttl_seconds: 3600
{lift}approver_groups:
  officers:
    addresses: [{", ".join(approvers)}]
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
class SweepWorld:
    """Everything a sweep touches, real: anvil with our contracts, the ledger, the watcher's scanner (ticked by
    hand), the signer process, and settlement's schema beside the ledger's in one database."""

    chain: SweepChain
    ledger: Ledger
    scanner: Scanner
    signer: SignerProcess
    key: KeyInfo
    merchant_key: str
    merchant_id: str
    db: str
    pool: asyncpg.Pool
    ledger_channel: grpc.aio.Channel
    clients: list[ChainClient] = field(default_factory=list)

    def client(self, *urls: str) -> ChainClient:
        """A chain client over `urls` (default: the node itself), closed with the world."""
        made = ChainClient(
            list(urls) or [self.chain.url], ClientOptions(timeout_seconds=5, rounds=2, backoff_seconds=0.01)
        )
        self.clients.append(made)
        return made

    def options(self, **changes: Any) -> SweeperOptions:
        """Sweeper options for this world (tests change what they exercise)."""
        base = SweeperOptions(
            chain_id=97,
            key_id=self.key.key_id,
            sweeper_address=self.key.address.lower(),
            factory=self.chain.factory.address.lower(),
            token=self.chain.token,
            batch_size=50,
            budget=GasBudget(max_gas=5_000_000, per_forwarder=60_000, base=50_000),
            fee_caps=FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=50 * GWEI, priority_fee_wei=GWEI // 10),
            stuck_after_seconds=3600,
            rebroadcast_seconds=0,
            max_in_flight=8,
        )
        return replace(base, **changes)

    def sweeper(self, client: ChainClient | None = None, **changes: Any) -> Sweeper:
        """An in-process sweeper on this world's parts."""
        return Sweeper(
            client or self.client(),
            self.pool,
            SweepSigner(self.signer.channel()),
            GrpcSweepLedger(self.ledger_channel),
            options=self.options(**changes),
        )

    async def paid_invoices(self, amounts: list[int]) -> list[str]:
        """Invoices paid for real (token transfers to their deposit addresses), credited FINAL by the scanner."""
        ids, addresses = [], []
        for amount in amounts:
            whole, frac = divmod(amount, UNIT)
            text = f"{whole}.{str(frac).rjust(18, '0').rstrip('0')}" if frac else str(whole)
            reply = await self.ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount=text), metadata=self.ledger.auth(self.merchant_key)
            )
            ids.append(reply.invoice.id)
            addresses.append(reply.invoice.deposit_address.lower())
        await wait_until_fed(self.scanner.reporter, addresses)
        self.chain.chain.mint(self.chain.token, self.chain.chain.accounts[1], sum(amounts))
        for address, amount in zip(addresses, amounts, strict=True):
            self.chain.chain.transfer(address, amount)
        self.chain.mine(8)

        async def all_paid() -> bool:
            await self.scanner.tick()
            statuses = await self.ledger.fetch("SELECT status FROM ledger.invoices WHERE id = ANY($1::text[])", ids)
            return len(statuses) == len(ids) and all(r["status"] == "PAID" for r in statuses)

        await eventually(all_paid, "every invoice PAID", within=60)
        return ids

    async def balance(self, code: str) -> int:
        """A ledger account's balance (0 when the account does not exist yet)."""
        value = await self.ledger.value("SELECT balance FROM ledger.accounts WHERE code = $1", code)
        return int(value) if value is not None else 0

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a query on the shared database."""
        return [dict(r) for r in await self.ledger.fetch(sql, *args)]

    async def sweepable(self) -> list[Deposit]:
        """What the ledger still lists as sweepable."""
        return await GrpcSweepLedger(self.ledger_channel).sweepable(97)


@asynccontextmanager
async def sweep_world(
    db: str,
    key: KeyInfo,
    token: parts.SoftHsmToken,
    registry: list[parts.RunningProcess],
    base: Path,
    *,
    policy_max_fee_wei: int = 1000 * GWEI,
    hot: str | None = None,
    cold_owners: list[str] | None = None,
    extra_policy: Callable[[SweepChain], str] | None = None,
    ledger_settings: dict[str, Any] | None = None,
) -> AsyncIterator[SweepWorld]:
    """Start every part on a fresh chain and database; stop them at the end.

    `extra_policy` adds rules (and approver groups) to the signer's policy once the contracts' addresses are known;
    `ledger_settings` overrides the ledger's settings (e.g. its payout fee).
    """
    chain = start_sweep_chain(registry, key.address, hot=hot, cold_owners=cold_owners)
    await apply_watcher_migrations(db)
    await apply_migrations(db)
    init_hash = "0x" + forwarder_init_code_hash(str(chain.factory.call1("implementation"))).hex()
    async with running_ledger(
        db,
        token_contract=chain.token,
        forwarder_factory=chain.factory.address,
        forwarder_init_code_hash=init_hash,
        **(ledger_settings or {}),
    ) as ledger:
        merchant_id, merchant_key = await ledger.merchant_with_key()
        signer = start_signer(
            base / "signer",
            ledger.pki,
            token,
            sweep_policy(chain.factory.address, chain.token, policy_max_fee_wei)
            + (extra_policy(chain) if extra_policy else ""),
            registry,
        )
        pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
        scan_client = ChainClient([chain.url], ClientOptions(timeout_seconds=5, rounds=2))
        options = ScanOptions(chain_id=97, token=chain.token, start_block=1, max_range=500)
        scanner = Scanner(scan_client, pool, LedgerReporter(ledger.watcher_channel, 97), options, WatcherMetrics())
        channel = mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT))
        world = SweepWorld(
            chain, ledger, scanner, signer, key, merchant_key, merchant_id, db, pool, channel, [scan_client]
        )
        try:
            yield world
        finally:
            for client in world.clients:
                await client.close()
            await channel.close(None)
            await pool.close()
            signer.stop()
