"""STABLEGATE_NETWORK feeds every service's chain settings; a service that contradicts it is refused by name."""

from __future__ import annotations

import json

import pytest

from chain.networks import BSC_MAINNET_USDT, PROFILES
from ledger.config import LedgerSettings
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from settlement.config import SettlementSettings
from watcher.config import WatcherSettings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh) -> pytest.MonkeyPatch:
    """Mesh TLS for the ledger, watcher and settlement, and no STABLEGATE_* from outside."""
    import os

    for key in [k for k in os.environ if k.startswith("STABLEGATE_")]:
        monkeypatch.delenv(key)
    for service in ("ledger", "watcher", "settlement"):
        for key, value in mesh_pki.files(service).env(service).items():
            monkeypatch.setenv(key, value)
    return monkeypatch


def test_bsc_mainnet_feeds_chain_id_rpcs_token_decimals_and_finality_to_every_service(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("STABLEGATE_NETWORK", "bsc-mainnet")
    ledger, watcher = load_settings(LedgerSettings), load_settings(WatcherSettings)
    settlement = load_settings(SettlementSettings)
    profile = PROFILES["bsc-mainnet"]
    assert ledger.chain_id == watcher.chain_id == settlement.chain_id == 56
    assert ledger.token_contract == watcher.token_contract == settlement.token_contract == BSC_MAINNET_USDT
    assert ledger.token_decimals == watcher.token_decimals == 18
    assert watcher.rpc_urls == settlement.rpc_urls == list(profile.rpc_urls)
    assert watcher.finality_depth == 0


def test_the_networks_rpc_urls_can_be_overridden_once_and_per_service(env: pytest.MonkeyPatch) -> None:
    env.setenv("STABLEGATE_NETWORK", "bsc-mainnet")
    env.setenv("STABLEGATE_NETWORK_RPC_URLS", json.dumps(["https://a.example", "https://b.example"]))
    env.setenv("STABLEGATE_SETTLEMENT_RPC_URLS", json.dumps(["https://c.example"]))
    env.setenv("STABLEGATE_NETWORK_FINALITY_DEPTH", "15")
    watcher, settlement = load_settings(WatcherSettings), load_settings(SettlementSettings)
    assert watcher.rpc_urls == ["https://a.example", "https://b.example"]
    assert settlement.rpc_urls == ["https://c.example"]
    assert watcher.finality_depth == 15


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "STABLEGATE_WATCHER_CHAIN_ID",
            "97",
            "STABLEGATE_WATCHER_CHAIN_ID: 97 contradicts STABLEGATE_NETWORK=bsc-mainnet",
        ),
        ("STABLEGATE_LEDGER_TOKEN_DECIMALS", "6", "STABLEGATE_LEDGER_TOKEN_DECIMALS: 6 contradicts"),
        ("STABLEGATE_LEDGER_TOKEN_CONTRACT", "0x" + "12" * 20, "STABLEGATE_LEDGER_TOKEN_CONTRACT: 0x1212"),
    ],
)
def test_a_service_setting_that_contradicts_the_network_is_refused_by_name(
    env: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    env.setenv("STABLEGATE_NETWORK", "bsc-mainnet")
    env.setenv(variable, value)
    service = LedgerSettings if "LEDGER" in variable else WatcherSettings
    with pytest.raises(ConfigError) as caught:
        load_settings(service)
    (problem,) = caught.value.problems
    assert problem.startswith(says)


def test_the_same_value_spelled_by_the_service_is_accepted(env: pytest.MonkeyPatch) -> None:
    env.setenv("STABLEGATE_NETWORK", "bsc-mainnet")
    env.setenv("STABLEGATE_LEDGER_TOKEN_CONTRACT", BSC_MAINNET_USDT.lower())
    env.setenv("STABLEGATE_LEDGER_CHAIN_ID", "56")
    assert load_settings(LedgerSettings).token_contract == BSC_MAINNET_USDT


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"STABLEGATE_NETWORK": "bsc-devnet"}, "STABLEGATE_NETWORK: unknown network 'bsc-devnet'"),
        ({"STABLEGATE_NETWORK": "bsc-testnet"}, "bsc-testnet has no canonical USDT"),
        (
            {
                "STABLEGATE_NETWORK": "bsc-testnet",
                "STABLEGATE_NETWORK_TOKEN_CONTRACT": BSC_MAINNET_USDT,
                "STABLEGATE_NETWORK_TOKEN_DECIMALS": "18",
            },
            "is BSC-USD on mainnet, not on bsc-testnet",
        ),
        (
            {"STABLEGATE_NETWORK": "bsc-mainnet", "STABLEGATE_NETWORK_TOKEN_DECIMALS": "6"},
            "STABLEGATE_NETWORK_TOKEN_DECIMALS: bsc-mainnet's token has 18 decimals, not 6",
        ),
        ({"STABLEGATE_NETWORK": "bsc-mainnet", "STABLEGATE_NETWORK_RPC_URLS": "http://x"}, "must be a JSON list"),
        ({"STABLEGATE_NETWORK_RPC_URLS": '["http://x"]'}, "set without STABLEGATE_NETWORK"),
    ],
)
def test_bad_network_variables_are_refused_naming_the_variable(
    env: pytest.MonkeyPatch, variables: dict[str, str], says: str
) -> None:
    for key, value in variables.items():
        env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(WatcherSettings)
    assert says in caught.value.problems[0]


def test_bsc_testnet_takes_its_token_and_decimals_from_config(env: pytest.MonkeyPatch) -> None:
    token = "0x" + "ab" * 20
    env.setenv("STABLEGATE_NETWORK", "bsc-testnet")
    env.setenv("STABLEGATE_NETWORK_TOKEN_CONTRACT", token)
    env.setenv("STABLEGATE_NETWORK_TOKEN_DECIMALS", "6")
    ledger, watcher = load_settings(LedgerSettings), load_settings(WatcherSettings)
    assert ledger.chain_id == watcher.chain_id == 97
    assert ledger.token_contract.lower() == watcher.token_contract.lower() == token
    assert ledger.token_decimals == watcher.token_decimals == 6
    assert watcher.rpc_urls == list(PROFILES["bsc-testnet"].rpc_urls)


def test_without_a_network_services_keep_their_own_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("STABLEGATE_WATCHER_CHAIN_ID", "31337")
    watcher = load_settings(WatcherSettings)
    assert watcher.chain_id == 31337 and watcher.token_decimals is None


def test_local_is_up_s_anvil_with_the_token_left_to_each_service(env: pytest.MonkeyPatch) -> None:
    token = "0x" + "cd" * 20
    env.setenv("STABLEGATE_NETWORK", "local")
    env.setenv("STABLEGATE_WATCHER_TOKEN_CONTRACT", token)
    watcher = load_settings(WatcherSettings)
    assert watcher.chain_id == 97 and watcher.rpc_urls == ["http://127.0.0.1:8545"]
    assert watcher.token_contract == token and watcher.token_decimals == 18
