"""A sweep on chain whose rows settlement no longer holds (a restore from an older backup, docs/backup.md) is found
and booked from its receipt; the deposits it moved are never swept twice.

The restore is simulated here by deleting or rewinding settlement's rows of a sweep that reached the chain and that
the ledger never booked (the state a backup taken before it was sent holds); tests/backup proves the same on a real
backup restored into fresh parts.
"""

from __future__ import annotations

from tests.settlement.settlement_harness import UNIT, SweepWorld, eventually


async def sent_not_booked(world: SweepWorld, amounts: list[int]) -> int:
    """Paid invoices swept by one sweeper pass and mined, not yet booked; the sweeper key's nonce after it."""
    await world.paid_invoices(amounts)
    await world.sweeper().tick()  # plans, signs and broadcasts
    world.chain.mine(5)
    assert sum(world.chain.token_balance(d.deposit_address) for d in await world.sweepable()) == 0
    assert await world.balance("treasury:USDT") == 0  # the ledger has not booked it
    return world.chain.nonce()


async def book_with_a_fresh_sweeper(world: SweepWorld, expected: int) -> None:
    """A new sweeper (as started on restored data) passes until the ledger's treasury holds `expected`."""
    restored = world.sweeper()

    async def booked() -> bool:
        await restored.tick()
        world.chain.mine(3)
        return await world.balance("treasury:USDT") == expected

    await eventually(booked, "the treasury booked", within=60, interval=0.05)


async def assert_found_and_booked_once(world: SweepWorld, amounts: list[int], nonce: int) -> None:
    assert world.chain.nonce() == nonce  # nothing was sent again
    found = await world.rows("SELECT * FROM ledger.sweeps")
    assert len(found) == 1 and found[0]["id"].startswith("swp_found_"), found
    assert int(found[0]["amount"]) == sum(amounts)
    assert await world.balance("treasury:USDT") == sum(amounts) == world.chain.token_balance(world.chain.treasury)
    assert await world.balance("chain_clearing:USDT") == 0
    gas = int(found[0]["gas_used"]) * int(found[0]["effective_gas_price_wei"])
    assert gas > 0 and await world.balance("gas_expense:BNB") == gas  # the lost sweep's gas, booked with it
    assert await world.sweepable() == []
    await world.ledger.assert_books_are_sound()


async def test_a_sweep_whose_rows_were_lost_is_booked_from_the_chain_and_not_sent_again(world: SweepWorld) -> None:
    amounts = [3 * UNIT, 4 * UNIT + 7]
    nonce = await sent_not_booked(world, amounts)
    # Restored from a backup taken before the sweep was planned: settlement holds no row of it.
    async with world.pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE settlement.chain_transactions, settlement.sweep_quarantines, settlement.sweep_items, "
            "settlement.nonces, settlement.sweeps CASCADE"
        )
    await book_with_a_fresh_sweeper(world, sum(amounts))
    await assert_found_and_booked_once(world, amounts, nonce)
    assert await world.rows("SELECT id FROM settlement.sweeps") == []  # nothing planned for the moved deposits


async def test_a_planned_sweep_the_lost_gateway_sent_is_dropped_at_recovery_not_sent_again(world: SweepWorld) -> None:
    amounts = [5 * UNIT]
    nonce = await sent_not_booked(world, amounts)
    # Restored from a backup taken while the sweep was PLANNED: its transaction is not in the rows.
    async with world.pool.acquire() as conn:
        await conn.execute("TRUNCATE settlement.chain_transactions, settlement.nonces")
        await conn.execute(
            "UPDATE settlement.sweeps SET status = 'PLANNED', nonce = NULL, landed_tx_hash = NULL, "
            "block_number = NULL, block_hash = NULL"
        )
    await book_with_a_fresh_sweeper(world, sum(amounts))
    await assert_found_and_booked_once(world, amounts, nonce)
    (sweep,) = await world.rows("SELECT status, failure_reason FROM settlement.sweeps")
    assert (sweep["status"], sweep["failure_reason"]) == ("DROPPED", "DEPOSITS_ALREADY_MOVED")
