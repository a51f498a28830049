"""The ledger refuses chain config that cannot be right: mainnet's token on a test chain, placeholders in prod."""

from __future__ import annotations

import pytest

from chain.networks import BSC_MAINNET_USDT
from ledger.config import LedgerSettings
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh


@pytest.fixture
def ledger_env(monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh) -> pytest.MonkeyPatch:
    for key, value in mesh_pki.files("ledger").env("ledger").items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_mainnet_usdt_on_chain_97_is_refused_at_start_naming_the_variable(ledger_env: pytest.MonkeyPatch) -> None:
    ledger_env.setenv("STABLEGATE_LEDGER_CHAIN_ID", "97")
    ledger_env.setenv("STABLEGATE_LEDGER_TOKEN_CONTRACT", BSC_MAINNET_USDT.lower())
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings)
    (problem,) = caught.value.problems
    assert problem.startswith("STABLEGATE_LEDGER_TOKEN_CONTRACT: ")
    assert "chain 56" in problem and "CHAIN_ID is 97" in problem


def test_mainnet_usdt_on_mainnet_is_accepted(ledger_env: pytest.MonkeyPatch) -> None:
    ledger_env.setenv("STABLEGATE_LEDGER_CHAIN_ID", "56")
    ledger_env.setenv("STABLEGATE_LEDGER_TOKEN_CONTRACT", BSC_MAINNET_USDT)
    assert load_settings(LedgerSettings).token_contract == BSC_MAINNET_USDT


def test_prod_refuses_the_placeholder_token_factory_and_init_code_hash(ledger_env: pytest.MonkeyPatch) -> None:
    ledger_env.setenv("STABLEGATE_LEDGER_PROFILE", "prod")
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings)
    named = {p.split(":", 1)[0] for p in caught.value.problems}
    assert {
        "STABLEGATE_LEDGER_TOKEN_CONTRACT",
        "STABLEGATE_LEDGER_FORWARDER_FACTORY",
        "STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH",
    } <= named


def test_prod_accepts_deployed_values_for_the_chain_fields(ledger_env: pytest.MonkeyPatch) -> None:
    ledger_env.setenv("STABLEGATE_LEDGER_PROFILE", "prod")
    ledger_env.setenv("STABLEGATE_LEDGER_CHAIN_ID", "56")
    ledger_env.setenv("STABLEGATE_LEDGER_TOKEN_CONTRACT", BSC_MAINNET_USDT)
    ledger_env.setenv("STABLEGATE_LEDGER_FORWARDER_FACTORY", "0x" + "12" * 20)
    ledger_env.setenv("STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH", "0x" + "34" * 32)
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings)
    # Only the dev mesh CA and the missing webhook key are left to refuse: the chain fields pass.
    refused = sorted(p.split(":", 1)[0] for p in caught.value.problems)
    assert refused == ["STABLEGATE_LEDGER_TLS", "STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY"]
