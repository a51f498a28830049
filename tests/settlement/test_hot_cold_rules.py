"""Hot/cold settings are validated at start (a bad value names its variable) and become the mover's options."""

from __future__ import annotations

from typing import Any

import pytest

from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.app import hot_cold_options
from settlement.config import SettlementSettings

A, B, C, D = ("0x" + c * 40 for c in "abcd")
UNIT = 10**18


def settings(pki: DevMesh, **values: Any) -> SettlementSettings:
    """Settings as the service loads them (test profile, settlement's certificate)."""
    return load_settings(SettlementSettings, profile="test", tls=pki.files(Role.SETTLEMENT).settings(), **values)


COMPLETE: dict[str, Any] = {
    "hot_cold_enabled": True,
    "hot_key_id": "key_hot",
    "hot_address": A,
    "treasury_address": B,
    "token_contract": C,
    "treasury_ceiling_base_units": 100 * UNIT,
    "treasury_target_base_units": 40 * UNIT,
    "treasury_floor_base_units": 10 * UNIT,
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hot_key_id": "", "hot_address": ""}, "hot_cold_enabled needs hot_key_id, hot_address"),
        ({"treasury_address": ""}, "STABLEGATE_SETTLEMENT_TREASURY_ADDRESS"),
        (
            {"treasury_ceiling_base_units": 0, "treasury_target_base_units": 0, "treasury_floor_base_units": 0},
            "STABLEGATE_SETTLEMENT_TREASURY_CEILING_BASE_UNITS",
        ),
        ({"treasury_target_base_units": 101 * UNIT}, "treasury_target_base_units is above treasury_ceiling"),
        ({"treasury_floor_base_units": 41 * UNIT}, "treasury_floor_base_units is above treasury_target"),
        ({"cold_owner_keys": {"k1": "0x12"}}, "owner addresses must be 0x-prefixed 20-byte hex"),
        ({"cold_move_initiator_address": "me"}, "STABLEGATE_SETTLEMENT_COLD_MOVE_INITIATOR_ADDRESS"),
    ],
)
def test_bad_hot_cold_settings_are_refused_with_the_reason(
    mesh_pki: DevMesh, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(mesh_pki, **{**COMPLETE, **changes})
    assert message in str(caught.value)


def test_complete_hot_cold_settings_become_the_movers_options_watching_every_signing_key(mesh_pki: DevMesh) -> None:
    made = settings(
        mesh_pki,
        **COMPLETE,
        sweeper_address=D,
        signing_key_addresses=[A.upper().replace("0X", "0x")],
        cold_owner_keys={"owner-2": C, "owner-1": B},
        key_bnb_floor_wei=UNIT // 10,
    )
    options = hot_cold_options(made)
    assert (options.ceiling, options.target, options.floor) == (100 * UNIT, 40 * UNIT, 10 * UNIT)
    assert (options.hot_address, options.treasury, options.token, options.key_id) == (A, B, C, "key_hot")
    assert options.key_addresses == (A, D)  # listed keys plus the sweeper's, each once, lowercase
    assert options.cold_owner_keys == (("owner-1", B), ("owner-2", C))
    assert options.gas_floor_wei == UNIT // 10
