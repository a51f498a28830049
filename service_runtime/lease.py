"""One leader at a time: a Postgres advisory lock held on a dedicated connection (DECISIONS, "Leases").

The watcher's scanner (one per chain) and settlement's sweeper (one per key) each hold one.

A leader that dies loses the lock when its connection drops (at once for a killed process on a live host;
within the TCP keepalive bound set below when the host or network dies), and a standby's next try takes it.
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg

log = logging.getLogger("stablegate.lease")

# Server-side keepalives on the lease connection: a vanished leader's lock is released within about
# idle + interval * count = 5 + 2 * 3 = 11 s.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def lease_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a lease name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Lease:
    """Try to hold a named lease; `held()` says whether it still is."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.key = lease_key(name)
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True when we hold it."""
        if await self.held():
            return True
        await self.release()
        conn = await asyncpg.connect(self.url, server_settings=KEEPALIVES, timeout=10)
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
            self._conn = conn
            log.info("lease taken", extra={"lease": self.name})
            return True
        await conn.close()
        return False

    async def held(self) -> bool:
        """True while our lease connection is alive (a lost connection has lost the lock)."""
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            self._conn = None
            log.warning("lease lost", extra={"lease": self.name})
            return False
        return True

    async def release(self) -> None:
        """Give the lease up (closing the connection releases the lock)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.is_closed():
                await conn.close()
