"""Wiring of the signer service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from signer.config import SignerSettings

SERVED = (
    "stablegate.signer.v1.KeyService",
    "stablegate.signer.v1.SigningService",
    "stablegate.signer.v1.ApprovalService",
    "stablegate.signer.v1.AuditService",
)


def definition(settings: SignerSettings) -> ServiceDefinition:
    """The signer's gRPC surface."""
    return ServiceDefinition("signer", lambda server: register_unimplemented(server, SERVED), SERVED)
