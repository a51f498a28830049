"""Paid invoices swept for real: the watcher credits them FINAL, the sweeper batches, signs through the signer,
broadcasts, waits for finality and books the sweep in the ledger; treasury and ledger agree to the base unit."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gateway import parts
from settlement.sweeper import Sweeper
from signer.keystore.base import KeyInfo
from tests.chain.chain_harness import rpc
from tests.settlement.settlement_harness import GWEI, UNIT, SweepWorld, eventually, sweep_world

INVOICES_IN_SUITE = int(os.environ.get("STABLEGATE_SWEEP_INVOICES", "200"))
"""The issue's 200 paid invoices (the module stays well under DECISIONS' 3 minutes at this size)."""
BATCH = 50


async def sweep_until_recorded(world: SweepWorld, sweeper: Sweeper, expected: int) -> None:
    """Run sweeper passes, mining blocks between them, until `expected` sweeps are booked."""

    async def recorded() -> bool:
        await sweeper.tick()
        world.chain.mine(5)  # anvil's `finalized` trails the head by a few blocks
        rows = await world.rows("SELECT count(*) AS n FROM settlement.sweeps WHERE status = 'RECORDED'")
        return int(rows[0]["n"]) >= expected

    await eventually(recorded, f"{expected} sweeps recorded", within=90, interval=0.05)


async def test_paid_invoices_are_swept_in_batches_into_the_treasury_and_booked(world: SweepWorld) -> None:
    count = INVOICES_IN_SUITE
    amounts = [(i % 7 + 1) * UNIT + i for i in range(count)]  # distinct amounts, odd base units included
    await world.paid_invoices(amounts)
    assert await world.balance("chain_clearing:USDT") == sum(amounts)  # what the deposit addresses owe us

    sweeper = world.sweeper(batch_size=BATCH)
    await sweep_until_recorded(world, sweeper, math.ceil(count / BATCH))

    sweeps = await world.rows("SELECT * FROM settlement.sweeps ORDER BY nonce")
    assert len(sweeps) == math.ceil(count / BATCH)
    assert [s["status"] for s in sweeps] == ["RECORDED"] * len(sweeps)
    assert [s["nonce"] for s in sweeps] == list(range(len(sweeps)))
    assert world.chain.nonce() == len(sweeps)  # one transaction per batch, nothing else sent
    txs = await world.rows("SELECT * FROM settlement.chain_transactions ORDER BY nonce")
    assert len(txs) == len(sweeps) and {t["status"] for t in txs} == {"MINED"}

    # Chain: the treasury holds exactly what was paid; every deposit address is empty.
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
    items = await world.rows("SELECT deposit_address, swept_amount, open FROM settlement.sweep_items")
    assert len(items) == count
    assert all(world.chain.token_balance(i["deposit_address"]) == 0 for i in items[:: max(1, count // 20)])
    assert sorted(int(i["swept_amount"]) for i in items) == sorted(amounts)
    assert not any(i["open"] for i in items)

    # Ledger: treasury debited, clearing back to zero, gas booked as the receipts say, nothing left to sweep.
    assert await world.balance("treasury:USDT") == sum(amounts)
    assert await world.balance("chain_clearing:USDT") == 0
    gas = sum(int(s["gas_used"]) * int(s["effective_gas_price_wei"]) for s in sweeps)
    assert gas > 0
    assert await world.balance("gas_expense:BNB") == gas
    assert await world.sweepable() == []
    journal_ids = {s["journal_transaction_id"] for s in sweeps}
    assert len(journal_ids) == len(sweeps) and None not in journal_ids
    await world.ledger.assert_books_are_sound()

    # Another pass finds nothing to do and sends nothing.
    await sweeper.tick()
    assert world.chain.nonce() == len(sweeps)
    assert len(await world.rows("SELECT id FROM settlement.sweeps")) == len(sweeps)


async def test_a_stuck_sweep_is_replaced_and_the_ledger_books_the_one_that_landed(world: SweepWorld) -> None:
    amounts = [4 * UNIT, 6 * UNIT]
    await world.paid_invoices(amounts)
    world.chain.automine(False)
    sweeper = world.sweeper(stuck_after_seconds=0.0)
    await sweeper.tick()  # planned, signed at nonce 0, broadcast; nothing mined
    (v0,) = await world.rows("SELECT * FROM settlement.chain_transactions")
    base_fee = int(v0["max_fee_per_gas_wei"]) * 3
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])
    world.chain.mine(1)  # too dear for version 0: it stays in the pool
    assert world.chain.nonce() == 0

    await sweeper.tick()  # stuck: replaced at the same nonce with higher fees
    versions = await world.rows("SELECT * FROM settlement.chain_transactions ORDER BY version")
    assert [v["version"] for v in versions] == [0, 1]
    assert versions[0]["nonce"] == versions[1]["nonce"] == 0
    world.chain.automine(True)
    world.chain.mine(1)
    await sweep_until_recorded(world, sweeper, 1)

    landed = await world.rows("SELECT * FROM settlement.chain_transactions ORDER BY version")
    assert [v["status"] for v in landed] == ["REPLACED", "MINED"]
    (sweep,) = await world.rows("SELECT * FROM settlement.sweeps")
    assert sweep["landed_tx_hash"] == versions[1]["tx_hash"]
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
    journal = await world.rows("SELECT tx_hash FROM ledger.sweeps")
    assert journal == [{"tx_hash": versions[1]["tx_hash"]}]
    assert await world.balance("treasury:USDT") == sum(amounts)
    assert await world.balance("chain_clearing:USDT") == 0
    assert await world.balance("gas_expense:BNB") == int(sweep["gas_used"]) * int(sweep["effective_gas_price_wei"])
    await world.ledger.assert_books_are_sound()


@pytest.fixture
async def strict_world(
    sweeper_key: KeyInfo,
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A world whose signer policy allows sweeps only up to 3 gwei per gas."""
    async with sweep_world(
        ledger_db, sweeper_key, softhsm_token, registry, tmp_path, policy_max_fee_wei=3 * GWEI
    ) as made:
        yield made


async def test_a_sweep_the_signer_refuses_frees_its_nonce_and_addresses_and_waits_before_trying_again(
    strict_world: SweepWorld,
) -> None:
    world = strict_world
    amounts = [5 * UNIT, 1 * UNIT]
    await world.paid_invoices(amounts)
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(10 * GWEI)])
    world.chain.mine(1)  # under the sweeper's own cap (50 gwei), over the signer's policy (3 gwei)
    sweeper = world.sweeper()
    await sweeper.tick()

    (failed,) = await world.rows("SELECT * FROM settlement.sweeps")
    assert failed["status"] == "FAILED"
    assert failed["failure_reason"] == "SIGNER_DENIED:FEE_CAP_EXCEEDED"
    (denied,) = await world.rows("SELECT * FROM settlement.chain_transactions")
    assert (denied["status"], denied["nonce"], denied["raw_transaction"]) == ("DENIED", 0, None)
    assert await world.rows("SELECT next_nonce FROM settlement.nonces") == [{"next_nonce": 0}]  # given back
    assert await world.rows("SELECT 1 FROM settlement.sweep_items WHERE open") == []
    await sweeper.tick()  # within the backoff: not asked again
    assert len(await world.rows("SELECT id FROM settlement.sweeps")) == 1

    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(GWEI)])
    world.chain.mine(1)
    retrying = world.sweeper(failure_backoff_seconds=0.0)
    await sweep_until_recorded(world, retrying, 1)
    (landed,) = await world.rows("SELECT * FROM settlement.sweeps WHERE status = 'RECORDED'")
    assert landed["nonce"] == 0  # the refused nonce was reused: no gap
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
    assert await world.balance("chain_clearing:USDT") == 0
    await world.ledger.assert_books_are_sound()


async def test_two_sweepers_leading_at_once_for_a_while_sweep_and_book_each_address_once(world: SweepWorld) -> None:
    """DECISIONS, "Leases": two leaders for a moment do no harm. Here two sweepers run every pass side by side."""
    amounts = [(i % 5 + 1) * UNIT + i for i in range(30)]
    await world.paid_invoices(amounts)
    first, second = world.sweeper(batch_size=10), world.sweeper(batch_size=10)

    async def pass_of(sweeper: Sweeper) -> None:
        # As the service's loop does: a pass the other sweeper's rows refuse (a unique index) is retried.
        with contextlib.suppress(asyncpg.PostgresError):
            await sweeper.tick()

    # Both see the same planned sweeps and try to send them at the same moment.
    await asyncio.gather(first.recover(), second.recover())
    assert len(await first.plan()) == 3
    await asyncio.gather(first.send(), second.send())

    async def booked() -> bool:
        await asyncio.gather(pass_of(first), pass_of(second))
        world.chain.mine(5)
        rows = await world.rows("SELECT count(*) AS n FROM settlement.sweeps WHERE status = 'RECORDED'")
        return int(rows[0]["n"]) >= 3

    await eventually(booked, "3 sweeps booked", within=90, interval=0.05)
    await asyncio.gather(pass_of(first), pass_of(second))  # and once more with nothing left to do

    sweeps = await world.rows("SELECT status, nonce FROM settlement.sweeps ORDER BY nonce")
    assert sweeps == [{"status": "RECORDED", "nonce": n} for n in range(3)]
    assert len(await world.rows("SELECT id FROM settlement.chain_transactions")) == 3
    assert world.chain.nonce() == 3  # one transaction per batch: nothing signed twice
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
    assert await world.balance("treasury:USDT") == sum(amounts)
    assert await world.balance("chain_clearing:USDT") == 0
    assert len(await world.rows("SELECT id FROM ledger.sweeps")) == 3
    await world.ledger.assert_books_are_sound()
