"""Hot and cold for real: the treasury's excess above its ceiling moves to the cold Safe through the signer (held
for the approvers' quorum above the approval threshold), lands, and is booked once at finality; alerts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from stablegate.settlement.v1 import cold_storage_service_pb2 as cs_pb
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc

from chain.fees import FeeCaps
from gateway import parts
from service_runtime.mesh import Role
from settlement.cold_api import ColdStorage
from settlement.cold_mover import HotColdMover, HotColdOptions
from settlement.domain.fees import TxFees
from settlement.ledger_client import GrpcTreasuryLedger
from settlement.signing import Signed, SweepSigner
from signer.domain.purpose import KeyPurpose
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from tests.chain.chain_harness import rpc
from tests.chain.fault_proxy import FaultProxy
from tests.conftest import error_info, mesh_channel
from tests.settlement.settlement_harness import (
    GWEI,
    UNIT,
    SweepChain,
    SweepWorld,
    cold_move_rules,
    eventually,
    sweep_world,
)
from tests.settlement.test_sweeper_end_to_end import sweep_until_recorded
from tests.signer.conftest import hsm_config

OFFICERS: list[LocalAccount] = [Account.create() for _ in range(2)]
INITIATOR: LocalAccount = Account.create()
APPROVAL_THRESHOLD = 50 * UNIT
"""Moves of more than this wait for two officers."""


def hot_cold_policy(chain: SweepChain) -> str:
    """Small moves into cold are signed at once; larger ones need two officers (the initiator never counts)."""
    return cold_move_rules(chain, APPROVAL_THRESHOLD, [a.address for a in [*OFFICERS, INITIATOR]])


@pytest.fixture(scope="module")
async def keys(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[dict[str, KeyInfo]]:
    """The SWEEPER, HOT and two COLD_OWNER keys, made in the module's HSM token."""
    store = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await store.start()
    made = {
        "sweeper": await store.create_key(KeyPurpose.SWEEPER, "sweeper"),
        "hot": await store.create_key(KeyPurpose.HOT, "hot"),
        "owner1": await store.create_key(KeyPurpose.COLD_OWNER, "owner-1"),
        "owner2": await store.create_key(KeyPurpose.COLD_OWNER, "owner-2"),
    }
    yield made
    await store.close()


@pytest.fixture
async def world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose treasury's HOT key is the HSM's and whose cold Safe is a real 2-of-2 Safe."""
    async with hot_cold_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=hot_cold_policy) as made:
        yield made


def hot_cold_world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
    *,
    policy: Callable[[SweepChain], str],
) -> AbstractAsyncContextManager[SweepWorld]:
    """A world on `keys` (the treasury's HOT key, its 2-of-2 cold Safe's owners) whose signer adds `policy`."""
    return sweep_world(
        ledger_db,
        keys["sweeper"],
        softhsm_token,
        registry,
        tmp_path,
        hot=keys["hot"].address,
        cold_owners=[keys["owner1"].address, keys["owner2"].address],
        extra_policy=policy,
    )


def mover(world: SweepWorld, hot: KeyInfo, **changes: Any) -> HotColdMover:
    """An in-process mover on this world's parts (ceiling 50, target 20 tokens unless changed)."""
    options = HotColdOptions(
        chain_id=97,
        key_id=hot.key_id,
        hot_address=hot.address.lower(),
        treasury=world.chain.treasury,
        token=world.chain.token,
        ceiling=50 * UNIT,
        target=20 * UNIT,
        floor=5 * UNIT,
        fee_caps=FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=50 * GWEI, priority_fee_wei=GWEI // 10),
        key_addresses=(hot.address.lower(), world.key.address.lower()),
        gas_floor_wei=0,
        initiator=INITIATOR.address,
        stuck_after_seconds=3600,
        rebroadcast_seconds=0,
    )
    return HotColdMover(
        world.client(),
        world.pool,
        SweepSigner(world.signer.channel()),
        GrpcTreasuryLedger(world.ledger_channel),
        options=replace(options, **changes),
    )


async def fill_treasury(world: SweepWorld, amounts: list[int]) -> None:
    """Pay invoices and sweep them, so the treasury holds their sum on chain and in the ledger."""
    chain_before = world.chain.token_balance(world.chain.treasury)
    ledger_before = await world.balance("treasury:USDT")
    swept = len(await world.rows("SELECT id FROM settlement.sweeps WHERE status = 'RECORDED'"))
    await world.paid_invoices(amounts)
    await sweep_until_recorded(world, world.sweeper(), swept + 1)
    assert world.chain.token_balance(world.chain.treasury) - chain_before == sum(amounts)
    assert await world.balance("treasury:USDT") - ledger_before == sum(amounts)


async def run_until(world: SweepWorld, moving: HotColdMover, status: str, *, within: float = 60) -> dict[str, Any]:
    """Mover passes, mining between them, until the (only) move reaches `status`; its row."""

    async def reached() -> bool:
        await moving.tick()
        world.chain.mine(5)  # anvil's `finalized` trails the head by a few blocks
        rows = await world.rows("SELECT status FROM settlement.cold_moves")
        return len(rows) == 1 and rows[0]["status"] == status

    await eventually(reached, f"the move to be {status}", within=within, interval=0.05)
    return (await world.rows("SELECT * FROM settlement.cold_moves"))[0]


async def events(world: SweepWorld, event_type: str) -> list[dict[str, Any]]:
    """Outbox events of a type, oldest first, with their data."""
    rows = await world.rows(
        "SELECT subject_id, merchant_id, payload FROM ledger.outbox WHERE event_type = $1 ORDER BY create_time",
        event_type,
    )
    return [{**r, "data": json.loads(r["payload"])["data"]} for r in rows]


async def test_treasury_over_its_ceiling_moves_the_excess_to_cold_and_the_ledger_books_it_once(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    amounts = [20 * UNIT, 25 * UNIT + 7]  # 45 tokens and 7 base units: under the ceiling of 50
    await fill_treasury(world, amounts)
    moving = mover(world, keys["hot"])
    await moving.tick()
    world.chain.mine(5)
    await moving.tick()
    assert await world.rows("SELECT id FROM settlement.cold_moves") == []  # under the ceiling: nothing planned

    await fill_treasury(world, [15 * UNIT])  # now 60 tokens + 7: above the ceiling by 10 + 7
    gas_before = await world.balance("gas_expense:BNB")
    move = await run_until(world, moving, "RECORDED")
    excess = sum(amounts) + 15 * UNIT - 20 * UNIT
    assert int(move["amount"]) == excess == int(move["moved_amount"])  # down to the target, to the base unit

    # Chain: the treasury keeps the target, the Safe holds the excess; one transaction from the HOT key.
    assert world.chain.token_balance(world.chain.treasury) == 20 * UNIT
    assert world.chain.token_balance(world.chain.cold_safe) == excess
    txs = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert [(t["status"], t["from_address"], t["nonce"]) for t in txs] == [("MINED", keys["hot"].address.lower(), 0)]

    # Ledger: Dr cold_storage / Cr treasury, gas Dr gas_expense / Cr gas_float as the receipt says; one event.
    assert await world.balance("treasury:USDT") == 20 * UNIT
    assert await world.balance("cold_storage:USDT") == excess
    gas = int(move["gas_used"]) * int(move["effective_gas_price_wei"])
    assert gas > 0
    assert await world.balance("gas_expense:BNB") - gas_before == gas
    recorded = await events(world, "cold_move.recorded")
    assert len(recorded) == 1 and recorded[0]["merchant_id"] is None
    assert recorded[0]["data"]["amount_base_units"] == str(excess)
    assert recorded[0]["data"]["journal_transaction_id"] == move["journal_transaction_id"]
    await world.ledger.assert_books_are_sound()

    # The alert was raised once when the treasury passed its ceiling, with the figures.
    above = await events(world, "treasury.above_ceiling")
    assert len(above) == 1
    assert above[0]["data"]["balance_base_units"] == str(sum(amounts) + 15 * UNIT)

    # Booking again (a crash after RecordColdMove) books nothing new; further passes move nothing.
    client = GrpcTreasuryLedger(world.ledger_channel)
    from settlement.ledger_client import ColdMoveRecord

    again = ColdMoveRecord(
        move_id=move["id"],
        chain_id=97,
        into_cold=True,
        tx_hash=move["landed_tx_hash"],
        block_number=int(move["block_number"]),
        block_hash=move["block_hash"],
        sender_address=keys["hot"].address.lower(),
        amount=excess,
        gas_used=int(move["gas_used"]),
        effective_gas_price_wei=int(move["effective_gas_price_wei"]),
    )
    assert await client.record_cold_move(again) == (move["journal_transaction_id"], True)
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await client.record_cold_move(replace(again, move_id="cmv_other"))
    assert error_info(other.value).reason == "COLD_MOVE_TX_ALREADY_RECORDED"
    for _ in range(3):
        await moving.tick()
        world.chain.mine(5)
    assert len(await world.rows("SELECT id FROM settlement.cold_moves")) == 1
    assert await world.balance("cold_storage:USDT") == excess
    await world.ledger.assert_books_are_sound()


def approve(approval: apb.Approval, who: LocalAccount) -> apb.ApproveRequest:
    """What an approver's wallet makes: an eth_signTypedData_v4 signature over the listed typed data."""
    deadline = int(time.time()) + 600
    typed = json.loads(approval.typed_data_json)
    typed["message"]["deadline"] = deadline
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return apb.ApproveRequest(
        id=approval.id, approval=apb.ApproverSignature(signature="0x" + signed.signature.hex(), deadline=deadline)
    )


async def test_a_move_above_the_approval_threshold_waits_for_the_quorum_and_the_initiator_does_not_count(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    await fill_treasury(world, [40 * UNIT, 40 * UNIT])  # 80 tokens: 60 above the target, over the threshold
    moving = mover(world, keys["hot"])
    move = await run_until(world, moving, "AWAITING_APPROVAL")
    assert int(move["amount"]) == 60 * UNIT and move["approval_id"]
    [held] = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert held["status"] == "SIGNING" and held["raw_transaction"] is None

    # Further passes read the approval (the request id stays the same); nothing is signed or sent meanwhile.
    for _ in range(3):
        await moving.tick()
        world.chain.mine(2)
    again = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert [(t["request_id"], t["status"]) for t in again] == [(held["request_id"], "SIGNING")]
    assert world.chain.token_balance(world.chain.cold_safe) == 0
    assert mined_nonce(world, keys["hot"].address) == 0
    waiting = await events(world, "cold_move.awaiting_approval")
    assert [e["subject_id"] for e in waiting] == [move["id"]]
    assert waiting[0]["data"]["approval_id"] == move["approval_id"]

    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        approvals = apb_grpc.ApprovalServiceStub(channel)
        listed = await approvals.ListApprovals(apb.ListApprovalsRequest(page_size=100))
        [approval] = [a for a in listed.approvals if a.id == move["approval_id"]]
        assert approval.initiator_address == INITIATOR.address
        assert approval.amount_base_units == str(60 * UNIT)

        # The initiator is in the group, yet their approval never counts.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await approvals.Approve(approve(approval, INITIATOR))
        assert error_info(refused.value).reason == "INITIATOR_CANNOT_APPROVE"
        first = await approvals.Approve(approve(approval, OFFICERS[0]))
        assert first.approval.status == apb.APPROVAL_STATUS_PENDING
        await moving.tick()
        world.chain.mine(2)
        assert (await world.rows("SELECT status FROM settlement.cold_moves"))[0]["status"] == "AWAITING_APPROVAL"
        assert world.chain.token_balance(world.chain.cold_safe) == 0

        done = await approvals.Approve(approve(approval, OFFICERS[1]))
        assert done.approval.status == apb.APPROVAL_STATUS_APPROVED
    finally:
        await channel.close(None)

    # The next pass (of a fresh mover, as after a restart: everything it needs is stored) gets the signed bytes for
    # the same request id, broadcasts them, and the move lands and books.
    move = await run_until(world, mover(world, keys["hot"]), "RECORDED")
    [tx] = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert tx["request_id"] == held["request_id"] and tx["status"] == "MINED" and tx["tx_hash"] == done.approval.tx_hash
    assert world.chain.token_balance(world.chain.cold_safe) == 60 * UNIT
    assert world.chain.token_balance(world.chain.treasury) == 20 * UNIT
    assert await world.balance("cold_storage:USDT") == 60 * UNIT
    assert await world.balance("treasury:USDT") == 20 * UNIT
    await world.ledger.assert_books_are_sound()


def mined_nonce(world: SweepWorld, address: str) -> int:
    """The mined transaction count of `address`."""
    return int(rpc(world.chain.url, "eth_getTransactionCount", [address, "latest"]), 16)


def out_of_cold_policy(chain: SweepChain) -> str:
    """Hot/cold rules plus: owners sign a SafeTx to the treasury only with two officers; HOT relays it."""
    return f"""
  - name: cold-owners
    purposes: [COLD_OWNER]
    intents: [safe_transaction]
    chain_ids: [97]
    contracts: [{chain.cold_safe}]
    tokens: [{chain.token}]
    destinations: [{chain.treasury}]
    action: REQUIRE_APPROVAL
    approval: {{group: officers, threshold: 2}}
  - name: relay-out-of-cold
    purposes: [HOT]
    intents: [safe_execution]
    chain_ids: [97]
    contracts: [{chain.cold_safe}]
    tokens: [{chain.token}]
    destinations: [{chain.treasury}]
    action: ALLOW""" + hot_cold_policy(chain)


@pytest.fixture
async def safe_world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """The world above, with the signer's rules for moves out of cold."""
    async with sweep_world(
        ledger_db,
        keys["sweeper"],
        softhsm_token,
        registry,
        tmp_path,
        hot=keys["hot"].address,
        cold_owners=[keys["owner1"].address, keys["owner2"].address],
        extra_policy=out_of_cold_policy,
    ) as made:
        yield made


async def approve_owners(world: SweepWorld, move_id: str) -> None:
    """Two officers approve every owner's held signature request of a move (the initiator's would not count)."""
    held = await world.rows(
        "SELECT approval_id FROM settlement.cold_move_owner_signatures WHERE move_id = $1 AND approval_id IS NOT NULL",
        move_id,
    )
    assert held
    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        approvals = apb_grpc.ApprovalServiceStub(channel)
        listed = await approvals.ListApprovals(apb.ListApprovalsRequest(page_size=100))
        for row in held:
            [approval] = [a for a in listed.approvals if a.id == row["approval_id"]]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await approvals.Approve(approve(approval, INITIATOR))
            assert error_info(refused.value).reason == "INITIATOR_CANNOT_APPROVE"
            for officer in OFFICERS:
                await approvals.Approve(approve(approval, officer))
    finally:
        await channel.close(None)


async def relaying_one_signature_reverts_on_chain(world: SweepWorld, keys: dict[str, KeyInfo], move_id: str) -> None:
    """A relay with one owner's signature, sent anyway, reverts on chain with GS020.

    Signed by the signer's relay intent with a fixed gas limit (past any estimate): the relay carries no authority
    of its own, so nothing moves and nothing is booked.
    """
    [(signature,)] = [
        (r["signature"],)
        for r in await world.rows(
            "SELECT signature FROM settlement.cold_move_owner_signatures WHERE move_id = $1", move_id
        )
    ]
    hot = keys["hot"].address
    relayed = await SweepSigner(world.signer.channel()).sign_safe_execution(
        request_id="direct-relay-one-signature",
        key_id=keys["hot"].key_id,
        chain_id=97,
        nonce=mined_nonce(world, hot),
        gas_limit=300_000,
        fees=TxFees(50 * GWEI, GWEI),
        safe=world.chain.cold_safe,
        token=world.chain.token,
        destination=world.chain.treasury,
        amount=10 * UNIT,
        owner_signatures=bytes.fromhex(signature.removeprefix("0x")),
    )
    assert isinstance(relayed, Signed)
    rpc(world.chain.url, "eth_sendRawTransaction", [relayed.raw_transaction])
    world.chain.mine(1)
    receipt = rpc(world.chain.url, "eth_getTransactionReceipt", [relayed.tx_hash])
    assert int(receipt["status"], 16) == 0  # reverted on chain
    sent = rpc(world.chain.url, "eth_getTransactionByHash", [relayed.tx_hash])
    with pytest.raises(Exception, match="GS020"):
        rpc(
            world.chain.url,
            "eth_call",
            [{"from": sent["from"], "to": sent["to"], "data": sent["input"]}, hex(int(receipt["blockNumber"], 16) - 1)],
        )
    assert world.chain.token_balance(world.chain.cold_safe) == 50 * UNIT
    assert await world.balance("cold_storage:USDT") == 50 * UNIT


async def test_a_move_out_of_the_safe_needs_its_threshold_of_owner_signatures_and_then_lands_and_is_booked(
    safe_world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    world = safe_world
    await fill_treasury(world, [40 * UNIT, 40 * UNIT])
    owners = ((keys["owner1"].key_id, keys["owner1"].address), (keys["owner2"].key_id, keys["owner2"].address))
    into = mover(world, keys["hot"], target=30 * UNIT)  # 50 tokens move at once (not above the approval threshold)
    await run_until(world, into, "RECORDED")
    assert world.chain.token_balance(world.chain.cold_safe) == 50 * UNIT

    # With only one owner key asked, the Safe (2-of-2) refuses the execution: GS020, nothing sent, nothing booked.
    one_owner = mover(world, keys["hot"], target=30 * UNIT, cold_owner_keys=owners[:1])
    service = ColdStorage(lambda: one_owner)
    asked = await service.RequestColdWithdrawal(
        cs_pb.RequestColdWithdrawalRequest(
            request_id="withdraw-1",
            amount_base_units=str(10 * UNIT),
            destination_address=world.chain.treasury,
            initiator_address=INITIATOR.address,
        ),
        None,  # type: ignore[arg-type]
    )
    first = asked.move.id
    assert asked.move.status == "PLANNED" and asked.move.direction == "OUT_OF_COLD"
    await one_owner.tick()
    assert (await world.rows("SELECT status FROM settlement.cold_moves WHERE id = $1", first))[0]["status"] == (
        "AWAITING_APPROVAL"
    )
    await approve_owners(world, first)
    await one_owner.tick()
    [failed] = await world.rows("SELECT * FROM settlement.cold_moves WHERE id = $1", first)
    assert failed["status"] == "FAILED" and "GS020" in failed["failure_reason"]
    assert await world.rows("SELECT id FROM settlement.chain_transactions WHERE cold_move_id = $1", first) == []
    assert world.chain.token_balance(world.chain.cold_safe) == 50 * UNIT
    assert await world.balance("cold_storage:USDT") == 50 * UNIT
    assert len(await world.rows("SELECT id FROM ledger.cold_moves")) == 1

    await relaying_one_signature_reverts_on_chain(world, keys, first)

    # Bad requests change nothing.
    with pytest.raises(Exception) as elsewhere:  # noqa: PT011 - the domain error the interceptor maps
        await service.RequestColdWithdrawal(
            cs_pb.RequestColdWithdrawalRequest(
                request_id="withdraw-x", amount_base_units="1", destination_address=world.chain.cold_safe
            ),
            None,  # type: ignore[arg-type]
        )
    assert getattr(elsewhere.value, "reason", "") == "DESTINATION_NOT_ALLOWED"

    # With both owners: each owner's signature waits for two officers, then the HOT key relays it and it books.
    both = mover(world, keys["hot"], target=30 * UNIT, cold_owner_keys=owners)
    asked = await ColdStorage(lambda: both).RequestColdWithdrawal(
        cs_pb.RequestColdWithdrawalRequest(
            request_id="withdraw-2",
            amount_base_units=str(10 * UNIT),
            destination_address=world.chain.treasury,
            initiator_address=INITIATOR.address,
        ),
        None,  # type: ignore[arg-type]
    )
    second = asked.move.id
    await both.tick()
    signing = await world.rows(
        "SELECT status, approval_id FROM settlement.cold_move_owner_signatures WHERE move_id = $1", second
    )
    assert [r["status"] for r in signing] == ["SIGNING", "SIGNING"] and all(r["approval_id"] for r in signing)
    assert world.chain.token_balance(world.chain.cold_safe) == 50 * UNIT  # no owner signed without the quorum
    await approve_owners(world, second)

    async def recorded() -> bool:
        await both.tick()
        world.chain.mine(5)
        rows = await world.rows("SELECT status FROM settlement.cold_moves WHERE id = $1", second)
        return bool(rows[0]["status"] == "RECORDED")

    await eventually(recorded, "the move out of cold to be RECORDED", within=60, interval=0.05)
    [move] = await world.rows("SELECT * FROM settlement.cold_moves WHERE id = $1", second)
    assert int(move["moved_amount"]) == 10 * UNIT
    assert world.chain.token_balance(world.chain.cold_safe) == 40 * UNIT
    assert world.chain.token_balance(world.chain.treasury) == 40 * UNIT
    [tx] = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", second)
    assert tx["from_address"] == keys["hot"].address.lower() and tx["status"] == "MINED"
    assert await world.balance("cold_storage:USDT") == 40 * UNIT
    assert await world.balance("treasury:USDT") == 40 * UNIT
    booked = await events(world, "cold_move.recorded")
    assert [e["data"]["direction"] for e in booked] == ["INTO_COLD", "OUT_OF_COLD"]
    await world.ledger.assert_books_are_sound()


async def test_alerts_for_a_treasury_under_its_floor_and_a_key_short_of_bnb_are_raised_once_with_metrics(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    from prometheus_client import CollectorRegistry

    from settlement.cold_mover import HotColdMetrics

    await fill_treasury(world, [4 * UNIT])  # under the floor of 5 tokens
    registry = CollectorRegistry()
    moving = mover(world, keys["hot"], gas_floor_wei=1000 * UNIT)  # every key holds less than 1,000 BNB
    moving.metrics = HotColdMetrics(registry)
    for _ in range(3):
        await moving.tick()
        world.chain.mine(1)
    below = await events(world, "treasury.below_floor")
    assert len(below) == 1 and below[0]["data"]["balance_base_units"] == str(4 * UNIT)
    low = await events(world, "gas.key_below_floor")
    assert sorted(e["subject_id"] for e in low) == sorted([keys["hot"].address.lower(), world.key.address.lower()])
    assert all(e["merchant_id"] is None for e in below + low)
    assert registry.get_sample_value("settlement_treasury_below_floor") == 1
    assert registry.get_sample_value("settlement_treasury_above_ceiling") == 0
    assert registry.get_sample_value("settlement_treasury_balance_base_units") == 4 * UNIT
    hot = keys["hot"].address.lower()
    assert registry.get_sample_value("settlement_key_bnb_below_floor", {"address": hot}) == 1
    assert registry.get_sample_value("settlement_key_bnb_wei", {"address": hot}) == float(
        int(rpc(world.chain.url, "eth_getBalance", [hot, "latest"]), 16)
    )
    assert await world.rows("SELECT id FROM settlement.cold_moves") == []


async def test_the_ledger_refuses_a_malformed_cold_move_report_and_books_nothing(world: SweepWorld) -> None:
    from settlement.ledger_client import ColdMoveRecord

    good = ColdMoveRecord(
        move_id="cmv_bad",
        chain_id=97,
        into_cold=True,
        tx_hash="0x" + "ab" * 32,
        block_number=5,
        block_hash="0x" + "cd" * 32,
        sender_address="0x" + "11" * 20,
        amount=UNIT,
        gas_used=21_000,
        effective_gas_price_wei=GWEI,
    )
    client = GrpcTreasuryLedger(world.ledger_channel)
    for bad, reason in [
        (replace(good, tx_hash="0x12"), "HASH_INVALID"),
        (replace(good, amount=0), None),
        (replace(good, chain_id=56), "CHAIN_MISMATCH"),
        (replace(good, block_number=0), "FIELD_REQUIRED"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.record_cold_move(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        if reason:
            assert error_info(refused.value).reason == reason
    # Only settlement may book: every other mesh role is refused before any handler runs.
    for role in (Role.WATCHER, Role.EDGE, Role.OPERATOR, Role.DASHBOARD):
        channel = mesh_channel(world.ledger.pki, role, world.ledger.grpc_port)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await GrpcTreasuryLedger(channel).record_cold_move(good)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
        finally:
            await channel.close(None)
    assert await world.rows("SELECT id FROM ledger.cold_moves") == []
    assert await events(world, "cold_move.recorded") == []
    await world.ledger.assert_books_are_sound()


async def test_a_signed_move_no_provider_took_is_sent_after_a_restart_from_its_stored_bytes_never_resigned(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    await fill_treasury(world, [60 * UNIT])
    refusing = FaultProxy(world.chain.url, refuse={"eth_sendRawTransaction"})
    await refusing.start()
    try:
        # Every read goes through, every broadcast is refused: the move is signed and stored, and sent nowhere.
        crashed = mover(world, keys["hot"])
        crashed.client = world.client(refusing.url)
        world.chain.mine(5)
        await crashed.tick()
    finally:
        await refusing.close()
    [move] = await world.rows("SELECT * FROM settlement.cold_moves")
    [tx] = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert (move["status"], tx["status"], tx["broadcast_count"]) == ("SENT", "SIGNED", 0)
    assert mined_nonce(world, keys["hot"].address) == 0

    # A new process (a fresh mover, as after a crash) sends those very bytes; the move lands and books once.
    restarted = mover(world, keys["hot"])
    done = await run_until(world, restarted, "RECORDED")
    [after] = await world.rows("SELECT * FROM settlement.chain_transactions WHERE cold_move_id = $1", move["id"])
    assert (after["tx_hash"], after["raw_transaction"], after["status"]) == (
        tx["tx_hash"],
        tx["raw_transaction"],
        "MINED",
    )
    assert done["landed_tx_hash"] == tx["tx_hash"]
    assert mined_nonce(world, keys["hot"].address) == 1
    assert world.chain.token_balance(world.chain.cold_safe) == 40 * UNIT
    assert await world.balance("cold_storage:USDT") == 40 * UNIT
    assert len(await events(world, "cold_move.recorded")) == 1
    await world.ledger.assert_books_are_sound()


async def move_sent_then_rows_lost(world: SweepWorld, keys: dict[str, KeyInfo]) -> tuple[int, int, str]:
    """A move planned, sent and mined, then settlement's rows of it lost, as a restore of an older backup leaves them.

    Returns (the HOT key's mined nonce, the Safe's token balance, the move's transaction hash) after the move.
    """
    await fill_treasury(world, [30 * UNIT, 30 * UNIT])  # 60 tokens: 40 above the target of 20
    await mover(world, keys["hot"]).tick()  # plans and sends
    world.chain.mine(5)
    assert world.chain.token_balance(world.chain.cold_safe) == 40 * UNIT
    [sent] = await world.rows("SELECT tx_hash FROM settlement.chain_transactions WHERE cold_move_id IS NOT NULL")
    async with world.pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE settlement.cold_move_owner_signatures, settlement.chain_transactions, settlement.cold_moves, "
            "settlement.nonces CASCADE"
        )
    return mined_nonce(world, keys["hot"].address), 40 * UNIT, str(sent["tx_hash"])


async def restored_passes(world: SweepWorld, keys: dict[str, KeyInfo]) -> None:
    """A new mover (as started on restored data) passes a few times, mining between them."""
    restored = mover(world, keys["hot"])
    for _ in range(5):
        await restored.tick()
        world.chain.mine(5)


async def test_a_cold_move_whose_rows_a_restore_lost_is_not_made_again(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    nonce, cold, _tx_hash = await move_sent_then_rows_lost(world, keys)
    await restored_passes(world, keys)
    # The mover reads the treasury's balance on chain: at its target, nothing moves again.
    assert mined_nonce(world, keys["hot"].address) == nonce
    assert world.chain.token_balance(world.chain.cold_safe) == cold
    assert world.chain.token_balance(world.chain.treasury) == 20 * UNIT


async def test_a_cold_move_whose_rows_a_restore_lost_is_booked_from_the_chain(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    nonce, cold, tx_hash = await move_sent_then_rows_lost(world, keys)
    gas_before = await world.balance("gas_expense:BNB")
    assert await world.balance("cold_storage:USDT") == 0  # the lost gateway never booked it
    await restored_passes(world, keys)

    # Booked from its receipt: the tokens, and its gas as the receipt says; nothing sent again.
    assert await world.balance("cold_storage:USDT") == cold
    assert await world.balance("treasury:USDT") == 20 * UNIT
    receipt = rpc(world.chain.url, "eth_getTransactionReceipt", [tx_hash])
    gas = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert gas > 0
    assert await world.balance("gas_expense:BNB") - gas_before == gas
    assert mined_nonce(world, keys["hot"].address) == nonce
    found_id = "cmv_found_" + tx_hash.removeprefix("0x")[:40]
    [row] = await world.rows("SELECT * FROM settlement.cold_moves")
    assert (row["id"], row["status"], row["landed_tx_hash"], int(row["moved_amount"])) == (
        found_id,
        "RECORDED",
        tx_hash,
        cold,
    )
    [booked] = await world.rows("SELECT id, tx_hash, journal_transaction_id FROM ledger.cold_moves")
    assert (booked["id"], booked["tx_hash"]) == (found_id, tx_hash)
    assert str(booked["journal_transaction_id"]) == row["journal_transaction_id"]
    recorded = await events(world, "cold_move.recorded")
    assert [e["data"]["amount_base_units"] for e in recorded] == [str(cold)]

    # The search's cursor (restored with the rows, so it stood before the move) has read past it now.
    cursor = await world.rows("SELECT next_block FROM settlement.scan_cursors")
    assert len(cursor) == 1 and int(cursor[0]["next_block"]) > int(row["block_number"])

    # Once: a restart on rows without the found move or the cursor (it searches from the newest block the rows
    # name, finds it again and books it under the same id: the ledger's answer is the same journal transaction),
    # then passes on the rows that hold it, book nothing more.
    async with world.pool.acquire() as conn:
        await conn.execute("DELETE FROM settlement.cold_moves")
        await conn.execute("DELETE FROM settlement.scan_cursors")
    await restored_passes(world, keys)
    await restored_passes(world, keys)
    [again] = await world.rows("SELECT id, journal_transaction_id FROM settlement.cold_moves")
    assert (again["id"], again["journal_transaction_id"]) == (found_id, row["journal_transaction_id"])
    assert len(await world.rows("SELECT id FROM ledger.cold_moves")) == 1
    assert len(await events(world, "cold_move.recorded")) == 1
    assert await world.balance("cold_storage:USDT") == cold
    assert await world.balance("gas_expense:BNB") - gas_before == gas
    assert mined_nonce(world, keys["hot"].address) == nonce
    await world.ledger.assert_books_are_sound()


async def test_a_move_out_of_cold_whose_rows_a_restore_lost_is_booked_from_the_chain(
    safe_world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    world = safe_world
    await fill_treasury(world, [40 * UNIT, 40 * UNIT])
    await run_until(world, mover(world, keys["hot"], target=30 * UNIT), "RECORDED")  # 50 tokens into cold
    [backed_up] = await world.rows("SELECT next_block FROM settlement.scan_cursors")  # the backup is taken here
    owners = ((keys["owner1"].key_id, keys["owner1"].address), (keys["owner2"].key_id, keys["owner2"].address))
    lost = mover(world, keys["hot"], target=30 * UNIT, cold_owner_keys=owners)
    asked = await ColdStorage(lambda: lost).RequestColdWithdrawal(
        cs_pb.RequestColdWithdrawalRequest(
            request_id="withdraw-lost",
            amount_base_units=str(10 * UNIT),
            destination_address=world.chain.treasury,
            initiator_address=INITIATOR.address,
        ),
        None,  # type: ignore[arg-type]
    )
    await lost.tick()
    await approve_owners(world, asked.move.id)

    async def relayed() -> bool:
        await lost.tick()
        world.chain.mine(1)
        return world.chain.token_balance(world.chain.treasury) == 40 * UNIT

    await eventually(relayed, "the move out of cold to land", within=60, interval=0.05)
    [sent] = await world.rows(
        "SELECT tx_hash FROM settlement.chain_transactions WHERE cold_move_id = $1", asked.move.id
    )
    tx_hash = str(sent["tx_hash"])
    assert await world.balance("cold_storage:USDT") == 50 * UNIT  # not booked before the gateway was lost
    nonce = mined_nonce(world, keys["hot"].address)
    # The restore: the move's rows are gone (the backup predates the request), the search's cursor is rewound.
    async with world.pool.acquire() as conn:
        for table, column in (
            ("cold_move_owner_signatures", "move_id"),
            ("chain_transactions", "cold_move_id"),
            ("cold_moves", "id"),
        ):
            await conn.execute(f"DELETE FROM settlement.{table} WHERE {column} = $1", asked.move.id)
        await conn.execute("UPDATE settlement.scan_cursors SET next_block = $1", backed_up["next_block"])
        await conn.execute("DELETE FROM settlement.nonces")
    gas_before = await world.balance("gas_expense:BNB")
    await restored_passes(world, keys)

    assert await world.balance("cold_storage:USDT") == 40 * UNIT
    assert await world.balance("treasury:USDT") == 40 * UNIT
    receipt = rpc(world.chain.url, "eth_getTransactionReceipt", [tx_hash])
    assert await world.balance("gas_expense:BNB") - gas_before == int(receipt["gasUsed"], 16) * int(
        receipt["effectiveGasPrice"], 16
    )
    [found] = await world.rows(
        "SELECT id, direction, status, moved_amount FROM settlement.cold_moves WHERE landed_tx_hash = $1", tx_hash
    )
    assert (found["id"], found["direction"], found["status"], int(found["moved_amount"])) == (
        "cmv_found_" + tx_hash.removeprefix("0x")[:40],
        "OUT_OF_COLD",
        "RECORDED",
        10 * UNIT,
    )
    assert mined_nonce(world, keys["hot"].address) == nonce  # nothing sent again
    assert [e["data"]["direction"] for e in await events(world, "cold_move.recorded")] == ["INTO_COLD", "OUT_OF_COLD"]
    await world.ledger.assert_books_are_sound()
