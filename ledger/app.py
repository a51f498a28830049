"""Wiring of the ledger service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from ledger.config import LedgerSettings
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented

SERVED = (
    "stablegate.merchant.v1.InvoiceService",
    "stablegate.merchant.v1.WebhookEndpointService",
    "stablegate.merchant.v1.BalanceService",
    "stablegate.admin.v1.MerchantAdminService",
    "stablegate.admin.v1.ApiKeyAdminService",
    "stablegate.admin.v1.AuditLogService",
    "stablegate.ledger.v1.ChainObservationService",
    "stablegate.ledger.v1.CredentialService",
    "stablegate.ledger.v1.DepositAddressService",
    "stablegate.ledger.v1.JournalService",
)


def definition(settings: LedgerSettings) -> ServiceDefinition:
    """The ledger's gRPC surface."""
    return ServiceDefinition("ledger", lambda server: register_unimplemented(server, SERVED), SERVED)
