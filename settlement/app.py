"""Wiring of settlement: the sweeper and the HOT key's loop (hot/cold, payouts) under leases, fees, reconciliation.

Drafted RPCs answer UNIMPLEMENTED until later issues build them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg
import grpc
from prometheus_client import CollectorRegistry, Gauge
from stablegate.merchant.v1 import fee_service_pb2_grpc
from stablegate.settlement.v1 import cold_storage_service_pb2_grpc, settlement_status_service_pb2_grpc

from chain.client import ChainClient, ChainError, ClientOptions
from chain.fees import FeeCaps
from service_runtime import mesh
from service_runtime.lease import Lease
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from settlement.cold_api import ColdStorage
from settlement.cold_mover import HotColdMetrics, HotColdMover, HotColdOptions
from settlement.config import SettlementSettings
from settlement.domain.sweeps import GasBudget
from settlement.fee_service import FeeEstimates
from settlement.leadership import HOT_KEY, SWEEPER, LeaderMetrics
from settlement.ledger_client import GrpcPayoutLedger, GrpcSweepLedger, GrpcTreasuryLedger
from settlement.payout_executor import PayoutExecutor, PayoutMetrics, PayoutOptions
from settlement.reconcile_service import ReconciliationPart
from settlement.signing import SigningFreeze, SweepSigner
from settlement.status_service import SettlementStatus
from settlement.store.db import apply_migrations
from settlement.sweeper import Sweeper, SweeperMetrics, SweeperOptions

log = logging.getLogger("stablegate.settlement")

SERVED = (
    "stablegate.merchant.v1.FeeService",
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
    "stablegate.settlement.v1.ReconciliationService",
    "stablegate.settlement.v1.ColdStorageService",
    "stablegate.settlement.v1.SettlementStatusService",
)
# Drafted in the protos, built by later issues (the rest of Settlement, Payouts): UNIMPLEMENTED for now.
# A literal tuple: edge/openapi.py reads it from the source. The merchant's PayoutService is the ledger's (it owns
# payout records and reservations; docs/payouts.md).
NOT_BUILT = (
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
)


# Who may call what (docs/security.md): public APIs come through Envoy (edge); the internal ones are operators'.
DASHBOARD_METHODS = (
    # The admin health page: breakers and hot/cold balances (read-only).
    "/stablegate.settlement.v1.SettlementStatusService/GetSettlementStatus",
    # The admin reconciliation page reads runs (docs/dashboard.md, "Reconciliation"); it runs none.
    "/stablegate.settlement.v1.ReconciliationService/ListReconciliationReports",
    "/stablegate.settlement.v1.ReconciliationService/GetReconciliationReport",
)
"""Every settlement method the dashboard's certificate may call: exactly the ones its code calls (dashboard/*_client.py,
kept equal by tests/settlement/test_settlement_dashboard_scope.py); no merchant or admin method (it calls none here).
A page that needs another method adds it here and to docs/security.md."""
ROLES: MethodRoles = {
    "/stablegate.merchant.v1.": frozenset({Role.EDGE}),
    "/stablegate.admin.v1.": frozenset({Role.EDGE}),
    "/stablegate.settlement.v1.": frozenset({Role.OPERATOR}),
    **{method: frozenset({Role.OPERATOR, Role.DASHBOARD}) for method in DASHBOARD_METHODS},
}


def fee_caps(settings: SettlementSettings) -> FeeCaps:
    """The fee floor, cap and tip from settings (the sweeper and the fee estimate use the same)."""
    return FeeCaps(
        floor_gas_price_wei=settings.fee_floor_gas_price_wei,
        max_gas_price_wei=settings.fee_max_gas_price_wei,
        priority_fee_wei=settings.fee_priority_fee_wei,
    )


def sweeper_options(settings: SettlementSettings) -> SweeperOptions:
    """The sweeper's options from validated settings (sweeper_enabled guarantees the addresses are set)."""
    assert settings.sweeper_address is not None
    assert settings.forwarder_factory is not None
    assert settings.token_contract is not None
    return SweeperOptions(
        chain_id=settings.chain_id,
        key_id=settings.sweeper_key_id,
        sweeper_address=settings.sweeper_address.lower(),
        factory=settings.forwarder_factory.lower(),
        token=settings.token_contract.lower(),
        batch_size=settings.sweep_batch_size,
        budget=GasBudget(settings.sweep_max_gas, settings.sweep_gas_per_forwarder, settings.sweep_base_gas),
        fee_caps=fee_caps(settings),
        gas_margin_percent=settings.gas_margin_percent,
        bump_percent=settings.fee_bump_percent,
        stuck_after_seconds=settings.stuck_after_seconds,
        rebroadcast_seconds=settings.rebroadcast_seconds,
        max_in_flight=settings.max_in_flight,
        legacy_fees=settings.legacy_fees,
        failure_backoff_seconds=settings.failure_backoff_seconds,
    )


def hot_cold_options(settings: SettlementSettings) -> HotColdOptions:
    """The hot/cold mover's options from validated settings (hot_cold_enabled guarantees the addresses)."""
    assert settings.hot_address is not None
    assert settings.token_contract is not None
    keys = [a.lower() for a in settings.signing_key_addresses]
    for own in (settings.hot_address, settings.sweeper_address):
        if own and own.lower() not in keys:
            keys.append(own.lower())
    return HotColdOptions(
        chain_id=settings.chain_id,
        key_id=settings.hot_key_id,
        hot_address=settings.hot_address.lower(),
        treasury=settings.treasury_address.lower(),
        token=settings.token_contract.lower(),
        ceiling=settings.treasury_ceiling_base_units,
        target=settings.treasury_target_base_units,
        floor=settings.treasury_floor_base_units,
        fee_caps=fee_caps(settings),
        key_addresses=tuple(keys),
        gas_floor_wei=settings.key_bnb_floor_wei,
        initiator=settings.cold_move_initiator_address,
        gas_margin_percent=settings.gas_margin_percent,
        bump_percent=settings.fee_bump_percent,
        stuck_after_seconds=settings.stuck_after_seconds,
        rebroadcast_seconds=settings.rebroadcast_seconds,
        legacy_fees=settings.legacy_fees,
        cold_owner_keys=tuple((key, address.lower()) for key, address in sorted(settings.cold_owner_keys.items())),
        scan_from_block=settings.cold_scan_from_block,
    )


def payout_options(settings: SettlementSettings) -> PayoutOptions:
    """The payout executor's options from validated settings (payouts_enabled guarantees the addresses)."""
    assert settings.hot_address is not None
    assert settings.token_contract is not None
    return PayoutOptions(
        chain_id=settings.chain_id,
        key_id=settings.hot_key_id,
        hot_address=settings.hot_address.lower(),
        treasury=settings.treasury_address.lower(),
        token=settings.token_contract.lower(),
        fee_caps=fee_caps(settings),
        max_batch=settings.payout_max_batch,
        approval_threshold=settings.payout_approval_threshold_base_units,
        gas_margin_percent=settings.gas_margin_percent,
        max_gas=settings.payout_max_gas,
        scan_from_block=settings.payout_scan_from_block,
        bump_percent=settings.fee_bump_percent,
        stuck_after_seconds=settings.stuck_after_seconds,
        rebroadcast_seconds=settings.rebroadcast_seconds,
        legacy_fees=settings.legacy_fees,
    )


def sweeper_lease_name(settings: SettlementSettings) -> str:
    """One sweeper per chain and key: the lease's name."""
    return f"stablegate.settlement.sweeper:{settings.chain_id}:{(settings.sweeper_address or '').lower()}"


def hot_cold_lease_name(settings: SettlementSettings) -> str:
    """One HOT key loop (hot/cold mover and payout executor) per chain and treasury: the lease's name."""
    return f"stablegate.settlement.hotcold:{settings.chain_id}:{settings.treasury_address.lower()}"


@dataclass
class Running:
    """What startup made, for the loop and shutdown."""

    pool: asyncpg.Pool | None = None
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    client: ChainClient | None = None
    sweeper: Sweeper | None = None
    lease: Lease | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    registry: CollectorRegistry | None = None
    metrics: SweeperMetrics | None = None
    hot_cold_metrics: HotColdMetrics | None = None
    mover: HotColdMover | None = None
    payout_metrics: PayoutMetrics | None = None
    executor: PayoutExecutor | None = None
    leases: list[Lease] = field(default_factory=list)
    leader_metrics: LeaderMetrics | None = None
    signing_freeze: SigningFreeze | None = None
    """What the process knows of the signer's freeze, shared by its signer clients (`settlement_signing_frozen`)."""


class Passes(Protocol):
    """A loop that runs pass after pass under a lease: the sweeper, the hot/cold mover."""

    async def tick(self) -> None:
        """One pass."""
        ...

    def lost_leadership(self) -> None:
        """The lease is gone (or new): recover from the chain before the next pass."""
        ...


async def sweep_forever(
    settings: SettlementSettings, sweeper: Passes, lease: Lease, leader: Gauge | None = None
) -> None:
    """Hold the lease (a standby waits for it) and run passes; a failed pass is logged and retried.

    `leader` (`settlement_leader{lease}`, settlement/leadership.py) is 1 while the lease is held, else 0.
    """
    leading = False
    while True:
        try:
            if not await lease.acquire():
                if leader is not None:
                    leader.set(0)
                if leading:
                    sweeper.lost_leadership()
                    leading = False
                await asyncio.sleep(settings.lease_retry_seconds)
                continue
            if leader is not None:
                leader.set(1)
            if not leading:
                sweeper.lost_leadership()  # a new leadership recovers nonces from the chain first
                leading = True
            await sweeper.tick()
        except asyncio.CancelledError:
            raise
        except (ChainError, grpc.aio.AioRpcError, asyncpg.PostgresError, OSError) as exc:
            log.warning("sweep pass failed; retrying", extra={"error": type(exc).__name__, "detail": str(exc)[:300]})
        except Exception:
            log.exception("sweep pass failed unexpectedly; retrying")
        await asyncio.sleep(settings.sweep_interval_seconds)


class HotKeyPasses:
    """The HOT key's loops in one pass under one lease (they share its nonces): hot/cold moves, then payouts."""

    def __init__(self, parts: list[Passes]) -> None:
        self.parts = parts

    async def tick(self) -> None:
        """One pass of each part."""
        for part in self.parts:
            await part.tick()

    def lost_leadership(self) -> None:
        """Each part recovers its nonces before its next pass."""
        for part in self.parts:
            part.lost_leadership()


def start_hot_key(
    settings: SettlementSettings,
    running: Running,
    client: ChainClient,
    signer_channel: grpc.aio.Channel,
    ledger_channel: grpc.aio.Channel,
) -> None:
    """Start the HOT key's loop (hot/cold moves and/or payouts) under its own lease, beside the sweeper's."""
    assert running.pool is not None
    parts: list[Passes] = []
    if settings.hot_cold_enabled:
        running.mover = HotColdMover(
            client,
            running.pool,
            SweepSigner(signer_channel, freeze=running.signing_freeze),
            GrpcTreasuryLedger(ledger_channel),
            options=hot_cold_options(settings),
            metrics=running.hot_cold_metrics,
        )
        parts.append(running.mover)
    if settings.payouts_enabled:
        running.executor = PayoutExecutor(
            client,
            running.pool,
            SweepSigner(signer_channel, freeze=running.signing_freeze),
            GrpcPayoutLedger(ledger_channel),
            options=payout_options(settings),
            metrics=running.payout_metrics,
        )
        parts.append(running.executor)
    lease = Lease(settings.database_url, hot_cold_lease_name(settings))
    running.leases.append(lease)
    leader = running.leader_metrics.lease(HOT_KEY) if running.leader_metrics else None
    running.tasks.append(asyncio.create_task(sweep_forever(settings, HotKeyPasses(parts), lease, leader)))


def start_sweeper(
    settings: SettlementSettings,
    running: Running,
    client: ChainClient,
    signer_channel: grpc.aio.Channel,
    ledger_channel: grpc.aio.Channel,
) -> None:
    """Start the sweeper under its lease."""
    assert running.pool is not None
    running.sweeper = Sweeper(
        client,
        running.pool,
        SweepSigner(signer_channel, freeze=running.signing_freeze),
        GrpcSweepLedger(ledger_channel),
        options=sweeper_options(settings),
        metrics=running.metrics,
    )
    running.lease = Lease(settings.database_url, sweeper_lease_name(settings))
    leader = running.leader_metrics.lease(SWEEPER) if running.leader_metrics else None
    running.tasks.append(asyncio.create_task(sweep_forever(settings, running.sweeper, running.lease, leader)))


def definition(settings: SettlementSettings) -> ServiceDefinition:  # noqa: PLR0915 - the wiring, one closure each
    """Settlement: the sweeper loop (when enabled) beside its gRPC surface."""
    running = Running()

    def chain() -> ChainClient:
        """The one chain client (made on first use: at start when the sweeper runs, else on the first estimate)."""
        if running.client is None:
            options = ClientOptions(
                timeout_seconds=settings.rpc_timeout_seconds,
                fail_max=settings.breaker_fail_max,
                reset_timeout_seconds=settings.breaker_reset_seconds,
            )
            running.client = ChainClient(settings.rpc_urls, options, registry=running.registry)
        return running.client

    reconciliation = ReconciliationPart(settings, chain)

    def register(server: grpc.aio.Server) -> None:
        fees = FeeEstimates(chain, fee_caps(settings), trust_domain=settings.tls.trust_domain)
        fee_service_pb2_grpc.add_FeeServiceServicer_to_server(fees, server)
        reconciliation.register(server)
        cold_storage_service_pb2_grpc.add_ColdStorageServiceServicer_to_server(
            ColdStorage(lambda: running.mover), server
        )
        settlement_status_service_pb2_grpc.add_SettlementStatusServiceServicer_to_server(
            SettlementStatus(settings, chain), server
        )
        register_unimplemented(server, NOT_BUILT)

    def bind_metrics(registry: CollectorRegistry) -> None:
        running.registry = registry
        running.metrics = SweeperMetrics(registry)
        running.hot_cold_metrics = HotColdMetrics(registry)
        running.payout_metrics = PayoutMetrics(registry)
        running.leader_metrics = LeaderMetrics(registry)
        running.signing_freeze = SigningFreeze(registry)
        reconciliation.bind_metrics(registry)

    async def startup() -> None:
        if settings.migrate_on_start or settings.profile.value == "dev":
            await apply_migrations(settings.database_url)
        await reconciliation.startup()
        if not settings.sweeper_enabled and not settings.hot_cold_enabled and not settings.payouts_enabled:
            log.info(
                "sweeper, hot/cold and payouts disabled "
                "(STABLEGATE_SETTLEMENT_SWEEPER_ENABLED, _HOT_COLD_ENABLED, _PAYOUTS_ENABLED)"
            )
            return
        running.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        client = chain()
        signer_channel = mesh.channel(settings.signer_target, settings.tls)
        ledger_channel = mesh.channel(settings.ledger_target, settings.tls)
        running.channels += [signer_channel, ledger_channel]
        if settings.hot_cold_enabled or settings.payouts_enabled:
            start_hot_key(settings, running, client, signer_channel, ledger_channel)
        if not settings.sweeper_enabled:
            log.info("sweeper disabled (STABLEGATE_SETTLEMENT_SWEEPER_ENABLED)")
            return
        start_sweeper(settings, running, client, signer_channel, ledger_channel)

    async def shutdown() -> None:
        await reconciliation.shutdown()
        for task in running.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if running.lease is not None:
            await running.lease.release()
        for lease in running.leases:
            await lease.release()
        if running.client is not None:
            await running.client.close()
        for channel in running.channels:
            await channel.close(None)
        if running.pool is not None:
            await running.pool.close()

    return ServiceDefinition(
        "settlement",
        register,
        SERVED,
        startup=startup,
        shutdown=shutdown,
        roles=ROLES,
        metrics=bind_metrics,
    )
