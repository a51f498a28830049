"""The ledger's own Prometheus metrics, registered in the service runtime's registry beside the RPC metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class LedgerMetrics:
    """Counters of the ledger's background and batch work that an RPC's status code does not show."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics in `registry` (a private one when none is given, e.g. outside a server)."""
        registry = registry if registry is not None else CollectorRegistry()
        self.finality_payment_failures = Counter(
            "ledger_finality_payment_failures",
            "Payments RecordFinality could not credit because their own transaction failed (by error type); "
            "they stay SEEN and the call goes on with the others.",
            ["error"],
            registry=registry,
        )
