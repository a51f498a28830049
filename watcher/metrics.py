"""The watcher's Prometheus metrics: where it stands, how far behind, what it found."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WatcherMetrics:
    """Lag, scan rate, matches, reorgs and the behind-alert, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry
        self.head = Gauge("watcher_head_block", "Best head among the providers", registry=r)
        self.finalized = Gauge("watcher_finalized_block", "Finalized block (or head minus the depth)", registry=r)
        self.scanned = Gauge("watcher_scanned_block", "Last block scanned and reported", registry=r)
        self.lag = Gauge("watcher_lag_blocks", "Head minus the last block scanned", registry=r)
        self.behind = Gauge("watcher_behind", "1 while the lag exceeds the alert threshold (alert on it)", registry=r)
        self.leader = Gauge("watcher_leader", "1 while this replica holds the scanner lease", registry=r)
        self.scanned_blocks = Counter("watcher_scanned_blocks_total", "Blocks scanned", registry=r)
        self.matched = Counter("watcher_matched_transfers_total", "Token transfers to deposit addresses", registry=r)
        self.reported = Counter(
            "watcher_reported_total",
            "Observations reported to the ledger",
            ["asset", "finality", "outcome"],
            registry=r,
        )
        self.reorgs = Counter("watcher_reorgs_total", "Reorgs detected", registry=r)
        self.range_shrunk = Counter("watcher_range_shrunk_total", "Times a provider refused a log range", registry=r)
        self.tick_failures = Counter("watcher_tick_failures_total", "Scan passes that failed", ["error"], registry=r)

    def observe_tick(self, head: int, finalized: int, scanned: int, alert_blocks: int) -> None:
        """Record where a finished tick left things."""
        self.head.set(head)
        self.finalized.set(finalized)
        self.scanned.set(scanned)
        self.lag.set(max(0, head - scanned))
        self.behind.set(int(head - scanned > alert_blocks))
