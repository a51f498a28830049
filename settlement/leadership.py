"""Which of settlement's leases this replica holds, as a metric: `settlement_leader{lease}` 1 on the holder.

Settlement runs one loop per lease (the sweeper; the HOT key's hot/cold and payout loop) and a standby of each
on every other replica (service_runtime/lease.py). Like the watcher's `watcher_leader`, the gauge says which
replica leads each, so an operator (and `tests/e2e/test_replicas.py`) reads it off /metrics instead of the logs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

SWEEPER = "sweeper"
"""The `lease` label of the sweeper's lease."""
HOT_KEY = "hot_key"
"""The `lease` label of the HOT key loop's lease (hot/cold moves and payouts)."""


class LeaderMetrics:
    """`settlement_leader{lease}`: 1 while this replica holds the lease, 0 while it waits as a standby."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.leader = Gauge(
            "settlement_leader",
            "1 while this replica holds the lease (sweeper, hot_key), 0 while it is a standby",
            ["lease"],
            registry=registry,
        )

    def lease(self, name: str) -> Gauge:
        """The gauge of one lease, at 0 until its loop takes the lease."""
        child = self.leader.labels(name)
        child.set(0)
        return child
