"""The journal store on a real Postgres: a posting's request id is its idempotency key, checked by content."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ledger.domain import postings
from ledger.store import journal
from service_runtime.errors import AlreadyExists


@pytest.fixture
async def conn(ledger_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(ledger_db)
    try:
        await connection.execute("INSERT INTO ledger.merchants (id, name) VALUES ('mer_1', 'Shop')")
        yield connection
    finally:
        await connection.close()


async def post(conn: asyncpg.Connection, posting: postings.Posting, request_id: str) -> int | None:
    async with conn.transaction():
        return await journal.post(conn, posting, request_id=request_id)


async def books(conn: asyncpg.Connection) -> tuple[int, dict[str, int]]:
    count = await conn.fetchval("SELECT count(*) FROM ledger.journal_transactions")
    balances = {r["code"]: int(r["balance"]) for r in await conn.fetch("SELECT code, balance FROM ledger.accounts")}
    return int(count), balances


async def test_the_same_request_id_and_content_again_posts_nothing_and_returns_none(conn: asyncpg.Connection) -> None:
    seen = postings.payment_seen("mer_1", "USDT", 10)
    assert await post(conn, seen, "pay_1:g0:seen") is not None
    before = await books(conn)
    assert await post(conn, seen, "pay_1:g0:seen") is None
    assert await books(conn) == before == (1, {"chain_clearing:USDT": 10, "merchant:mer_1:pending:USDT": 10})


@pytest.mark.parametrize(
    "other",
    [
        postings.payment_seen("mer_1", "USDT", 11),  # another amount
        postings.unallocated_payment("USDT", 10),  # another kind and accounts
    ],
)
async def test_a_request_id_reused_with_other_content_is_already_exists_and_changes_nothing(
    conn: asyncpg.Connection, other: postings.Posting
) -> None:
    assert await post(conn, postings.payment_seen("mer_1", "USDT", 10), "pay_1:g0:seen") is not None
    before = await books(conn)
    with pytest.raises(AlreadyExists) as caught:
        await post(conn, other, "pay_1:g0:seen")
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert caught.value.metadata == {"requestId": "pay_1:g0:seen"}
    assert await books(conn) == before
