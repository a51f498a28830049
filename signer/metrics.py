"""The signer's own Prometheus metrics: every signing decision by outcome and reason, and the freeze.

They are counted where the decision is audited (`SignerCore.audit`), so the counter and the audit chain agree:
a request answered again from its stored result (idempotent by request id) is neither audited nor counted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SignerMetrics:
    """Signing decisions (ALLOWED, DENIED, PENDING_APPROVAL) by reason, and whether signing is frozen."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics in `registry` (a private one when none is given, e.g. outside a server)."""
        registry = registry if registry is not None else CollectorRegistry()
        self.decisions = Counter(
            "signer_sign_decisions",
            "Signing requests decided, by decision (ALLOWED, DENIED, PENDING_APPROVAL) and reason code "
            "(empty when allowed; the policy's or the guard's reason otherwise).",
            ["decision", "reason"],
            registry=registry,
        )
        self.frozen = Gauge(
            "signer_signing_frozen", "1 while an emergency freeze refuses every signing request", registry=registry
        )

    def audited(self, action: str, fields: dict[str, object]) -> None:
        """Count one audited record: a signing decision, or a freeze or unfreeze taking effect."""
        decision = str(fields.get("decision", ""))
        if action == "sign":
            self.decisions.labels(decision, str(fields.get("reason", ""))).inc()
        elif action == "freeze" and decision in {"FROZEN", "ALREADY_FROZEN"}:
            self.frozen.set(1)
        elif action == "unfreeze" and decision == "UNFROZEN":
            self.frozen.set(0)
