"""Settlement's read of a held request (`SweepSigner.still_held` over `GetApproval`) against the served signer: it
waits only while the quorum is short; a quorum reached during a freeze is asked for again and signed once the
freeze is lifted."""

from __future__ import annotations

import grpc
import pytest
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from service_runtime.mesh import Role
from settlement.signing import SweepSigner
from tests.signer.test_signer_api import RunningSigner
from tests.signer.test_signer_approvals import OFFICERS, approve, held, payout, signer, unfreeze_signature

__all__ = ["signer"]  # fixtures


async def test_settlement_waits_while_the_quorum_is_short_and_asks_again_once_it_is_there(
    signer: RunningSigner,
) -> None:
    big = payout(signer, 7_000)
    async with signer.channel(Role.SETTLEMENT) as channel, signer.channel(Role.OPERATOR) as operator:
        stub = pb_grpc.SigningServiceStub(channel)
        reads = SweepSigner(channel)
        first = await stub.SignTransaction(big)
        assert first.decision == pb.SIGNING_DECISION_PENDING_APPROVAL
        assert await reads.still_held(big.request_id, first.approval_id)
        # Nothing to wait for: no id, an id the signer does not know, an approval of another request.
        assert not await reads.still_held(big.request_id, "")
        assert not await reads.still_held(big.request_id, "apr_unknown")
        assert not await reads.still_held("another-request", first.approval_id)

        control = pb_grpc.SigningServiceStub(operator)
        approvals = apb_grpc.ApprovalServiceStub(operator)
        frozen = (await control.FreezeSigning(pb.FreezeSigningRequest(reason="drill"))).state
        approval = await held(signer, first.approval_id)
        await approvals.Approve(approve(approval, OFFICERS[0]))
        assert await reads.still_held(big.request_id, first.approval_id)  # one of two
        after = await approvals.Approve(approve(approval, OFFICERS[1]))
        # The quorum is there but the freeze refused the signature: settlement must ask again, not wait.
        assert after.approval.status == apb.APPROVAL_STATUS_PENDING and len(after.approval.approvers) == 2
        assert not await reads.still_held(big.request_id, first.approval_id)
        assert (await stub.SignTransaction(big)).reason == "SIGNING_FROZEN"

        await control.UnfreezeSigning(
            pb.UnfreezeSigningRequest(
                freeze_id=frozen.freeze_id,
                approvals=[unfreeze_signature(frozen.freeze_id, a) for a in OFFICERS[:2]],
            )
        )
        signed = await stub.SignTransaction(big)
        assert signed.decision == pb.SIGNING_DECISION_ALLOWED
        got = (await approvals.GetApproval(apb.GetApprovalRequest(id=first.approval_id))).approval
        assert (got.status, got.tx_hash) == (apb.APPROVAL_STATUS_APPROVED, signed.tx_hash)
        assert not await reads.still_held(big.request_id, first.approval_id)

        # Settlement's certificate reads; a missing id is refused by name.
        settlement_reads = apb_grpc.ApprovalServiceStub(channel)
        assert (await settlement_reads.GetApproval(apb.GetApprovalRequest(id=first.approval_id))).approval.id
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await settlement_reads.GetApproval(apb.GetApprovalRequest())
        assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
