"""The watch set's boundaries: active inside the monitoring window, retained after it, dropped after retention."""

from __future__ import annotations

import datetime as dt

from watcher.watchset import WatchSet

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def test_an_address_is_active_in_its_window_retained_until_the_retention_ends_then_dropped() -> None:
    watch = WatchSet(retention=30 * DAY)
    watch.add([("0xAA", T0)], T0 - SECOND)
    assert (watch.active, watch.retained) == ({"0xaa"}, set())

    watch.advance(T0)  # the window is half-open: at monitor_until it has ended
    assert (watch.active, watch.retained, watch.matches("0xaa")) == (set(), {"0xaa"}, True)

    watch.advance(T0 + 30 * DAY - SECOND)  # just inside the retention: still matched
    assert watch.matches("0xaa") and not watch.is_active("0xaa")

    watch.advance(T0 + 30 * DAY)  # the retention is half-open too: dropped
    assert (watch.active, watch.retained, watch.matches("0xaa"), len(watch)) == (set(), set(), False, 0)


def test_addresses_loaded_or_fed_late_land_where_their_times_put_them_and_a_zero_retention_keeps_none() -> None:
    watch = WatchSet(retention=2 * DAY)
    now = T0 + DAY
    watch.load([("0x01", T0 + 2 * DAY), ("0x02", T0), ("0x03", T0 - 2 * DAY)], now)
    assert (watch.active, watch.retained) == ({"0x01"}, {"0x02"})
    assert watch.watched_at(T0, now) and not watch.watched_at(T0 - 2 * DAY, now)

    watch.load([("0x04", T0 + 2 * DAY)], now)  # a reload replaces the set
    assert (watch.active, watch.retained) == ({"0x04"}, set())

    none_after = WatchSet(retention=dt.timedelta(0))
    none_after.add([("0x05", T0)], T0)
    assert (none_after.active, none_after.retained, none_after.matches("0x05")) == (set(), set(), False)


def test_a_readded_address_follows_its_new_window_not_the_old_one() -> None:
    watch = WatchSet(retention=DAY)
    watch.add([("0x01", T0)], T0 - SECOND)
    watch.add([("0x01", T0 + 10 * DAY)], T0 - SECOND)  # the ledger's feed moved its end (an upsert)
    watch.advance(T0 + 2 * DAY)  # the old window and its retention are over: the stale heap entries are skipped
    assert watch.active == {"0x01"}
    watch.advance(T0 + 10 * DAY)
    assert watch.retained == {"0x01"}
    watch.advance(T0 + 11 * DAY)
    assert len(watch) == 0
