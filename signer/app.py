"""Wiring of the signer service: key store workers, state file, policy, and what it serves."""

from __future__ import annotations

import logging
import os

import grpc
from prometheus_client import CollectorRegistry
from stablegate.signer.v1 import (
    approval_service_pb2_grpc,
    audit_service_pb2_grpc,
    key_service_pb2_grpc,
    signing_service_pb2_grpc,
)

from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from signer.api.approvals import Approvals
from signer.api.operator import Audit, Keys
from signer.api.signing import Signing
from signer.config import SignerSettings
from signer.core import SignerCore
from signer.domain.policy import DENY_ALL, load_policy
from signer.keystore.pkcs11_session import HsmConfig
from signer.keystore.workers import WorkerKeyStore, stop_resource_tracker
from signer.metrics import SignerMetrics
from signer.store.state import SignerState

log = logging.getLogger("stablegate.signer")

SERVED = (
    "stablegate.signer.v1.KeyService",
    "stablegate.signer.v1.SigningService",
    "stablegate.signer.v1.ApprovalService",
    "stablegate.signer.v1.AuditService",
)
# Every service is served; KeyService.CreateKey answers UNIMPLEMENTED (keys are made by the
# `stablegate signer keys` ceremony on the signer's host).


# Who may call what (docs/security.md): only settlement asks for signatures; operators freeze signing, manage
# keys, read the audit and relay approvals and unfreeze signatures (whose authority is the approvers' own
# signatures, not the caller's certificate). The dashboard is the approvers' relay in the browser: it lists held
# requests, relays approvals and unfreeze signatures, reads the freeze state and the audit (docs/dashboard.md,
# "Approvals", "Unfreezing signing"), nothing else: it cannot freeze, sign or touch keys.
ROLES: MethodRoles = {
    "/stablegate.signer.v1.SigningService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.signer.v1.SigningService/GetPolicy": frozenset({Role.SETTLEMENT, Role.OPERATOR}),
    "/stablegate.signer.v1.SigningService/FreezeSigning": frozenset({Role.OPERATOR}),
    "/stablegate.signer.v1.SigningService/UnfreezeSigning": frozenset({Role.OPERATOR, Role.DASHBOARD}),
    "/stablegate.signer.v1.SigningService/GetFreezeState": frozenset({Role.SETTLEMENT, Role.OPERATOR, Role.DASHBOARD}),
    # The dashboard by exact method: an RPC added to these services later is not open to it by default.
    "/stablegate.signer.v1.ApprovalService/": frozenset({Role.SETTLEMENT, Role.OPERATOR}),
    "/stablegate.signer.v1.ApprovalService/ListApprovals": frozenset({Role.SETTLEMENT, Role.OPERATOR, Role.DASHBOARD}),
    # Settlement reads the approval it waits for instead of asking for the signature again (docs/settlement.md).
    "/stablegate.signer.v1.ApprovalService/GetApproval": frozenset({Role.SETTLEMENT, Role.OPERATOR}),
    "/stablegate.signer.v1.ApprovalService/Approve": frozenset({Role.SETTLEMENT, Role.OPERATOR, Role.DASHBOARD}),
    "/stablegate.signer.v1.AuditService/": frozenset({Role.OPERATOR}),
    "/stablegate.signer.v1.AuditService/ListAuditRecords": frozenset({Role.OPERATOR, Role.DASHBOARD}),
    "/stablegate.signer.v1.KeyService/": frozenset({Role.OPERATOR}),
}


def hsm_config(settings: SignerSettings) -> HsmConfig:
    """How the workers reach the token (SOFTHSM2_CONF passed on when set)."""
    env = {k: v for k, v in os.environ.items() if k == "SOFTHSM2_CONF"}
    return HsmConfig(settings.pkcs11_module, settings.token_label, settings.pin.get_secret_value(), env)


def definition(settings: SignerSettings) -> ServiceDefinition:
    """The signer's gRPC surface, with its startup (policy, state, workers) and shutdown."""
    holder: dict[str, SignerCore] = {}
    metrics: list[SignerMetrics] = []

    def bind_metrics(registry: CollectorRegistry) -> None:
        metrics.append(SignerMetrics(registry))

    async def startup() -> None:
        # The PIN is in the settings now; no child process (worker, resource tracker) inherits it from the
        # environment. Workers receive it over their pipe only.
        os.environ.pop("STABLEGATE_SIGNER_PIN", None)
        policy = load_policy(settings.policy_path) if settings.policy_path is not None else DENY_ALL
        keys = WorkerKeyStore(hsm_config(settings), settings.workers)
        try:
            await keys.start()
        except Exception:
            await keys.close()
            raise
        core = SignerCore(policy, SignerState(settings.state_path), keys, metrics[0] if metrics else None)
        core.record_start()
        holder["core"] = core
        log.info(
            "policy loaded",
            extra={"policy_sha256": policy.sha256, "rules": len(policy.policy.rules), "workers": keys.workers},
        )

    async def shutdown() -> None:
        core = holder.get("core")
        if core is not None:
            await core.keys.close()
            core.state.close()
            stop_resource_tracker()

    def register(server: grpc.aio.Server) -> None:
        signing_service_pb2_grpc.add_SigningServiceServicer_to_server(
            Signing(holder["core"], settings.tls.trust_domain),
            server,
        )
        approval_service_pb2_grpc.add_ApprovalServiceServicer_to_server(
            Approvals(holder["core"], settings.tls.trust_domain), server
        )
        key_service_pb2_grpc.add_KeyServiceServicer_to_server(Keys(holder["core"]), server)
        audit_service_pb2_grpc.add_AuditServiceServicer_to_server(Audit(holder["core"]), server)

    return ServiceDefinition(
        "signer",
        register,
        SERVED,
        startup=startup,
        shutdown=shutdown,
        roles=ROLES,
        metrics=bind_metrics,
    )
