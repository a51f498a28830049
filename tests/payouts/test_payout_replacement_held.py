"""A fee-bump replacement that the signer holds for its approvers again is read, not asked for every pass: the
batch keeps the replacement's approval id and settlement reads it (`GetApproval`), so the replacement's request has
one `sign` record at the signer however many passes it waits; meanwhile the version already sent is still tracked
and, once it lands, confirms the payout once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc

from gateway import parts
from service_runtime.mesh import Role
from settlement.store import payout_batches as batch_store
from settlement.store.sweeps import ChainTx
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.execution_harness import executor, keys, payout_batch_events, registry, run_until_confirmed
from tests.payouts.test_payout_approval_wait import approvals_world, funded_payout, held_batch, signing_records
from tests.payouts.test_payout_approvals import APPROVERS, THRESHOLD, approval_policy, approve
from tests.settlement.settlement_harness import UNIT

__all__ = ["keys", "registry"]  # fixtures

STUCK_AFTER_SECONDS = 1.0


async def test_a_replacement_held_again_is_asked_for_once_and_the_sent_version_still_lands_once(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with approvals_world(keys, softhsm_token, ledger_db, registry, tmp_path, policy=approval_policy) as world:
        amount = 70 * UNIT + 11
        _, _, destination, payout_id = await funded_payout(world, amount)
        paying = executor(world, keys["hot"], approval_threshold=THRESHOLD, stuck_after_seconds=STUCK_AFTER_SECONDS)
        batch, first_approval, first_request = await held_batch(world, paying, payout_id)

        world.chain.automine(False)  # what is sent stays in the pool: the batch gets stuck
        operator = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        try:
            approvals = apb_grpc.ApprovalServiceStub(operator)
            got = (await approvals.GetApproval(apb.GetApprovalRequest(id=first_approval))).approval
            for approver in APPROVERS[:2]:
                await approvals.Approve(approve(got, approver))
        finally:
            await operator.close(None)

        async def replacement_asked() -> list[ChainTx]:
            async with world.pool.acquire() as conn:
                return await batch_store.versions(conn, batch.id)

        await paying.tick()  # version 0 signed by the quorum, the ledger told, sent (and not mined)
        (sent,) = await replacement_asked()
        assert sent.tx_hash is not None and sent.tx_hash in world.chain.pool_hashes()
        await asyncio.sleep(STUCK_AFTER_SECONDS + 0.2)
        await paying.tick()  # stuck: the fee-bump replacement is asked for, and held for the approvers again
        versions = await replacement_asked()
        assert [(v.version, v.status) for v in versions] == [(0, "BROADCAST"), (1, "SIGNING")]
        replacement = versions[1]

        for _ in range(5):  # more passes while it waits: its approval is read, the signature not asked for
            await paying.tick()
        assert await signing_records(world, replacement.request_id) == [
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED")
        ]
        # The batch keeps the replacement's approval (the one the approvers would now sign), not the spent one.
        async with world.pool.acquire() as conn:
            stored = await batch_store.get(conn, batch.id)
        assert stored is not None and stored.approval_id and stored.approval_id != first_approval
        assert [(v.version, v.status) for v in await replacement_asked()] == [(0, "BROADCAST"), (1, "SIGNING")]

        # The version sent lands; the held replacement does not stop the batch from being tracked and confirmed.
        world.chain.automine(True)
        world.chain.mine(1)
        await run_until_confirmed(world, paying, [payout_id])
        assert [(e["count"], e["total"]) for e in payout_batch_events(world)] == [(1, amount)]
        assert world.chain.token_balance(destination) == amount
        assert await world.ledger.value("SELECT tx_hash FROM ledger.payouts WHERE id = $1", payout_id) == sent.tx_hash
        assert await signing_records(world, first_request) == [
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("settlement", "PENDING_APPROVAL", "APPROVALS_REQUIRED"),
            ("settlement", "ALLOWED", "large-payouts"),
        ]
        await world.ledger.assert_books_are_sound()
