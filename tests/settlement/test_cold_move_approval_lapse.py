"""A move into cold held for approval: settlement reads its approval while it waits (one signing request at the
signer), and once the approval lapses the move fails, a new move is planned at the HOT key's same nonce (held under
a new approval), and the lapsed request is never signed (so the nonce carries one transaction only)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc

from chain import abi
from gateway import parts
from service_runtime.mesh import Role
from settlement.signing import Refused, SweepSigner
from settlement.store import cold_moves as move_store
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.test_payout_approval_wait import SHORT_TTL, refused_once_lapsed, signing_records
from tests.settlement.settlement_harness import UNIT, SweepChain, SweepWorld, eventually
from tests.settlement.test_hot_cold import (
    OFFICERS,
    fill_treasury,
    hot_cold_policy,
    hot_cold_world,
    keys,
    mined_nonce,
    mover,
    run_until,
)

__all__ = ["keys"]  # fixtures


def short_ttl_policy(chain: SweepChain) -> str:
    """The hot/cold policy with held requests lapsing after SHORT_TTL seconds."""
    return hot_cold_policy(chain).replace("approval_ttl_seconds: 3600", f"approval_ttl_seconds: {SHORT_TTL}")


def approve(approval: apb.Approval, who: LocalAccount) -> apb.ApproveRequest:
    """An officer's approval whose deadline lies within the short TTL."""
    deadline = int(time.time()) + SHORT_TTL // 2
    typed = json.loads(approval.typed_data_json)
    typed["message"]["deadline"] = deadline
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return apb.ApproveRequest(
        id=approval.id, approval=apb.ApproverSignature(signature="0x" + signed.signature.hex(), deadline=deadline)
    )


async def wait_for_lapse(world: SweepWorld, approval_id: str) -> None:
    """Until the signer shows the approval EXPIRED; then an officer's approval is refused as too late."""
    await refused_once_lapsed(world, approval_id, lambda got: approve(got, OFFICERS[0]), what="held move")


async def approve_by_both(world: SweepWorld, approval_id: str) -> None:
    """Both officers approve (the quorum): the signer signs the held request."""
    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        approvals = apb_grpc.ApprovalServiceStub(channel)
        fresh = (await approvals.GetApproval(apb.GetApprovalRequest(id=approval_id))).approval
        for officer in OFFICERS:
            done = await approvals.Approve(approve(fresh, officer))
        assert done.approval.status == apb.APPROVAL_STATUS_APPROVED
    finally:
        await channel.close(None)


@pytest.fixture
async def world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose large moves into cold wait for two officers, for SHORT_TTL seconds at most."""
    async with hot_cold_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=short_ttl_policy) as made:
        yield made


async def test_a_lapsed_approval_fails_the_move_and_a_replanned_move_takes_its_nonce(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    await fill_treasury(world, [40 * UNIT, 40 * UNIT])  # 80 tokens: 60 above the target, over the threshold
    moving = mover(world, keys["hot"])
    held = await run_until(world, moving, "AWAITING_APPROVAL")
    approval_id = str(held["approval_id"])
    async with world.pool.acquire() as conn:
        (version,) = await move_store.versions(conn, held["id"])
    for _ in range(4):  # more passes while it waits: its approval is read, the signature not asked for again
        await moving.tick()
        world.chain.mine(2)
    assert await signing_records(world, version.request_id) == [
        ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED")
    ]
    await wait_for_lapse(world, approval_id)

    # The next pass hears the signer's final refusal: the move fails and its nonce is free again; the treasury is
    # still above its ceiling, so the same pass plans a new move, which takes that nonce under a new approval.
    await moving.tick()
    async with world.pool.acquire() as conn:
        failed = await move_store.get(conn, held["id"])
    assert failed is not None
    assert (failed.status, failed.failure_reason) == ("FAILED", "SIGNER_DENIED:APPROVAL_EXPIRED")
    (again_held,) = await world.rows("SELECT * FROM settlement.cold_moves WHERE id <> $1", held["id"])
    assert again_held["status"] == "AWAITING_APPROVAL" and again_held["approval_id"] not in ("", approval_id)
    async with world.pool.acquire() as conn:
        (replanned,) = await move_store.versions(conn, again_held["id"])
    assert replanned.nonce == version.nonce and replanned.request_id != version.request_id
    assert world.chain.token_balance(world.chain.cold_safe) == 0

    await approve_by_both(world, again_held["approval_id"])

    async def recorded() -> bool:
        await moving.tick()
        world.chain.mine(5)
        rows = await world.rows("SELECT status FROM settlement.cold_moves WHERE id = $1", again_held["id"])
        return bool(rows[0]["status"] == "RECORDED")

    await eventually(recorded, "the re-planned move to be booked", within=60, interval=0.05)
    # One move landed at that nonce: 60 tokens in cold, not twice as many.
    assert mined_nonce(world, keys["hot"].address) == version.nonce + 1
    assert world.chain.token_balance(world.chain.cold_safe) == 60 * UNIT
    assert await world.balance("cold_storage:USDT") == 60 * UNIT

    # The lapsed request asked for again (same request id, nonce and call) is refused for good, never signed.
    again = await SweepSigner(world.signer.channel()).sign_cold_move(
        request_id=version.request_id,
        key_id=failed.key_id,
        chain_id=failed.chain_id,
        nonce=version.nonce,
        gas_limit=version.gas_limit,
        fees=version.fees,
        treasury=abi.to_checksum_address(failed.treasury_address),
        token=abi.to_checksum_address(failed.token_contract),
        amount=failed.amount,
        initiator=failed.initiator_address,
    )
    assert again == Refused("DENIED", "APPROVAL_EXPIRED", approval_id)
    await world.ledger.assert_books_are_sound()
