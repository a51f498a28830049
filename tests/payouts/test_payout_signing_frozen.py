"""A payout that comes due while signing is frozen waits, it does not fail: the signer's `SIGNING_FROZEN` refusal is
not final (docs/signer.md, "Emergency freeze"), so the batch keeps its nonce and its payouts, settlement says so
(`settlement_signing_frozen`) and reads the freeze state instead of asking again, and after the unfreeze the same
request is signed and lands once."""

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
from settlement.store import payout_batches as batch_store
from signer.keystore.base import KeyInfo
from tests.conftest import mesh_channel
from tests.payouts.execution_harness import (
    COOLING_OFF_SECONDS,
    SCOPES,
    active_address,
    create_payout,
    executor,
    fresh_address,
    keys,
    pay_invoices,
    payout_batch_events,
    payout_policy,
    registry,
    run_until_confirmed,
)
from tests.payouts.test_payout_approval_wait import signing_records
from tests.settlement.settlement_harness import UNIT, SweepChain, sweep_world
from tests.signer.test_signer_approvals import unfreeze_signature

__all__ = ["keys", "registry"]  # fixtures

OFFICERS: list[LocalAccount] = [Account.create() for _ in range(2)]


def freezable_policy(chain: SweepChain) -> str:
    """Payouts allowed; a freeze lifted by both officers."""
    return (
        payout_policy(chain)
        + f"""
approver_groups:
  officers:
    addresses: [{", ".join(a.address for a in OFFICERS)}]
unfreeze: {{group: officers, threshold: 2}}
"""
    )


async def test_a_payout_due_while_signing_is_frozen_waits_unreleased_and_lands_once_after_the_unfreeze(
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
        merchant_id, key = await world.ledger.merchant_with_key("Frozen shop", SCOPES)
        await pay_invoices(world, [(key, 100 * UNIT, 100 * UNIT)])
        destination = fresh_address()
        await active_address(world, key, destination)
        world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
        amount = 30 * UNIT + 3

        operator = mesh_channel(world.ledger.pki, Role.OPERATOR, world.signer.port)
        try:
            control = spb_grpc.SigningServiceStub(operator)
            frozen = (await control.FreezeSigning(spb.FreezeSigningRequest(reason="drill"))).state
            payout_id = await create_payout(world, key, destination, amount)

            metrics = CollectorRegistry()
            paying = executor(world, keys["hot"])
            paying.signer = SweepSigner(world.signer.channel(), freeze=SigningFreeze(metrics))
            for _ in range(6):  # the payout is due: several passes while frozen
                await paying.tick()
                world.chain.mine(2)

            # Nothing failed or was released: the payout is still open, its batch holds its nonce and the version
            # waits unsigned, and the signer was asked once (the later passes read the freeze state only).
            assert await world.ledger.value("SELECT status FROM ledger.payouts WHERE id = $1", payout_id) == "QUEUED"
            assert await world.ledger.events(payout_id) == ["payout.created"]
            (batch,) = await world.rows("SELECT id, status, nonce FROM settlement.payout_batches")
            assert batch["status"] == "PLANNED" and batch["nonce"] is not None
            async with world.pool.acquire() as conn:
                (version,) = await batch_store.versions(conn, batch["id"])
            assert (version.status, version.nonce) == ("SIGNING", batch["nonce"])
            assert await signing_records(world, version.request_id) == [("settlement", "DENIED", "SIGNING_FROZEN")]
            assert metrics.get_sample_value("settlement_signing_frozen") == 1
            assert world.chain.token_balance(destination) == 0
            assert await world.ledger.balances(merchant_id) == {
                "merchant_pending": 0,
                "merchant_available": 100 * UNIT - amount,
                "merchant_reserved": amount,
            }

            await control.UnfreezeSigning(
                spb.UnfreezeSigningRequest(
                    freeze_id=frozen.freeze_id,
                    approvals=[unfreeze_signature(frozen.freeze_id, officer) for officer in OFFICERS],
                )
            )
        finally:
            await operator.close(None)

        await run_until_confirmed(world, paying, [payout_id])
        assert metrics.get_sample_value("settlement_signing_frozen") == 0
        # The same request (same batch, nonce and request id) was signed after the unfreeze and paid once.
        assert [(e["count"], e["total"]) for e in payout_batch_events(world)] == [(1, amount)]
        assert world.chain.token_balance(destination) == amount
        (landed,) = await world.rows("SELECT id, status, nonce FROM settlement.payout_batches")
        assert (landed["id"], landed["status"], landed["nonce"]) == (batch["id"], "CONFIRMED", batch["nonce"])
        assert [r[1:] for r in await signing_records(world, version.request_id)] == [
            ("DENIED", "SIGNING_FROZEN"),
            ("ALLOWED", "payouts"),
        ]
        assert await world.ledger.events(payout_id) == ["payout.created", "payout.broadcast", "payout.confirmed"]
        assert await world.ledger.balances(merchant_id) == {
            "merchant_pending": 0,
            "merchant_available": 100 * UNIT - amount,
            "merchant_reserved": 0,
        }
        await world.ledger.assert_books_are_sound()
