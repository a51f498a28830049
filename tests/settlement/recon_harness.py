"""A world for settlement's tests: its own anvil with our contracts, the real ledger, the watcher's scanner, and the
settlement service in-process, all on one fresh database and one mesh CA."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.settlement.v1 import reconciliation_service_pb2 as rec_pb
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as rec_grpc

from chain.client import ChainClient, ClientOptions
from chain.contracts import Contract
from gateway import parts
from ledger.domain import postings
from ledger.domain.addresses import invoice_salt
from ledger.store import journal
from service_runtime import mesh
from service_runtime.config import load_settings
from service_runtime.mesh import Role
from service_runtime.server import ServiceRuntime
from settlement.app import definition
from settlement.config import SettlementSettings
from settlement.store.db import apply_migrations as settlement_migrations
from tests.chain.chain_harness import wait_until_fed
from tests.chain.conftest import Deployed, deploy_contracts
from tests.ledger.ledger_harness import Ledger, running_ledger
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.scanner import Scanner, ScanOptions
from watcher.store.state import apply_migrations as watcher_migrations

UNIT = 10**18
PAYER = 4
"""Dev account that pays invoices (0 deploys and holds the HOT and sweeper roles, 1 is the cold "Safe")."""


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call to anvil."""
    return parts.json_rpc(url, method, params or [], timeout=10)


@dataclass
class World:
    """Chain, ledger, watcher scanner and settlement, wired as in production (mesh TLS between services)."""

    anvil_url: str
    contracts: Deployed
    ledger: Ledger
    scanner: Scanner
    key: str
    settlement: ServiceRuntime
    settlement_settings: SettlementSettings
    operator: grpc.aio.Channel
    grpc_port: int
    """Settlement's gRPC port."""

    @property
    def reports(self) -> rec_grpc.ReconciliationServiceAsyncStub:
        """ReconciliationService as the operator role."""
        return rec_grpc.ReconciliationServiceStub(self.operator)

    @property
    def token(self) -> Contract:
        """The token contract."""
        return self.contracts.token

    @property
    def treasury(self) -> str:
        """The treasury contract's address."""
        return self.contracts.deployment.treasury

    @property
    def cold_safe(self) -> str:
        """The cold "Safe" of this deployment (a dev account: the Safe itself is the sweep issue's)."""
        return self.contracts.deployment.roles.cold_safe

    async def invoice(self, amount: str, key: str | None = None) -> invoice_pb2.Invoice:
        """A new invoice (of the merchant whose key is given, the world's own by default), once the watcher's feed
        shows its address (`wait_until_fed`)."""
        reply = await self.ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=amount), metadata=self.ledger.auth(key or self.key)
        )
        await wait_until_fed(self.scanner.reporter, [reply.invoice.deposit_address])
        return reply.invoice

    def pay(self, address: str, amount: int) -> None:
        """A real token transfer from the payer to an address (minted to the payer first)."""
        payer = self.contracts.accounts[PAYER]
        self.token.transact("mint", payer, amount, sender=payer)
        self.token.transact("transfer", address, amount, sender=payer)

    def mine(self, blocks: int = 10) -> None:
        """Mine empty blocks (anvil finalizes a few blocks behind the head)."""
        rpc(self.anvil_url, "anvil_mine", [hex(blocks)])

    async def settle(self) -> None:
        """Mine past finality and let the watcher report everything up to the head."""
        self.mine(10)
        await self.scanner.tick()
        await self.scanner.tick()

    async def status(self, invoice_id: str, key: str | None = None) -> str:
        """An invoice's status name (asked with its merchant's key, the world's own by default)."""
        reply = await self.ledger.invoices.GetInvoice(
            inv_pb.GetInvoiceRequest(id=invoice_id), metadata=self.ledger.auth(key or self.key)
        )
        return str(invoice_pb2.InvoiceStatus.Name(reply.invoice.status)).removeprefix("INVOICE_STATUS_")

    async def book(
        self, kind: str, entries: list[tuple[str, str, int]], *, asset: str | None = None, merchant: str | None = None
    ) -> None:
        """A posting through the ledger's journal store: a stand-in for the sweeper's, the cold move's and the fee
        postings (built on other branches of this issue). Entries are (account kind, side, amount); `merchant` owns
        the `merchant_*` ones."""
        asset = asset or self.ledger.settings.asset
        posting = postings.Posting(
            kind=kind,
            entries=tuple(
                postings.Entry(
                    postings.AccountRef(k, merchant if k.startswith("merchant_") else None, asset),
                    "D" if side == "D" else "C",
                    n,
                )
                for k, side, n in entries
            ),
            memo=f"test {kind}",
        )
        conn = await asyncpg.connect(self.ledger.db_url)
        try:
            async with conn.transaction():
                await journal.post(conn, posting, request_id=f"{kind}:{secrets.token_hex(8)}")
        finally:
            await conn.close()

    def sweep(self, invoice_ids: list[str]) -> None:
        """A real flush of the invoices' deposit addresses into the treasury (the sweeper's on-chain half)."""
        salts = [invoice_salt(i) for i in invoice_ids]
        self.contracts.factory.transact("flushBatch", salts, [], [], sender=self.contracts.deployer)

    def move_to_cold(self, amount: int) -> None:
        """A real move from the treasury to the cold address by the HOT key."""
        self.contracts.treasury.transact("moveToCold", self.token.address, amount, sender=self.contracts.deployer)

    def steal_from_treasury(self, amount: int, thief: str) -> None:
        """A token transfer out of the treasury that the gateway did not make: anvil impersonates the contract."""
        treasury = self.treasury
        rpc(self.anvil_url, "anvil_impersonateAccount", [treasury])
        rpc(self.anvil_url, "anvil_setBalance", [treasury, hex(UNIT)])
        data = "0xa9059cbb" + thief.lower().removeprefix("0x").rjust(64, "0") + hex(amount)[2:].rjust(64, "0")
        tx = rpc(self.anvil_url, "eth_sendTransaction", [{"from": treasury, "to": self.token.address, "data": data}])
        receipt = self.contracts.chain.wait_for_receipt(tx)
        assert receipt is not None, "the impersonated transfer reverted"
        rpc(self.anvil_url, "anvil_stopImpersonatingAccount", [treasury])

    async def run(self, request_id: str | None = None, **fields: Any) -> rec_pb.ReconciliationReport:
        """RunReconciliation as the operator; the report."""
        reply = await self.reports.RunReconciliation(
            rec_pb.RunReconciliationRequest(request_id=request_id or secrets.token_hex(8), **fields)
        )
        return reply.report

    def metric(self, name: str, **labels: str) -> float | None:
        """A sample of settlement's Prometheus registry (what /metrics shows)."""
        return self.settlement.registry.get_sample_value(name, labels)


def settlement_settings(ledger: Ledger, anvil_url: str, contracts: Deployed, **overrides: Any) -> SettlementSettings:
    """Settlement's settings for this world: the ledger's database and CA, the anvil, the contracts."""
    return load_settings(
        SettlementSettings,
        **{
            "database_url": ledger.db_url,
            "profile": "test",
            "grpc_port": 0,
            "metrics_port": None,
            "drain_delay_seconds": 0,
            "tls": ledger.pki.files(Role.SETTLEMENT).settings(),
            "ledger_target": f"127.0.0.1:{ledger.grpc_port}",
            "rpc_urls": [anvil_url],
            "chain_id": 97,
            "token_contract": contracts.deployment.token,
            "treasury_address": contracts.deployment.treasury,
            "cold_safe_address": contracts.deployment.roles.cold_safe,
            "signing_key_addresses": [contracts.deployer],
            "reconcile_interval_seconds": 0,
            **overrides,
        },
    )


@asynccontextmanager
async def running_settlement(settings: SettlementSettings) -> AsyncIterator[tuple[ServiceRuntime, int]]:
    """Settlement in-process; its runtime and gRPC port."""
    runtime = ServiceRuntime(settings, definition(settings))
    ports = await runtime.start()
    try:
        yield runtime, ports.grpc_port
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()


@asynccontextmanager
async def world_on(db_url: str, **settlement_overrides: Any) -> AsyncIterator[World]:
    """A fresh anvil with our contracts, and the ledger, scanner and settlement on the database `db_url`."""
    started: list[parts.RunningProcess] = []
    port = parts.free_port()
    started.append(parts.start(parts.prepare_anvil(port)))
    anvil_url = f"http://127.0.0.1:{port}"
    try:
        contracts = deploy_contracts(anvil_url)
        rpc(anvil_url, "anvil_mine", [hex(10)])  # the contracts are final before anything reads the finalized block
        d = contracts.deployment
        await watcher_migrations(db_url)
        await settlement_migrations(db_url)
        async with running_ledger(
            db_url, token_contract=d.token, forwarder_factory=d.factory, forwarder_init_code_hash=d.init_code_hash
        ) as ledger:
            _, key = await ledger.merchant_with_key()
            pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
            client = ChainClient([anvil_url], ClientOptions(timeout_seconds=5, rounds=2))
            options = ScanOptions(chain_id=97, token=d.token.lower(), start_block=1, max_range=50)
            scanner = Scanner(client, pool, LedgerReporter(ledger.watcher_channel, 97), options, WatcherMetrics())
            settings = settlement_settings(ledger, anvil_url, contracts, **settlement_overrides)
            try:
                async with (
                    running_settlement(settings) as (runtime, grpc_port),
                    mesh.channel(f"127.0.0.1:{grpc_port}", ledger.pki.files(Role.OPERATOR)) as operator,
                ):
                    yield World(anvil_url, contracts, ledger, scanner, key, runtime, settings, operator, grpc_port)
            finally:
                await client.close()
                await pool.close()
    finally:
        for proc in started:
            proc.stop()
