"""Approvals by the approvers' own EIP-712 signatures, and the emergency freeze, through the served signer.

Approver keys are plain secp256k1 keys (eth-account), as an approver's own wallet would hold them; the typed
data is signed by eth-account's EIP-712 encoder, independently of the signer's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.domain.ethereum import checksum_address
from signer.domain.purpose import KeyPurpose
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import verify_path
from tests.conftest import error_info
from tests.signer.test_signer_api import RunningSigner

TREASURY, TOKEN, DEST = (checksum_address(os.urandom(20)) for _ in range(3))
OFFICERS: list[LocalAccount] = [Account.create() for _ in range(3)]
INITIATOR: LocalAccount = Account.create()
OUTSIDER: LocalAccount = Account.create()
GWEI = 10**9
TTL = 600

POLICY = f"""
version: 1
approval_ttl_seconds: {TTL}
approver_groups:
  officers:
    addresses: [{", ".join(a.address for a in [*OFFICERS, INITIATOR])}]
unfreeze: {{group: officers, threshold: 2}}
rules:
  - name: small-payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{TREASURY}]
    tokens: [{TOKEN}]
    max_amount: 100
    action: ALLOW
  - name: large-payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{TREASURY}]
    tokens: [{TOKEN}]
    action: REQUIRE_APPROVAL
    approval: {{group: officers, threshold: 2}}
"""


@pytest.fixture(scope="module")
async def signer(
    softhsm_token: parts.SoftHsmToken,
    mesh_pki: DevMesh,
    process_registry: list[parts.RunningProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningSigner]:
    from tests.signer.conftest import hsm_config

    keys = WorkerKeyStore(hsm_config(softhsm_token))
    await keys.start()
    hot = await keys.create_key(KeyPurpose.HOT, "hot-approvals")
    await keys.close()
    base = tmp_path_factory.mktemp("signer-approvals")
    (base / "policy.yaml").write_text(POLICY)
    env = {
        **mesh_pki.files(Role.SIGNER).env("signer"),
        **softhsm_token.env,
        "STABLEGATE_SIGNER_PIN": softhsm_token.user_pin,
        "STABLEGATE_SIGNER_TOKEN_LABEL": softhsm_token.label,
        "STABLEGATE_SIGNER_POLICY_PATH": str(base / "policy.yaml"),
        "STABLEGATE_SIGNER_STATE_PATH": str(base / "state.sqlite3"),
        "STABLEGATE_SIGNER_DRAIN_DELAY_SECONDS": "0",
        "STABLEGATE_SIGNER_WORKERS": "1",
    }
    running = RunningSigner(base, env, process_registry, mesh_pki, hot.key_id, hot.address)
    running.start()
    yield running
    running.stop()


_nonce = iter(range(1_000_000))


def payout(signer: RunningSigner, amount: int, *, request_id: str | None = None) -> pb.SignTransactionRequest:
    return pb.SignTransactionRequest(
        request_id=request_id or os.urandom(8).hex(),
        key_id=signer.hot,
        chain_id=97,
        nonce=next(_nonce),
        gas_limit=200_000,
        eip1559=pb.Eip1559Fee(max_fee_per_gas_wei=str(20 * GWEI), max_priority_fee_per_gas_wei=str(GWEI)),
        payout=pb.PayoutIntent(
            treasury_address=TREASURY,
            token_contract=TOKEN,
            lines=[pb.PayoutLine(destination_address=DEST, amount_base_units=str(amount), payout_id="po_big")],
        ),
        initiator_address=INITIATOR.address,
    )


def approve(approval: apb.Approval, who: LocalAccount, deadline: int | None = None) -> apb.ApproveRequest:
    """What an approver's wallet makes: an eth_signTypedData_v4 signature over the listed typed data."""
    deadline = deadline or int(time.time()) + 300
    typed = json.loads(approval.typed_data_json)
    typed["message"]["deadline"] = deadline
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return apb.ApproveRequest(
        id=approval.id, approval=apb.ApproverSignature(signature="0x" + signed.signature.hex(), deadline=deadline)
    )


def unfreeze_signature(freeze_id: str, who: LocalAccount, deadline: int | None = None) -> apb.ApproverSignature:
    """The documented SigningUnfreeze typed data (docs/signer.md), built here, not taken from the signer."""
    deadline = deadline or int(time.time()) + 300
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
            "SigningUnfreeze": [{"name": "freezeId", "type": "string"}, {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "SigningUnfreeze",
        "domain": {"name": "stablegate-signer", "version": "1"},
        "message": {"freezeId": freeze_id, "deadline": deadline},
    }
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return apb.ApproverSignature(signature="0x" + signed.signature.hex(), deadline=deadline)


async def held(signer: RunningSigner, approval_id: str) -> apb.Approval:
    async with signer.channel(Role.OPERATOR) as channel:
        listed = await apb_grpc.ApprovalServiceStub(channel).ListApprovals(apb.ListApprovalsRequest(page_size=500))
    return next(a for a in listed.approvals if a.id == approval_id)


async def refused_approval(signer: RunningSigner, request: apb.ApproveRequest) -> tuple[grpc.StatusCode, str]:
    async with signer.channel(Role.OPERATOR) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await apb_grpc.ApprovalServiceStub(channel).Approve(request)
    return refused.value.code(), error_info(refused.value).reason


def audit_bodies(signer: RunningSigner) -> list[dict[str, object]]:
    db = sqlite3.connect(f"file:{signer.base / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        return [json.loads(r[0]) for r in db.execute("SELECT body FROM audit ORDER BY sequence")]
    finally:
        db.close()


async def test_a_held_payout_is_signed_by_a_quorum_of_distinct_approvers_never_the_initiator_or_an_outsider(
    signer: RunningSigner,
) -> None:
    request = payout(signer, 5_000)
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        first = await stub.SignTransaction(request)
        assert (first.decision, first.reason) == (pb.SIGNING_DECISION_PENDING_APPROVAL, "APPROVALS_REQUIRED")
        assert first.rule == "large-payouts" and first.approval_id
        approval = await held(signer, first.approval_id)
        assert approval.status == apb.APPROVAL_STATUS_PENDING and approval.quorum == 2
        assert approval.initiator_address == INITIATOR.address and approval.amount_base_units == "5000"

        # The initiator is in the group, yet never counts; an outsider's key does not count either.
        assert await refused_approval(signer, approve(approval, INITIATOR)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "INITIATOR_CANNOT_APPROVE",
        )
        assert await refused_approval(signer, approve(approval, OUTSIDER)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "APPROVER_NOT_IN_GROUP",
        )
        assert (await stub.SignTransaction(request)).decision == pb.SIGNING_DECISION_PENDING_APPROVAL

        # A signature over another request's typed data recovers to no officer.
        other = apb.Approval()
        other.CopyFrom(approval)
        typed = json.loads(approval.typed_data_json)
        typed["message"]["amount"] = "5001"
        other.typed_data_json = json.dumps(typed)
        forged = approve(other, OFFICERS[0])
        assert (await refused_approval(signer, forged))[1] == "APPROVER_NOT_IN_GROUP"

        # One officer twice is one approval.
        async with signer.channel(Role.OPERATOR) as operator:
            approvals = apb_grpc.ApprovalServiceStub(operator)
            once = await approvals.Approve(approve(approval, OFFICERS[0]))
            assert once.approver_address == OFFICERS[0].address
            twice = await approvals.Approve(approve(approval, OFFICERS[0]))
            assert twice.approval.status == apb.APPROVAL_STATUS_PENDING
            assert list(twice.approval.approvers) == [OFFICERS[0].address]
            assert (await stub.SignTransaction(request)).decision == pb.SIGNING_DECISION_PENDING_APPROVAL

            # The quorum signs the held request at once; the retried SignTransaction returns it.
            done = await approvals.Approve(approve(approval, OFFICERS[1]))
        assert done.approval.status == apb.APPROVAL_STATUS_APPROVED and done.approval.tx_hash
        signed = await stub.SignTransaction(request)
        assert signed.decision == pb.SIGNING_DECISION_ALLOWED and signed.tx_hash == done.approval.tx_hash
        assert Account.recover_transaction(signed.signed_transaction) == signer.hot_address
    record = next(b for b in audit_bodies(signer) if b.get("tx_hash") == signed.tx_hash)
    approvers = record["approvers"]
    assert isinstance(approvers, list)
    assert sorted(approvers) == sorted(a.address for a in OFFICERS[:2])
    refusals = [b for b in audit_bodies(signer) if b["action"] == "approve" and b["decision"] == "REFUSED"]
    assert {b["reason"] for b in refusals} == {"INITIATOR_CANNOT_APPROVE", "APPROVER_NOT_IN_GROUP"}
    assert verify_path(signer.base / "state.sqlite3").ok


async def test_expired_approvals_do_not_count_and_deadlines_are_bounded(signer: RunningSigner) -> None:
    request = payout(signer, 7_000)
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        approval = await held(signer, (await stub.SignTransaction(request)).approval_id)
        too_far = approve(approval, OFFICERS[0], int(time.time()) + TTL + 60)
        assert await refused_approval(signer, too_far) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "APPROVAL_DEADLINE_INVALID",
        )
        async with signer.channel(Role.OPERATOR) as operator:
            approvals = apb_grpc.ApprovalServiceStub(operator)
            # A deadline a few seconds out (whole seconds: int() takes up to one off), so a loaded machine still
            # delivers the approval before it; then past it, so it has lapsed.
            soon = int(time.time()) + 5
            await approvals.Approve(approve(approval, OFFICERS[0], soon))
            await asyncio.sleep(max(0.0, soon - time.time()) + 0.5)
            late = await approvals.Approve(approve(approval, OFFICERS[1]))
            # Two officers signed, but the first approval lapsed: no quorum.
            assert late.approval.status == apb.APPROVAL_STATUS_PENDING
            assert list(late.approval.approvers) == [OFFICERS[1].address]
            assert (await stub.SignTransaction(request)).decision == pb.SIGNING_DECISION_PENDING_APPROVAL
            expired_again = approve(approval, OFFICERS[2], int(time.time()) - 1)
            assert (await refused_approval(signer, expired_again))[1] == "APPROVAL_DEADLINE_INVALID"
            done = await approvals.Approve(approve(approval, OFFICERS[2]))
        assert done.approval.status == apb.APPROVAL_STATUS_APPROVED
        assert (await stub.SignTransaction(request)).decision == pb.SIGNING_DECISION_ALLOWED


async def test_a_frozen_signer_refuses_and_audits_every_request_until_the_quorum_unfreezes_it(
    signer: RunningSigner,
) -> None:
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.FreezeSigning(pb.FreezeSigningRequest(reason="settlement may not"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        small = payout(signer, 10)
        big = payout(signer, 9_000)
        pending = await stub.SignTransaction(big)
        approval = await held(signer, pending.approval_id)

        async with signer.channel(Role.OPERATOR) as operator:
            control = pb_grpc.SigningServiceStub(operator)
            frozen = (await control.FreezeSigning(pb.FreezeSigningRequest(reason="incident 42"))).state
            assert frozen.frozen and frozen.freeze_id.startswith("frz_")
            assert (await stub.GetFreezeState(pb.GetFreezeStateRequest())).state.freeze_id == frozen.freeze_id

            for request in (small, big):
                reply = await stub.SignTransaction(request)
                assert (reply.decision, reply.reason) == (pb.SIGNING_DECISION_DENIED, "SIGNING_FROZEN")
                assert reply.audit_sequence > 0 and not reply.signed_transaction
            # A quorum of approvals does not get past the freeze either.
            approvals = apb_grpc.ApprovalServiceStub(operator)
            await approvals.Approve(approve(approval, OFFICERS[0]))
            after = await approvals.Approve(approve(approval, OFFICERS[1]))
            assert after.approval.status == apb.APPROVAL_STATUS_PENDING and not after.approval.tx_hash

            # Unfreezing without the quorum is refused: one officer; an outsider; a signature for another
            # freeze id; an expired signature.
            attempts = [
                [unfreeze_signature(frozen.freeze_id, OFFICERS[0])],
                [unfreeze_signature(frozen.freeze_id, OFFICERS[0]), unfreeze_signature(frozen.freeze_id, OUTSIDER)],
                [unfreeze_signature(frozen.freeze_id, OFFICERS[0])] * 2,
                [unfreeze_signature(frozen.freeze_id, OFFICERS[0]), unfreeze_signature("frz_other", OFFICERS[1])],
                [
                    unfreeze_signature(frozen.freeze_id, OFFICERS[0]),
                    unfreeze_signature(frozen.freeze_id, OFFICERS[1], int(time.time()) - 5),
                ],
            ]
            for approvals_given in attempts:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await control.UnfreezeSigning(
                        pb.UnfreezeSigningRequest(freeze_id=frozen.freeze_id, approvals=approvals_given)
                    )
                assert error_info(refused.value).reason == "QUORUM_NOT_MET"
            assert (await stub.GetFreezeState(pb.GetFreezeStateRequest())).state.frozen
            assert (await stub.SignTransaction(small)).reason == "SIGNING_FROZEN"

            lifted = await control.UnfreezeSigning(
                pb.UnfreezeSigningRequest(
                    freeze_id=frozen.freeze_id,
                    approvals=[unfreeze_signature(frozen.freeze_id, a) for a in OFFICERS[1:]],
                )
            )
            assert not lifted.state.frozen
        # The same request ids sign now: a freeze's refusal is not final.
        assert (await stub.SignTransaction(small)).decision == pb.SIGNING_DECISION_ALLOWED
        assert (await stub.SignTransaction(big)).decision == pb.SIGNING_DECISION_ALLOWED
    bodies = audit_bodies(signer)
    assert [b["decision"] for b in bodies if b["action"] == "freeze"] == ["FROZEN"]
    assert [b["decision"] for b in bodies if b["action"] == "unfreeze"] == ["REFUSED"] * 5 + ["UNFROZEN"]
    frozen_refusals = [b for b in bodies if b.get("reason") == "SIGNING_FROZEN"]
    assert len(frozen_refusals) >= 3
    assert verify_path(signer.base / "state.sqlite3").ok
