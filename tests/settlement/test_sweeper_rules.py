"""The sweeper's plain rules (batching, fee bumps, reading a receipt) and its settings' validation."""

from __future__ import annotations

from typing import Any

import pytest

from chain.types import TRANSFER_TOPIC
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.app import sweeper_options
from settlement.config import SettlementSettings
from settlement.domain.fees import TxFees, bumped
from settlement.domain.receipts import QUARANTINED_TOPIC, quarantined_amounts, swept_amounts
from settlement.domain.sweeps import Deposit, GasBudget, Quarantine, batches, gas_limit, stray_entries

GWEI = 10**9
TOKEN, TREASURY, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20


def deposit(i: int) -> Deposit:
    return Deposit(f"0x{i:040x}", "0x" + f"{i:064x}", f"inv_{i}", i + 1)


def test_deposits_are_cut_into_batches_of_the_batch_size_or_what_the_gas_budget_fits() -> None:
    deposits = [deposit(i) for i in range(205)]
    roomy = GasBudget(max_gas=30_000_000, per_forwarder=60_000, base=50_000)
    cut = batches(deposits, 50, roomy)
    assert [len(b) for b in cut] == [50, 50, 50, 50, 5]
    assert [d for b in cut for d in b] == deposits  # every deposit once, in order
    tight = GasBudget(max_gas=50_000 + 60_000 * 7 + 1, per_forwarder=60_000, base=50_000)
    assert [len(b) for b in batches(deposits[:20], 50, tight)] == [7, 7, 6]
    assert batches([], 50, roomy) == []
    with pytest.raises(ValueError, match="batch_size"):
        batches(deposits, 0, roomy)


def test_the_gas_limit_adds_a_margin_within_the_budget_never_below_the_estimate() -> None:
    budget = GasBudget(max_gas=1_000_000, per_forwarder=60_000, base=50_000)
    assert gas_limit(500_000, 20, budget) == 600_000
    assert gas_limit(900_000, 20, budget) == 1_000_000
    assert gas_limit(1_200_000, 20, budget) == 1_200_000


def test_a_replacement_raises_both_fee_fields_by_at_least_the_bump_and_follows_the_market() -> None:
    old = TxFees(max_fee_per_gas=3 * GWEI, max_priority_fee_per_gas=GWEI)
    quiet = TxFees(max_fee_per_gas=GWEI, max_priority_fee_per_gas=GWEI // 10)
    bump = bumped(old, quiet, 10)
    assert bump.max_fee_per_gas >= old.max_fee_per_gas * 110 // 100
    assert bump.max_priority_fee_per_gas >= old.max_priority_fee_per_gas * 110 // 100
    busy = TxFees(max_fee_per_gas=20 * GWEI, max_priority_fee_per_gas=2 * GWEI)
    assert bumped(old, busy, 10) == TxFees(20 * GWEI, 2 * GWEI)
    tiny = bumped(TxFees(1, 0), TxFees(1, 0), 10)  # 10% of a tiny fee still rises
    assert tiny.max_fee_per_gas > 1 and tiny.max_priority_fee_per_gas > 0
    legacy = bumped(TxFees(5 * GWEI, 5 * GWEI, legacy=True), quiet, 12)
    assert legacy.legacy and legacy.max_fee_per_gas == legacy.max_priority_fee_per_gas >= 5 * GWEI * 112 // 100
    with pytest.raises(ValueError, match="at least 10%"):
        bumped(old, quiet, 5)


def transfer(token: str, source: str, target: str, amount: int) -> dict[str, Any]:
    def topic(a: str) -> str:
        return "0x" + "0" * 24 + a[2:]

    return {"address": token, "topics": [TRANSFER_TOPIC, topic(source), topic(target)], "data": f"0x{amount:064x}"}


def test_only_the_tokens_transfers_from_the_sweeps_addresses_to_the_treasury_count() -> None:
    a, b, c = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
    logs = [
        transfer(TOKEN, a, TREASURY, 5),
        transfer(TOKEN.upper().replace("0X", "0x"), b, TREASURY, 7),  # case does not matter
        transfer(OTHER, a, TREASURY, 100),  # another token
        transfer(TOKEN, a, OTHER, 100),  # not to the treasury
        transfer(TOKEN, c, TREASURY, 100),  # not an address of this sweep
        {"address": TOKEN, "topics": ["0x" + "11" * 32], "data": "0x"},  # not a Transfer
    ]
    assert swept_amounts(logs, TOKEN, TREASURY, [a, b.upper().replace("0X", "0x")]) == {a: 5, b: 7}


def test_stray_entries_name_each_address_and_token_once_by_the_index_of_its_salt() -> None:
    items = (deposit(1), deposit(2))
    a, b = items[0].deposit_address, items[1].deposit_address

    def stray(i: int, address: str, token: str) -> Quarantine:
        return Quarantine(f"sd_{i}", address, "0x" + "00" * 32, "inv", token, 1)

    requested = [
        stray(1, b, OTHER),
        stray(2, a.upper().replace("0X", "0x"), OTHER),
        stray(3, b, OTHER),
        stray(4, b, TOKEN),
    ]
    assert stray_entries(items, requested) == [(1, OTHER), (0, OTHER), (1, TOKEN)]
    with pytest.raises(ValueError, match="not in the batch"):
        stray_entries(items, [stray(5, "0x" + "09" * 20, OTHER)])


def test_only_the_factorys_quarantined_logs_count_per_forwarder_and_token() -> None:
    factory, forwarder = "0x" + "fa" * 20, "0x" + "01" * 20

    def quarantined(emitter: str, token: str, amount: int) -> dict[str, Any]:
        topics = [
            QUARANTINED_TOPIC,
            "0x" + "00" * 32,
            "0x" + forwarder[2:].rjust(64, "0"),
            "0x" + token[2:].rjust(64, "0"),
        ]
        return {"address": emitter, "topics": topics, "data": hex(amount)}

    logs = [
        quarantined(factory, OTHER, 5),
        quarantined(factory.upper().replace("0X", "0x"), TOKEN, 7),
        quarantined(OTHER, OTHER, 100),  # a lookalike event from another contract
        transfer(OTHER, forwarder, TREASURY, 100),  # not a Quarantined log
    ]
    assert quarantined_amounts(logs, factory) == {(forwarder, OTHER): 5, (forwarder, TOKEN): 7}


def settings(pki: DevMesh, **values: Any) -> SettlementSettings:
    return load_settings(SettlementSettings, tls=pki.files(Role.SETTLEMENT).settings(), **values)


def test_an_enabled_sweeper_without_its_key_or_contracts_is_refused_naming_them(mesh_pki: DevMesh) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(mesh_pki, sweeper_enabled=True, sweeper_key_id="k1")
    text = str(caught.value)
    for name in ("SWEEPER_ADDRESS", "FORWARDER_FACTORY", "TOKEN_CONTRACT"):
        assert f"STABLEGATE_SETTLEMENT_{name}" in text
    assert "SWEEPER_KEY_ID" not in text.split("needs", 1)[1]


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"fee_bump_percent": 5}, "STABLEGATE_SETTLEMENT_FEE_BUMP_PERCENT: .*greater than or equal to 10"),
        ({"sweep_batch_size": 201}, "STABLEGATE_SETTLEMENT_SWEEP_BATCH_SIZE: .*less than or equal to 200"),
        ({"fee_floor_gas_price_wei": 10 * GWEI, "fee_max_gas_price_wei": GWEI}, "above fee_max_gas_price_wei"),
        ({"sweep_max_gas": 100_000, "sweep_base_gas": 60_000, "sweep_gas_per_forwarder": 60_000}, "no room"),
        ({"sweeper_address": "0x123"}, "STABLEGATE_SETTLEMENT_SWEEPER_ADDRESS: .*got .0x123"),
    ],
)
def test_bad_sweeper_settings_are_refused_with_the_reason(
    mesh_pki: DevMesh, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        settings(mesh_pki, **values)


def test_complete_sweeper_settings_become_the_sweepers_options(mesh_pki: DevMesh) -> None:
    loaded = settings(
        mesh_pki,
        sweeper_enabled=True,
        sweeper_key_id="k1",
        sweeper_address="0x" + "AB" * 20,
        forwarder_factory="0x" + "CD" * 20,
        token_contract="0x" + "EF" * 20,
        sweep_batch_size=100,
        fee_max_gas_price_wei=7 * GWEI,
    )
    options = sweeper_options(loaded)
    assert (options.sweeper_address, options.factory, options.token) == (
        "0x" + "ab" * 20,
        "0x" + "cd" * 20,
        "0x" + "ef" * 20,
    )
    assert options.batch_size == 100
    assert options.fee_caps.max_gas_price_wei == 7 * GWEI
    assert options.budget.forwarders() == (5_000_000 - 50_000) // 60_000
