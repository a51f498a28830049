"""A payout above the approval threshold goes alone in its batch, waits PENDING_APPROVAL for the signer's approvers,
and is sent once two approve; the approval of whoever asked for it (its API key's owner address) never counts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.merchant.v1 import payout_service_pb2 as po_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as po_grpc
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc

from gateway import parts
from service_runtime.mesh import Role
from settlement.payout_executor import PayoutExecutor
from signer.keystore.base import KeyInfo
from tests.conftest import error_info, mesh_channel
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
)
from tests.settlement.settlement_harness import UNIT, SweepChain, SweepWorld, eventually, sweep_world

__all__ = ["keys", "registry"]  # fixtures

REQUESTER: LocalAccount = Account.create()
APPROVERS: list[LocalAccount] = [Account.create() for _ in range(2)]
THRESHOLD = 50 * UNIT


def approval_policy(chain: SweepChain) -> str:
    """Payout batches up to the threshold are signed at once; larger ones need two of the group."""
    return f"""
  - name: small-payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{chain.treasury}]
    tokens: [{chain.token}]
    max_amount: {THRESHOLD}
    action: ALLOW
  - name: large-payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{chain.treasury}]
    tokens: [{chain.token}]
    action: REQUIRE_APPROVAL
    approval: {{group: treasurers, threshold: 2}}
approval_ttl_seconds: 3600
approver_groups:
  treasurers:
    addresses: [{", ".join(a.address for a in [REQUESTER, *APPROVERS])}]
"""


@pytest.fixture
async def world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose HOT key pays out, large payouts held for two treasurers."""
    async with sweep_world(
        ledger_db,
        keys["sweeper"],
        softhsm_token,
        registry,
        tmp_path,
        hot=keys["hot"].address,
        extra_policy=approval_policy,
    ) as made:
        yield made


def approve(approval: apb.Approval, who: LocalAccount) -> apb.ApproveRequest:
    """What an approver's wallet makes: an eth_signTypedData_v4 signature over the listed typed data."""
    deadline = int(time.time()) + 600
    typed = json.loads(approval.typed_data_json)
    typed["message"]["deadline"] = deadline
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return apb.ApproveRequest(
        id=approval.id, approval=apb.ApproverSignature(signature="0x" + signed.signature.hex(), deadline=deadline)
    )


async def merchant_key_owned_by(world: SweepWorld, owner: str) -> tuple[str, str]:
    """A merchant and a key whose holder's own Ethereum address is `owner`."""
    admin = world.ledger.auth(world.ledger.admin_key)
    merchant = (
        await world.ledger.merchants.OnboardMerchant(
            merchants_pb.OnboardMerchantRequest(name="Big shop", contact_email="ops@big.example"), metadata=admin
        )
    ).merchant
    key = (
        await world.ledger.keys.IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=merchant.id, scopes=list(SCOPES), name="cfo", owner_address=owner),
            metadata=admin,
        )
    ).api_key
    assert key.owner_address == owner
    return merchant.id, key.plaintext_key


async def tick_until_status(world: SweepWorld, paying: PayoutExecutor, payout_id: str, status: str) -> None:
    async def reached() -> bool:
        await paying.tick()
        world.chain.mine(2)
        found = await world.ledger.value("SELECT status FROM ledger.payouts WHERE id = $1", payout_id)
        return bool(found == status)

    await eventually(reached, f"the payout {status}", within=60, interval=0.05)


async def test_a_payout_above_the_threshold_waits_for_two_approvers_and_the_requester_does_not_count(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    merchant_id, key = await merchant_key_owned_by(world, REQUESTER.address)
    await pay_invoices(world, [(key, 100 * UNIT, 100 * UNIT)])
    destination = fresh_address()
    await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    amount = 80 * UNIT + 3  # above the threshold
    payout_id = await create_payout(world, key, destination, amount)
    paying = executor(world, keys["hot"], approval_threshold=THRESHOLD)

    await tick_until_status(world, paying, payout_id, "PENDING_APPROVAL")
    (batch,) = await world.rows("SELECT * FROM settlement.payout_batches")
    assert (batch["status"], batch["initiator_address"]) == ("AWAITING_APPROVAL", REQUESTER.address)
    payout = (
        await po_grpc.PayoutServiceStub(world.ledger.channel).GetPayout(
            po_pb.GetPayoutRequest(id=payout_id), metadata=world.ledger.auth(key)
        )
    ).payout
    assert payout.approval_id == batch["approval_id"] != ""
    assert await world.ledger.events(payout_id) == ["payout.created", "payout.pending_approval"]
    # Claimed by its batch before the signer was asked: the merchant can no longer cancel it (a signed batch with
    # a canceled payout could be neither sent nor replaced at its nonce).
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await po_grpc.PayoutServiceStub(world.ledger.channel).CancelPayout(
            po_pb.CancelPayoutRequest(id=payout_id), metadata=world.ledger.auth(key)
        )
    assert error_info(late.value).reason == "PAYOUT_NOT_CANCELABLE"
    # A small payout asked for meanwhile is not planned behind the held batch (its nonce could not land first): it
    # waits QUEUED, still cancelable.
    small = 10 * UNIT
    small_id = await create_payout(world, key, destination, small)
    for _ in range(3):  # its approval read every pass, still held: nothing sent
        await paying.tick()
    assert payout_batch_events(world) == []
    assert world.chain.token_balance(destination) == 0
    assert [b["id"] for b in await world.rows("SELECT id FROM settlement.payout_batches")] == [batch["id"]]
    assert await world.ledger.value("SELECT status FROM ledger.payouts WHERE id = $1", small_id) == "QUEUED"

    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        approvals = apb_grpc.ApprovalServiceStub(channel)
        listed = await approvals.ListApprovals(apb.ListApprovalsRequest(page_size=100))
        (approval,) = [a for a in listed.approvals if a.id == batch["approval_id"]]
        assert (approval.initiator_address, approval.amount_base_units) == (REQUESTER.address, str(amount))
        # The requester is in the group, yet their approval is refused and not counted.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await approvals.Approve(approve(approval, REQUESTER))
        assert (refused.value.code(), error_info(refused.value).reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "INITIATOR_CANNOT_APPROVE",
        )
        first = await approvals.Approve(approve(approval, APPROVERS[0]))
        assert first.approval.status == apb.APPROVAL_STATUS_PENDING  # one of two: the requester's did not count
        await paying.tick()
        world.chain.mine(2)
        assert await world.ledger.value("SELECT status FROM ledger.payouts WHERE id = $1", payout_id) == (
            "PENDING_APPROVAL"
        )
        second = await approvals.Approve(approve(approval, APPROVERS[1]))
        assert second.approval.status == apb.APPROVAL_STATUS_APPROVED
    finally:
        await channel.close(None)

    await run_until_confirmed(world, paying, [payout_id, small_id])
    assert world.chain.token_balance(destination) == amount + small
    held_event, small_event = payout_batch_events(world)  # the held one first (its nonce), then the small one
    assert (held_event["count"], held_event["total"], small_event["total"]) == (1, amount, small)
    assert await world.ledger.events(payout_id) == [
        "payout.created",
        "payout.pending_approval",
        "payout.broadcast",
        "payout.confirmed",
    ]
    assert await world.ledger.balances(merchant_id) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT - amount - small,
        "merchant_reserved": 0,
    }
    await world.ledger.assert_books_are_sound()
