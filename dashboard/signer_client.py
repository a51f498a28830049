"""The dashboard's calls to the signer over the mesh (role `dashboard`): held requests, approvals, the audit log.

The dashboard is the approvers' relay in the browser (DECISIONS, "Approvals"): its certificate only admits the
call; the authority of an approval is the approver's own EIP-712 signature, which the signer recovers and checks
against its policy's approver group. The dashboard never asks for a signature, freezes or touches keys (the
signer's role map refuses it); it reads the freeze state and relays the approvers' unfreeze signatures
(dashboard/freeze.py), whose authority is again the signatures, not the certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from stablegate.signer.v1 import approval_service_pb2 as pb
from stablegate.signer.v1 import approval_service_pb2_grpc as pb_grpc
from stablegate.signer.v1 import audit_service_pb2 as audit_pb
from stablegate.signer.v1 import audit_service_pb2_grpc as audit_grpc
from stablegate.signer.v1 import signing_service_pb2 as signing_pb
from stablegate.signer.v1 import signing_service_pb2_grpc as signing_grpc

TIMEOUT = 10.0
"""An approval that completes the quorum signs at once: give the signer's HSM the time it needs."""
STATUS_NAMES = {
    pb.APPROVAL_STATUS_PENDING: "PENDING",
    pb.APPROVAL_STATUS_APPROVED: "APPROVED",
    pb.APPROVAL_STATUS_EXPIRED: "EXPIRED",
}
STATUS_FILTERS: dict[str, pb.ApprovalStatus.ValueType] = {
    "": pb.APPROVAL_STATUS_UNSPECIFIED,
    **{v: k for k, v in STATUS_NAMES.items()},
}
"""The list's status filter (query value -> proto enum); "" is any."""
FIND_PAGES = 20
"""Pages of 500 searched for one approval id (the signer has no GetApproval): 10,000 held requests."""


class SignerUnavailable(RuntimeError):
    """The signer could not be reached or failed; nothing is known to have changed."""


class SignerRefused(RuntimeError):
    """The signer refused the call: its reason (ErrorInfo.reason, UPPER_SNAKE) and message, shown verbatim."""

    def __init__(self, reason: str, message: str, code: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code


@dataclass(frozen=True)
class HeldRequest:
    """A signing request the signer holds for its approvers' quorum, as the pages show it."""

    id: str
    request_id: str
    request_digest: str
    intent_kind: str
    request_json: str
    key_id: str
    chain_id: int
    amount_base_units: int
    initiator: str
    approvers: tuple[str, ...]
    quorum: int
    status: str
    """PENDING, APPROVED or EXPIRED."""
    rule: str
    approver_group: str
    create_time: dt.datetime
    expire_time: dt.datetime
    tx_hash: str
    typed_data_json: str

    @property
    def ttl_seconds(self) -> int:
        """The policy's approval_ttl_seconds (a held request lapses that long after it was raised)."""
        return max(0, int((self.expire_time - self.create_time).total_seconds()))


@dataclass(frozen=True)
class Relayed:
    """What the signer answered to an approval: who the signature recovered to, and the request afterwards."""

    approver_address: str
    held: HeldRequest


@dataclass(frozen=True)
class SignerAuditRecord:
    """One record of the signer's hash-chained audit log, with the body its hash covers."""

    sequence: int
    record_time: dt.datetime
    actor: str
    action: str
    request_id: str
    key_id: str
    reason: str
    tx_hash: str
    prev_hash: str
    hash: str
    body_json: str


@dataclass(frozen=True)
class FreezeState:
    """Whether the signer refuses every signing request, and the freeze's id (what unfreeze approvers sign)."""

    frozen: bool
    freeze_id: str
    reason: str
    freeze_time: dt.datetime | None
    approval_ttl_seconds: int = 0
    """The signer's approval TTL (GetFreezeState says it): the furthest ahead an unfreeze signature's deadline may
    lie. 0 where the reply does not carry it (UnfreezeSigning's, or an older signer's)."""


def freeze_state(state: signing_pb.FreezeState, approval_ttl_seconds: int = 0) -> FreezeState:
    """The page's view of a FreezeState message (and the signer's approval TTL, when its reply carries it)."""
    when = state.freeze_time.ToDatetime(tzinfo=dt.UTC) if state.HasField("freeze_time") else None
    return FreezeState(state.frozen, state.freeze_id, state.reason, when, approval_ttl_seconds)


def held_request(a: pb.Approval) -> HeldRequest:
    """The page's view of an Approval message."""
    return HeldRequest(
        id=a.id,
        request_id=a.request_id,
        request_digest=a.request_digest,
        intent_kind=a.intent_kind,
        request_json=a.request_json,
        key_id=a.key_id,
        chain_id=a.chain_id,
        amount_base_units=int(a.amount_base_units or 0),
        initiator=a.initiator_address,
        approvers=tuple(a.approvers),
        quorum=a.quorum,
        status=STATUS_NAMES.get(a.status, "UNKNOWN"),
        rule=a.rule,
        approver_group=a.approver_group,
        create_time=a.create_time.ToDatetime(tzinfo=dt.UTC),
        expire_time=a.expire_time.ToDatetime(tzinfo=dt.UTC),
        tx_hash=a.tx_hash,
        typed_data_json=a.typed_data_json,
    )


def _translate(exc: grpc.aio.AioRpcError) -> Exception:
    code = exc.code()
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
    ):
        return SignerRefused(_reason(exc), str(exc.details() or code.name), code.name)
    return SignerUnavailable(f"signer answered {code.name}")


def _reason(exc: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of the signer's google.rpc.Status, else the status code's name."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return exc.code().name


class SignerClient:
    """Stubs over one mesh channel to the signer."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._approvals = pb_grpc.ApprovalServiceStub(channel)
        self._audit = audit_grpc.AuditServiceStub(channel)
        self._signing = signing_grpc.SigningServiceStub(channel)

    async def get_freeze_state(self) -> FreezeState:
        """Whether signing is frozen now, and the signer's approval TTL."""
        try:
            reply = await self._signing.GetFreezeState(signing_pb.GetFreezeStateRequest(), timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return freeze_state(reply.state, int(reply.approval_ttl_seconds))

    async def unfreeze(self, freeze_id: str, signatures: list[str], deadline: int) -> FreezeState:
        """Relay the approvers' SigningUnfreeze signatures (one deadline each signed); refusals raise SignerRefused."""
        try:
            reply = await self._signing.UnfreezeSigning(
                signing_pb.UnfreezeSigningRequest(
                    freeze_id=freeze_id,
                    approvals=[pb.ApproverSignature(signature=s, deadline=deadline) for s in signatures],
                ),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return freeze_state(reply.state)

    async def list_approvals(
        self, status: str = "", page_token: str = "", page_size: int = 50
    ) -> tuple[list[HeldRequest], str]:
        """A page of held requests (newest first) and the next page's token ("" at the end)."""
        try:
            reply = await self._approvals.ListApprovals(
                pb.ListApprovalsRequest(
                    page_size=page_size,
                    page_token=page_token,
                    status=STATUS_FILTERS.get(status, pb.APPROVAL_STATUS_UNSPECIFIED),
                ),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return [held_request(a) for a in reply.approvals], reply.next_page_token

    async def find_approval(self, approval_id: str) -> HeldRequest | None:
        """One held request by id (None when the signer lists none with it)."""
        token = ""
        for _ in range(FIND_PAGES):
            page, token = await self.list_approvals(page_token=token, page_size=500)
            for held in page:
                if held.id == approval_id:
                    return held
            if not token:
                return None
        return None

    async def approve(self, approval_id: str, signature: str, deadline: int, comment: str = "") -> Relayed:
        """Relay one approver's signature; the signer's refusal raises SignerRefused with its reason."""
        try:
            reply = await self._approvals.Approve(
                pb.ApproveRequest(
                    id=approval_id,
                    approval=pb.ApproverSignature(signature=signature, deadline=deadline),
                    comment=comment,
                ),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return Relayed(reply.approver_address, held_request(reply.approval))

    async def audit_records(self, after: int = 0, page_size: int = 1000) -> tuple[list[SignerAuditRecord], bool]:
        """Records after a sequence, in order, and whether more follow."""
        try:
            reply = await self._audit.ListAuditRecords(
                audit_pb.ListAuditRecordsRequest(after_sequence=after, page_size=page_size), timeout=TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        records = [
            SignerAuditRecord(
                sequence=r.sequence,
                record_time=r.record_time.ToDatetime(tzinfo=dt.UTC),
                actor=r.actor,
                action=r.action,
                request_id=r.request_id,
                key_id=r.key_id,
                reason=r.reason,
                tx_hash=r.tx_hash,
                prev_hash=r.prev_hash,
                hash=r.hash,
                body_json=r.body_json,
            )
            for r in reply.records
        ]
        return records, bool(reply.next_page_token)
