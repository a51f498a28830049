"""`settlement_leader{lease}` says which replica holds each of settlement's leases (settlement/leadership.py).

Two replicas' lease loops (`settlement.app.sweep_forever`) on one real Postgres, each with its own registry, as
two processes would have: the holder shows 1 and runs passes, the standby shows 0 and runs none; when the holder
dies the standby takes the lease and shows 1, and the old holder comes back as a 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from service_runtime.devcerts import DevMesh
from service_runtime.lease import Lease
from service_runtime.mesh import Role
from settlement.app import sweep_forever
from settlement.config import SettlementSettings
from settlement.leadership import HOT_KEY, SWEEPER, LeaderMetrics


class CountedPasses:
    """A lease loop's passes that only count themselves (the sweeper's own work is tested elsewhere)."""

    def __init__(self) -> None:
        self.ticks = 0

    async def tick(self) -> None:
        """One pass."""
        self.ticks += 1

    def lost_leadership(self) -> None:
        """Nothing to recover."""


class CountedLease(Lease):
    """The real Postgres lease, counting its tries."""

    tries = 0

    async def acquire(self) -> bool:
        """Try, and count the try."""
        self.tries += 1
        return await super().acquire()


def leader(registry: CollectorRegistry, lease: str = SWEEPER) -> float | None:
    """The `settlement_leader{lease}` sample of one replica's registry."""
    return registry.get_sample_value("settlement_leader", {"lease": lease})


async def until(what: Callable[[], bool], within: float = 20) -> None:
    """Wait until `what()` holds (the loops set no event to await: poll)."""
    deadline = time.monotonic() + within
    while not what():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_the_holder_shows_1_the_standby_0_and_a_killed_holders_standby_takes_over(
    empty_db: str, mesh_pki: DevMesh
) -> None:
    files = mesh_pki.files(Role.SETTLEMENT).settings()
    settings = SettlementSettings(tls=files, lease_retry_seconds=0.05, sweep_interval_seconds=0.05)  # type: ignore[arg-type]
    name = "stablegate.settlement.sweeper:97:test"
    registries = {r: CollectorRegistry() for r in ("a", "b")}
    metrics = {r: LeaderMetrics(registries[r]) for r in registries}
    leases = {r: CountedLease(empty_db, name) for r in registries}
    passes = {r: CountedPasses() for r in registries}

    def start(r: str) -> asyncio.Task[None]:
        return asyncio.create_task(sweep_forever(settings, passes[r], leases[r], metrics[r].lease(SWEEPER)))

    tasks = {"a": start("a")}
    try:
        await until(lambda: leader(registries["a"]) == 1 and passes["a"].ticks > 0)
        assert leader(registries["b"]) is None
        tasks["b"] = start("b")
        assert leader(registries["b"]) == 0  # exported at 0 before its loop has tried the lease
        await until(lambda: leases["b"].tries >= 3)
        assert leader(registries["b"]) == 0 and passes["b"].ticks == 0
        assert leader(registries["a"]) == 1
        assert leader(registries["a"], HOT_KEY) is None  # no HOT key loop here: no series for it

        # The holder dies (its lease connection closes): the standby takes the lease and says so.
        tasks["a"].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks["a"]
        await leases["a"].release()
        await until(lambda: leader(registries["b"]) == 1 and passes["b"].ticks > 0)

        # The old holder comes back as the standby.
        tries = leases["a"].tries
        tasks["a"] = start("a")
        await until(lambda: leases["a"].tries >= tries + 3)
        assert leader(registries["a"]) == 0 and leader(registries["b"]) == 1
    finally:
        for task in tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for lease in leases.values():
            await lease.release()
