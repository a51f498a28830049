"""Wiring of the settlement service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

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


def definition(settings: SettlementSettings) -> ServiceDefinition:
    """Settlement's gRPC surface."""
    return ServiceDefinition("settlement", lambda server: register_unimplemented(server, SERVED), SERVED)
