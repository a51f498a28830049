"""Wiring of the watcher: the scanner under its lease, the ledger channel, and GetStatus for operators."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry
from stablegate.watcher.v1 import watcher_service_pb2 as pb
from stablegate.watcher.v1 import watcher_service_pb2_grpc as pb_grpc

from chain.client import ChainClient, ChainError, ClientOptions
from service_runtime import mesh
from service_runtime.lease import Lease
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from watcher.config import WatcherSettings
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.scanner import InconsistentChain, Scanner, ScanOptions
from watcher.store.state import apply_migrations

log = logging.getLogger("stablegate.watcher")

SERVED = ("stablegate.watcher.v1.WatcherService",)
# Who may call what (docs/security.md): operators read the status.
ROLES: MethodRoles = {
    "/stablegate.watcher.v1.WatcherService/": frozenset({Role.OPERATOR}),
    # The dashboard's admin health page (docs/dashboard.md, "Health").
    "/stablegate.watcher.v1.WatcherService/GetStatus": frozenset({Role.OPERATOR, Role.DASHBOARD}),
}


@dataclass
class Running:
    """What startup made, for the loop, the servicer and shutdown."""

    pool: asyncpg.Pool | None = None
    channel: grpc.aio.Channel | None = None
    client: ChainClient | None = None
    scanner: Scanner | None = None
    lease: Lease | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    metrics: WatcherMetrics | None = None
    registry: CollectorRegistry | None = None


PROVIDER_STATES = {
    "closed": pb.PROVIDER_STATE_HEALTHY,
    "half-open": pb.PROVIDER_STATE_PROBING,
    "open": pb.PROVIDER_STATE_OPEN,
}
"""pybreaker's state names as the API's ProviderState."""


class WatcherStatus(pb_grpc.WatcherServiceServicer):
    """GetStatus: the scan's view, for operators."""

    def __init__(self, settings: WatcherSettings, running: Running) -> None:
        self.settings = settings
        self.running = running

    async def GetStatus(self, request: pb.GetStatusRequest, context: Any) -> pb.GetStatusResponse:
        """Where the scan stands, which replica leads, and each provider's breaker."""
        scanner, lease = self.running.scanner, self.running.lease
        status = pb.WatcherStatus(chain_id=self.settings.chain_id, leader=bool(lease and await lease.held()))
        if scanner is not None:
            s = scanner.status
            status.head_block, status.finalized_block, status.cursor_block = s.head, s.finalized, s.scanned
            status.lag_blocks = max(0, s.head - s.scanned)
            status.watched_address_count = s.watched
            status.finality_tag_supported = s.finality_tag
            status.reorg_count = s.reorgs
            if s.update_time is not None:
                status.update_time.CopyFrom(Timestamp(seconds=int(s.update_time.timestamp())))
            for provider in scanner.client.providers:
                status.providers.add(
                    name=provider.name,
                    url=provider.name.split(":", 1)[1],
                    state=PROVIDER_STATES.get(provider.breaker.current_state, pb.PROVIDER_STATE_UNSPECIFIED),
                    head_block=provider.head or 0,
                    consecutive_failures=provider.breaker.fail_counter,
                )
        return pb.GetStatusResponse(status=status)


async def scan_forever(settings: WatcherSettings, running: Running) -> None:
    """Hold the lease (or wait for it) and scan, pass after pass; a failed pass is counted, logged and retried."""
    lease, scanner, metrics = running.lease, running.scanner, running.metrics
    assert lease is not None
    assert scanner is not None
    assert metrics is not None
    while True:
        try:
            if not await lease.acquire():
                metrics.leader.set(0)
                await asyncio.sleep(settings.lease_retry_seconds)
                continue
            metrics.leader.set(1)
            await scanner.tick()
        except asyncio.CancelledError:
            raise
        except (ChainError, InconsistentChain, grpc.aio.AioRpcError, asyncpg.PostgresError, OSError) as exc:
            metrics.tick_failures.labels(type(exc).__name__).inc()
            log.warning("scan pass failed; retrying", extra={"error": type(exc).__name__, "detail": str(exc)})
        except Exception:
            metrics.tick_failures.labels("unexpected").inc()
            log.exception("scan pass failed unexpectedly; retrying")
        await asyncio.sleep(settings.scan_interval_seconds)


def definition(settings: WatcherSettings) -> ServiceDefinition:
    """The watcher: a leased scan loop beside a small gRPC status surface."""
    running = Running()

    def bind_metrics(registry: CollectorRegistry) -> None:
        running.registry = registry
        running.metrics = WatcherMetrics(registry)

    async def startup() -> None:
        if settings.migrate_on_start or settings.profile.value == "dev":
            await apply_migrations(settings.database_url)
        running.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        running.channel = mesh.channel(settings.ledger_target, settings.tls)
        options = ClientOptions(
            timeout_seconds=settings.rpc_timeout_seconds,
            fail_max=settings.breaker_fail_max,
            reset_timeout_seconds=settings.breaker_reset_seconds,
        )
        running.client = ChainClient(settings.rpc_urls, options, registry=running.registry)
        scan = ScanOptions(
            chain_id=settings.chain_id,
            token=settings.token_contract.lower(),
            token_decimals=settings.token_decimals,
            finality_depth=settings.finality_depth,
            start_block=settings.start_block,
            max_range=settings.max_block_range,
            lookback_blocks=settings.lookback_blocks,
            lag_alert_blocks=settings.lag_alert_blocks,
            native_check_seconds=settings.native_check_seconds,
            retention=dt.timedelta(days=settings.watch_retention_days),
            factory=settings.forwarder_factory.lower() if settings.forwarder_factory else None,
        )
        metrics = running.metrics or WatcherMetrics()
        running.metrics = metrics
        reporter = LedgerReporter(running.channel, settings.chain_id)
        running.scanner = Scanner(running.client, running.pool, reporter, scan, metrics)
        running.lease = Lease(settings.database_url, f"stablegate.watcher.scan:{settings.chain_id}")
        running.tasks.append(asyncio.create_task(scan_forever(settings, running)))

    async def shutdown() -> None:
        for task in running.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if running.lease is not None:
            await running.lease.release()
        if running.client is not None:
            await running.client.close()
        if running.channel is not None:
            await running.channel.close(None)
        if running.pool is not None:
            await running.pool.close()

    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_WatcherServiceServicer_to_server(WatcherStatus(settings, running), server)

    return ServiceDefinition(
        "watcher", register, SERVED, startup=startup, shutdown=shutdown, roles=ROLES, metrics=bind_metrics
    )
