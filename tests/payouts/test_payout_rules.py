"""The executor's plain rules: how queued payouts become batches, the batch id the treasury guards (the signer's
own derivation), and the payout settings validated at start."""

from __future__ import annotations

from typing import Any

import pytest

from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.app import payout_options
from settlement.config import SettlementSettings
from settlement.ledger_client import QueuedPayout
from settlement.payout_executor import batch_id, plan_batches
from signer.domain.intents import PayoutIntent, PayoutLine

A, B, C = ("0x" + c * 40 for c in "abc")
UNIT = 10**18


def queued(amounts: list[int]) -> list[QueuedPayout]:
    return [QueuedPayout(f"po_{i}", A, amount, C, 97) for i, amount in enumerate(amounts)]


def test_payouts_are_batched_oldest_first_up_to_the_maximum_and_large_ones_alone_after_the_rest() -> None:
    payouts = queued([1, 2, 90 * UNIT, 3, 4, 5, 70 * UNIT, 6])
    groups = plan_batches(payouts, max_batch=3, approval_threshold=50 * UNIT)
    assert [[p.payout_id for p in g] for g in groups] == [
        ["po_0", "po_1", "po_3"],
        ["po_4", "po_5", "po_7"],
        ["po_2"],
        ["po_6"],
    ]
    assert [len(g) for g in plan_batches(payouts, max_batch=200, approval_threshold=0)] == [8]  # no threshold
    assert plan_batches([], max_batch=3, approval_threshold=0) == []


def test_the_batch_id_is_the_signers_so_a_re_signed_batch_is_paid_once() -> None:
    ids = ["po_b", "po_a", "rf_c"]
    intent = PayoutIntent(
        treasury=bytes(20),
        token=bytes(20),
        lines=tuple(PayoutLine(bytes.fromhex("11" * 20), 5, payout_id) for payout_id in ids),
    )
    assert batch_id(ids) == "0x" + intent.batch_id.hex()
    assert batch_id(ids) != batch_id(ids[:2])  # dropping a payout makes another batch


def settings(pki: DevMesh, **values: Any) -> SettlementSettings:
    return load_settings(SettlementSettings, profile="test", tls=pki.files(Role.SETTLEMENT).settings(), **values)


COMPLETE: dict[str, Any] = {
    "payouts_enabled": True,
    "hot_key_id": "key_hot",
    "hot_address": A,
    "treasury_address": B,
    "token_contract": C,
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hot_key_id": "", "hot_address": ""}, "payouts_enabled needs hot_key_id, hot_address"),
        ({"treasury_address": ""}, "STABLEGATE_SETTLEMENT_TREASURY_ADDRESS"),
        ({"payout_max_batch": 201}, "STABLEGATE_SETTLEMENT_PAYOUT_MAX_BATCH"),
        ({"payout_approval_threshold_base_units": -1}, "STABLEGATE_SETTLEMENT_PAYOUT_APPROVAL_THRESHOLD_BASE_UNITS"),
    ],
)
def test_bad_payout_settings_are_refused_with_the_reason(
    mesh_pki: DevMesh, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(mesh_pki, **{**COMPLETE, **changes})
    assert message in str(caught.value)


def test_complete_payout_settings_become_the_executors_options(mesh_pki: DevMesh) -> None:
    made = settings(mesh_pki, **COMPLETE, payout_max_batch=20, payout_approval_threshold_base_units=50 * UNIT)
    options = payout_options(made)
    assert (options.hot_address, options.treasury, options.token, options.key_id) == (A, B, C, "key_hot")
    assert (options.max_batch, options.approval_threshold) == (20, 50 * UNIT)
