"""Wiring of the signer service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from signer.config import SignerSettings

SERVED = (
    "stablegate.signer.v1.KeyService",
    "stablegate.signer.v1.SigningService",
    "stablegate.signer.v1.ApprovalService",
    "stablegate.signer.v1.AuditService",
)


# Who may call what (docs/security.md): only settlement asks for signatures; operators manage keys, read the
# audit and relay approvals (an approval's authority is the approver's own signature, not the caller).
ROLES: MethodRoles = {
    "/stablegate.signer.v1.SigningService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.signer.v1.ApprovalService/": frozenset({Role.SETTLEMENT, Role.OPERATOR}),
    "/stablegate.signer.v1.AuditService/": frozenset({Role.OPERATOR}),
    "/stablegate.signer.v1.KeyService/": frozenset({Role.OPERATOR}),
}


def definition(settings: SignerSettings) -> ServiceDefinition:
    """The signer's gRPC surface."""
    return ServiceDefinition("signer", lambda server: register_unimplemented(server, SERVED), SERVED, roles=ROLES)
