"""The admin pages' reads of the other services, over the mesh with the `dashboard` certificate (never their databases).

- every part: the standard `grpc.health.v1.Health/Check` (any mesh role may call it);
- the watcher: `WatcherService/GetStatus` (scan lag, each provider's breaker);
- the signer: `SigningService/GetFreezeState`;
- settlement: `ReconciliationService/ListReconciliationReports` and `GetReconciliationReport`;
- the ledger: `DispatcherStatusService/GetDispatcherStatus` (the webhook backlog);
- every part: `runtime.v1.RuntimeConfigService/GetEffectiveConfig` (secrets masked by the part itself).

Each read has a short deadline: the health page must render while a part is down, saying so.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stablegate.ledger.v1 import dispatcher_status_service_pb2 as dispatcher_pb
from stablegate.ledger.v1 import dispatcher_status_service_pb2_grpc as dispatcher_grpc
from stablegate.runtime.v1 import runtime_config_service_pb2 as config_pb
from stablegate.runtime.v1 import runtime_config_service_pb2_grpc as config_grpc
from stablegate.settlement.v1 import reconciliation_service_pb2 as recon_pb
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as recon_grpc
from stablegate.settlement.v1 import settlement_status_service_pb2 as settlement_pb
from stablegate.settlement.v1 import settlement_status_service_pb2_grpc as settlement_grpc
from stablegate.signer.v1 import signing_service_pb2 as signing_pb
from stablegate.signer.v1 import signing_service_pb2_grpc as signing_grpc
from stablegate.watcher.v1 import watcher_service_pb2 as watcher_pb
from stablegate.watcher.v1 import watcher_service_pb2_grpc as watcher_grpc

TIMEOUT = 3.0


class PartUnavailable(RuntimeError):
    """The part did not answer (down, unreachable, or refused the call); the message names the gRPC code."""


@dataclass(frozen=True)
class ProviderBreaker:
    """One JSON-RPC provider of a part and its circuit breaker."""

    name: str
    state: str
    """HEALTHY, PROBING (half-open) or OPEN."""
    consecutive_failures: int


@dataclass(frozen=True)
class WatcherView:
    """What the watcher says of its scan."""

    head_block: int
    cursor_block: int
    lag_blocks: int
    lag_seconds: float
    leader: bool
    providers: tuple[ProviderBreaker, ...]


@dataclass(frozen=True)
class HotCold:
    """Treasury and cold balances with the treasury's thresholds (base units; 0 for an unset threshold)."""

    block_number: int
    treasury: int
    ceiling: int
    target: int
    floor: int
    cold: int | None
    error: str


@dataclass(frozen=True)
class SettlementView:
    """Settlement's providers and, when hot/cold runs, its balances."""

    breakers: tuple[ProviderBreaker, ...]
    hot_cold: HotCold | None


@dataclass(frozen=True)
class FreezeView:
    """The signer's emergency freeze."""

    frozen: bool
    reason: str


@dataclass(frozen=True)
class ReconLine:
    """One account of a reconciliation run (amounts in base units, decimal strings as on the wire)."""

    account: str
    address: str
    asset: str
    chain_balance: str
    ledger_balance: str
    difference: str
    kind: str
    status: str
    note: str


@dataclass(frozen=True)
class ReconReport:
    """One reconciliation run."""

    id: str
    block_number: int
    status: str
    """RUNNING, MATCHED, MISMATCHED or FAILED."""
    mismatch_count: int
    error: str
    create_time: dt.datetime | None
    lines: tuple[ReconLine, ...]


def provider_label(name: str) -> str:
    """A provider's name as shown: its index and host only.

    A JSON-RPC URL often carries an API key in its path, query or user part, so none of those is ever shown
    (`0:https://rpc.example/v1/KEY?apikey=K` -> `0: rpc.example`).
    """
    index, _, url = name.partition(":")
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "?"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{index}: {host}{port}" if url else index


def _fail(exc: grpc.aio.AioRpcError) -> PartUnavailable:
    return PartUnavailable(exc.code().name)


Request = TypeVar("Request")
Reply = TypeVar("Reply")


async def _ask(rpc: grpc.aio.UnaryUnaryMultiCallable[Request, Reply], request: Request) -> Reply:
    """One call with the read deadline; a gRPC error as PartUnavailable."""
    try:
        return await rpc(request, timeout=TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc) from exc


def _time(value: object) -> dt.datetime | None:
    seconds = getattr(value, "seconds", 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


def _report(r: recon_pb.ReconciliationReport) -> ReconReport:
    return ReconReport(
        id=r.id,
        block_number=r.block_number,
        status=recon_pb.ReconciliationStatus.Name(r.status).removeprefix("RECONCILIATION_STATUS_"),
        mismatch_count=r.mismatch_count,
        error=r.error,
        create_time=_time(r.create_time),
        lines=tuple(
            ReconLine(
                account=line.account,
                address=line.address,
                asset=line.asset,
                chain_balance=line.chain_balance_base_units,
                ledger_balance=line.ledger_balance_base_units,
                difference=line.difference_base_units,
                kind=line.kind,
                status=recon_pb.ReconciliationLineStatus.Name(line.status).removeprefix("RECONCILIATION_LINE_STATUS_"),
                note=line.note,
            )
            for line in r.lines
        ),
    )


class OpsClient:
    """Reads of the watcher, settlement and signer for the admin pages (a part without a channel is not shown)."""

    def __init__(self, channels: dict[str, grpc.aio.Channel]) -> None:
        self.channels = channels

    async def health(self, part: str) -> str:
        """The part's overall health status: SERVING, NOT_SERVING, …; PartUnavailable if it does not answer."""
        reply = await _ask(
            health_pb2_grpc.HealthStub(self.channels[part]).Check, health_pb2.HealthCheckRequest(service="")
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    async def config(self, part: str) -> dict[str, Any]:
        """The part's effective configuration as it masks it (RuntimeConfigService, served by every runtime)."""
        reply = await _ask(
            config_grpc.RuntimeConfigServiceStub(self.channels[part]).GetEffectiveConfig,
            config_pb.GetEffectiveConfigRequest(),
        )
        found: dict[str, Any] = json_format.MessageToDict(reply.config)
        return found

    async def watcher(self) -> WatcherView:
        """The watcher's scan and its providers."""
        reply = await _ask(
            watcher_grpc.WatcherServiceStub(self.channels["watcher"]).GetStatus, watcher_pb.GetStatusRequest()
        )
        s = reply.status
        return WatcherView(
            head_block=s.head_block,
            cursor_block=s.cursor_block,
            lag_blocks=s.lag_blocks,
            lag_seconds=s.lag.seconds + s.lag.nanos / 1e9,
            leader=s.leader,
            providers=tuple(
                ProviderBreaker(
                    provider_label(p.name),
                    watcher_pb.ProviderState.Name(p.state).removeprefix("PROVIDER_STATE_"),
                    p.consecutive_failures,
                )
                for p in s.providers
            ),
        )

    async def settlement(self) -> SettlementView:
        """Settlement's breakers and hot/cold balances."""
        reply = await _ask(
            settlement_grpc.SettlementStatusServiceStub(self.channels["settlement"]).GetSettlementStatus,
            settlement_pb.GetSettlementStatusRequest(),
        )
        states = {
            settlement_pb.BREAKER_STATE_CLOSED: "HEALTHY",
            settlement_pb.BREAKER_STATE_HALF_OPEN: "PROBING",
            settlement_pb.BREAKER_STATE_OPEN: "OPEN",
        }
        hot_cold = None
        if reply.HasField("hot_cold"):
            h = reply.hot_cold
            hot_cold = HotCold(
                block_number=h.block_number,
                treasury=int(h.treasury_base_units or 0),
                ceiling=int(h.treasury_ceiling_base_units or 0),
                target=int(h.treasury_target_base_units or 0),
                floor=int(h.treasury_floor_base_units or 0),
                cold=int(h.cold_base_units) if h.cold_base_units else None,
                error=h.error,
            )
        return SettlementView(
            breakers=tuple(
                ProviderBreaker(provider_label(b.name), states.get(b.state, "UNSPECIFIED"), b.consecutive_failures)
                for b in reply.breakers
            ),
            hot_cold=hot_cold,
        )

    async def dispatcher(self) -> tuple[int, float, int]:
        """The ledger's webhook backlog: (due now, seconds the oldest has been due, waiting to retry)."""
        reply = await _ask(
            dispatcher_grpc.DispatcherStatusServiceStub(self.channels["ledger"]).GetDispatcherStatus,
            dispatcher_pb.GetDispatcherStatusRequest(),
        )
        return reply.due_count, reply.oldest_due_seconds, reply.retrying_count

    async def freeze(self) -> FreezeView:
        """Whether the signer's signing is frozen."""
        reply = await _ask(
            signing_grpc.SigningServiceStub(self.channels["signer"]).GetFreezeState, signing_pb.GetFreezeStateRequest()
        )
        return FreezeView(reply.state.frozen, reply.state.reason)

    async def reconciliations(self, page_size: int = 50) -> Sequence[ReconReport]:
        """The newest reconciliation runs, newest first."""
        reply = await _ask(
            recon_grpc.ReconciliationServiceStub(self.channels["settlement"]).ListReconciliationReports,
            recon_pb.ListReconciliationReportsRequest(page_size=page_size),
        )
        return [_report(r) for r in reply.reports]

    async def reconciliation(self, report_id: str) -> ReconReport | None:
        """One run with its lines; None when settlement has no such run."""
        try:
            reply = await recon_grpc.ReconciliationServiceStub(self.channels["settlement"]).GetReconciliationReport(
                recon_pb.GetReconciliationReportRequest(id=report_id), timeout=TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _fail(exc) from exc
        return _report(reply.report)
