"""Wiring of the settlement service: what it serves (the fee estimate; every other RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

import grpc
from stablegate.merchant.v1 import fee_service_pb2_grpc

from chain.client import ChainClient
from chain.fees import FeeCaps
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from settlement.config import SettlementSettings
from settlement.fee_service import FeeEstimates

SERVED = (
    "stablegate.merchant.v1.FeeService",
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
    "stablegate.settlement.v1.PayoutExecutionService",
    "stablegate.settlement.v1.ReconciliationService",
)
# Drafted in the protos, built by later issues (the rest of Settlement, Payouts): UNIMPLEMENTED for now. The
# merchant's PayoutService is the ledger's (it owns payout records and reservations; docs/payouts.md).
NOT_BUILT = (
    "stablegate.admin.v1.ApprovalAdminService",
    "stablegate.settlement.v1.SweepService",
    "stablegate.settlement.v1.PayoutExecutionService",
    "stablegate.settlement.v1.ReconciliationService",
)


# Who may call what (docs/security.md): public APIs come through Envoy (edge) or the dashboard; the internal
# ones are operators' (drafts until the settlement issue builds them).
ROLES: MethodRoles = {
    "/stablegate.merchant.v1.": frozenset({Role.EDGE, Role.DASHBOARD}),
    "/stablegate.admin.v1.": frozenset({Role.EDGE, Role.DASHBOARD}),
    "/stablegate.settlement.v1.": frozenset({Role.OPERATOR}),
}


def definition(settings: SettlementSettings) -> ServiceDefinition:
    """Settlement's gRPC surface, with its chain client opened at start and closed at the end."""
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

    async def shutdown() -> None:
        for client in clients:
            await client.close()

    def register(server: grpc.aio.Server) -> None:
        fees = FeeEstimates(chain, caps, trust_domain=settings.tls.trust_domain)
        fee_service_pb2_grpc.add_FeeServiceServicer_to_server(fees, server)
        register_unimplemented(server, NOT_BUILT)

    return ServiceDefinition("settlement", register, SERVED, shutdown=shutdown, roles=ROLES)
