"""The signer's audit names the operator the dashboard relays for, believed only from the dashboard's certificate.

A real signer on a SoftHSM token; the dashboard's own signer client over its own channel (dashboard/acting.py's
interceptor) relays approvals and an unfreeze for an operator; the audit records of those name the operator, the
same metadata from the operator's certificate is not recorded, bad metadata from the dashboard is refused with
nothing audited, and `stablegate signer audit verify` still accepts the chain.
"""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from dashboard.acting import HEADERS, ActingUser, act_as, acting_channel
from dashboard.signer_client import SignerClient, SignerRefused
from service_runtime.mesh import Role
from signer.api.acting import acting_fields
from signer.errors import BadRequest
from tests.signer.test_signer_api import RunningSigner
from tests.signer.test_signer_approvals import (  # noqa: F401 - `signer` is the module's fixture
    OFFICERS,
    approve,
    audit_bodies,
    held,
    payout,
    signer,
    unfreeze_signature,
)

T = TypeVar("T")
OPERATOR_X = ActingUser("operator", "sub-x", "x@ops.example")
ACTING_KEYS = ("acting_user_kind", "acting_user_id", "acting_user_email")


async def as_operator(user: ActingUser, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call` in a context where the dashboard's request acts for `user` (as its middleware sets it)."""

    async def run() -> T:
        act_as(user.kind, user.id, user.email)
        return await call()

    return await asyncio.create_task(run(), context=contextvars.copy_context())


def dashboard_client(running: RunningSigner) -> tuple[grpc.aio.Channel, SignerClient]:
    """The dashboard's signer client on the channel the dashboard makes (dashboard/app.py)."""
    channel = acting_channel(f"127.0.0.1:{running.port}", running.pki.files(Role.DASHBOARD))
    return channel, SignerClient(channel)


def acting_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ACTING_KEYS if k in body}


async def test_an_approval_relayed_by_the_dashboard_names_the_operator_and_only_then(
    signer: RunningSigner,  # noqa: F811
) -> None:
    async with signer.channel(Role.SETTLEMENT) as channel:
        pending = await pb_grpc.SigningServiceStub(channel).SignTransaction(payout(signer, 9_000))
    approval = await held(signer, pending.approval_id)
    channel, client = dashboard_client(signer)
    async with channel:
        first = approve(approval, OFFICERS[0])
        await as_operator(
            OPERATOR_X,
            lambda: client.approve(approval.id, first.approval.signature, first.approval.deadline, "looks right"),
        )
        # Bad metadata from the dashboard: refused, nothing audited.
        before = len(audit_bodies(signer))
        second = approve(approval, OFFICERS[1])
        with pytest.raises(SignerRefused) as bad:
            await as_operator(
                ActingUser("operator", "sub\nx"),
                lambda: client.approve(approval.id, second.approval.signature, second.approval.deadline),
            )
        assert bad.value.reason == "ACTING_USER_INVALID"
        assert len(audit_bodies(signer)) == before
    # The same metadata from the operator's certificate: the approval counts, the name is not recorded.
    async with signer.channel(Role.OPERATOR) as operator:
        forged = ActingUser("operator", "sub-forged", "f@ops.example").metadata()
        await apb_grpc.ApprovalServiceStub(operator).Approve(second, metadata=forged)
    approves = [b for b in audit_bodies(signer) if b["action"] == "approve" and b["approval_id"] == approval.id]
    assert [(b["actor"], b["decision"]) for b in approves] == [("dashboard", "ACCEPTED"), ("operator", "ACCEPTED")]
    assert acting_of(approves[0]) == {
        "acting_user_kind": "operator",
        "acting_user_id": "sub-x",
        "acting_user_email": "x@ops.example",
    }
    assert approves[0]["comment"] == "looks right"
    assert acting_of(approves[1]) == {}
    assert not any("sub-forged" in str(b) for b in audit_bodies(signer))
    # The quorum signed the held request; the chain still verifies.
    assert (await held(signer, approval.id)).tx_hash
    verified = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "signer", "audit", "verify", "--state", str(signer.base / "state.sqlite3")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr


async def test_an_unfreeze_relayed_by_the_dashboard_names_the_operator(signer: RunningSigner) -> None:  # noqa: F811
    async with signer.channel(Role.OPERATOR) as operator:
        frozen = (await pb_grpc.SigningServiceStub(operator).FreezeSigning(pb.FreezeSigningRequest(reason="t"))).state
    deadline = unfreeze_signature(frozen.freeze_id, OFFICERS[0]).deadline
    signatures = [unfreeze_signature(frozen.freeze_id, a, deadline).signature for a in OFFICERS[:2]]
    channel, client = dashboard_client(signer)
    async with channel:
        lifted = await as_operator(
            ActingUser("operator", "sub-y", "y@ops.example"),
            lambda: client.unfreeze(frozen.freeze_id, signatures, deadline),
        )
    assert not lifted.frozen
    (record,) = [b for b in audit_bodies(signer) if b["action"] == "unfreeze" and b["freeze_id"] == frozen.freeze_id]
    assert (record["actor"], record["decision"]) == ("dashboard", "UNFROZEN")
    assert acting_of(record) == {
        "acting_user_kind": "operator",
        "acting_user_id": "sub-y",
        "acting_user_email": "y@ops.example",
    }


def test_acting_metadata_is_read_only_from_the_dashboard_role() -> None:
    metadata = dict(zip(HEADERS, ("operator", "sub-z", "z%40ops.example"), strict=True))
    assert acting_fields(metadata, Role.DASHBOARD)["acting_user_email"] == "z@ops.example"
    for role in (Role.OPERATOR, Role.SETTLEMENT, Role.EDGE, None):
        assert acting_fields(metadata, role) == {}
    assert acting_fields({}, Role.DASHBOARD) == {}
    for bad in ({**metadata, HEADERS[0]: "root"}, {**metadata, HEADERS[1]: ""}, {**metadata, HEADERS[2]: "%ff"}):
        with pytest.raises(BadRequest) as refused:
            acting_fields(bad, Role.DASHBOARD)
        assert refused.value.reason == "ACTING_USER_INVALID"
