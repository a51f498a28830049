"""The nonce manager's store on a real Postgres: nonces taken with their request, gaps filled first, foreign
pending transactions never treated as gaps, recovery from the chain's counts and our own rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from settlement.domain.fees import TxFees
from settlement.domain.sweeps import Deposit
from settlement.store import sweeps as store
from settlement.store.db import apply_migrations

KEY = "0x" + "5a" * 20
FEES = TxFees(2 * 10**9, 10**8)


@pytest.fixture
async def conn(empty_db: str) -> AsyncIterator[asyncpg.Connection]:
    await apply_migrations(empty_db)
    connection = await asyncpg.connect(empty_db)
    try:
        yield connection
    finally:
        await connection.close()


async def sweep(conn: asyncpg.Connection, n: int) -> store.Sweep:
    sweep_id = store.new_sweep_id()
    item = Deposit(f"0x{n:040x}", f"0x{n:064x}", f"inv_{n}", 1)
    await store.insert_sweep(
        conn,
        sweep_id=sweep_id,
        chain_id=97,
        key_id="k",
        sweeper_address=KEY,
        factory_address="0x" + "f" * 40,
        token_contract="0x" + "e" * 40,
        items=[item],
    )
    (found,) = [s for s in await store.sweeps_in(conn, 97, ("PLANNED",)) if s.id == sweep_id]
    return found


async def start(conn: asyncpg.Connection, n: int, latest: int = 0) -> store.ChainTx:
    tx = await store.start_sweep_transaction(
        conn, await sweep(conn, n), chain_latest=latest, gas_limit=10**5, fees=FEES
    )
    assert tx is not None
    return tx


async def test_a_refused_nonce_below_others_is_a_gap_the_next_sweep_fills_before_any_new_nonce(
    conn: asyncpg.Connection,
) -> None:
    assert await store.recover_nonce(conn, 97, KEY, latest=0, pending=0) == 0
    a, b, c = await start(conn, 1), await start(conn, 2), await start(conn, 3)
    assert (a.nonce, b.nonce, c.nonce) == (0, 1, 2)
    await store.store_denied(conn, b, "DENIED:RULE_DENIED")  # not the last one taken: nonce 1 becomes a gap
    assert await store.gaps(conn, 97, KEY, chain_latest=0) == [1]

    d = await start(conn, 4)
    assert d.nonce == 1  # the gap first
    assert await store.gaps(conn, 97, KEY, chain_latest=0) == []
    assert (await start(conn, 5)).nonce == 3


async def test_the_last_nonce_taken_and_refused_is_given_back(conn: asyncpg.Connection) -> None:
    await store.recover_nonce(conn, 97, KEY, latest=4, pending=4)
    a = await start(conn, 1, latest=4)
    assert a.nonce == 4
    await store.store_denied(conn, a, "DENIED:FEE_CAP_EXCEEDED")
    assert await store.gaps(conn, 97, KEY, chain_latest=4) == []
    assert (await start(conn, 2, latest=4)).nonce == 4


async def test_recovery_moves_past_foreign_pending_transactions_and_never_counts_them_as_gaps(
    conn: asyncpg.Connection,
) -> None:
    await store.recover_nonce(conn, 97, KEY, latest=0, pending=0)
    for n in range(3):
        await start(conn, n)  # ours: 0, 1, 2
    # The chain: nothing mined yet, but five pending: 3 and 4 are someone else's.
    assert await store.recover_nonce(conn, 97, KEY, latest=0, pending=5) == 5
    assert await store.gaps(conn, 97, KEY, chain_latest=0) == []
    assert (await start(conn, 9)).nonce == 5
    # Never below the chain's mined count, whatever the row says.
    assert await store.recover_nonce(conn, 97, KEY, latest=20, pending=20) == 20
    assert (await start(conn, 10, latest=20)).nonce == 20


async def test_one_open_sweep_per_deposit_address_and_one_nonce_per_sweep(conn: asyncpg.Connection) -> None:
    await store.recover_nonce(conn, 97, KEY, latest=0, pending=0)
    planned = await sweep(conn, 1)
    with pytest.raises(asyncpg.UniqueViolationError):
        await sweep(conn, 1)
    first = await store.start_sweep_transaction(conn, planned, chain_latest=0, gas_limit=10**5, fees=FEES)
    assert first is not None
    # A second sweeper holding a stale copy of the planned sweep gets nothing: no second nonce, nothing held.
    assert await store.start_sweep_transaction(conn, planned, chain_latest=0, gas_limit=10**5, fees=FEES) is None
    await store.hold(conn, planned.id, "FEE_OVER_CAP")
    assert await conn.fetchval("SELECT status FROM settlement.sweeps WHERE id = $1", planned.id) == "SENT"
    assert await conn.fetchval("SELECT count(*) FROM settlement.chain_transactions") == 1
