"""Wiring of the settlement service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from settlement.config import SettlementSettings

SERVED = (
    "stablegate.merchant.v1.FeeService",
    "stablegate.merchant.v1.PayoutService",
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
    """Settlement's gRPC surface."""
    return ServiceDefinition("settlement", lambda server: register_unimplemented(server, SERVED), SERVED, roles=ROLES)
