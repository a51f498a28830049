"""The watch set in memory: deposit addresses inside their monitoring window, and those kept after it.

An address is **active** while its invoice's monitoring window runs (`now < monitor_until`): the configured
token's transfers to it, other tokens' transfers and native BNB are all looked for. After the window it is
**retained** for `retention` more (`monitor_until <= now < monitor_until + retention`): only the configured
token's transfers to it are matched, and reported so the ledger holds them unallocated (a stray fund for the
operator, docs/ledger.md). Matching a retained address costs no RPC call: the configured token's `Transfer`
logs are read once per chunk whatever the set holds, and matched here. After the retention the address is
dropped, so the set stays bounded by the invoices of the last window plus retention.

Time moves addresses from active to retained to dropped through two heaps, so a pass costs the addresses that
changed, not the size of the set.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable
from collections.abc import Set as AbstractSet


class WatchSet:
    """Active and retained deposit addresses (lowercase), kept current by `advance`."""

    def __init__(self, retention: dt.timedelta) -> None:
        self.retention = retention
        self._until: dict[str, dt.datetime] = {}
        self._active: set[str] = set()
        self._retained: set[str] = set()
        self._window_ends: list[tuple[dt.datetime, str]] = []
        """(monitor until, address) of active addresses, soonest first."""
        self._retention_ends: list[tuple[dt.datetime, str]] = []
        """The same entries once retained: the retention ends in the same order as the windows."""

    @property
    def active(self) -> AbstractSet[str]:
        """Addresses inside their monitoring window: every asset is looked for (a view, not a copy)."""
        return self._active

    @property
    def retained(self) -> AbstractSet[str]:
        """Addresses past their window, inside the retention: the configured token only (a view)."""
        return self._retained

    def __len__(self) -> int:
        return len(self._active) + len(self._retained)

    def is_active(self, address: str) -> bool:
        """Whether the address is inside its monitoring window."""
        return address in self._active

    def matches(self, address: str) -> bool:
        """Whether the configured token's transfers to the address are reported (active or retained)."""
        return address in self._active or address in self._retained

    def watched_at(self, monitor_until: dt.datetime, now: dt.datetime) -> bool:
        """Whether an address whose window ends at `monitor_until` is still watched at `now`."""
        return monitor_until + self.retention > now

    def clear(self) -> None:
        """Forget every address."""
        self._until.clear()
        self._active.clear()
        self._retained.clear()
        self._window_ends.clear()
        self._retention_ends.clear()

    def load(self, rows: Iterable[tuple[str, dt.datetime]], now: dt.datetime) -> None:
        """Replace the set with (address, monitor until) rows."""
        self.clear()
        self.add(rows, now)

    def add(self, rows: Iterable[tuple[str, dt.datetime]], now: dt.datetime) -> None:
        """Add (address, monitor until) rows; an address already known takes the new end of window."""
        for given, until in rows:
            address = given.lower()
            self._retained.discard(address)
            self._until[address] = until
            self._active.add(address)
            heapq.heappush(self._window_ends, (until, address))
        self.advance(now)

    def advance(self, now: dt.datetime) -> None:
        """Move addresses whose window ended to retained, and drop those whose retention ended.

        Both boundaries are half-open: at `monitor_until` the address is retained, at `monitor_until + retention`
        it is dropped. Entries an address no longer holds (it was added again with another end) are skipped.
        """
        while self._window_ends and self._window_ends[0][0] <= now:
            entry = heapq.heappop(self._window_ends)
            until, address = entry
            if self._until.get(address) == until and address in self._active:
                self._active.discard(address)
                self._retained.add(address)
                heapq.heappush(self._retention_ends, entry)
        cutoff = now - self.retention
        while self._retention_ends and self._retention_ends[0][0] <= cutoff:
            until, address = heapq.heappop(self._retention_ends)
            if self._until.get(address) == until and address in self._retained:
                del self._until[address]
                self._retained.discard(address)
