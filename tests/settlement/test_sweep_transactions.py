"""The sweeper's transactions on real parts (anvil, the ledger, Postgres, SoftHSM behind the signer process):
signed once at the key's next nonce, broadcast to every provider, rebroadcast from the stored bytes, replaced
with a fee bump when stuck, held while fees pass their cap, nonces recovered from the chain, a reorged sweep
re-landed and booked once. Passes are driven step by step (recover, plan, send, track) to reach each state."""

from __future__ import annotations

from typing import Any

from chain.fees import FeeCaps
from settlement import chain_io
from settlement.sweeper import Sweeper
from tests.chain.chain_harness import rpc
from tests.chain.fault_proxy import FaultProxy
from tests.settlement.settlement_harness import GWEI, UNIT, SweepWorld, eventually


async def sweeps(world: SweepWorld) -> list[dict[str, Any]]:
    return await world.rows("SELECT * FROM settlement.sweeps ORDER BY nonce NULLS LAST, created_at")


async def versions(world: SweepWorld, sweep_id: str) -> list[dict[str, Any]]:
    return await world.rows(
        "SELECT * FROM settlement.chain_transactions WHERE sweep_id = $1 ORDER BY version, id", sweep_id
    )


async def planned(world: SweepWorld, sweeper: Sweeper, amounts: list[int]) -> list[str]:
    """Invoices paid and credited, then the sweeper's plan: the new sweep ids."""
    await world.paid_invoices(amounts)
    return await sweeper.plan()


async def book(world: SweepWorld, sweeper: Sweeper, count: int) -> None:
    """Passes with blocks mined between them until `count` sweeps are booked."""

    async def recorded() -> bool:
        await sweeper.tick()
        world.chain.mine(5)
        return len([s for s in await sweeps(world) if s["status"] == "RECORDED"]) >= count

    await eventually(recorded, f"{count} sweep(s) booked", within=60, interval=0.05)


async def test_a_sweep_is_signed_at_the_keys_next_nonce_broadcast_and_mined_into_the_treasury(
    world: SweepWorld,
) -> None:
    sweeper = world.sweeper()
    (sweep_id,) = await planned(world, sweeper, [3 * UNIT, 5 * UNIT, 7 * UNIT])
    assert await sweeper.recover() == 0
    await sweeper.send()  # anvil mines at once
    await sweeper.track()

    (sweep,) = await sweeps(world)
    (tx,) = await versions(world, sweep_id)
    assert sweep["status"] == "MINED"
    assert sweep["nonce"] == 0
    assert tx["status"] == "MINED" and tx["receipt_status"] == 1
    assert sweep["landed_tx_hash"] == tx["tx_hash"]
    # The bytes we stored are the bytes that landed.
    assert rpc(world.chain.url, "eth_getRawTransactionByHash", [tx["tx_hash"]]) == tx["raw_transaction"]
    assert world.chain.token_balance(world.chain.treasury) == 15 * UNIT
    assert world.chain.nonce() == 1

    # Sending the same bytes again (as a restarted sweeper would) is no error: the node knows them.
    again = await chain_io.broadcast(world.client(), tx["raw_transaction"])
    assert (again.accepted, again.known, again.failed) == (0, 1, {})


async def test_a_stored_transaction_no_provider_took_is_rebroadcast_with_the_same_bytes_and_never_resigned(
    world: SweepWorld,
) -> None:
    refusing = FaultProxy(world.chain.url, refuse={"eth_sendRawTransaction"})
    await refusing.start()
    try:
        stuck = world.sweeper(world.client(refusing.url))
        (sweep_id,) = await planned(world, stuck, [2 * UNIT])
        await stuck.recover()
        await stuck.send()
        (tx,) = await versions(world, sweep_id)
        assert tx["status"] == "SIGNED" and tx["broadcast_count"] == 0  # signed, stored, sent nowhere
        assert world.chain.nonce("pending") == 0

        # Two providers, one still refusing: a broadcast goes to every one, so the good one takes it.
        refused_before = refusing.method_calls["eth_sendRawTransaction"]
        healed = world.sweeper(world.client(refusing.url, world.chain.url))
        await healed.recover()
        await healed.track()
        await healed.track()
        assert refusing.method_calls["eth_sendRawTransaction"] > refused_before  # the first provider was asked too
    finally:
        await refusing.close()

    (after,) = await versions(world, sweep_id)
    assert after["tx_hash"] == tx["tx_hash"] and after["raw_transaction"] == tx["raw_transaction"]
    assert after["status"] == "MINED"
    assert world.chain.token_balance(world.chain.treasury) == 2 * UNIT
    assert world.chain.nonce() == 1


async def test_a_transaction_dropped_from_the_pool_is_rebroadcast_and_the_nonces_after_it_land(
    world: SweepWorld,
) -> None:
    sweeper = world.sweeper(batch_size=1)
    first, second = await planned(world, sweeper, [1 * UNIT, 4 * UNIT])
    world.chain.automine(False)
    await sweeper.recover()
    await sweeper.send()
    (tx0,) = await versions(world, first)
    (tx1,) = await versions(world, second)
    assert (tx0["nonce"], tx1["nonce"]) == (0, 1)

    rpc(world.chain.url, "anvil_dropTransaction", [tx0["tx_hash"]])
    world.chain.mine(1)
    assert world.chain.nonce() == 0  # nonce 0 is gone, so nonce 1 cannot land: a gap on the chain
    assert tx0["tx_hash"] not in world.chain.pool_hashes()

    await sweeper.track()  # no receipt, the count still at 0: the stored bytes go out again
    assert tx0["tx_hash"] in world.chain.pool_hashes()
    world.chain.automine(True)
    await book(world, sweeper, 2)
    assert world.chain.nonce() == 2
    assert world.chain.token_balance(world.chain.treasury) == 5 * UNIT
    assert len(await world.rows("SELECT 1 FROM settlement.chain_transactions")) == 2
    assert await world.balance("treasury:USDT") == 5 * UNIT


async def test_after_the_key_sent_elsewhere_the_next_nonce_is_recovered_from_the_chain(world: SweepWorld) -> None:
    key = world.key.address
    rpc(world.chain.url, "anvil_impersonateAccount", [key])
    for _ in range(2):  # two transactions from the sweeper key that settlement never made
        world.chain.chain.send(key, key, "0x")
    rpc(world.chain.url, "anvil_stopImpersonatingAccount", [key])

    sweeper = world.sweeper()
    await world.paid_invoices([6 * UNIT])
    assert await sweeper.recover() == 2
    await book(world, sweeper, 1)
    (sweep,) = await sweeps(world)
    assert sweep["nonce"] == 2
    assert world.chain.token_balance(world.chain.treasury) == 6 * UNIT
    assert await world.balance("treasury:USDT") == 6 * UNIT


async def test_a_stuck_sweep_is_replaced_with_higher_fees_and_exactly_one_version_lands(world: SweepWorld) -> None:
    sweeper = world.sweeper(stuck_after_seconds=0.0)
    (sweep_id,) = await planned(world, sweeper, [8 * UNIT, 9 * UNIT])
    world.chain.automine(False)
    await sweeper.recover()
    await sweeper.send()
    (v0,) = await versions(world, sweep_id)

    # The base fee jumps past what version 0 may pay: it stays in the pool, unmined.
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(int(v0["max_fee_per_gas_wei"]) * 3)])
    world.chain.mine(1)
    assert world.chain.nonce() == 0

    await sweeper.track()  # stuck: a replacement at the same nonce with bumped fees
    _, v1 = await versions(world, sweep_id)
    assert v1["nonce"] == v0["nonce"] == 0 and v1["version"] == 1
    assert int(v1["max_fee_per_gas_wei"]) >= int(v0["max_fee_per_gas_wei"]) * 112 // 100
    assert int(v1["max_priority_fee_wei"]) > int(v0["max_priority_fee_wei"])
    assert v1["tx_hash"] != v0["tx_hash"]

    world.chain.mine(1)
    await sweeper.track()
    v0_final, v1_final = await versions(world, sweep_id)
    assert (v0_final["status"], v1_final["status"]) == ("REPLACED", "MINED")
    (sweep,) = await sweeps(world)
    assert sweep["landed_tx_hash"] == v1["tx_hash"]
    assert rpc(world.chain.url, "eth_getTransactionReceipt", [v0["tx_hash"]]) is None
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == 17 * UNIT


async def test_a_sweep_whose_fee_passes_its_cap_is_held_unsigned_and_goes_out_once_fees_fall(
    world: SweepWorld,
) -> None:
    caps = FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=20 * GWEI, priority_fee_wei=GWEI // 10)
    sweeper = world.sweeper(fee_caps=caps)
    (sweep_id,) = await planned(world, sweeper, [2 * UNIT])
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(40 * GWEI)])
    world.chain.mine(1)
    await sweeper.recover()
    await sweeper.send()
    (sweep,) = await sweeps(world)
    assert (sweep["status"], sweep["hold_reason"]) == ("HELD", "FEE_OVER_CAP")
    assert await versions(world, sweep_id) == []  # nothing signed, no nonce taken
    await sweeper.tick()  # still too dear: still held, nothing new planned beside it
    assert [(s["id"], s["status"]) for s in await sweeps(world)] == [(sweep_id, "HELD")]
    assert world.chain.nonce("pending") == 0

    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(GWEI)])
    world.chain.mine(1)
    await book(world, sweeper, 1)
    (tx,) = await versions(world, sweep_id)
    assert tx["nonce"] == 0 and int(tx["max_fee_per_gas_wei"]) <= caps.max_gas_price_wei
    assert world.chain.token_balance(world.chain.treasury) == 2 * UNIT
    assert await world.balance("treasury:USDT") == 2 * UNIT


async def test_a_sweep_whose_block_is_reorged_away_lands_again_and_is_booked_once(world: SweepWorld) -> None:
    sweeper = world.sweeper()
    (sweep_id,) = await planned(world, sweeper, [3 * UNIT, 4 * UNIT])
    await sweeper.recover()
    await sweeper.send()
    await sweeper.track()
    (mined,) = await sweeps(world)
    assert mined["status"] == "MINED"

    world.chain.chain.reorg(1)  # the block holding the sweep is replaced by an empty one: the sweep is gone
    assert rpc(world.chain.url, "eth_getTransactionReceipt", [mined["landed_tx_hash"]]) is None
    await sweeper.track()  # the receipt vanished: tracked again as sent
    (again,) = await sweeps(world)
    assert again["status"] == "SENT" and again["block_hash"] is None

    await book(world, sweeper, 1)  # rebroadcast from the stored bytes, mined anew, final, booked
    (booked,) = await sweeps(world)
    assert booked["landed_tx_hash"] == mined["landed_tx_hash"]  # the same signed transaction, not a new one
    assert booked["block_hash"] != mined["block_hash"]
    assert len(await versions(world, sweep_id)) == 1
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == 7 * UNIT
    assert await world.rows("SELECT block_hash FROM ledger.sweeps") == [{"block_hash": booked["block_hash"]}]
    assert await world.balance("chain_clearing:USDT") == 0
    await world.ledger.assert_books_are_sound()


async def test_a_sweep_whose_nonce_another_transaction_took_is_dropped_and_its_addresses_swept_again(
    world: SweepWorld,
) -> None:
    sweeper = world.sweeper()
    (dropped_id,) = await planned(world, sweeper, [5 * UNIT, 6 * UNIT])
    world.chain.automine(False)
    await sweeper.recover()
    await sweeper.send()
    (ours,) = await versions(world, dropped_id)
    assert ours["nonce"] == 0 and ours["tx_hash"] in world.chain.pool_hashes()

    # Someone else with the sweeper key outbids it at nonce 0 (a tool run by hand): ours can never land now.
    key = world.key.address
    rpc(world.chain.url, "anvil_impersonateAccount", [key])
    outbid = {
        "from": key,
        "to": key,
        "value": "0x0",
        "gas": hex(21_000),
        "nonce": "0x0",
        "maxFeePerGas": hex(int(ours["max_fee_per_gas_wei"]) * 3),
        "maxPriorityFeePerGas": hex(int(ours["max_priority_fee_wei"]) * 3),
    }
    foreign = rpc(world.chain.url, "eth_sendTransaction", [outbid])
    rpc(world.chain.url, "anvil_stopImpersonatingAccount", [key])
    world.chain.mine(1)
    assert rpc(world.chain.url, "eth_getTransactionReceipt", [foreign]) is not None
    assert world.chain.nonce() == 1

    await sweeper.track()  # no version of ours has a receipt and the nonce is used: dropped, addresses free
    (dropped,) = await sweeps(world)
    assert (dropped["status"], dropped["failure_reason"]) == ("DROPPED", "NONCE_USED_ELSEWHERE")
    assert await world.rows("SELECT 1 FROM settlement.sweep_items WHERE open") == []

    world.chain.automine(True)
    retrying = world.sweeper()
    await retrying.recover()
    await book(world, retrying, 1)
    (swept,) = [s for s in await sweeps(world) if s["status"] == "RECORDED"]
    assert swept["nonce"] == 1
    assert world.chain.token_balance(world.chain.treasury) == 11 * UNIT
    assert await world.balance("treasury:USDT") == 11 * UNIT
    assert await world.balance("chain_clearing:USDT") == 0
    await world.ledger.assert_books_are_sound()
