"""The admin health page's judgements: OK, WARN or FAIL for each reading, with the number it is based on (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

LAG_WARN_BLOCKS = 20
"""Watcher lag (head minus the last block scanned and reported) above this is WARN (about a minute on BSC)."""
LAG_FAIL_BLOCKS = 100
"""Above this it is FAIL: payments are being seen late."""
BACKLOG_WARN_SECONDS = 60
"""A due webhook delivery waiting longer than this is WARN (the dispatcher is behind)."""
BACKLOG_FAIL_SECONDS = 300
"""Longer than this, FAIL."""


class Level(Enum):
    """How a reading stands."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Reading:
    """One line of the health page."""

    part: str
    what: str
    level: Level
    value: str
    """The number (or state) the level is based on, as shown."""
    detail: str = ""


def serving(part: str, status: str | None, problem: str = "") -> Reading:
    """A part's gRPC health: SERVING is OK; anything else, or no answer (`status` None), is FAIL."""
    if status is None:
        return Reading(part, "gRPC health", Level.FAIL, "UNREACHABLE", problem)
    return Reading(part, "gRPC health", Level.OK if status == "SERVING" else Level.FAIL, status)


def watcher_lag(lag_blocks: int, lag_seconds: float, head: int, cursor: int) -> Reading:
    """The watcher's scan lag against LAG_WARN_BLOCKS and LAG_FAIL_BLOCKS."""
    if lag_blocks > LAG_FAIL_BLOCKS:
        level = Level.FAIL
    elif lag_blocks > LAG_WARN_BLOCKS:
        level = Level.WARN
    else:
        level = Level.OK
    age = f", newest scanned block {lag_seconds:.0f} s old" if lag_seconds > 0 else ""
    detail = f"head {head}, scanned to {cursor}{age}; WARN above {LAG_WARN_BLOCKS}, FAIL above {LAG_FAIL_BLOCKS} blocks"
    return Reading("watcher", "scan lag (blocks)", level, str(lag_blocks), detail)


def breaker(part: str, provider: str, state: str, failures: int) -> Reading:
    """A provider's circuit breaker: closed (HEALTHY) OK, half-open (PROBING) WARN, OPEN FAIL."""
    level = {"HEALTHY": Level.OK, "PROBING": Level.WARN}.get(state, Level.FAIL)
    shown = {"HEALTHY": "CLOSED", "PROBING": "HALF-OPEN"}.get(state, state)
    return Reading(part, f"breaker: provider {provider}", level, shown, f"{failures} failures in a row")


def signer_freeze(frozen: bool, reason: str) -> Reading:
    """The signer's emergency freeze: frozen is FAIL (nothing can be signed: no sweeps, payouts or cold moves)."""
    if frozen:
        return Reading("signer", "signing", Level.FAIL, "FROZEN", reason)
    return Reading("signer", "signing", Level.OK, "NOT FROZEN")


def unavailable(part: str, what: str, problem: str) -> Reading:
    """A reading the part did not give (down, or refused the dashboard): FAIL, with the gRPC code."""
    return Reading(part, what, Level.FAIL, "UNAVAILABLE", problem)


def overall(readings: list[Reading]) -> Level:
    """The worst level of the page."""
    levels = {r.level for r in readings}
    return Level.FAIL if Level.FAIL in levels else Level.WARN if Level.WARN in levels else Level.OK


def treasury(balance: int, ceiling: int, target: int, floor: int, block: int) -> Reading:
    """The treasury (hot) balance against its thresholds.

    Above the ceiling WARN (the hot/cold loop should be moving the excess to cold), under the floor FAIL (payouts
    and gas run dry), else OK.
    """
    if floor and balance < floor:
        level = Level.FAIL
    elif ceiling and balance > ceiling:
        level = Level.WARN
    else:
        level = Level.OK
    detail = f"ceiling {ceiling}, target {target}, floor {floor or 'none'} (base units), finalized block {block}"
    return Reading("settlement", "treasury (hot) balance", level, str(balance), detail)


def cold(balance: int, block: int) -> Reading:
    """The cold Safe's balance (no threshold: shown for the operator's eye)."""
    return Reading("settlement", "cold balance", Level.OK, str(balance), f"base units, finalized block {block}")


def dispatcher_backlog(due: int, oldest_seconds: float, retrying: int) -> Reading:
    """The webhook dispatcher's due deliveries, judged by how long the oldest has waited."""
    if oldest_seconds > BACKLOG_FAIL_SECONDS:
        level = Level.FAIL
    elif oldest_seconds > BACKLOG_WARN_SECONDS:
        level = Level.WARN
    else:
        level = Level.OK
    detail = (
        f"oldest due {oldest_seconds:.0f} s; {retrying} waiting to retry after a failure; "
        f"WARN above {BACKLOG_WARN_SECONDS} s, FAIL above {BACKLOG_FAIL_SECONDS} s"
    )
    return Reading("ledger", "webhook deliveries due", level, str(due), detail)
