"""`stablegate chain deploy`: contracts on the node, the ledger's variables in an env file, clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chain.contracts import Chain, Contract, load_artifact
from chain.rpc import JsonRpc
from gateway import parts
from tests.conftest import AnvilNode


def stablegate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=parts.REPO_ROOT,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def test_chain_deploy_writes_the_ledgers_variables_for_contracts_that_exist(anvil: AnvilNode, tmp_path: Path) -> None:
    env_file = tmp_path / "chain.env"
    done = stablegate("chain", "deploy", "--rpc-url", anvil.url, "--env-file", str(env_file))
    assert done.returncode == 0, done.stderr
    assert "deployed" in done.stderr and "init-code hash" in done.stderr
    lines = [line for line in env_file.read_text().splitlines() if line and not line.startswith("#")]
    env = dict(line.split("=", 1) for line in lines)
    assert sorted(env) == [
        "STABLEGATE_LEDGER_CHAIN_ID",
        "STABLEGATE_LEDGER_FORWARDER_FACTORY",
        "STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH",
        "STABLEGATE_LEDGER_TOKEN_CONTRACT",
        "STABLEGATE_LEDGER_TOKEN_DECIMALS",
    ]
    assert env["STABLEGATE_LEDGER_CHAIN_ID"] == "97"
    assert env["STABLEGATE_LEDGER_TOKEN_DECIMALS"] == "18"
    chain = Chain(JsonRpc(anvil.url))
    factory = Contract(chain, env["STABLEGATE_LEDGER_FORWARDER_FACTORY"], load_artifact("ForwarderFactory"))
    assert "0x" + factory.call1("forwarderInitCodeHash").hex() == env["STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH"]
    assert factory.call1("token") == env["STABLEGATE_LEDGER_TOKEN_CONTRACT"]
    everything = json.loads(env_file.with_suffix(".json").read_text())
    assert everything["treasury"] == factory.call1("treasury")
    assert everything["roles"]["cold_safe"] == chain.accounts()[1]

    # An existing token is reused, not redeployed.
    again = tmp_path / "again.env"
    token = env["STABLEGATE_LEDGER_TOKEN_CONTRACT"]
    done = stablegate("chain", "deploy", "--rpc-url", anvil.url, "--token", token, "--env-file", str(again))
    assert done.returncode == 0, done.stderr
    assert f"STABLEGATE_LEDGER_TOKEN_CONTRACT={token}" in again.read_text()
    assert "test token" not in done.stderr


def test_chain_deploy_says_what_is_wrong(anvil: AnvilNode, tmp_path: Path) -> None:
    down = stablegate("chain", "deploy", "--rpc-url", f"http://127.0.0.1:{parts.free_port()}")
    assert down.returncode == 1
    assert "cannot reach the JSON-RPC node" in down.stderr and "./dev up" in down.stderr

    env_file = str(tmp_path / "chain.env")
    locked = stablegate(
        "chain", "deploy", "--rpc-url", anvil.url, "--deployer", "0x" + "12" * 20, "--env-file", env_file
    )
    assert locked.returncode == 1
    assert "no unlocked account" in locked.stderr and "signer" in locked.stderr

    no_token = stablegate(
        "chain", "deploy", "--rpc-url", anvil.url, "--token", "0x" + "34" * 20, "--env-file", env_file
    )
    assert no_token.returncode == 1
    assert "no contract at the token address" in no_token.stderr
    assert not (tmp_path / "chain.env").exists()
