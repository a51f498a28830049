"""A held payout whose approval the signer no longer knows (its state restored from before the hold: here a fresh
state file, as a restore of an older backup leaves it) is asked for once, held again under a new approval whose id
settlement stores and reads from then on, not asked for every pass; approved, it is paid once."""

from __future__ import annotations

import os
from pathlib import Path

from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc

from gateway import parts
from service_runtime.mesh import Role
from settlement.signing import SweepSigner
from settlement.store import payout_batches as batch_store
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.execution_harness import executor, keys, payout_batch_events, registry, run_until_confirmed
from tests.payouts.test_payout_approval_wait import approvals_world, funded_payout, held_batch, signing_records
from tests.payouts.test_payout_approvals import APPROVERS, THRESHOLD, approval_policy, approve
from tests.settlement.settlement_harness import UNIT

__all__ = ["keys", "registry"]  # fixtures


async def test_a_held_payout_whose_approval_the_signer_lost_is_held_again_once_and_its_new_approval_read(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with approvals_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=approval_policy) as world:
        amount = 60 * UNIT + 5
        _, _, destination, payout_id = await funded_payout(world, amount)
        paying = executor(world, keys["hot"], approval_threshold=THRESHOLD)
        batch, lost_approval, request_id = await held_batch(world, paying, payout_id)

        # The signer comes back with a state that never held the request.
        world.signer.stop()
        world.signer.env["STABLEGATE_SIGNER_STATE_PATH"] = str(tmp_path / f"restored-{os.urandom(4).hex()}.sqlite3")
        world.signer.start()
        paying.signer = SweepSigner(world.signer.channel())

        for _ in range(5):
            await paying.tick()
        # Asked once: held again under a new approval, which settlement keeps and reads on the later passes.
        assert await signing_records(world, request_id) == [("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED")]
        async with world.pool.acquire() as conn:
            stored = await batch_store.get(conn, batch.id)
        assert stored is not None and stored.status == "AWAITING_APPROVAL"
        assert stored.approval_id and stored.approval_id != lost_approval

        operator = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        try:
            approvals = apb_grpc.ApprovalServiceStub(operator)
            got = (await approvals.GetApproval(apb.GetApprovalRequest(id=stored.approval_id))).approval
            assert (got.request_id, got.status) == (request_id, apb.APPROVAL_STATUS_PENDING)
            for approver in APPROVERS[:2]:
                await approvals.Approve(approve(got, approver))
        finally:
            await operator.close(None)

        await run_until_confirmed(world, paying, [payout_id])
        assert [(e["count"], e["total"]) for e in payout_batch_events(world)] == [(1, amount)]
        assert world.chain.token_balance(destination) == amount
        assert [r[1:] for r in await signing_records(world, request_id)] == [
            ("PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("ALLOWED", "large-payouts"),
        ]
        await world.ledger.assert_books_are_sound()
