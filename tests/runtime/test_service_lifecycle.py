"""Every service skeleton serves gRPC health and reflection, and drains on SIGTERM within its timeout."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, cast

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from stablegate.settlement.v1 import sweep_service_pb2, sweep_service_pb2_grpc

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

from gateway import parts
from gateway.cli import SERVICES
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import mesh_sync_channel

DRAIN_DELAY = 1.0
DRAIN_TIMEOUT = 2.0


def health(channel: grpc.Channel, service: str = "") -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return int(reply.status)


def service_env(
    service: str, postgres: PostgresServer, pki: DevMesh, hsm: parts.SoftHsmToken, base: Path
) -> dict[str, str]:
    """What a service needs to start: its mesh certificate (the ledger and the dashboard also a database, migrated
    at start; the signer its HSM token and state file)."""
    env = pki.files(service).env(service)
    if service in ("ledger", "watcher"):
        prefix = f"STABLEGATE_{service.upper()}_"
        env |= {f"{prefix}DATABASE_URL": postgres.dsn, f"{prefix}MIGRATE_ON_START": "true"}
    if service == "checkout":
        env["STABLEGATE_CHECKOUT_HTTP_PORT"] = str(parts.free_port())  # the page's listener
    if service == "dashboard":
        env |= {
            "STABLEGATE_DASHBOARD_HTTP_PORT": str(parts.free_port()),  # the pages' listener
            "STABLEGATE_DASHBOARD_DATABASE_URL": postgres.dsn,
            "STABLEGATE_DASHBOARD_MIGRATE_ON_START": "true",
        }
    if service == "signer":
        env |= {
            **hsm.env,
            "STABLEGATE_SIGNER_TOKEN_LABEL": hsm.label,
            "STABLEGATE_SIGNER_PIN": hsm.user_pin,
            "STABLEGATE_SIGNER_STATE_PATH": str(base / "signer-state.sqlite3"),
        }
    return env


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_serves_health_then_drains_on_sigterm(
    service: str, tmp_path: Path, postgres: PostgresServer, mesh_pki: DevMesh, softhsm_token: parts.SoftHsmToken
) -> None:
    prefix = f"STABLEGATE_{service.upper()}_"
    spec, ready_file = parts.prepare_service(
        service,
        tmp_path,
        {
            f"{prefix}DRAIN_DELAY_SECONDS": str(DRAIN_DELAY),
            f"{prefix}DRAIN_TIMEOUT_SECONDS": str(DRAIN_TIMEOUT),
            **service_env(service, postgres, mesh_pki, softhsm_token, tmp_path),
        },
    )
    proc = parts.start(spec)
    try:
        ports = parts.read_ready_file(ready_file)
        grpc_port = ports["grpc_port"]
        with mesh_sync_channel(mesh_pki, Role.OPERATOR, int(grpc_port or 0)) as channel:
            assert health(channel) == health_pb2.HealthCheckResponse.SERVING
            served = SERVICES[service].load()[1]  # the definition function
            names = list(served.__globals__["SERVED"])
            for name in names:
                assert health(channel, name) == health_pb2.HealthCheckResponse.SERVING

            listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=2
            )
            reflected = {s.name for reply in listing for s in reply.list_services_response.service}
            assert set(names) <= reflected and "grpc.health.v1.Health" in reflected

            with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics_port']}/metrics", timeout=2) as resp:
                assert b"grpc_server_handled_total" in resp.read()

            proc.popen.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            # The service flips health once its loop has handled the signal: a Check sent at once can still
            # be answered SERVING. Within the drain delay (it still serves then) it must answer NOT_SERVING.
            while (status := health(channel)) != health_pb2.HealthCheckResponse.NOT_SERVING:
                assert status == health_pb2.HealthCheckResponse.SERVING
                assert time.monotonic() - sent < DRAIN_DELAY, "health never turned NOT_SERVING while draining"
                time.sleep(0.01)
        proc.popen.wait(timeout=DRAIN_DELAY + DRAIN_TIMEOUT + 3)
        assert time.monotonic() - sent <= DRAIN_DELAY + DRAIN_TIMEOUT + 1
        assert proc.popen.returncode == 0, proc.log_tail()
        assert not parts.port_is_open(int(grpc_port or 0))
        assert '"message": "stopped"' in proc.log_tail()
    finally:
        proc.stop()


def test_unbuilt_rpc_answers_unimplemented_with_error_info(tmp_path: Path, mesh_pki: DevMesh) -> None:
    env = mesh_pki.files(Role.SETTLEMENT).env("settlement")
    spec, ready_file = parts.prepare_service("settlement", tmp_path, env)
    proc = parts.start(spec)
    try:
        port = parts.read_ready_file(ready_file)["grpc_port"]
        with mesh_sync_channel(mesh_pki, Role.OPERATOR, int(port or 0)) as channel:
            stub = sweep_service_pb2_grpc.SweepServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetSweep(sweep_service_pb2.GetSweepRequest(), metadata=(("x-request-id", "req-42"),))
        err = cast(grpc.Call, caught.value)
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED
        status = rpc_status.from_call(err)
        assert status is not None and len(status.details) == 1
        from google.rpc import error_details_pb2

        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert (info.reason, info.domain) == ("NOT_IMPLEMENTED", "stablegate")
        assert info.metadata["method"] == "stablegate.settlement.v1.SweepService.GetSweep"
    finally:
        proc.stop()
    log = (tmp_path / "settlement.log").read_text()
    assert '"request_id": "req-42"' in log and '"grpc_code": "UNIMPLEMENTED"' in log and '"trace_id"' in log
