"""Payouts after a restore from a backup older than the chain (docs/backup.md): a batch the lost gateway paid after
the backup is, in the restored rows, a set of QUEUED payouts that settlement holds no batch of.

The restore is simulated by rewinding the rows to that state (settlement's batch rows gone, the ledger's payouts
QUEUED again) after the batch landed on chain but before it was confirmed. The restored executor finds the batch
from the treasury's `PayoutBatch` events and its calldata, books the payouts whose ids give exactly its batch id as
paid by it (confirmed at finality), and never plans them again, however it would group them; a payout matching a
lost batch's line without an exact batch-id match is held, not paid.
"""

from __future__ import annotations

import pytest

from signer.keystore.base import KeyInfo
from tests.chain.chain_harness import rpc
from tests.payouts.execution_harness import (
    COOLING_OFF_SECONDS,
    SCOPES,
    active_address,
    create_payout,
    executor,
    fresh_address,
    keys,
    pay_invoices,
    payout_batch_events,
    registry,
    run_until_confirmed,
    world,
)
from tests.settlement.settlement_harness import UNIT, SweepWorld, eventually

__all__ = ["keys", "registry", "world"]  # fixtures

AMOUNTS = [3 * UNIT, 4 * UNIT + 1]


def hot_nonce(world: SweepWorld, hot: KeyInfo) -> int:
    """The HOT key's transaction count (how many payout batches it has sent)."""
    return int(rpc(world.chain.url, "eth_getTransactionCount", [hot.address, "latest"]), 16)


async def paid_then_rows_rewound(world: SweepWorld, hot: KeyInfo) -> tuple[list[str], list[str], int, tuple[str, str]]:
    """Two payouts paid on chain in one batch, then the rows rewound as an older backup holds them.

    The treasury keeps a third merchant's money beside them, so it could pay them twice. Returns (payout ids,
    destinations, the HOT key's executor transactions so far, (the third merchant's key, its active address)).
    """
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(3)]
    await pay_invoices(
        world, [(key, amount, amount) for (_, key), amount in zip(merchants, [*AMOUNTS, 50 * UNIT], strict=True)]
    )
    destinations = [fresh_address() for _ in AMOUNTS]
    third = fresh_address()
    for (_, key), destination in zip(merchants, [*destinations, third], strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, AMOUNTS, strict=False)
    ]
    lost = executor(world, hot)

    async def paid_on_chain() -> bool:
        await lost.tick()
        world.chain.mine(1)
        return [world.chain.token_balance(d) for d in destinations] == AMOUNTS

    await eventually(paid_on_chain, "the batch paid on chain", within=60, interval=0.05)
    statuses = await world.rows("SELECT status FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
    assert {r["status"] for r in statuses} == {"BROADCAST"}  # landed, not yet confirmed
    async with world.pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE settlement.payout_batch_lines, settlement.chain_transactions, settlement.payout_batches, "
            "settlement.nonces CASCADE"
        )
        await conn.execute(
            "UPDATE ledger.payouts SET status = 'QUEUED', tx_hash = NULL, block_number = NULL, broadcast_time = NULL, "
            "claimed_by_batch = NULL WHERE id = ANY($1::text[])",
            payout_ids,
        )
    return payout_ids, destinations, hot_nonce(world, hot), (merchants[2][1], third)


async def restored_passes(world: SweepWorld, hot: KeyInfo, **changes: object) -> None:
    """A new executor (as started on restored data) passes a while, mining between them."""
    restored = executor(world, hot, **changes)
    for _ in range(12):
        await restored.tick()
        world.chain.mine(2)


async def test_a_batch_the_lost_gateway_paid_is_not_paid_again_when_batched_the_same(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    _ids, destinations, sent, _ = await paid_then_rows_rewound(world, keys["hot"])
    await restored_passes(world, keys["hot"])
    assert [world.chain.token_balance(d) for d in destinations] == AMOUNTS
    assert hot_nonce(world, keys["hot"]) == sent


async def test_a_batch_the_lost_gateway_paid_is_confirmed_from_the_chain(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    payout_ids, _destinations, sent, _ = await paid_then_rows_rewound(world, keys["hot"])
    await restored_passes(world, keys["hot"])
    statuses = await world.rows("SELECT status FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
    assert {r["status"] for r in statuses} == {"CONFIRMED"}
    assert hot_nonce(world, keys["hot"]) == sent  # nothing sent again: booked from the transaction that paid them


async def test_a_batch_the_lost_gateway_paid_is_not_paid_again_when_regrouped(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    _ids, destinations, sent, _ = await paid_then_rows_rewound(world, keys["hot"])
    await restored_passes(world, keys["hot"], max_batch=1)
    assert [world.chain.token_balance(d) for d in destinations] == AMOUNTS
    assert hot_nonce(world, keys["hot"]) == sent


async def test_a_payout_a_lost_batch_may_have_paid_is_held_without_an_exact_match_even_after_a_restart(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    payout_ids, destinations, sent, (third_key, third) = await paid_then_rows_rewound(world, keys["hot"])
    # The rows hold the first payout QUEUED but not the second: no combination of open payouts gives the lost
    # batch's id, so nothing proves which payout it paid. Alone in a batch (another batch id) it would be paid twice.
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE ledger.payouts SET status = 'CANCELED' WHERE id = $1", payout_ids[1])
    restored = executor(world, keys["hot"], max_batch=1)
    for _ in range(4):
        await restored.tick()
        world.chain.mine(2)
    assert next(iter(restored.metrics.held.collect())).samples[0].value == 1
    assert await world.rows("SELECT id FROM settlement.payout_batches") == []
    # Another payout meanwhile is paid, its batch stored with a planned block no later than the held lost batch's:
    # a restarted executor, which searches from the newest stored planned block, still finds that batch.
    other = await create_payout(world, third_key, third, 5 * UNIT)
    await run_until_confirmed(world, restored, [other])
    assert world.chain.token_balance(third) == 5 * UNIT
    restarted = executor(world, keys["hot"], max_batch=1)
    for _ in range(6):
        await restarted.tick()
        world.chain.mine(2)
    assert [world.chain.token_balance(d) for d in destinations] == AMOUNTS
    statuses = await world.rows("SELECT status FROM ledger.payouts WHERE id = $1", payout_ids[0])
    assert [r["status"] for r in statuses] == ["QUEUED"]
    assert next(iter(restarted.metrics.held.collect())).samples[0].value == 1
    assert hot_nonce(world, keys["hot"]) == sent + 1  # the other payout's batch only


_BATCH_TABLES = ("payout_batches", "payout_batch_lines", "nonces")


async def take_backup(world: SweepWorld) -> None:
    """Keep a copy of settlement's payout rows (batches, lines, their transactions, nonces) as a backup holds them."""
    async with world.pool.acquire() as conn:
        for table in _BATCH_TABLES:
            await conn.execute(f"CREATE TABLE settlement.backup_{table} AS SELECT * FROM settlement.{table}")
        await conn.execute(
            "CREATE TABLE settlement.backup_chain_transactions AS "
            "SELECT * FROM settlement.chain_transactions WHERE payout_batch_id IS NOT NULL"
        )


async def restore_backup(world: SweepWorld) -> None:
    """Put settlement's payout rows back as `take_backup` copied them (what a restore of that backup does)."""
    async with world.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM settlement.chain_transactions WHERE payout_batch_id IS NOT NULL")
        await conn.execute("DELETE FROM settlement.payout_batch_lines")
        await conn.execute("DELETE FROM settlement.payout_batches")
        await conn.execute("DELETE FROM settlement.nonces")
        for table in ("payout_batches", "payout_batch_lines", "chain_transactions", "nonces"):
            await conn.execute(f"INSERT INTO settlement.{table} SELECT * FROM settlement.backup_{table}")


@pytest.mark.parametrize("regrouped", [True, False], ids=["regrouped-after-a-cancel", "sent-as-planned"])
async def test_a_planned_batch_the_backup_holds_whose_nonce_the_lost_gateway_used_pays_nobody_twice(
    world: SweepWorld, keys: dict[str, KeyInfo], regrouped: bool
) -> None:
    hot = keys["hot"]
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(2)]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, AMOUNTS, strict=True)])
    destinations = [fresh_address() for _ in AMOUNTS]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, AMOUNTS, strict=True)
    ]
    # The gateway plans one batch of both payouts (stored PLANNED with its nonce, nothing claimed or signed yet):
    # the backup is taken then.
    lost = executor(world, hot)
    await lost.recover()
    [planned] = await lost.plan()
    sent = hot_nonce(world, hot)
    await take_backup(world)
    if regrouped:
        # After the backup the second payout is canceled: the lost gateway drops it from the batch when its claim
        # is refused and pays the first alone (another batch id, the same nonce) before it is lost.
        async with world.pool.acquire() as conn:
            await conn.execute("UPDATE ledger.payouts SET status = 'CANCELED' WHERE id = $1", payout_ids[1])
    paid_first = AMOUNTS if not regrouped else [AMOUNTS[0], 0]

    async def paid_on_chain() -> bool:
        await lost.tick()
        world.chain.mine(1)
        return [world.chain.token_balance(d) for d in destinations] == paid_first

    await eventually(paid_on_chain, "the lost gateway's batch paid on chain", within=60, interval=0.05)
    [before] = await world.rows("SELECT status FROM settlement.payout_batches WHERE id = $1", planned)
    assert before["status"] in (("REPLANNED",) if regrouped else ("SENT", "MINED"))
    assert hot_nonce(world, hot) == sent + 1
    [lost_batch] = payout_batch_events(world)
    assert lost_batch["count"] == (1 if regrouped else 2)
    # The restore: settlement's rows hold the planned batch of both, the ledger both payouts QUEUED (a cancel lost).
    await restore_backup(world)
    async with world.pool.acquire() as conn:
        await conn.execute(
            "UPDATE ledger.payouts SET status = 'QUEUED', tx_hash = NULL, block_number = NULL, broadcast_time = NULL, "
            "claimed_by_batch = NULL WHERE id = ANY($1::text[])",
            payout_ids,
        )
    [stored] = await world.rows("SELECT status FROM settlement.payout_batches")
    assert stored["status"] == "PLANNED"

    restored = executor(world, hot)
    if not regrouped:
        # A restored executor that crashed after telling the ledger the first payout's transaction: told again.
        await restored.ledger.claim(payout_ids[0], planned)
        await restored.ledger.mark_broadcast(payout_ids[0], lost_batch["tx_hash"])
    await run_until_confirmed(world, restored, payout_ids)
    # What the lost gateway paid is paid once and confirmed with its transaction; a payout it did not pay (canceled
    # in the lost rows, QUEUED in the restored ledger) is paid once in a batch of its own.
    assert [world.chain.token_balance(d) for d in destinations] == AMOUNTS
    confirmed = await world.rows("SELECT id, tx_hash FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
    by_id = {r["id"]: r["tx_hash"] for r in confirmed}
    assert by_id[payout_ids[0]] == lost_batch["tx_hash"]
    if regrouped:
        assert hot_nonce(world, hot) == sent + 2
        assert by_id[payout_ids[1]] != lost_batch["tx_hash"]
        assert [e["count"] for e in payout_batch_events(world)] == [1, 1]
    else:
        assert hot_nonce(world, hot) == sent + 1  # nothing sent again
        assert by_id[payout_ids[1]] == lost_batch["tx_hash"]
        assert len(payout_batch_events(world)) == 1


async def test_a_restart_between_a_released_batch_and_its_payouts_planning_again_still_pays_nobody_twice(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    """The lost batch is read again after a restart, though a batch planned after it is stored by then."""
    hot = keys["hot"]
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(3)]
    amounts = [*AMOUNTS, 5 * UNIT]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in amounts]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants[:2], destinations[:2], AMOUNTS, strict=True)
    ]
    # One batch of both planned, then the backup; the lost gateway pays the first alone (the second canceled).
    lost = executor(world, hot)
    await lost.recover()
    [planned] = await lost.plan()
    sent = hot_nonce(world, hot)
    await take_backup(world)
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE ledger.payouts SET status = 'CANCELED' WHERE id = $1", payout_ids[1])

    async def paid_on_chain() -> bool:
        await lost.tick()
        world.chain.mine(1)
        return world.chain.token_balance(destinations[0]) == AMOUNTS[0]

    await eventually(paid_on_chain, "the lost gateway's batch paid on chain", within=60, interval=0.05)
    [lost_batch] = payout_batch_events(world)
    await restore_backup(world)
    async with world.pool.acquire() as conn:
        await conn.execute(
            "UPDATE ledger.payouts SET status = 'QUEUED', tx_hash = NULL, block_number = NULL, broadcast_time = NULL, "
            "claimed_by_batch = NULL WHERE id = ANY($1::text[])",
            payout_ids,
        )
    # A third payout, created after the restore, is planned in the restored executor's first pass, at a finalized
    # block past the lost batch's; the same pass releases the planned batch (its nonce used). Then a restart.
    payout_ids.append(await create_payout(world, merchants[2][1], destinations[2], amounts[2]))
    world.chain.mine(20)
    first = executor(world, hot)
    await first.tick()
    rows = await world.rows("SELECT id, status, planned_block FROM settlement.payout_batches ORDER BY planned_block")
    assert {r["id"]: r["status"] for r in rows}[planned] == "REPLANNED"
    receipt = rpc(world.chain.url, "eth_getTransactionReceipt", [lost_batch["tx_hash"]])
    assert max(r["planned_block"] for r in rows) > int(receipt["blockNumber"], 16)
    restarted = executor(world, hot)
    await run_until_confirmed(world, restarted, payout_ids)
    # The first payout is confirmed with the lost gateway's transaction, never paid again.
    assert [world.chain.token_balance(d) for d in destinations] == amounts
    confirmed = await world.rows("SELECT id, tx_hash FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
    assert {r["id"]: r["tx_hash"] for r in confirmed}[payout_ids[0]] == lost_batch["tx_hash"]
    assert hot_nonce(world, hot) == sent + 3  # the lost batch, the third payout's, the second payout's
