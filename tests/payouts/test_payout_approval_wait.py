"""A payout held for approval: settlement reads the approval while it waits (one signing request at the signer, not
one per pass), and an approval that lapses releases the payout and the HOT key's nonce for good (the signer never
signs the lapsed request afterwards, so nothing is paid twice)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import audit_service_pb2 as audit_pb
from stablegate.signer.v1 import audit_service_pb2_grpc as audit_grpc
from stablegate.signer.v1 import signing_service_pb2 as spb

from chain import abi
from gateway import parts
from service_runtime.mesh import Role
from settlement.payout_executor import PayoutExecutor
from settlement.signing import Refused, SweepSigner
from settlement.store import payout_batches as batch_store
from signer.keystore.base import KeyInfo
from tests.conftest import error_info, mesh_channel
from tests.payouts.execution_harness import (
    COOLING_OFF_SECONDS,
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
from tests.payouts.test_payout_approvals import (
    APPROVERS,
    REQUESTER,
    THRESHOLD,
    approval_policy,
    approve,
    merchant_key_owned_by,
    tick_until_status,
)
from tests.settlement.settlement_harness import UNIT, SweepChain, SweepWorld, eventually, sweep_world

__all__ = ["keys", "registry"]  # fixtures

SHORT_TTL = 8
"""Seconds a held request waits in the lapse test (the signer's own clock: real time)."""


def short_ttl_policy(chain: SweepChain) -> str:
    """The approvals test's policy with held requests lapsing after SHORT_TTL seconds."""
    return approval_policy(chain).replace("approval_ttl_seconds: 3600", f"approval_ttl_seconds: {SHORT_TTL}")


@asynccontextmanager
async def approvals_world(
    keys: dict[str, KeyInfo],
    token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
    *,
    policy: Callable[[SweepChain], str],
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose HOT key pays out, large payouts held for two treasurers under `policy`."""
    async with sweep_world(
        ledger_db, keys["sweeper"], token, registry, tmp_path, hot=keys["hot"].address, extra_policy=policy
    ) as made:
        yield made


async def signing_records(world: SweepWorld, request_id: str) -> list[tuple[str, str, str]]:
    """(actor, decision, reason) of every `sign` audit record the signer holds for `request_id`, in order."""
    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        reply = await audit_grpc.AuditServiceStub(channel).ListAuditRecords(
            audit_pb.ListAuditRecordsRequest(action="sign", page_size=1000)
        )
    finally:
        await channel.close(None)
    return [
        (r.actor, spb.SigningDecision.Name(r.decision).removeprefix("SIGNING_DECISION_"), r.reason)
        for r in reply.records
        if r.request_id == request_id
    ]


async def held_batch(
    world: SweepWorld, paying: PayoutExecutor, payout_id: str
) -> tuple[batch_store.PayoutBatch, str, str]:
    """The payout's batch once it awaits approval, its approval id and the request id its transaction was asked with."""
    await tick_until_status(world, paying, payout_id, "PENDING_APPROVAL")
    (row,) = await world.rows("SELECT id FROM settlement.payout_batches WHERE status = 'AWAITING_APPROVAL'")
    async with world.pool.acquire() as conn:
        batch = await batch_store.get(conn, row["id"])
        (version,) = await batch_store.versions(conn, row["id"])
    assert batch is not None and batch.approval_id
    return batch, batch.approval_id, version.request_id


async def refused_once_lapsed(
    world: SweepWorld, approval_id: str, approval: Callable[[apb.Approval], apb.ApproveRequest], *, what: str
) -> None:
    """Wait until the signer shows the approval EXPIRED; then `approval` of it is refused as APPROVAL_EXPIRED."""
    channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
    try:
        approvals = apb_grpc.ApprovalServiceStub(channel)

        async def lapsed() -> bool:
            got = (await approvals.GetApproval(apb.GetApprovalRequest(id=approval_id))).approval
            return bool(got.status == apb.APPROVAL_STATUS_EXPIRED)

        await eventually(lapsed, f"the {what} to lapse", within=SHORT_TTL + 30, interval=0.5)
        got = (await approvals.GetApproval(apb.GetApprovalRequest(id=approval_id))).approval
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await approvals.Approve(approval(got))
        assert error_info(late.value).reason == "APPROVAL_EXPIRED"
    finally:
        await channel.close(None)


async def funded_payout(world: SweepWorld, amount: int) -> tuple[str, str, str, str]:
    """(merchant id, key, destination, payout id) of a payout of `amount` asked for by REQUESTER's key."""
    merchant_id, key = await merchant_key_owned_by(world, REQUESTER.address)
    await pay_invoices(world, [(key, 100 * UNIT, 100 * UNIT)])
    destination = fresh_address()
    await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    return merchant_id, key, destination, await create_payout(world, key, destination, amount)


async def test_a_held_payout_is_asked_for_once_and_its_approval_read_until_the_quorum_signs(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with approvals_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=approval_policy) as world:
        amount = 80 * UNIT + 7
        _, _, destination, payout_id = await funded_payout(world, amount)
        paying = executor(world, keys["hot"], approval_threshold=THRESHOLD)
        _, approval_id, request_id = await held_batch(world, paying, payout_id)
        for _ in range(5):  # five more passes while it waits: the approval is read, the signature not asked for
            await paying.tick()
        assert await signing_records(world, request_id) == [("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED")]

        channel = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        dashboard = mesh_channel(world.ledger.pki, Role.DASHBOARD, world.signer.port)
        try:
            approvals = apb_grpc.ApprovalServiceStub(channel)
            got = (await approvals.GetApproval(apb.GetApprovalRequest(id=approval_id))).approval
            assert (got.request_id, got.status) == (request_id, apb.APPROVAL_STATUS_PENDING)
            # Bad input and unknown ids are refused by name; the dashboard's certificate does not admit the read.
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await approvals.GetApproval(apb.GetApprovalRequest())
            assert (missing.value.code(), error_info(missing.value).reason) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
            )
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await approvals.GetApproval(apb.GetApprovalRequest(id="apr_nosuch"))
            assert (unknown.value.code(), error_info(unknown.value).reason) == (
                grpc.StatusCode.NOT_FOUND,
                "APPROVAL_NOT_FOUND",
            )
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await apb_grpc.ApprovalServiceStub(dashboard).GetApproval(apb.GetApprovalRequest(id=approval_id))
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            await approvals.Approve(approve(got, APPROVERS[0]))
            for _ in range(3):  # one of two: still pending, still only read
                await paying.tick()
            second = await approvals.Approve(approve(got, APPROVERS[1]))
            assert second.approval.status == apb.APPROVAL_STATUS_APPROVED
        finally:
            await channel.close(None)
            await dashboard.close(None)

        await run_until_confirmed(world, paying, [payout_id])
        assert world.chain.token_balance(destination) == amount
        # Settlement's passes added nothing after its one request: the second record is the first Approve's own
        # re-decision (short of the quorum), the third the signature the second Approve made; settlement then got
        # that stored result back, which adds no record.
        assert await signing_records(world, request_id) == [
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("settlement", "ALLOWED", "large-payouts"),
        ]


async def test_a_lapsed_approval_fails_the_payout_frees_its_nonce_and_is_never_signed(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with approvals_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=short_ttl_policy) as world:
        amount, small = 80 * UNIT + 9, 10 * UNIT
        merchant_id, key, destination, payout_id = await funded_payout(world, amount)
        paying = executor(world, keys["hot"], approval_threshold=THRESHOLD)
        batch, approval_id, request_id = await held_batch(world, paying, payout_id)
        small_id = await create_payout(world, key, destination, small)
        await paying.tick()
        # Held: the small payout waits behind the held batch's nonce.
        assert await world.ledger.value("SELECT status FROM ledger.payouts WHERE id = $1", small_id) == "QUEUED"

        # Too late to approve: the approvers are told so, and nothing is signed.
        await refused_once_lapsed(world, approval_id, lambda got: approve(got, APPROVERS[0]), what="held request")

        await tick_until_status(world, paying, payout_id, "FAILED")
        assert await world.ledger.value("SELECT failure_reason FROM ledger.payouts WHERE id = $1", payout_id) == (
            "SIGNER_DENIED:APPROVAL_EXPIRED"
        )
        assert await world.ledger.events(payout_id) == ["payout.created", "payout.pending_approval", "payout.failed"]
        assert (await world.rows("SELECT status FROM settlement.payout_batches WHERE id = $1", batch.id))[0][
            "status"
        ] == "FAILED"

        # The next HOT transaction takes the lapsed batch's nonce and lands.
        await run_until_confirmed(world, paying, [small_id])
        (small_batch,) = await world.rows(
            "SELECT nonce FROM settlement.payout_batches WHERE status = 'CONFIRMED' AND id <> $1", batch.id
        )
        assert small_batch["nonce"] == batch.nonce
        assert [e["total"] for e in payout_batch_events(world)] == [small]
        assert world.chain.token_balance(destination) == small

        # Asked again with the lapsed request (same request id, nonce and call): refused for good, never signed.
        async with world.pool.acquire() as conn:
            (version,) = await batch_store.versions(conn, batch.id)
        again = await SweepSigner(world.signer.channel()).sign_payout(
            request_id=request_id,
            key_id=batch.key_id,
            chain_id=batch.chain_id,
            nonce=version.nonce,
            gas_limit=version.gas_limit,
            fees=version.fees,
            treasury=abi.to_checksum_address(batch.treasury_address),
            token=abi.to_checksum_address(batch.token_contract),
            lines=[(x.payout_id, abi.to_checksum_address(x.destination_address), x.amount) for x in batch.lines],
            initiator=batch.initiator_address,
        )
        assert again == Refused("DENIED", "APPROVAL_EXPIRED", approval_id)
        assert await signing_records(world, request_id) == [
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("settlement", "DENIED", "APPROVAL_EXPIRED"),
        ]
        # Nothing paid twice: the lapsed payout's reservation came back, only the small one left.
        assert await world.ledger.balances(merchant_id) == {
            "merchant_pending": 0,
            "merchant_available": 100 * UNIT - small,
            "merchant_reserved": 0,
        }
        await world.ledger.assert_books_are_sound()
