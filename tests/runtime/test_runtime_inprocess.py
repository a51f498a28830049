"""The shared runtime in-process: drain lets in-flight calls finish; unexpected errors never leak details."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from service_runtime.config import ServiceSettings, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.server import ServiceDefinition, ServiceRuntime
from tests.conftest import mesh_channel

SERVICE = "test.v1.Probe"
SLOW_SECONDS = 1.5


def probe_definition(started: asyncio.Event) -> ServiceDefinition:
    async def slow(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        started.set()
        await asyncio.sleep(SLOW_SECONDS)
        return b"done:" + request

    async def broken(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        raise RuntimeError("cannot reach postgresql://app:hunter2@db/ledger")

    def register(server: grpc.aio.Server) -> None:
        handlers = {
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "Broken": grpc.unary_unary_rpc_method_handler(broken),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    return ServiceDefinition("probe", register, (SERVICE,), roles={f"/{SERVICE}/": frozenset({Role.OPERATOR})})


def settings(pki: DevMesh, **values: Any) -> ServiceSettings:
    return load_settings(
        ServiceSettings, grpc_port=0, metrics_port=None, tls=pki.files(Role.LEDGER).settings(), **values
    )


async def test_sigterm_drain_turns_not_serving_then_lets_the_in_flight_call_finish(mesh_pki: DevMesh) -> None:
    started = asyncio.Event()
    runtime = ServiceRuntime(
        settings(mesh_pki, drain_delay_seconds=0.5, drain_timeout_seconds=5), probe_definition(started)
    )
    ports = await runtime.start()
    async with mesh_channel(mesh_pki, Role.OPERATOR, ports.grpc_port) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        slow = channel.unary_unary(f"/{SERVICE}/Slow", None, None)
        in_flight = asyncio.ensure_future(slow(b"x", timeout=10))
        await started.wait()
        began = time.monotonic()
        runtime.request_stop()
        drained = asyncio.ensure_future(runtime.wait_and_drain())
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
        while reply.status != health_pb2.HealthCheckResponse.NOT_SERVING:
            await asyncio.sleep(0.01)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
        assert await in_flight == b"done:x"
        await drained
        assert time.monotonic() - began >= 0.5
    async with mesh_channel(mesh_pki, Role.OPERATOR, ports.grpc_port) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(f"/{SERVICE}/Slow", None, None)(b"y", timeout=1)
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_unexpected_exception_is_internal_with_request_id_and_no_details(mesh_pki: DevMesh) -> None:
    runtime = ServiceRuntime(settings(mesh_pki), probe_definition(asyncio.Event()))
    ports = await runtime.start()
    try:
        async with mesh_channel(mesh_pki, Role.OPERATOR, ports.grpc_port) as channel:
            call = channel.unary_unary(f"/{SERVICE}/Broken", None, None)(
                b"", metadata=(("x-request-id", "req-7"),), timeout=5
            )
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                error = exc
            else:
                raise AssertionError("expected an error")
        assert error.code() == grpc.StatusCode.INTERNAL
        assert "hunter2" not in (error.details() or "")
        assert "req-7" in (error.details() or "")
        trailers = dict(cast(Any, error.trailing_metadata()))
        assert trailers["x-request-id"] == "req-7"
        status = rpc_status.from_call(cast(grpc.Call, error))
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert info.reason == "INTERNAL_ERROR"
        assert info.metadata["requestId"] == "req-7"
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()


async def test_a_failed_call_is_counted_before_its_caller_holds_the_error(mesh_pki: DevMesh) -> None:
    # The interceptor aborts with the error's status, and grpc sends that status from inside `abort`: a call
    # counted only after `abort` returned could be missing from /metrics when its caller already has the reply.
    runtime = ServiceRuntime(settings(mesh_pki), probe_definition(asyncio.Event()))
    ports = await runtime.start()
    labels = {"grpc_method": f"/{SERVICE}/Broken", "grpc_code": "INTERNAL"}
    try:
        async with mesh_channel(mesh_pki, Role.OPERATOR, ports.grpc_port) as channel:
            broken = channel.unary_unary(f"/{SERVICE}/Broken", None, None)
            for calls in range(1, 101):
                with pytest.raises(grpc.aio.AioRpcError):
                    await broken(b"", timeout=5)
                assert runtime.registry.get_sample_value("grpc_server_handled_total", labels) == calls
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()
