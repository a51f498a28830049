"""What every ledger servicer shares: the pool, the settings, the chain terms, the verifier and a clock."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import CollectorRegistry

from ledger.auth import CredentialVerifier
from ledger.config import LedgerSettings
from ledger.domain.invoices import ChainTerms
from ledger.domain.models import Merchant
from ledger.metrics import LedgerMetrics
from ledger.payments import PaymentRecorder
from ledger.store import merchants as merchant_store

MERCHANT_CACHE_SECONDS = 5.0
"""How long a merchant's invoice defaults are reused before being read again."""


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class LedgerCore:
    """Dependencies of the ledger's servicers; `pool` and `verifier` are set at startup."""

    settings: LedgerSettings
    now: Callable[[], dt.datetime] = utc_now
    _pool: asyncpg.Pool | None = field(default=None, repr=False)
    _verifier: CredentialVerifier | None = field(default=None, repr=False)
    _recorder: PaymentRecorder | None = field(default=None, repr=False)
    _merchants: dict[str, tuple[float, Merchant]] = field(default_factory=dict, repr=False)
    metrics: LedgerMetrics = field(default_factory=LedgerMetrics, repr=False)
    """The ledger's own metrics; `bind_metrics` moves them into the serving runtime's registry."""

    @property
    def pool(self) -> asyncpg.Pool:
        """The database pool (only after startup)."""
        assert self._pool is not None, "the ledger has not started"
        return self._pool

    @property
    def verifier(self) -> CredentialVerifier:
        """The API key verifier (only after startup)."""
        assert self._verifier is not None, "the ledger has not started"
        return self._verifier

    async def merchant(self, conn: asyncpg.Connection, merchant_id: str) -> Merchant | None:
        """A merchant's row for its invoice defaults, cached for a few seconds (defaults rarely change)."""
        cached = self._merchants.get(merchant_id)
        clock = time.monotonic()
        if cached is not None and cached[0] > clock:
            return cached[1]
        found = await merchant_store.get(conn, merchant_id)
        if found is not None:
            if len(self._merchants) > 10_000:
                self._merchants.clear()
            self._merchants[merchant_id] = (clock + MERCHANT_CACHE_SECONDS, found)
        return found

    @property
    def recorder(self) -> PaymentRecorder:
        """Records chain observations (only after startup)."""
        assert self._recorder is not None, "the ledger has not started"
        return self._recorder

    def bind_metrics(self, registry: CollectorRegistry) -> None:
        """Register the ledger's metrics in the runtime's registry (before startup builds the recorder)."""
        self.metrics = LedgerMetrics(registry)

    def attach(self, pool: asyncpg.Pool) -> None:
        """Bind the started pool and build the verifier and the payment recorder on it."""
        s = self.settings
        self._pool = pool
        self._verifier = CredentialVerifier(pool, cache_seconds=s.credential_cache_seconds, now=self.now)
        self._recorder = PaymentRecorder(
            pool, chain_id=s.chain_id, token_contract=s.token_contract, asset=s.asset, metrics=self.metrics
        )

    @functools.cached_property
    def terms(self) -> ChainTerms:
        """The chain, token and forwarder every invoice uses (read from the settings once)."""
        s = self.settings
        return ChainTerms(
            chain_id=s.chain_id,
            asset=s.asset,
            token_contract=s.token_contract,
            token_decimals=s.token_decimals,
            forwarder_factory=s.forwarder_factory,
            forwarder_init_code_hash=bytes.fromhex(s.forwarder_init_code_hash[2:]),
            monitoring_window=dt.timedelta(seconds=s.monitoring_window_seconds),
        )
