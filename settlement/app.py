"""Wiring of the settlement service: reconciliation is built; its other RPCs answer UNIMPLEMENTED for now."""

from __future__ import annotations

import grpc

from service_runtime.config import Profile
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from settlement.config import SettlementSettings
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
# A literal tuple: edge/openapi.py reads it from the source (no public service here is built yet).
NOT_BUILT = (
    "stablegate.merchant.v1.FeeService",
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

    async def startup() -> None:
        if settings.profile is Profile.DEV:
            await apply_migrations(settings.database_url)
        await reconciliation.startup()

    def register(server: grpc.aio.Server) -> None:
        reconciliation.register(server)
        register_unimplemented(server, NOT_BUILT)

    return ServiceDefinition(
        "settlement",
        register,
        SERVED,
        startup=startup,
        shutdown=reconciliation.shutdown,
        metrics=reconciliation.bind_metrics,
        roles=ROLES,
    )
