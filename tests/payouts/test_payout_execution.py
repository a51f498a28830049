"""Payouts and refunds executed on chain for real (anvil, contracts, SoftHSM signer, ledger, settlement's executor):
batched into one payoutBatch, each recipient paid exactly its amount once, every payout CONFIRMED at finality, and
the journal balanced with every merchant's balance paid out."""

from __future__ import annotations

import grpc
import pytest
from stablegate.merchant.v1 import payout_pb2
from stablegate.merchant.v1 import payout_service_pb2 as po_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as po_grpc
from stablegate.merchant.v1 import refund_service_pb2 as rf_pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as rf_grpc

from chain import abi
from signer.keystore.base import KeyInfo
from tests.chain.chain_harness import rpc
from tests.conftest import error_info
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
from tests.settlement.settlement_harness import GWEI, UNIT, SweepWorld, eventually

__all__ = ["keys", "registry", "world"]  # fixtures


async def test_twenty_merchants_are_paid_out_in_one_payout_batch_each_exactly_its_amount(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(20)]
    amounts = [(i % 7 + 1) * UNIT + 1000 * i + 1 for i in range(20)]  # distinct, odd base units included
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in merchants]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, amounts, strict=True)
    ]
    treasury_before = world.chain.token_balance(world.chain.treasury)
    assert treasury_before == sum(amounts)

    await run_until_confirmed(world, executor(world, keys["hot"]), payout_ids)

    # One batch, one transaction, one PayoutBatch event of 20 lines.
    (batch,) = await world.rows("SELECT * FROM settlement.payout_batches")
    assert batch["status"] == "CONFIRMED"
    txs = await world.rows("SELECT * FROM settlement.chain_transactions WHERE payout_batch_id = $1", batch["id"])
    assert [(t["status"], t["from_address"], t["nonce"]) for t in txs] == [("MINED", keys["hot"].address.lower(), 0)]
    (event,) = payout_batch_events(world)
    assert event == {"batch_id": batch["batch_id"], "tx_hash": txs[0]["tx_hash"], "count": 20, "total": sum(amounts)}
    payouts = await world.rows("SELECT id, status, tx_hash FROM ledger.payouts ORDER BY create_time, id")
    assert {p["tx_hash"] for p in payouts} == {txs[0]["tx_hash"]}
    assert [p["status"] for p in payouts] == ["CONFIRMED"] * 20

    # Each recipient got exactly its amount; the treasury paid exactly the total.
    assert [world.chain.token_balance(d) for d in destinations] == amounts
    assert world.chain.token_balance(world.chain.treasury) == 0
    # The journal: each merchant's balance went out through the treasury; nothing left available or reserved.
    for merchant_id, _ in merchants:
        assert await world.ledger.balances(merchant_id) == {
            "merchant_pending": 0,
            "merchant_available": 0,
            "merchant_reserved": 0,
        }
    assert await world.balance("treasury:USDT") == 0
    await world.ledger.assert_books_are_sound()


async def test_a_partial_refund_then_the_rest_on_chain_pays_the_payer_exactly_both_and_a_third_is_refused(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchant_id, key = await world.ledger.merchant_with_key("Refunding shop", SCOPES)
    (invoice,) = await pay_invoices(world, [(key, 10 * UNIT, 12 * UNIT)])  # overpaid by 2
    payer = fresh_address()
    stub = rf_grpc.RefundServiceStub(world.ledger.channel)
    first = (
        await stub.CreateRefund(
            rf_pb.CreateRefundRequest(invoice_id=invoice, amount="2", refund_address=payer, reason="overpayment"),
            metadata=world.ledger.auth(key),
        )
    ).refund
    world.ledger.clock.advance(seconds=1)
    rest = (
        await stub.CreateRefund(
            rf_pb.CreateRefundRequest(invoice_id=invoice, refund_address=payer), metadata=world.ledger.auth(key)
        )
    ).refund
    assert (first.amount, rest.amount) == ("2", "10")
    with pytest.raises(grpc.aio.AioRpcError) as third:
        await stub.CreateRefund(
            rf_pb.CreateRefundRequest(invoice_id=invoice, amount="0.000000000000000001", refund_address=payer),
            metadata=world.ledger.auth(key),
        )
    assert (third.value.code(), error_info(third.value).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "REFUND_EXCEEDS_PAID",
    )

    await run_until_confirmed(world, executor(world, keys["hot"]), [first.id, rest.id])

    assert world.chain.token_balance(payer) == 12 * UNIT
    (event,) = payout_batch_events(world)
    assert (event["count"], event["total"]) == (2, 12 * UNIT)
    refunds = await world.rows("SELECT status, tx_hash FROM ledger.payouts WHERE kind = 'REFUND'")
    assert [r["status"] for r in refunds] == ["CONFIRMED", "CONFIRMED"]
    assert await world.ledger.balances(merchant_id) == {
        "merchant_pending": 0,
        "merchant_available": 0,
        "merchant_reserved": 0,
    }
    assert world.chain.token_balance(world.chain.treasury) == 0
    assert await world.balance("treasury:USDT") == 0
    await world.ledger.assert_books_are_sound()


async def test_a_payout_canceled_after_its_batch_was_planned_is_never_sent_and_the_rest_are_paid(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(3)]
    amounts = [3 * UNIT, 4 * UNIT + 1, 5 * UNIT + 2]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in merchants]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, amounts, strict=True)
    ]
    paying = executor(world, keys["hot"])
    await paying.recover()
    (planned,) = await paying.plan()  # the batch of three is stored with its nonce; nothing claimed or signed yet
    canceled = await po_grpc.PayoutServiceStub(world.ledger.channel).CancelPayout(
        po_pb.CancelPayoutRequest(id=payout_ids[1], reason="changed my mind"),
        metadata=world.ledger.auth(merchants[1][1]),
    )
    assert canceled.payout.status == payout_pb2.PAYOUT_STATUS_CANCELED

    await run_until_confirmed(world, paying, [payout_ids[0], payout_ids[2]])

    # The planned batch was never signed: re-planned without the canceled payout, at the same nonce.
    batches = {b["id"]: b for b in await world.rows("SELECT * FROM settlement.payout_batches")}
    assert batches[planned]["status"] == "REPLANNED"
    paid = batches[batches[planned]["replanned_into"]]
    assert paid["status"] == "CONFIRMED" and paid["nonce"] == batches[planned]["nonce"] == 0
    txs = await world.rows(
        "SELECT payout_batch_id, status, nonce FROM settlement.chain_transactions "
        "WHERE payout_batch_id IS NOT NULL ORDER BY id"
    )
    assert [(t["payout_batch_id"], t["status"]) for t in txs] == [(planned, "DENIED"), (paid["id"], "MINED")]
    (event,) = payout_batch_events(world)
    assert (event["batch_id"], event["count"], event["total"]) == (paid["batch_id"], 2, amounts[0] + amounts[2])
    assert [world.chain.token_balance(d) for d in destinations] == [amounts[0], 0, amounts[2]]
    assert await world.ledger.balances(merchants[1][0]) == {
        "merchant_pending": 0,
        "merchant_available": amounts[1],
        "merchant_reserved": 0,
    }
    assert world.chain.token_balance(world.chain.treasury) == amounts[1] == await world.balance("treasury:USDT")
    await world.ledger.assert_books_are_sound()


async def test_a_stuck_batch_is_replaced_by_a_fee_bump_the_ledger_follows_the_new_hash_and_it_is_paid_once(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(2)]
    amounts = [6 * UNIT + 5, 7 * UNIT + 9]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in merchants]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, amounts, strict=True)
    ]
    world.chain.automine(False)  # sent, but nothing is mined: the batch gets stuck
    paying = executor(world, keys["hot"], stuck_after_seconds=0.5)

    async def replaced() -> bool:
        await paying.tick()
        rows = await world.rows(
            "SELECT version, tx_hash FROM settlement.chain_transactions "
            "WHERE payout_batch_id IS NOT NULL AND tx_hash IS NOT NULL ORDER BY version"
        )
        return len(rows) == 2 and rows[1]["tx_hash"] in world.chain.pool_hashes()

    await eventually(replaced, "a fee-bumped replacement in the pool", within=60, interval=0.2)
    first, bump = await world.rows(
        "SELECT tx_hash, max_fee_per_gas_wei, nonce FROM settlement.chain_transactions "
        "WHERE payout_batch_id IS NOT NULL ORDER BY version"
    )
    assert bump["nonce"] == first["nonce"] and bump["max_fee_per_gas_wei"] > first["max_fee_per_gas_wei"]
    told = await world.rows("SELECT status, tx_hash FROM ledger.payouts ORDER BY create_time, id")
    assert told == [{"status": "BROADCAST", "tx_hash": bump["tx_hash"]}] * 2  # the ledger follows the newest hash
    world.chain.automine(True)
    world.chain.mine(1)  # the replacement lands before the next pass could bump again

    await run_until_confirmed(world, paying, payout_ids)
    (event,) = payout_batch_events(world)
    assert event["tx_hash"] == bump["tx_hash"] and event["count"] == 2
    (batch,) = await world.rows("SELECT status, landed_tx_hash FROM settlement.payout_batches")
    assert batch == {"status": "CONFIRMED", "landed_tx_hash": bump["tx_hash"]}
    confirmed = await world.rows("SELECT status, tx_hash FROM ledger.payouts ORDER BY create_time, id")
    assert confirmed == [{"status": "CONFIRMED", "tx_hash": bump["tx_hash"]}] * 2
    assert [world.chain.token_balance(d) for d in destinations] == amounts
    assert world.chain.token_balance(world.chain.treasury) == 0 == await world.balance("treasury:USDT")
    await world.ledger.assert_books_are_sound()


async def test_a_batch_that_reverts_fails_its_payouts_and_gives_the_merchants_their_money_back(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(2)]
    amounts = [8 * UNIT + 1, 9 * UNIT + 2]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in merchants]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    payout_ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, amounts, strict=True)
    ]
    world.chain.automine(False)
    paying = executor(world, keys["hot"])

    async def in_pool() -> bool:
        await paying.tick()
        rows = await world.rows("SELECT tx_hash FROM settlement.chain_transactions WHERE payout_batch_id IS NOT NULL")
        return len(rows) == 1 and rows[0]["tx_hash"] in world.chain.pool_hashes()

    await eventually(in_pool, "the batch broadcast and waiting in the pool", within=60, interval=0.2)
    # The cold Safe (here an anvil account) revokes the HOT key's role with a higher tip: mined first, in the same
    # block, so the batch reverts on chain after everything settlement checked beforehand had passed.
    revoke = (
        "0x"
        + (
            abi.selector("revokeRole(bytes32,address)")
            + abi.encode(
                ["bytes32", "address"], [abi.keccak256(b"HOT_ROLE"), abi.to_checksum_address(keys["hot"].address)]
            )
        ).hex()
    )
    rpc(
        world.chain.url,
        "eth_sendTransaction",
        [
            {
                "from": world.chain.cold_safe,
                "to": world.chain.treasury,
                "data": revoke,
                "gas": hex(200_000),
                "maxFeePerGas": hex(1000 * GWEI),
                "maxPriorityFeePerGas": hex(500 * GWEI),
            }
        ],
    )
    world.chain.mine(1)
    world.chain.automine(True)
    (tx,) = await world.rows("SELECT tx_hash FROM settlement.chain_transactions WHERE payout_batch_id IS NOT NULL")
    assert rpc(world.chain.url, "eth_getTransactionReceipt", [tx["tx_hash"]])["status"] == "0x0"

    async def failed() -> bool:
        await paying.tick()
        world.chain.mine(5)
        rows = await world.rows("SELECT status FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
        return [r["status"] for r in rows] == ["FAILED", "FAILED"]

    await eventually(failed, "both payouts FAILED", within=60, interval=0.05)
    (batch,) = await world.rows("SELECT status, failure_reason FROM settlement.payout_batches")
    assert batch == {"status": "FAILED", "failure_reason": "REVERTED"}
    assert {r["failure_reason"] for r in await world.rows("SELECT failure_reason FROM ledger.payouts")} == {"REVERTED"}
    assert payout_batch_events(world) == []
    assert [world.chain.token_balance(d) for d in destinations] == [0, 0]
    for (merchant_id, _), amount in zip(merchants, amounts, strict=True):  # the reservations went back
        assert await world.ledger.balances(merchant_id) == {
            "merchant_pending": 0,
            "merchant_available": amount,
            "merchant_reserved": 0,
        }
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts) == await world.balance("treasury:USDT")
    await world.ledger.assert_books_are_sound()
