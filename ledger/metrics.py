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
        self.webhooks_due = Gauge(
            "ledger_webhook_deliveries_due",
            "Open webhook deliveries (PENDING or RETRYING) whose next attempt is due now: the dispatcher's backlog.",
            registry=registry,
        )
        self.webhooks_oldest_due = Gauge(
            "ledger_webhook_oldest_due_seconds",
            "How long the longest-waiting due delivery has been due (0 when none is).",
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "ledger_outbox_unfanned_events",
            "Outbox events the webhook fan-out has not yet turned into deliveries (capped at 100000).",
            registry=registry,
        )
        self.backlog_sampled = Gauge(
            "ledger_webhook_backlog_sampled_timestamp_seconds",
            "When this replica last measured the dispatcher's backlog (alert if it stops moving).",
            registry=registry,
        )
