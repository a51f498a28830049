"""The watcher's state in Postgres (schema `watcher`): cursor, unfinalized headers, observations, watch set."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from chain.types import BlockHeader
from service_runtime.migrations import discover, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def apply_migrations(url: str) -> list[str]:
    """Apply the watcher's pending migrations on a connection of their own; the names applied."""
    conn = await asyncpg.connect(url)
    try:
        return [m.name for m in await migrate(conn, "watcher", discover("watcher", MIGRATIONS_DIR))]
    finally:
        await conn.close()


@dataclass(frozen=True)
class Cursor:
    """Where the scan stands for one chain."""

    scanned_number: int
    scanned_hash: str | None
    finalized_number: int
    feed_cursor: str


@dataclass(frozen=True)
class Observed:
    """A transfer to a deposit address, as the watcher reports it."""

    tx_hash: str
    log_index: int
    block_hash: str
    block_number: int
    asset: str
    """TOKEN (the configured one), OTHER_TOKEN or NATIVE."""
    token: str
    from_address: str
    to_address: str
    amount: int


async def cursor(conn: asyncpg.Connection, chain_id: int, start_after: int) -> Cursor:
    """The chain's cursor, created just before `start_after + 1` on first use."""
    await conn.execute(
        "INSERT INTO watcher.cursors (chain_id, scanned_number) VALUES ($1, $2) ON CONFLICT (chain_id) DO NOTHING",
        chain_id,
        start_after,
    )
    row = await conn.fetchrow(
        "SELECT scanned_number, scanned_hash, finalized_number, feed_cursor FROM watcher.cursors WHERE chain_id = $1",
        chain_id,
    )
    assert row is not None
    return Cursor(row["scanned_number"], row["scanned_hash"], row["finalized_number"], row["feed_cursor"])


async def set_scanned(conn: asyncpg.Connection, chain_id: int, number: int, block_hash: str | None) -> None:
    """Move the scan cursor (forward after a scan, back after a reorg)."""
    await conn.execute(
        "UPDATE watcher.cursors SET scanned_number = $2, scanned_hash = $3, update_time = now() WHERE chain_id = $1",
        chain_id,
        number,
        block_hash,
    )


async def set_finalized(conn: asyncpg.Connection, chain_id: int, number: int) -> None:
    """Record the finalized block last reported to the ledger."""
    await conn.execute(
        "UPDATE watcher.cursors SET finalized_number = $2, update_time = now() WHERE chain_id = $1", chain_id, number
    )


async def set_feed_cursor(conn: asyncpg.Connection, chain_id: int, feed_cursor: str) -> None:
    """Record how far the ledger's address feed has been read."""
    await conn.execute("UPDATE watcher.cursors SET feed_cursor = $2 WHERE chain_id = $1", chain_id, feed_cursor)


async def headers(conn: asyncpg.Connection, chain_id: int) -> list[BlockHeader]:
    """The tracked (unfinalized) headers, lowest first."""
    rows = await conn.fetch(
        "SELECT number, hash, parent_hash FROM watcher.headers WHERE chain_id = $1 ORDER BY number", chain_id
    )
    return [BlockHeader(r["number"], r["hash"], r["parent_hash"], 0) for r in rows]


async def put_headers(conn: asyncpg.Connection, chain_id: int, blocks: list[BlockHeader]) -> None:
    """Track headers (replacing any at the same height)."""
    await conn.executemany(
        "INSERT INTO watcher.headers (chain_id, number, hash, parent_hash) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash",
        [(chain_id, b.number, b.hash, b.parent_hash) for b in blocks],
    )


async def drop_headers(
    conn: asyncpg.Connection, chain_id: int, *, from_number: int | None = None, below: int | None = None
) -> None:
    """Forget headers at or above `from_number` (a reorg) or below `below` (finalized)."""
    if from_number is not None:
        await conn.execute("DELETE FROM watcher.headers WHERE chain_id = $1 AND number >= $2", chain_id, from_number)
    if below is not None:
        await conn.execute("DELETE FROM watcher.headers WHERE chain_id = $1 AND number < $2", chain_id, below)


async def record(conn: asyncpg.Connection, chain_id: int, observed: Observed, status: str) -> None:
    """Store an observation (once per block it appeared in) or move it to `status`."""
    await record_many(conn, chain_id, [(observed, status)])


async def record_many(conn: asyncpg.Connection, chain_id: int, observed: list[tuple[Observed, str]]) -> None:
    """Store observations with their statuses in one round trip (see `record`)."""
    await conn.executemany(
        "INSERT INTO watcher.observations (chain_id, tx_hash, log_index, block_hash, block_number, asset, token, "
        "from_address, to_address, amount, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (chain_id, tx_hash, log_index, block_hash) DO UPDATE SET status = excluded.status",
        [
            (
                chain_id,
                o.tx_hash,
                o.log_index,
                o.block_hash,
                o.block_number,
                o.asset,
                o.token,
                o.from_address,
                o.to_address,
                o.amount,
                status,
            )
            for o, status in observed
        ],
    )


async def set_outcome(conn: asyncpg.Connection, chain_id: int, observed: Observed, outcome: str) -> None:
    """What the ledger said of an observation (MATCHED, WRONG_ASSET, …), for operators."""
    await set_outcomes(conn, chain_id, [(observed, outcome)])


async def set_outcomes(conn: asyncpg.Connection, chain_id: int, outcomes: list[tuple[Observed, str]]) -> None:
    """Store what the ledger said of several observations in one round trip."""
    await conn.executemany(
        "UPDATE watcher.observations SET outcome = $5 WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3 "
        "AND block_hash = $4",
        [(chain_id, o.tx_hash, o.log_index, o.block_hash, outcome) for o, outcome in outcomes],
    )


async def seen_from(conn: asyncpg.Connection, chain_id: int, number: int) -> list[Observed]:
    """Observations still SEEN in blocks at or above `number` (what a reorg there takes away)."""
    rows = await conn.fetch(
        "SELECT tx_hash, log_index, block_hash, block_number, asset, token, from_address, to_address, amount "
        "FROM watcher.observations WHERE chain_id = $1 AND status = 'SEEN' AND block_number >= $2 "
        "ORDER BY block_number, log_index",
        chain_id,
        number,
    )
    return [
        Observed(
            r["tx_hash"],
            r["log_index"],
            r["block_hash"],
            r["block_number"],
            r["asset"],
            r["token"],
            r["from_address"],
            r["to_address"],
            int(r["amount"]),
        )
        for r in rows
    ]


async def finalize_seen(conn: asyncpg.Connection, chain_id: int, number: int) -> None:
    """Mark SEEN observations at or below the finalized block FINAL."""
    await conn.execute(
        "UPDATE watcher.observations SET status = 'FINAL' WHERE chain_id = $1 AND status = 'SEEN' "
        "AND block_number <= $2",
        chain_id,
        number,
    )


async def add_addresses(conn: asyncpg.Connection, chain_id: int, rows: list[tuple[str, str, dt.datetime]]) -> None:
    """Add (address, invoice id, monitor until) to the watch set."""
    await conn.executemany(
        "INSERT INTO watcher.addresses (chain_id, address, invoice_id, monitor_until) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (chain_id, address) DO UPDATE SET monitor_until = excluded.monitor_until",
        [(chain_id, a.lower(), i, m) for a, i, m in rows],
    )


async def watched(
    conn: asyncpg.Connection, chain_id: int, now: dt.datetime, retention: dt.timedelta = dt.timedelta(0)
) -> list[tuple[str, dt.datetime]]:
    """(address, monitor until) of the addresses still watched at `now`.

    Those inside their monitoring window, or past it by less than `retention` (the `addresses_active` index
    serves the range).
    """
    rows = await conn.fetch(
        "SELECT address, monitor_until FROM watcher.addresses WHERE chain_id = $1 AND monitor_until > $2",
        chain_id,
        now - retention,
    )
    return [(r["address"], r["monitor_until"]) for r in rows]


async def native_balances(conn: asyncpg.Connection, chain_id: int) -> dict[str, int]:
    """The last native balance seen at each watched address."""
    rows = await conn.fetch("SELECT address, balance FROM watcher.native_balances WHERE chain_id = $1", chain_id)
    return {r["address"]: int(r["balance"]) for r in rows}


async def set_native_balances(
    conn: asyncpg.Connection, chain_id: int, block_number: int, balances: dict[str, int]
) -> None:
    """Remember the native balances seen at a finalized block."""
    await conn.executemany(
        "INSERT INTO watcher.native_balances (chain_id, address, balance, block_number) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (chain_id, address) DO UPDATE SET balance = excluded.balance, "
        "block_number = excluded.block_number",
        [(chain_id, address, balance, block_number) for address, balance in balances.items()],
    )
