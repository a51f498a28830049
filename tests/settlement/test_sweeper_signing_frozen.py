"""A sweep asked for while signing is frozen waits with its nonce (nothing fails, its deposits stay taken) and is
signed, sent and booked once after the unfreeze; the signer was asked once, the later passes read the freeze."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from prometheus_client import CollectorRegistry
from stablegate.signer.v1 import signing_service_pb2 as spb
from stablegate.signer.v1 import signing_service_pb2_grpc as spb_grpc

from gateway import parts
from service_runtime.mesh import Role
from settlement.signing import SigningFreeze, SweepSigner
from settlement.store import sweeps as sweep_store
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.test_payout_approval_wait import signing_records
from tests.settlement.settlement_harness import UNIT, SweepChain, sweep_world
from tests.settlement.test_sweeper_end_to_end import sweep_until_recorded
from tests.signer.test_signer_approvals import unfreeze_signature

OFFICERS: list[LocalAccount] = [Account.create() for _ in range(2)]


def unfreeze_quorum(chain: SweepChain) -> str:
    """A freeze lifted by both officers."""
    return f"""
approver_groups:
  officers:
    addresses: [{", ".join(a.address for a in OFFICERS)}]
unfreeze: {{group: officers, threshold: 2}}
"""


async def test_a_sweep_asked_for_while_signing_is_frozen_waits_with_its_nonce_and_is_booked_once_after_the_unfreeze(
    sweeper_key: KeyInfo,
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> None:
    async with sweep_world(
        ledger_db, sweeper_key, softhsm_token, registry, tmp_path, extra_policy=unfreeze_quorum
    ) as world:
        amounts = [3 * UNIT + 1, 4 * UNIT + 2]
        await world.paid_invoices(amounts)
        metrics = CollectorRegistry()
        sweeper = world.sweeper()
        sweeper.signer = SweepSigner(world.signer.channel(), freeze=SigningFreeze(metrics))

        operator = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        try:
            control = spb_grpc.SigningServiceStub(operator)
            frozen = (await control.FreezeSigning(spb.FreezeSigningRequest(reason="drill"))).state
            for _ in range(5):
                await sweeper.tick()
                world.chain.mine(2)

            (sweep,) = await world.rows("SELECT id, status, nonce FROM settlement.sweeps")
            assert (sweep["status"], sweep["nonce"]) == ("SENT", 0)
            async with world.pool.acquire() as conn:
                (version,) = await sweep_store.versions(conn, sweep["id"])
            assert (version.status, version.nonce) == ("SIGNING", 0)
            assert await signing_records(world, version.request_id) == [("settlement", "DENIED", "SIGNING_FROZEN")]
            assert metrics.get_sample_value("settlement_signing_frozen") == 1
            assert world.chain.nonce() == 0 and world.chain.token_balance(world.chain.treasury) == 0

            await control.UnfreezeSigning(
                spb.UnfreezeSigningRequest(
                    freeze_id=frozen.freeze_id,
                    approvals=[unfreeze_signature(frozen.freeze_id, officer) for officer in OFFICERS],
                )
            )
        finally:
            await operator.close(None)

        await sweep_until_recorded(world, sweeper, 1)
        assert metrics.get_sample_value("settlement_signing_frozen") == 0
        (booked,) = await world.rows("SELECT id, status, nonce FROM settlement.sweeps")
        assert (booked["id"], booked["status"], booked["nonce"]) == (sweep["id"], "RECORDED", 0)
        assert world.chain.nonce() == 1  # one transaction, the very request asked during the freeze
        assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
        assert await world.balance("treasury:USDT") == sum(amounts)
        assert [r[1:] for r in await signing_records(world, version.request_id)] == [
            ("DENIED", "SIGNING_FROZEN"),
            ("ALLOWED", "sweeps"),
        ]
