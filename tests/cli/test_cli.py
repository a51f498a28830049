"""The `stablegate` CLI: help lists the commands; bad config exits 2 naming the variable and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import SERVICES


def stablegate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = stablegate("--help")
    assert result.returncode == 0
    for command in ("up", "serve", "config"):
        assert command in result.stdout


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "stablegate")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "usage: stablegate" in result.stdout


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_bad_port_exits_2_naming_the_variable(service: str) -> None:
    var = f"STABLEGATE_{service.upper()}_GRPC_PORT"
    result = stablegate("serve", service, env={var: "not-a-port"})
    assert result.returncode == 2
    assert var in result.stderr
    assert "valid integer" in result.stderr and "'not-a-port'" in result.stderr


def test_unknown_variable_is_refused_by_name() -> None:
    result = stablegate("config", "check", "ledger", env={"STABLEGATE_LEDGER_GRPC_PROT": "1"})
    assert result.returncode == 2
    assert "STABLEGATE_LEDGER_GRPC_PROT: not a setting of the ledger" in result.stderr
    assert "did you mean STABLEGATE_LEDGER_GRPC_PORT?" in result.stderr


@pytest.mark.parametrize("profile", ["dev", "test", "prod"])
def test_no_profile_runs_without_mesh_tls_and_the_error_names_what_to_set(profile: str) -> None:
    result = stablegate("config", "check", "ledger", env={"STABLEGATE_LEDGER_PROFILE": profile})
    assert result.returncode == 2
    assert "STABLEGATE_LEDGER_TLS: Field required; set STABLEGATE_LEDGER_TLS__CERT_FILE" in result.stderr
    assert "STABLEGATE_LEDGER_TLS__CA_FILE" in result.stderr and "stablegate mesh certs" in result.stderr


def mesh_env(tmp_path: Path) -> dict[str, str]:
    """`stablegate mesh certs` output, as an environment."""
    made = stablegate("mesh", "certs", "--dir", str(tmp_path / "pki"))
    assert made.returncode == 0, made.stderr
    return dict(line.split("=", 1) for line in made.stdout.splitlines())


def test_mesh_certs_makes_a_certificate_per_service_that_its_config_accepts(tmp_path: Path) -> None:
    env = mesh_env(tmp_path)
    for service in SERVICES:
        checked = stablegate("config", "check", service, env=env)
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["tls"]["cert_file"] == str(tmp_path / "pki" / f"{service}.pem")
    swapped = {**env, "STABLEGATE_LEDGER_TLS__CERT_FILE": env["STABLEGATE_EDGE_TLS__CERT_FILE"]}
    refused = stablegate("config", "check", "ledger", env=swapped)
    assert refused.returncode == 2
    assert "STABLEGATE_LEDGER_TLS: the certificate names the edge role; the ledger needs a ledger one" in (
        refused.stderr
    )


def test_prod_signer_refuses_softhsm_a_demo_pin_and_the_dev_ca(tmp_path: Path) -> None:
    result = stablegate(
        "config",
        "check",
        "signer",
        env={**mesh_env(tmp_path), "STABLEGATE_SIGNER_PROFILE": "prod", "STABLEGATE_SIGNER_PIN": "dev-only-0123456789"},
    )
    assert result.returncode == 2
    assert "STABLEGATE_SIGNER_PKCS11_MODULE: prod refuses SoftHSM" in result.stderr
    assert "STABLEGATE_SIGNER_PIN: prod refuses an empty or demo PIN" in result.stderr
    assert "STABLEGATE_SIGNER_TLS: prod refuses the development CA" in result.stderr
    assert "0123456789" not in result.stderr + result.stdout


def test_config_check_masks_secrets(tmp_path: Path) -> None:
    env = {**mesh_env(tmp_path), "STABLEGATE_SIGNER_PIN": "s3cret-pin"}
    result = stablegate("config", "check", "signer", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["pin"] == "**********"
    assert "s3cret-pin" not in result.stdout


@pytest.mark.parametrize("network", ["bsc-mainnet", "bsc-testnet"])
def test_up_refuses_a_real_network_and_starts_nothing(network: str, tmp_path: Path) -> None:
    """`up` runs only the local chain: a real network in the shell is refused before any part starts."""
    state = tmp_path / "state"
    result = stablegate("up", "--state-dir", str(state), env={"STABLEGATE_NETWORK": network})
    assert result.returncode == 2
    assert f"STABLEGATE_NETWORK={network} names a real network" in result.stderr
    assert "Unset STABLEGATE_NETWORK" in result.stderr
    assert not state.exists(), "nothing may be created when `up` refuses"
