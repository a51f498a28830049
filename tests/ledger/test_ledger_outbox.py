"""The outbox: events commit with their change, NOTIFY wakes consumers, nothing is skipped, one instance at a time."""

from __future__ import annotations

import asyncio

import asyncpg

from ledger.store import outbox


async def _merchant(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO ledger.merchants (id, name) VALUES ('mer_1', 'Shop') ON CONFLICT DO NOTHING")


async def test_notify_wakes_a_listener_and_claims_skip_a_busy_consumer(ledger_db: str) -> None:
    listener, writer, first, second = [await asyncpg.connect(ledger_db) for _ in range(4)]
    woke: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener("ledger_outbox", lambda *args: woke.put_nowait(str(args[3])))
        await _merchant(writer)
        for consumer in ("webhooks", "watcher"):
            await outbox.register_consumer(writer, consumer)
        async with writer.transaction():
            await outbox.append(
                writer, event_type="invoice.created", merchant_id="mer_1", subject_id="inv_1", data={"n": 1}
            )
            await asyncio.sleep(0.2)
            assert woke.empty()  # nothing is announced before the change commits
        row_id = await asyncio.wait_for(woke.get(), timeout=5)

        async with first.transaction():
            claimed = await outbox.claim(first, "webhooks", 10)
            assert claimed is not None
            assert [(e.id, e.event_type, e.payload["data"]) for e in claimed] == [
                (int(row_id), "invoice.created", {"n": 1})
            ]
            async with second.transaction():
                assert await outbox.claim(second, "webhooks", 10) is None  # the cursor is busy: skip
                other = await outbox.claim(second, "watcher", 10)  # another consumer reads on its own
                assert other is not None
                assert len(other) == 1
            await outbox.advance(first, "webhooks", claimed[-1])
        async with second.transaction():
            assert await outbox.claim(second, "webhooks", 10) == []  # handled events are not seen again
    finally:
        for conn in (listener, writer, first, second):
            await conn.close()


async def test_an_event_committed_after_a_later_one_is_not_skipped(ledger_db: str) -> None:
    slow, fast, consumer = [await asyncpg.connect(ledger_db) for _ in range(3)]
    try:
        await _merchant(consumer)
        await outbox.register_consumer(consumer, "webhooks")
        slow_tx = slow.transaction()
        await slow_tx.start()
        await outbox.append(
            slow, event_type="a", merchant_id="mer_1", subject_id="s", data={}
        )  # lower id, commits last
        await outbox.append(fast, event_type="b", merchant_id="mer_1", subject_id="s", data={})  # commits first
        async with consumer.transaction():
            early = await outbox.claim(consumer, "webhooks", 10)
            assert early == []  # b is committed, but a transaction that started before it is still open
        await slow_tx.commit()
        async with consumer.transaction():
            claimed = await outbox.claim(consumer, "webhooks", 10)
            assert claimed is not None
            assert [e.event_type for e in claimed] == ["a", "b"]
            await outbox.advance(consumer, "webhooks", claimed[-1])
        async with consumer.transaction():
            assert await outbox.claim(consumer, "webhooks", 10) == []
    finally:
        for conn in (slow, fast, consumer):
            await conn.close()


async def test_an_event_with_a_given_id_is_written_once(ledger_db: str) -> None:
    conn = await asyncpg.connect(ledger_db)
    try:
        for _ in range(3):
            await outbox.append(conn, event_type="x.y", merchant_id=None, subject_id="s", data={}, event_id="evt_fixed")
        assert await conn.fetchval("SELECT count(*) FROM ledger.outbox") == 1
    finally:
        await conn.close()
