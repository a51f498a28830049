"""The edge's Envoy bootstrap is a valid Envoy config (checked by Envoy itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edge.bootstrap import envoy_yaml
from service_runtime import parts


def test_envoy_validates_the_generated_bootstrap(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(envoy_yaml(listen_port=parts.free_port(), admin_port=parts.free_port()))
    envoy = parts.which("envoy", "run ./dev setup")
    result = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_envoy_validate_rejects_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(
        envoy_yaml(listen_port=parts.free_port(), admin_port=parts.free_port()).replace("routes:", "rutes:")
    )
    envoy = parts.which("envoy", "run ./dev setup")
    result = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
