"""Running reconciliations: the runner (report row, metric, alert event), the periodic job, and their wiring."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as pb_grpc

from chain.client import ChainClient, ChainError, ClientOptions
from service_runtime import mesh
from settlement import reconcile_store
from settlement.config import SettlementSettings
from settlement.reconcile import (
    BlockNotFinalized,
    ChainBalances,
    Line,
    LineStatus,
    Report,
    ReportStatus,
    Targets,
    compare,
    report_status,
)
from settlement.reconcile_api import ReconciliationApi
from settlement.reconcile_sources import ChainReader, LedgerReader

log = logging.getLogger("stablegate.settlement.reconcile")

DIFFERENCE_EVENT = "reconciliation.difference"
"""Outbox event type of one line that differs."""
FAILED_EVENT = "reconciliation.failed"
"""Outbox event type of a run that could not complete."""
JOB_LOCK_KEY = 0x5EC0_0C11
"""Advisory lock key: one replica runs the periodic job at a time."""


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def new_report_id() -> str:
    """A new report id, `rec_` then a sortable time part and randomness."""
    return f"rec_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def targets_from(settings: SettlementSettings) -> Targets:
    """What to reconcile, from settlement's settings."""
    return Targets(
        chain_id=settings.chain_id,
        asset=settings.asset,
        native_asset=settings.native_asset,
        token_contract=settings.token_contract or "",
        treasury=settings.treasury_address or None,
        cold_safe=settings.cold_safe_address or None,
        signing_keys=tuple(settings.signing_key_addresses),
    )


class ReconciliationMetrics:
    """Prometheus metrics of reconciliation: the difference per account, runs by outcome, the last run."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.difference = Gauge(
            "settlement_reconciliation_difference_base_units",
            "Chain minus ledger at the last reconciliation, in base units (0 when matched)",
            ["asset", "account"],
            registry=r,
        )
        self.runs = Counter("settlement_reconciliation_runs", "Reconciliation runs by outcome", ["status"], registry=r)
        for status in ReportStatus:  # every outcome from 0, so that increase() sees the first of each (alerts)
            self.runs.labels(status.value)
        self.last_block = Gauge(
            "settlement_reconciliation_block", "Finalized block of the last completed reconciliation", registry=r
        )
        self.last_success = Gauge(
            "settlement_reconciliation_last_complete_timestamp_seconds",
            "When a reconciliation last completed (matched or not)",
            registry=r,
        )
        self.alert_failures = Counter(
            "settlement_reconciliation_alert_failures", "Alert events the ledger did not take", registry=r
        )

    def observe(self, report: Report) -> None:
        """Record a finished report."""
        self.runs.labels(report.status.value).inc()
        if report.status is ReportStatus.FAILED:
            return
        for line in report.lines:
            if line.status is not LineStatus.SKIPPED:
                self.difference.labels(line.asset, line.account).set(line.difference)
        if report.block_number is not None:
            self.last_block.set(report.block_number)
        self.last_success.set(report.complete_time.timestamp())


@dataclass
class Reconciler:
    """Runs a reconciliation, stores its report, sets the metric and records alert events (never a fix)."""

    targets: Targets
    chain: ChainBalances
    ledger: LedgerReader
    pool: asyncpg.Pool
    metrics: ReconciliationMetrics = field(default_factory=ReconciliationMetrics)
    now: Callable[[], dt.datetime] = utc_now
    ledger_target: str = ""

    async def run(
        self, request_id: str, *, trigger: str = "api", block: int | None = None
    ) -> reconcile_store.StoredReport:
        """Reconcile now (or return the report this request id already made).

        Raises `BlockNotFinalized` for a block above the newest finalized one; any other failure (no provider, the
        ledger unreachable) becomes a FAILED report with the reason, stored and alerted like a difference.
        """
        async with self.pool.acquire() as conn:
            earlier = await reconcile_store.by_request_id(conn, request_id)
        if earlier is not None:
            return earlier
        report_id, started = new_report_id(), self.now()
        at: int | None = None
        lines: tuple[Line, ...] = ()
        error = ""
        try:
            at, lines = await compare(self.targets, self.chain, self.ledger, block=block)
            status = report_status(lines)
        except BlockNotFinalized:
            raise
        except ChainError as exc:
            status, error = ReportStatus.FAILED, f"chain: {exc}"
        except grpc.aio.AioRpcError as exc:
            status, error = ReportStatus.FAILED, f"ledger at {self.ledger_target}: {exc.code().name}: {exc.details()}"
        report = Report(
            id=report_id,
            chain_id=self.targets.chain_id,
            block_number=at,
            status=status,
            lines=lines,
            error=error,
            create_time=started,
            complete_time=self.now(),
            trigger=trigger,
            request_id=request_id,
        )
        async with self.pool.acquire() as conn:
            stored = await reconcile_store.insert(conn, report)
        if stored.report.id != report.id:
            return stored  # another caller with the same request id stored first; its alerts are its own
        self.metrics.observe(report)
        log.log(
            logging.INFO if status is ReportStatus.MATCHED else logging.ERROR,
            "reconciliation %s",
            status.value.lower(),
            extra={"reportId": report.id, "block": at, "mismatches": len(report.mismatches), "error": error},
        )
        await self._alert(report)
        return stored

    async def _alert(self, report: Report) -> None:
        """One outbox event per differing line (or one for a failed run), idempotent by report and account."""
        alerts: list[tuple[str, str, dict[str, Any]]] = []
        for line in report.mismatches:
            alerts.append(
                (
                    f"{report.id}:{line.account}",
                    DIFFERENCE_EVENT,
                    {
                        "report_id": report.id,
                        "chain_id": str(report.chain_id),
                        "block_number": str(report.block_number),
                        "account": line.account,
                        "kind": line.kind,
                        "asset": line.asset,
                        "address": line.address,
                        "chain_balance_base_units": str(line.chain_balance),
                        "ledger_balance_base_units": str(line.ledger_balance),
                        "difference_base_units": str(line.difference),
                    },
                )
            )
        if report.status is ReportStatus.FAILED:
            alerts.append(
                (
                    f"{report.id}:failed",
                    FAILED_EVENT,
                    {"report_id": report.id, "chain_id": str(report.chain_id), "error": report.error},
                )
            )
        for event_id, event_type, data in alerts:
            try:
                await self.ledger.record_event(event_id, event_type, report.id, data)
            except grpc.aio.AioRpcError as exc:
                self.metrics.alert_failures.inc()
                log.error(
                    "alert event not recorded",
                    extra={"reportId": report.id, "eventId": event_id, "code": exc.code().name},
                )


RETRY_SECONDS = 60.0
"""How soon the periodic job tries again after a failed run (within its slot)."""
READY_WAIT_SECONDS = 60.0
"""How long the job's first run waits for the ledger's channel (services start together)."""


async def _run_slot(reconciler: Reconciler, database_url: str, request_id: str) -> bool:
    """One job run under the advisory lock; False when it failed (or could not run) and should be retried."""
    try:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", JOB_LOCK_KEY):
                return True  # another replica is running this slot; it retries its own failures
            try:
                stored = await reconciler.run(request_id, trigger="job")
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", JOB_LOCK_KEY)
        finally:
            await conn.close()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("periodic reconciliation could not run; retrying")
        return False
    return stored.report.status is not ReportStatus.FAILED


async def reconcile_forever(
    reconciler: Reconciler,
    database_url: str,
    interval: float,
    *,
    ready: Callable[[], Awaitable[None]] | None = None,
    retry_seconds: float = RETRY_SECONDS,
    clock: Callable[[], float] = time.time,
) -> None:
    """The periodic job: once per interval slot, on one replica (advisory lock), idempotent per slot.

    A run that fails (a provider or the ledger down) is stored and alerted like any other, then tried again every
    `retry_seconds` within the slot under a new request id (`…:retryN`), so one outage does not cost a whole slot.
    """
    if ready is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ready(), READY_WAIT_SECONDS)
    slot, attempt = None, 0
    while True:
        now_slot = int(clock() // interval)
        if now_slot != slot:
            slot, attempt = now_slot, 0
        request_id = f"job:{reconciler.targets.chain_id}:{slot}:{int(interval)}" + (
            f":retry{attempt}" if attempt else ""
        )
        slot_end = (slot + 1) * interval - clock()
        if await _run_slot(reconciler, database_url, request_id):
            await asyncio.sleep(max(0.0, slot_end))
        else:
            attempt += 1
            await asyncio.sleep(max(0.0, min(retry_seconds, slot_end)))


@dataclass
class ReconciliationPart:
    """Reconciliation inside the settlement process: its pool, ledger channel, chain client, job and servicer."""

    settings: SettlementSettings
    chain: Callable[[], ChainClient] | None = None
    """The process's one chain client, when it has one (its metrics are registered once); else reconciliation
    opens and closes its own."""
    registry: CollectorRegistry | None = None
    reconciler: Reconciler | None = None
    _channel: grpc.aio.Channel | None = None
    _client: ChainClient | None = None
    _pool: asyncpg.Pool | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def bind_metrics(self, registry: CollectorRegistry) -> None:
        """Use the runtime's registry (called before startup)."""
        self.registry = registry

    def current(self) -> Reconciler:
        """The running reconciler (only after startup)."""
        assert self.reconciler is not None, "settlement has not started"
        return self.reconciler

    async def startup(self) -> None:
        """Open the pool, the ledger channel and the chain client; start the periodic job when it has an interval."""
        s = self.settings
        # No connection at start: settlement serves (and answers UNIMPLEMENTED) even while Postgres is still coming up.
        self._pool = await asyncpg.create_pool(s.database_url, min_size=0, max_size=4)
        self._channel = mesh.channel(s.ledger_target, s.tls)
        if self.chain is not None:
            client = self.chain()
        else:
            client = self._client = ChainClient(
                s.rpc_urls, ClientOptions(timeout_seconds=10, rounds=2), registry=self.registry
            )
        self.reconciler = Reconciler(
            targets=targets_from(s),
            chain=ChainReader(client, s.reconcile_concurrency),
            ledger=LedgerReader(self._channel, s.chain_id),
            pool=self._pool,
            metrics=ReconciliationMetrics(self.registry),
            ledger_target=s.ledger_target,
        )
        if s.reconcile_interval_seconds > 0 and not s.token_contract:
            log.info("periodic reconciliation off: STABLEGATE_SETTLEMENT_TOKEN_CONTRACT is not set")
        elif s.reconcile_interval_seconds > 0:
            self._tasks.append(
                asyncio.create_task(
                    reconcile_forever(
                        self.reconciler, s.database_url, s.reconcile_interval_seconds, ready=self._channel.channel_ready
                    )
                )
            )

    async def shutdown(self) -> None:
        """Stop the job and close what startup opened."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.close()
        if self._channel is not None:
            await self._channel.close(None)
        if self._pool is not None:
            await self._pool.close()

    def register(self, server: grpc.aio.Server) -> None:
        """Serve ReconciliationService."""
        pb_grpc.add_ReconciliationServiceServicer_to_server(ReconciliationApi(self.current), server)
