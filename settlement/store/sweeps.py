"""Queries over the sweeper's state (schema `settlement`): sweeps, their items and strays, transactions, nonces.

Each function runs on the connection it is given; the caller owns the transaction where several must commit
together (a nonce taken and the transaction row that uses it).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from settlement.domain.fees import TxFees
from settlement.domain.sweeps import Deposit, Quarantine

OPEN_SWEEP = ("PLANNED", "HELD", "SENT", "MINED")
LIVE_TX = ("SIGNING", "SIGNED", "BROADCAST", "MINED")


@dataclass(frozen=True)
class Sweep:
    """One sweep as stored."""

    id: str
    chain_id: int
    key_id: str
    sweeper_address: str
    factory_address: str
    token_contract: str
    status: str
    nonce: int | None
    gas_limit: int | None
    hold_reason: str | None
    items: tuple[Deposit, ...]
    landed_tx_hash: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    quarantines: tuple[Quarantine, ...] = ()
    """Stray tokens this sweep moves to quarantine (each address among `items`)."""


@dataclass(frozen=True)
class ChainTx:
    """One signed (or being signed) version of a nonce."""

    id: int
    request_id: str
    chain_id: int
    from_address: str
    nonce: int
    version: int
    sweep_id: str | None
    gas_limit: int
    fees: TxFees
    status: str
    raw_transaction: str | None
    tx_hash: str | None
    broadcast_count: int
    age_seconds: float
    """Seconds since this version was first broadcast (0 before that)."""
    since_broadcast: float = 0.0
    """Seconds since this version was last broadcast (0 before that)."""
    since_created: float = 0.0
    """Seconds since this version was asked for."""


def new_sweep_id() -> str:
    """A fresh sweep id (also the ledger's idempotency key for RecordSweep)."""
    return "swp_" + secrets.token_hex(12)


async def insert_sweep(
    conn: asyncpg.Connection,
    *,
    sweep_id: str,
    chain_id: int,
    key_id: str,
    sweeper_address: str,
    factory_address: str,
    token_contract: str,
    items: Sequence[Deposit],
    quarantines: Sequence[Quarantine] = (),
) -> None:
    """Persist a sweep's intent, its deposit addresses and its stray tokens (PLANNED) in one transaction.

    An address already in an open sweep violates the unique index: the caller skips such addresses beforehand.
    """
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO settlement.sweeps (id, chain_id, key_id, sweeper_address, factory_address, token_contract, "
            "status) VALUES ($1, $2, $3, $4, $5, $6, 'PLANNED')",
            sweep_id,
            chain_id,
            key_id,
            sweeper_address.lower(),
            factory_address.lower(),
            token_contract.lower(),
        )
        await conn.executemany(
            "INSERT INTO settlement.sweep_items (sweep_id, chain_id, position, deposit_address, salt, invoice_id, "
            "expected_amount, payment_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    sweep_id,
                    chain_id,
                    i,
                    d.deposit_address.lower(),
                    d.salt.lower(),
                    d.invoice_id,
                    d.amount,
                    list(d.payment_ids),
                )
                for i, d in enumerate(items)
            ],
        )
        await conn.executemany(
            "INSERT INTO settlement.sweep_quarantines (sweep_id, chain_id, stray_id, deposit_address, salt, "
            "invoice_id, token_contract, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    sweep_id,
                    chain_id,
                    q.stray_id,
                    q.deposit_address.lower(),
                    q.salt.lower(),
                    q.invoice_id,
                    q.token_contract.lower(),
                    q.amount,
                )
                for q in quarantines
            ],
        )


async def seconds_since_failure(conn: asyncpg.Connection, chain_id: int) -> float | None:
    """Seconds since the last sweep that failed before reaching the chain or reverted (None: never)."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM now() - max(updated_at))::float8 FROM settlement.sweeps "
        "WHERE chain_id = $1 AND status = 'FAILED'",
        chain_id,
    )
    return None if value is None else float(value)


async def open_addresses(conn: asyncpg.Connection, chain_id: int) -> set[str]:
    """Deposit addresses in a sweep that is not over (never planned twice)."""
    rows = await conn.fetch("SELECT deposit_address FROM settlement.sweep_items WHERE chain_id = $1 AND open", chain_id)
    return {str(r["deposit_address"]) for r in rows}


async def unavailable_strays(conn: asyncpg.Connection, chain_id: int) -> set[str]:
    """Stray deposits not to plan: in a sweep that is not over, or in one that failed (not retried on its own)."""
    rows = await conn.fetch(
        "SELECT stray_id FROM settlement.sweep_quarantines WHERE chain_id = $1 AND (open OR failed)", chain_id
    )
    return {str(r["stray_id"]) for r in rows}


def _sweep(row: asyncpg.Record, items: list[asyncpg.Record], strays: list[asyncpg.Record] | None = None) -> Sweep:
    return Sweep(
        id=row["id"],
        chain_id=int(row["chain_id"]),
        key_id=row["key_id"],
        sweeper_address=row["sweeper_address"],
        factory_address=row["factory_address"],
        token_contract=row["token_contract"],
        status=row["status"],
        nonce=None if row["nonce"] is None else int(row["nonce"]),
        gas_limit=None if row["gas_limit"] is None else int(row["gas_limit"]),
        hold_reason=row["hold_reason"],
        items=tuple(
            Deposit(
                i["deposit_address"], i["salt"], i["invoice_id"], int(i["expected_amount"]), tuple(i["payment_ids"])
            )
            for i in items
        ),
        landed_tx_hash=row["landed_tx_hash"],
        block_number=None if row["block_number"] is None else int(row["block_number"]),
        block_hash=row["block_hash"],
        quarantines=tuple(
            Quarantine(
                q["stray_id"], q["deposit_address"], q["salt"], q["invoice_id"], q["token_contract"], int(q["amount"])
            )
            for q in strays or []
        ),
    )


async def sweeps_in(conn: asyncpg.Connection, chain_id: int, statuses: Sequence[str]) -> list[Sweep]:
    """Sweeps in any of `statuses`, oldest first (by nonce where they have one)."""
    rows = await conn.fetch(
        "SELECT * FROM settlement.sweeps WHERE chain_id = $1 AND status = ANY($2::text[]) "
        "ORDER BY nonce NULLS LAST, created_at, id",
        chain_id,
        list(statuses),
    )
    if not rows:
        return []
    items = await conn.fetch(
        "SELECT * FROM settlement.sweep_items WHERE sweep_id = ANY($1::text[]) ORDER BY sweep_id, position",
        [r["id"] for r in rows],
    )
    strays = await conn.fetch(
        "SELECT * FROM settlement.sweep_quarantines WHERE sweep_id = ANY($1::text[]) ORDER BY sweep_id, stray_id",
        [r["id"] for r in rows],
    )
    by_sweep: dict[str, list[asyncpg.Record]] = {}
    for item in items:
        by_sweep.setdefault(item["sweep_id"], []).append(item)
    strays_of: dict[str, list[asyncpg.Record]] = {}
    for stray in strays:
        strays_of.setdefault(stray["sweep_id"], []).append(stray)
    return [_sweep(r, by_sweep.get(r["id"], []), strays_of.get(r["id"])) for r in rows]


async def set_status(
    conn: asyncpg.Connection, sweep_id: str, status: str, *, hold_reason: str | None = None, failure: str | None = None
) -> None:
    """Move a sweep to `status`; a sweep that is over (FAILED, DROPPED) frees its deposit addresses."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.sweeps SET status = $2, hold_reason = $3, "
            "failure_reason = coalesce($4, failure_reason), updated_at = now() WHERE id = $1",
            sweep_id,
            status,
            hold_reason,
            failure,
        )
        if status in ("FAILED", "DROPPED"):
            await conn.execute("UPDATE settlement.sweep_items SET open = false WHERE sweep_id = $1", sweep_id)
            # A dropped sweep never reached the chain: its strays are planned again. A failed one keeps them out.
            await conn.execute(
                "UPDATE settlement.sweep_quarantines SET open = false, failed = $2 WHERE sweep_id = $1",
                sweep_id,
                status == "FAILED",
            )


async def hold(conn: asyncpg.Connection, sweep_id: str, reason: str) -> None:
    """Mark a waiting sweep HELD (a sweep already out is left alone: holding never takes back a nonce)."""
    await conn.execute(
        "UPDATE settlement.sweeps SET status = 'HELD', hold_reason = $2, updated_at = now() "
        "WHERE id = $1 AND status IN ('PLANNED', 'HELD')",
        sweep_id,
        reason,
    )


# --- nonces ---------------------------------------------------------------------------------------------------


async def recover_nonce(conn: asyncpg.Connection, chain_id: int, address: str, latest: int, pending: int) -> int:
    """Set a key's next nonce from the chain's counts and our own live rows; returns it.

    next = max(latest mined count, highest live nonce of ours + 1). A pending count above that means a
    transaction we do not know waits in a node's pool (another tool used the key): its nonce is taken, so the
    next one starts above it.
    """
    address = address.lower()
    async with conn.transaction():
        ours = await conn.fetchval(
            "SELECT max(nonce) FROM settlement.chain_transactions WHERE chain_id = $1 AND from_address = $2 "
            "AND status = ANY($3::text[])",
            chain_id,
            address,
            list(LIVE_TX),
        )
        following = latest if ours is None else max(latest, int(ours) + 1)
        following = max(following, pending)
        await conn.execute(
            "INSERT INTO settlement.nonces (chain_id, address, next_nonce, chain_latest, chain_pending, recovered_at) "
            "VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (chain_id, address) DO UPDATE SET next_nonce = $3, "
            "chain_latest = $4, chain_pending = $5, recovered_at = now(), updated_at = now()",
            chain_id,
            address,
            following,
            latest,
            pending,
        )
    return following


async def take_nonce(conn: asyncpg.Connection, chain_id: int, address: str, chain_latest: int) -> int:
    """The next nonce of a key, taken (call inside the transaction that stores the row using it).

    Never below the chain's mined count: a nonce the chain has already used cannot be ours to give. A gap (a
    nonce at or above the mined count and the pending count seen at recovery, below the next one, that no live
    transaction of ours holds) is filled first: the transactions above it cannot land until it does.
    """
    address = address.lower()
    row = await conn.fetchrow(
        "SELECT next_nonce, chain_pending FROM settlement.nonces WHERE chain_id = $1 AND address = $2 FOR UPDATE",
        chain_id,
        address,
    )
    if row is None:
        raise LookupError(f"no nonce row for {address} on chain {chain_id}: recover_nonce runs first")
    following = int(row["next_nonce"])
    # Below the pending count seen at recovery, a nonce without a row of ours is a foreign transaction waiting
    # in a pool, not a gap: replacing it would be signing over someone else's transaction.
    gap = await conn.fetchval(
        "SELECT min(n) FROM generate_series(greatest($3::bigint, $6::bigint), $4::bigint - 1) AS n "
        "WHERE NOT EXISTS (SELECT 1 FROM settlement.chain_transactions t WHERE t.chain_id = $1 "
        "AND t.from_address = $2 AND t.nonce = n AND t.status = ANY($5::text[]))",
        chain_id,
        address,
        chain_latest,
        following,
        list(LIVE_TX),
        int(row["chain_pending"] or 0),
    )
    if gap is not None:
        return int(gap)
    nonce = max(following, chain_latest)
    await conn.execute(
        "UPDATE settlement.nonces SET next_nonce = $3, updated_at = now() WHERE chain_id = $1 AND address = $2",
        chain_id,
        address,
        nonce + 1,
    )
    return nonce


async def gaps(conn: asyncpg.Connection, chain_id: int, address: str, chain_latest: int) -> list[int]:
    """Gaps: nonces at or above the mined and recovered pending counts, below the next one, with no live row."""
    rows = await conn.fetch(
        "SELECT n FROM settlement.nonces k, generate_series(greatest($3::bigint, coalesce(k.chain_pending, 0)), "
        "k.next_nonce - 1) AS n "
        "WHERE k.chain_id = $1 AND k.address = $2 AND NOT EXISTS (SELECT 1 FROM settlement.chain_transactions t "
        "WHERE t.chain_id = $1 AND t.from_address = $2 AND t.nonce = n AND t.status = ANY($4::text[])) ORDER BY n",
        chain_id,
        address.lower(),
        chain_latest,
        list(LIVE_TX),
    )
    return [int(r["n"]) for r in rows]


async def release_nonce(conn: asyncpg.Connection, chain_id: int, address: str, nonce: int) -> None:
    """Give back a nonce nothing was signed for, when it is the last one taken (so no gap opens)."""
    await conn.execute(
        "UPDATE settlement.nonces SET next_nonce = $3, updated_at = now() "
        "WHERE chain_id = $1 AND address = $2 AND next_nonce = $3 + 1",
        chain_id,
        address.lower(),
        nonce,
    )


# --- chain transactions ---------------------------------------------------------------------------------------


async def start_sweep_transaction(
    conn: asyncpg.Connection,
    sweep: Sweep,
    *,
    chain_latest: int,
    gas_limit: int,
    fees: TxFees,
) -> ChainTx | None:
    """Take the key's next nonce for a sweep and store version 0 as SIGNING, atomically (before the signer).

    None when the sweep is no longer waiting (another sweeper, for a moment also leader, took it first): a sweep
    gets one nonce, ever.
    """
    async with conn.transaction():
        status = await conn.fetchval("SELECT status FROM settlement.sweeps WHERE id = $1 FOR UPDATE", sweep.id)
        if status not in ("PLANNED", "HELD"):
            return None
        nonce = await take_nonce(conn, sweep.chain_id, sweep.sweeper_address, chain_latest)
        await conn.execute(
            "UPDATE settlement.sweeps SET nonce = $2, gas_limit = $3, status = 'SENT', hold_reason = NULL, "
            "updated_at = now() WHERE id = $1",
            sweep.id,
            nonce,
            gas_limit,
        )
        return await _insert_version(conn, sweep, nonce, 0, gas_limit=gas_limit, fees=fees)


async def start_replacement(conn: asyncpg.Connection, sweep: Sweep, previous: ChainTx, fees: TxFees) -> ChainTx:
    """Store the next version of a sweep's nonce (same call, higher fees) as SIGNING."""
    return await _insert_version(
        conn, sweep, previous.nonce, previous.version + 1, gas_limit=previous.gas_limit, fees=fees
    )


async def _insert_version(
    conn: asyncpg.Connection, sweep: Sweep, nonce: int, version: int, *, gas_limit: int, fees: TxFees
) -> ChainTx:
    row = await conn.fetchrow(
        "INSERT INTO settlement.chain_transactions (request_id, chain_id, from_address, nonce, version, sweep_id, "
        "gas_limit, max_fee_per_gas_wei, max_priority_fee_wei, legacy, status) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'SIGNING') RETURNING *, 0::float8 AS age_seconds",
        # Unique per ask: a refused request id stays refused at the signer, so a later retry needs a new one.
        f"{sweep.id}:n{nonce}:v{version}:{secrets.token_hex(4)}",
        sweep.chain_id,
        sweep.sweeper_address,
        nonce,
        version,
        sweep.id,
        gas_limit,
        fees.max_fee_per_gas,
        fees.max_priority_fee_per_gas,
        fees.legacy,
    )
    assert row is not None
    return _tx(row)


def _tx(row: asyncpg.Record) -> ChainTx:
    return ChainTx(
        id=int(row["id"]),
        request_id=row["request_id"],
        chain_id=int(row["chain_id"]),
        from_address=row["from_address"],
        nonce=int(row["nonce"]),
        version=int(row["version"]),
        sweep_id=row["sweep_id"],
        gas_limit=int(row["gas_limit"]),
        fees=TxFees(int(row["max_fee_per_gas_wei"]), int(row["max_priority_fee_wei"]), bool(row["legacy"])),
        status=row["status"],
        raw_transaction=row["raw_transaction"],
        tx_hash=row["tx_hash"],
        broadcast_count=int(row["broadcast_count"]),
        age_seconds=float(row["age_seconds"] or 0),
        since_broadcast=float(row.get("since_broadcast") or 0),
        since_created=float(row.get("since_created") or 0),
    )


_TX_SELECT = (
    "SELECT *, coalesce(extract(epoch FROM now() - first_broadcast_at), 0)::float8 AS age_seconds, "
    "coalesce(extract(epoch FROM now() - last_broadcast_at), 0)::float8 AS since_broadcast, "
    "extract(epoch FROM now() - created_at)::float8 AS since_created "
    "FROM settlement.chain_transactions"
)


async def versions(conn: asyncpg.Connection, sweep_id: str) -> list[ChainTx]:
    """Every version of a sweep's transaction, oldest first."""
    rows = await conn.fetch(_TX_SELECT + " WHERE sweep_id = $1 ORDER BY version, id", sweep_id)
    return [_tx(r) for r in rows]


async def store_signed(conn: asyncpg.Connection, tx_id: int, raw: str, tx_hash: str) -> None:
    """Persist the signed bytes (before any broadcast): from here on this version is only ever rebroadcast."""
    await conn.execute(
        "UPDATE settlement.chain_transactions SET raw_transaction = $2, tx_hash = $3, status = 'SIGNED', "
        "updated_at = now() WHERE id = $1 AND status = 'SIGNING'",
        tx_id,
        raw,
        tx_hash.lower(),
    )


async def store_denied(conn: asyncpg.Connection, tx: ChainTx, reason: str) -> None:
    """The signer refused this version: nothing was signed for it."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.chain_transactions SET status = 'DENIED', denial_reason = $2, updated_at = now() "
            "WHERE id = $1",
            tx.id,
            reason,
        )
        if tx.version == 0:
            await release_nonce(conn, tx.chain_id, tx.from_address, tx.nonce)


async def mark_broadcast(conn: asyncpg.Connection, tx_id: int) -> None:
    """Count one broadcast of this version (the first one starts its stuck clock)."""
    await conn.execute(
        "UPDATE settlement.chain_transactions SET status = CASE WHEN status = 'SIGNED' THEN 'BROADCAST' ELSE status "
        "END, broadcast_count = broadcast_count + 1, first_broadcast_at = coalesce(first_broadcast_at, now()), "
        "last_broadcast_at = now(), updated_at = now() WHERE id = $1",
        tx_id,
    )


@dataclass(frozen=True)
class Landed:
    """A version's receipt."""

    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price: int

    @classmethod
    def from_receipt(cls, tx_hash: str, receipt: dict[str, Any]) -> Landed:
        """The fields of an `eth_getTransactionReceipt` answer that settlement keeps."""
        return cls(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"], 16),
            block_hash=str(receipt["blockHash"]).lower(),
            status=int(receipt["status"], 16),
            gas_used=int(receipt["gasUsed"], 16),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
        )


@dataclass(frozen=True)
class TxOwner:
    """What a transaction's versions belong to: its table and its column in `settlement.chain_transactions`.

    Sweeps and cold moves share one lifecycle of signed versions (mined, reorged back, dropped); these are fixed
    identifiers of our schema, never input.
    """

    table: str
    column: str


SWEEPS = TxOwner("settlement.sweeps", "sweep_id")
COLD_MOVES = TxOwner("settlement.cold_moves", "cold_move_id")


async def owner_mined(conn: asyncpg.Connection, owner: TxOwner, owner_id: str, landed: Landed) -> None:
    """One version of the owner's nonce has a receipt: it is MINED, its siblings REPLACED, the owner MINED."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.chain_transactions SET status = CASE WHEN tx_hash = $2 THEN 'MINED' ELSE 'REPLACED' END,"
            " block_number = CASE WHEN tx_hash = $2 THEN $3::bigint END, "
            "block_hash = CASE WHEN tx_hash = $2 THEN $4::text END, "
            "receipt_status = CASE WHEN tx_hash = $2 THEN $5::smallint END, "
            "gas_used = CASE WHEN tx_hash = $2 THEN $6::numeric END, "
            "effective_gas_price_wei = CASE WHEN tx_hash = $2 THEN $7::numeric END, updated_at = now() "
            f"WHERE {owner.column} = $1 AND status <> 'DENIED' AND status <> 'SIGNING'",
            owner_id,
            landed.tx_hash,
            landed.block_number,
            landed.block_hash,
            landed.status,
            landed.gas_used,
            landed.effective_gas_price,
        )
        await conn.execute(
            f"UPDATE {owner.table} SET status = 'MINED', landed_tx_hash = $2, block_number = $3, block_hash = $4, "
            "gas_used = $5, effective_gas_price_wei = $6, updated_at = now() WHERE id = $1",
            owner_id,
            landed.tx_hash,
            landed.block_number,
            landed.block_hash,
            landed.gas_used,
            landed.effective_gas_price,
        )


async def owner_unmined(conn: asyncpg.Connection, owner: TxOwner, owner_id: str) -> None:
    """The block that held the owner's transaction was reorged away: back to SENT, every signed version live."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE settlement.chain_transactions SET status = 'BROADCAST', block_number = NULL, block_hash = NULL, "
            "receipt_status = NULL, gas_used = NULL, effective_gas_price_wei = NULL, updated_at = now() "
            f"WHERE {owner.column} = $1 AND status IN ('MINED', 'REPLACED')",
            owner_id,
        )
        await conn.execute(
            f"UPDATE {owner.table} SET status = 'SENT', landed_tx_hash = NULL, block_number = NULL, "
            "block_hash = NULL, gas_used = NULL, effective_gas_price_wei = NULL, updated_at = now() WHERE id = $1",
            owner_id,
        )


async def drop_versions(conn: asyncpg.Connection, owner: TxOwner, owner_id: str) -> None:
    """Every live version of the owner's nonce is DROPPED (call inside the transaction that ends the owner)."""
    await conn.execute(
        f"UPDATE settlement.chain_transactions SET status = 'DROPPED', updated_at = now() "
        f"WHERE {owner.column} = $1 AND status = ANY($2::text[])",
        owner_id,
        list(LIVE_TX),
    )


async def store_mined(conn: asyncpg.Connection, sweep_id: str, landed: Landed) -> None:
    """One version of the sweep's nonce has a receipt: it is MINED, its siblings REPLACED, the sweep MINED."""
    await owner_mined(conn, SWEEPS, sweep_id, landed)


async def store_unmined(conn: asyncpg.Connection, sweep_id: str) -> None:
    """The block that held the sweep was reorged away: back to SENT, every signed version live again."""
    await owner_unmined(conn, SWEEPS, sweep_id)


async def store_dropped(conn: asyncpg.Connection, sweep_id: str) -> None:
    """The sweep's nonce was used by a transaction that is none of its versions: it can never land."""
    async with conn.transaction():
        await drop_versions(conn, SWEEPS, sweep_id)
        await set_status(conn, sweep_id, "DROPPED", failure="NONCE_USED_ELSEWHERE")


async def store_recorded(
    conn: asyncpg.Connection,
    sweep_id: str,
    swept: dict[str, int],
    journal_transaction_id: str | None,
    quarantined: dict[str, int] | None = None,
) -> None:
    """The ledger booked the sweep and marked its strays: what moved per address and stray, the journal id, over.

    The journal id is None when the flush moved none of the token (nothing to book).
    """
    async with conn.transaction():
        for stray_id, moved in (quarantined or {}).items():
            await conn.execute(
                "UPDATE settlement.sweep_quarantines SET moved_amount = $3 WHERE sweep_id = $1 AND stray_id = $2",
                sweep_id,
                stray_id,
                moved,
            )
        await conn.execute("UPDATE settlement.sweep_quarantines SET open = false WHERE sweep_id = $1", sweep_id)
        for address, amount in swept.items():
            await conn.execute(
                "UPDATE settlement.sweep_items SET swept_amount = $3 WHERE sweep_id = $1 AND deposit_address = $2",
                sweep_id,
                address,
                amount,
            )
        await conn.execute(
            "UPDATE settlement.sweep_items SET swept_amount = coalesce(swept_amount, 0), open = false "
            "WHERE sweep_id = $1",
            sweep_id,
        )
        await conn.execute(
            "UPDATE settlement.sweeps SET status = 'RECORDED', swept_total = $2, journal_transaction_id = $3, "
            "updated_at = now() WHERE id = $1",
            sweep_id,
            sum(swept.values()),
            journal_transaction_id,
        )
