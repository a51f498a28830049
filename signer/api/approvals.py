"""ApprovalService: held signing requests and approvals by the approvers' own EIP-712 signatures."""

from __future__ import annotations

import json

import grpc
from stablegate.signer.v1 import approval_service_pb2 as pb
from stablegate.signer.v1 import approval_service_pb2_grpc

from service_runtime.errors import NotFound
from service_runtime.mesh import peer_role
from signer.api.acting import call_acting_fields
from signer.api.signing import timestamp
from signer.core import Signature, SignerCore, subject_of
from signer.errors import BadRequest
from signer.store.state import Held

_STATUS = {
    "PENDING": pb.APPROVAL_STATUS_PENDING,
    "APPROVED": pb.APPROVAL_STATUS_APPROVED,
    "EXPIRED": pb.APPROVAL_STATUS_EXPIRED,
}
_FILTER = {
    pb.APPROVAL_STATUS_UNSPECIFIED: "",
    pb.APPROVAL_STATUS_PENDING: "PENDING",
    pb.APPROVAL_STATUS_APPROVED: "APPROVED",
    pb.APPROVAL_STATUS_EXPIRED: "EXPIRED",
}


def approval_message(core: SignerCore, held: Held) -> pb.Approval:
    """The message of a held request as it stands."""
    status, approvers = core.approval_view(held)
    subject = subject_of(held)
    return pb.Approval(
        id=held.approval_id,
        request_id=held.request_id,
        request_digest="0x" + held.request_digest,
        intent_kind=subject.intent_kind,
        request_json=held.request,
        key_id=subject.key_id,
        chain_id=subject.chain_id,
        amount_base_units=str(subject.amount),
        initiator_address=held.initiator,
        approvers=approvers,
        quorum=held.threshold,
        status=_STATUS[status],
        rule=held.rule,
        approver_group=held.group,
        create_time=timestamp(held.created),
        expire_time=timestamp(held.expires),
        tx_hash=held.tx_hash,
        typed_data_json=json.dumps(subject.typed_data(), sort_keys=True),
    )


class Approvals(approval_service_pb2_grpc.ApprovalServiceServicer):
    """The approval RPCs; the caller's certificate only admits the call, the signature is the authority."""

    def __init__(self, core: SignerCore, trust_domain: str) -> None:
        self._core = core
        self._trust_domain = trust_domain

    async def ListApprovals(
        self,
        request: pb.ListApprovalsRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ListApprovalsResponse:
        """Held requests, newest first."""
        size = min(request.page_size or 50, 500)
        if request.page_token and not request.page_token.isdigit():
            raise BadRequest("bad page_token", reason="INVALID_PAGE_TOKEN", metadata={"field": "page_token"})
        offset = int(request.page_token or 0)
        rows = self._core.state.list_held(_FILTER.get(request.status, ""), size + 1, offset)
        following = str(offset + size) if len(rows) > size else ""
        return pb.ListApprovalsResponse(
            approvals=[approval_message(self._core, h) for h in rows[:size]], next_page_token=following
        )

    async def GetApproval(
        self,
        request: pb.GetApprovalRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.GetApprovalResponse:
        """One held request by its approval id; a read, so nothing is audited."""
        if not request.id:
            raise BadRequest("id is required", reason="INVALID_ARGUMENT", metadata={"field": "id"})
        held = self._core.state.held(request.id)
        if held is None:
            raise NotFound("no such approval", reason="APPROVAL_NOT_FOUND", metadata={"id": request.id})
        return pb.GetApprovalResponse(approval=approval_message(self._core, held))

    async def Approve(
        self,
        request: pb.ApproveRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ApproveResponse:
        """Add one approver's signature; signs the held request once the quorum is reached."""
        if not request.id or not request.HasField("approval"):
            raise BadRequest("id and approval are required", reason="INVALID_ARGUMENT", metadata={"field": "id"})
        actor = peer_role(context, self._trust_domain) or "unknown"
        acting = call_acting_fields(context, self._trust_domain)
        signature = Signature(request.approval.signature, request.approval.deadline)
        approver, held = await self._core.approve(actor, request.id, signature, request.comment, acting)
        return pb.ApproveResponse(approval=approval_message(self._core, held), approver_address=approver)
