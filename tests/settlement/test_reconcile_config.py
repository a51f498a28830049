"""Settlement's reconciliation settings are validated at start: a bad value names its variable."""

from __future__ import annotations

import pytest

from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.config import SettlementSettings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reconcile_interval_seconds", 5, "must be 0 (off) or at least 10 seconds"),
        ("reconcile_interval_seconds", -1, "greater than or equal to 0"),
        ("cold_safe_address", "0x1234", "must be a 0x-prefixed 20-byte hex address, or empty"),
        ("treasury_address", "treasury", "must be a 0x-prefixed 20-byte hex address, or empty"),
        ("signing_key_addresses", ["0xnothex"], "not 0x-prefixed 20-byte hex addresses: 0xnothex"),
        ("signing_key_addresses", ["0x" + "ab" * 20, "0x" + "AB" * 20], "an address is listed twice"),
    ],
)
def test_bad_reconciliation_settings_are_refused_naming_the_variable(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(SettlementSettings, **{"profile": "test", field: value})
    assert message in str(caught.value)
    assert f"STABLEGATE_SETTLEMENT_{field.upper()}" in str(caught.value)


def test_no_cold_safe_and_no_job_are_valid_choices(mesh_pki: DevMesh) -> None:
    settings = load_settings(
        SettlementSettings,
        profile="test",
        tls=mesh_pki.files(Role.SETTLEMENT).settings(),
        cold_safe_address="",
        reconcile_interval_seconds=0,
    )
    assert settings.cold_safe_address == "" and settings.reconcile_interval_seconds == 0
