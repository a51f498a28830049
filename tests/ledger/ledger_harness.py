"""A ledger running in-process on a fresh database, with a controllable clock, for the ledger's tests."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc
from stablegate.merchant.v1 import invoice_service_pb2_grpc as inv_grpc

from ledger.app import definition
from ledger.config import LedgerSettings
from ledger.core import LedgerCore
from ledger.domain import postings
from ledger.domain.credentials import new_admin_key
from ledger.domain.ssrf import Resolver
from ledger.store import journal
from ledger.store.credentials import insert_admin_key
from service_runtime import mesh
from service_runtime.config import load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.server import ServiceRuntime

ALL_SCOPES = ("invoices:read", "invoices:write", "balance:read")


@dataclass
class Clock:
    """A clock the test moves by hand."""

    current: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@dataclass
class Ledger:
    """A running ledger on a fresh database, with an admin key, mesh channels and the clock it reads.

    `channel` calls as the edge (public methods, with a key); `watcher_channel` as the watcher (observations).
    """

    channel: grpc.aio.Channel
    watcher_channel: grpc.aio.Channel
    admin_key: str
    db_url: str
    settings: LedgerSettings
    core: LedgerCore
    clock: Clock
    runtime: ServiceRuntime
    pki: DevMesh
    grpc_port: int

    def auth(self, key: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key}"),)

    @property
    def merchants(self) -> merchants_grpc.MerchantAdminServiceAsyncStub:
        return merchants_grpc.MerchantAdminServiceStub(self.channel)

    @property
    def keys(self) -> keys_grpc.ApiKeyAdminServiceAsyncStub:
        return keys_grpc.ApiKeyAdminServiceStub(self.channel)

    @property
    def invoices(self) -> inv_grpc.InvoiceServiceAsyncStub:
        return inv_grpc.InvoiceServiceStub(self.channel)

    @property
    def observations(self) -> obs_grpc.ChainObservationServiceAsyncStub:
        return obs_grpc.ChainObservationServiceStub(self.watcher_channel)

    async def merchant_with_key(self, name: str = "Shop", scopes: tuple[str, ...] = ALL_SCOPES) -> tuple[str, str]:
        reply = await self.merchants.OnboardMerchant(
            merchants_pb.OnboardMerchantRequest(name=name, contact_email="ops@shop.example"),
            metadata=self.auth(self.admin_key),
        )
        key = await self.keys.IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=reply.merchant.id, scopes=list(scopes), name="test"),
            metadata=self.auth(self.admin_key),
        )
        return reply.merchant.id, key.api_key.plaintext_key

    async def observe(
        self,
        to: str,
        amount: int,
        finality: str = "SEEN",
        *,
        tx: str | None = None,
        log_index: int = 0,
        block: int = 100,
        block_hash: str = "0x" + "b" * 64,
        token: str | None = None,
        chain_id: int | None = None,
    ) -> obs_pb.RecordTransferObservationResponse:
        observation = obs_pb.TransferObservation(
            chain_id=chain_id or self.settings.chain_id,
            token_contract=token or self.settings.token_contract,
            tx_hash=tx or "0x" + secrets.token_hex(32),
            log_index=log_index,
            block_number=block,
            block_hash=block_hash,
            from_address="0x" + "c" * 40,
            to_address=to,
            amount_base_units=str(amount),
            finality=obs_pb.ObservationFinality.Value(f"OBSERVATION_FINALITY_{finality}"),
        )
        return await self.observations.RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(observation=observation)
        )

    async def pay_out(self, merchant_id: str, amount: int) -> None:
        """Take `amount` from the merchant's available balance as a payout would (Dr available / Cr treasury).

        A stand-in for settlement's payout posting (not built yet), written through the journal store.
        """
        asset = self.settings.asset
        payout = postings.Posting(
            kind="payout",
            entries=(
                postings.Entry(postings.AccountRef("merchant_available", merchant_id, asset), "D", amount),
                postings.Entry(postings.AccountRef("treasury", None, asset), "C", amount),
            ),
            memo="test payout",
        )
        conn = await asyncpg.connect(self.db_url)
        try:
            async with conn.transaction():
                await journal.post(conn, payout, request_id=f"payout:{secrets.token_hex(8)}")
        finally:
            await conn.close()

    async def finality(
        self, number: int, block_hash: str = "0x" + "d" * 64, canonical: dict[int, str] | None = None
    ) -> obs_pb.RecordFinalityResponse:
        """Report the chain's finalized block, and the canonical hashes of older blocks, as the watcher does."""
        return await self.observations.RecordFinality(
            obs_pb.RecordFinalityRequest(
                chain_id=self.settings.chain_id,
                finalized_block_number=number,
                finalized_block_hash=block_hash,
                canonical_blocks=[obs_pb.CanonicalBlock(number=n, hash=h) for n, h in (canonical or {}).items()],
            )
        )

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the ledger's Prometheus registry (what /metrics would show); 0 if never recorded."""
        return self.runtime.registry.get_sample_value(name, labels) or 0.0

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.db_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def events(self, subject_id: str) -> list[str]:
        rows = await self.fetch("SELECT event_type FROM ledger.outbox WHERE subject_id = $1 ORDER BY id", subject_id)
        return [r["event_type"] for r in rows]

    async def balances(self, merchant_id: str) -> dict[str, int]:
        rows = await self.fetch("SELECT kind, balance FROM ledger.accounts WHERE merchant_id = $1", merchant_id)
        return {r["kind"]: int(r["balance"]) for r in rows}

    async def assert_books_are_sound(self) -> None:
        """Every transaction balances per asset; each stored balance equals the fold of its entries."""
        unbalanced = await self.fetch(
            "SELECT transaction_id, asset FROM ledger.journal_entries GROUP BY transaction_id, asset "
            "HAVING sum(CASE WHEN side = 'D' THEN amount ELSE -amount END) <> 0"
        )
        assert unbalanced == []
        drift = await self.fetch(
            "SELECT a.code, a.balance, coalesce(sum(CASE WHEN e.side = a.normal_side THEN e.amount "
            "ELSE -e.amount END), 0) AS folded FROM ledger.accounts a "
            "LEFT JOIN ledger.journal_entries e ON e.account_id = a.id GROUP BY a.id HAVING a.balance <> "
            "coalesce(sum(CASE WHEN e.side = a.normal_side THEN e.amount ELSE -e.amount END), 0)"
        )
        assert drift == []
        negative = await self.fetch(
            "SELECT code FROM ledger.accounts WHERE kind IN ('merchant_available', 'merchant_pending') AND balance < 0"
        )
        assert negative == []


@asynccontextmanager
async def running_ledger(
    db_url: str, *, resolver: Resolver | None = None, ca_name: str | None = None, **overrides: Any
) -> AsyncIterator[Ledger]:
    """Start a ledger on a migrated database; stop it at the end.

    `resolver` replaces the system resolver for webhook hosts; `ca_name` names the mesh CA (prod refuses the
    dev CA's name, so a prod-profile ledger needs another).
    """
    mesh_dir = Path(tempfile.mkdtemp(prefix="ledger-pki-"))
    pki = DevMesh(mesh_dir, ca_name=ca_name) if ca_name else DevMesh(mesh_dir)
    settings = load_settings(
        LedgerSettings,
        **{
            "database_url": db_url,
            "profile": "test",
            "grpc_port": 0,
            "metrics_port": None,
            "credential_cache_seconds": 0,
            "drain_delay_seconds": 0,
            "expiry_interval_seconds": 3600,  # tests run expiry by hand, on their own clock
            "payout_schedule_interval_seconds": 0,  # and the payout scheduler too
            "tls": pki.files(Role.LEDGER).settings(),
            **overrides,
        },
    )
    admin = new_admin_key()
    conn = await asyncpg.connect(db_url)
    try:
        await insert_admin_key(
            conn, key_id="adm_test", prefix=admin.prefix, secret_hash=admin.secret_hash, roles=["admin"], name="tests"
        )
    finally:
        await conn.close()
    clock = Clock()
    core = LedgerCore(settings, now=clock)
    if resolver is not None:
        core.resolver = resolver
    runtime = ServiceRuntime(settings, definition(settings, core))
    ports = await runtime.start()
    try:
        target = f"127.0.0.1:{ports.grpc_port}"
        async with (
            mesh.channel(target, pki.files(Role.EDGE)) as channel,
            mesh.channel(target, pki.files(Role.WATCHER)) as watcher,
        ):
            yield Ledger(
                channel, watcher, admin.plaintext, db_url, settings, core, clock, runtime, pki, ports.grpc_port
            )
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()
        shutil.rmtree(pki.ca.directory, ignore_errors=True)
