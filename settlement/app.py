"""Wiring of the settlement service: the fee estimate and reconciliation; other RPCs answer UNIMPLEMENTED."""

from __future__ import annotations

import grpc
from stablegate.merchant.v1 import fee_service_pb2_grpc

from chain.client import ChainClient
from chain.fees import FeeCaps
from service_runtime.config import Profile
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from settlement.config import SettlementSettings
from settlement.fee_service import FeeEstimates
from settlement.reconcile_service import ReconciliationPart
from settlement.store.db import apply_migrations

SERVED = (
    "stablegate.merchant.v1.FeeService",
    "stablegate.merchant.v1.PayoutService",
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
    "stablegate.settlement.v1.PayoutExecutionService",
    "stablegate.settlement.v1.ReconciliationService",
)
# Drafted in the protos, built by the rest of the settlement issue and the payouts issue: UNIMPLEMENTED for now.
# A literal tuple: edge/openapi.py reads it from the source.
NOT_BUILT = (
    "stablegate.merchant.v1.PayoutService",
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
    "stablegate.settlement.v1.PayoutExecutionService",
)


# Who may call what (docs/security.md): public APIs come through Envoy (edge) or the dashboard; the internal
# ones are operators'.
ROLES: MethodRoles = {
    "/stablegate.merchant.v1.": frozenset({Role.EDGE, Role.DASHBOARD}),
    "/stablegate.admin.v1.": frozenset({Role.EDGE, Role.DASHBOARD}),
    "/stablegate.settlement.v1.": frozenset({Role.OPERATOR}),
}


def definition(settings: SettlementSettings) -> ServiceDefinition:
    """Settlement's gRPC surface, with its startup (dev migrations, reconciliation's parts) and shutdown."""
    reconciliation = ReconciliationPart(settings)
    clients: list[ChainClient] = []
    caps = FeeCaps(
        floor_gas_price_wei=settings.fee_floor_gas_price_wei,
        max_gas_price_wei=settings.fee_max_gas_price_wei,
        priority_fee_wei=settings.fee_priority_fee_wei,
    )

    def chain() -> ChainClient:
        if not clients:
            clients.append(ChainClient(settings.rpc_urls))
        return clients[0]

    async def startup() -> None:
        if settings.profile is Profile.DEV:
            await apply_migrations(settings.database_url)
        await reconciliation.startup()

    async def shutdown() -> None:
        await reconciliation.shutdown()
        for client in clients:
            await client.close()

    def register(server: grpc.aio.Server) -> None:
        fees = FeeEstimates(chain, caps, trust_domain=settings.tls.trust_domain)
        fee_service_pb2_grpc.add_FeeServiceServicer_to_server(fees, server)
        reconciliation.register(server)
        register_unimplemented(server, NOT_BUILT)

    return ServiceDefinition(
        "settlement",
        register,
        SERVED,
        startup=startup,
        shutdown=shutdown,
        metrics=reconciliation.bind_metrics,
        roles=ROLES,
    )
