"""A move into cold asked for while signing is frozen waits with the HOT key's nonce (it neither fails nor is planned
again) and lands and is booked once after the unfreeze."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry
from stablegate.signer.v1 import signing_service_pb2 as spb
from stablegate.signer.v1 import signing_service_pb2_grpc as spb_grpc

from gateway import parts
from service_runtime.mesh import Role
from settlement.signing import SigningFreeze, SweepSigner
from settlement.store import cold_moves as move_store
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.test_payout_approval_wait import signing_records
from tests.settlement.settlement_harness import UNIT, SweepChain, sweep_world
from tests.settlement.test_hot_cold import OFFICERS, fill_treasury, hot_cold_policy, keys, mover, run_until
from tests.signer.test_signer_approvals import unfreeze_signature

__all__ = ["keys"]  # fixtures


def freezable_policy(chain: SweepChain) -> str:
    """The hot/cold rules, and a freeze lifted by both officers."""
    return hot_cold_policy(chain) + "unfreeze: {group: officers, threshold: 2}\n"


async def test_a_move_into_cold_asked_for_while_signing_is_frozen_waits_with_its_nonce_and_lands_once_after(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with sweep_world(
        ledger_db,
        keys["sweeper"],
        softhsm_token,
        registry,
        tmp_path,
        hot=keys["hot"].address,
        extra_policy=freezable_policy,
    ) as world:
        await fill_treasury(world, [60 * UNIT])  # the ceiling is 50, the target 20: 40 tokens to move
        metrics = CollectorRegistry()
        moving = mover(world, keys["hot"])
        moving.signer = SweepSigner(world.signer.channel(), freeze=SigningFreeze(metrics))

        operator = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        try:
            control = spb_grpc.SigningServiceStub(operator)
            frozen = (await control.FreezeSigning(spb.FreezeSigningRequest(reason="drill"))).state
            for _ in range(5):
                await moving.tick()
                world.chain.mine(5)

            (move,) = await world.rows("SELECT id, status, nonce FROM settlement.cold_moves")
            assert (move["status"], move["nonce"]) == ("SENT", 0)
            async with world.pool.acquire() as conn:
                (version,) = await move_store.versions(conn, move["id"])
            assert (version.status, version.nonce) == ("SIGNING", 0)
            assert await signing_records(world, version.request_id) == [("settlement", "DENIED", "SIGNING_FROZEN")]
            assert metrics.get_sample_value("settlement_signing_frozen") == 1
            assert world.chain.token_balance(world.chain.cold_safe) == 0

            await control.UnfreezeSigning(
                spb.UnfreezeSigningRequest(
                    freeze_id=frozen.freeze_id,
                    approvals=[unfreeze_signature(frozen.freeze_id, officer) for officer in OFFICERS],
                )
            )
        finally:
            await operator.close(None)

        recorded = await run_until(world, moving, "RECORDED")
        assert metrics.get_sample_value("settlement_signing_frozen") == 0
        assert (recorded["id"], recorded["nonce"], int(recorded["moved_amount"])) == (move["id"], 0, 40 * UNIT)
        assert world.chain.token_balance(world.chain.cold_safe) == 40 * UNIT
        assert world.chain.token_balance(world.chain.treasury) == 20 * UNIT
        assert await world.balance("cold_storage:USDT") == 40 * UNIT
        assert [r[1:] for r in await signing_records(world, version.request_id)] == [
            ("DENIED", "SIGNING_FROZEN"),
            ("ALLOWED", "small-cold-moves"),
        ]
        await world.ledger.assert_books_are_sound()
