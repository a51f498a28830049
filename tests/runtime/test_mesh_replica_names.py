"""A list of replicas is one host's ports: each replica's certificate is checked against that host's name.

One gRPC channel checks every server's certificate against a single name (`grpc.ssl_target_name_override`), so
`service_runtime.mesh.balanced_target` refuses a list whose addresses differ instead of checking the second
host's certificate against the first host's name. Real certificates from the dev CA, real TLS servers.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from service_runtime import mesh
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import ReplicaNamesDiffer, Role
from tests.conftest import mesh_server_credentials
from watcher.config import WatcherSettings


async def health_server(pki: DevMesh, host: str) -> tuple[grpc.aio.Server, int, list[int]]:
    """A TLS gRPC server with the ledger's certificate (it names 127.0.0.1 only) and a count of its calls."""
    calls: list[int] = []

    class Counting(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
        async def Check(self, request: Any, context: Any) -> Any:
            calls.append(1)
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(Counting(), server)
    port = server.add_secure_port(f"{host}:0", mesh_server_credentials(pki, Role.LEDGER))
    await server.start()
    return server, port, calls


async def test_replicas_on_one_host_are_each_verified_and_balanced(mesh_pki: DevMesh) -> None:
    (a, port_a, calls_a), (b, port_b, calls_b) = [await health_server(mesh_pki, "127.0.0.1") for _ in range(2)]
    try:
        async with mesh.channel(f"127.0.0.1:{port_a},127.0.0.1:{port_b}", mesh_pki.files(Role.WATCHER)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(20):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert calls_a and calls_b, (len(calls_a), len(calls_b))  # round-robin over both, each TLS-verified
    finally:
        await a.stop(None)
        await b.stop(None)


async def test_a_list_of_different_hosts_is_refused_rather_than_checked_against_the_first(
    mesh_pki: DevMesh,
) -> None:
    # A server on 127.0.0.2 presenting a certificate that names 127.0.0.1 only: checked against its own name it
    # fails the handshake; a list naming 127.0.0.1 first would have accepted it.
    server, port, calls = await health_server(mesh_pki, "127.0.0.2")
    try:
        async with mesh.channel(f"127.0.0.2:{port}", mesh_pki.files(Role.WATCHER)) as own_name:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(own_name).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert calls == []
        with pytest.raises(ReplicaNamesDiffer, match=r"different hosts \(127\.0\.0\.1, 127\.0\.0\.2\)"):
            mesh.channel(f"127.0.0.1:{port},127.0.0.2:{port}", mesh_pki.files(Role.WATCHER))
    finally:
        await server.stop(None)


def test_the_settings_name_the_variable_of_a_list_of_different_hosts(
    mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = mesh_pki.files(Role.WATCHER).settings()
    same = WatcherSettings(ledger_target="10.0.0.1:1,10.0.0.1:2", tls=tls)  # type: ignore[arg-type]
    assert same.ledger_target == "10.0.0.1:1,10.0.0.1:2"
    with pytest.raises(ValidationError, match="ledger_target"):
        WatcherSettings(ledger_target="10.0.0.1:1,10.0.0.2:1", tls=tls)  # type: ignore[arg-type]
    for key, value in mesh_pki.files(Role.WATCHER).env("watcher").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STABLEGATE_WATCHER_LEDGER_TARGET", "10.0.0.1:20051,10.0.0.2:20051")
    with pytest.raises(ConfigError) as refused:
        load_settings(WatcherSettings)
    assert any(
        p.startswith("STABLEGATE_WATCHER_LEDGER_TARGET") and "different hosts (10.0.0.1, 10.0.0.2)" in p
        for p in refused.value.problems
    ), refused.value.problems
