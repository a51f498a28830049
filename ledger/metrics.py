"""The ledger's own Prometheus metrics, registered in the service runtime's registry beside the RPC metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        self.webhook_deliveries_due = Gauge(
            "ledger_webhook_deliveries_due",
            "Webhook deliveries due now that no sender holds: the dispatcher's backlog. Every replica reports the same "
            "count (read from the database at each sender round); deploy/kubernetes scales the ledger on it.",
            registry=registry,
        )
