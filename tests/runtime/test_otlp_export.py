"""The server spans leave the process by OTLP/gRPC when OTLP_TRACES_ENDPOINT is set: a real gRPC server on
loopback speaking the collector's TraceService (the protocol of deploy/observability/otel-collector.yaml's otlp
receiver) receives them, with the caller's trace id and the service's name."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc

from service_runtime import mesh
from service_runtime.config import ConfigError, ServiceSettings, load_settings
from service_runtime.devcerts import DevCertificateAuthority
from service_runtime.mesh import MeshFiles, Role
from service_runtime.server import ServiceRuntime
from tests.runtime.test_tls_and_tracing import SERVICE, vault_definition


class Collector(otlp_grpc.TraceServiceServicer):
    """What an OpenTelemetry Collector's otlp receiver does with traces, minus the pipeline: keep them."""

    def __init__(self) -> None:
        self.requests: list[otlp.ExportTraceServiceRequest] = []
        self.arrived = asyncio.Event()

    async def Export(
        self, request: otlp.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> otlp.ExportTraceServiceResponse:
        self.requests.append(request)
        self.arrived.set()
        return otlp.ExportTraceServiceResponse()


def settings_for(ca: DevCertificateAuthority, **overrides: Any) -> ServiceSettings:
    server = ca.issue(Role.SIGNER)
    return load_settings(
        ServiceSettings,
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=0,
        tls=MeshFiles(server.cert_file, server.key_file, ca.cert_file).settings(),
        **overrides,
    )


async def test_server_spans_are_exported_to_the_otlp_endpoint(tmp_path: Path) -> None:
    collector = Collector()
    receiver = grpc.aio.server()
    otlp_grpc.add_TraceServiceServicer_to_server(collector, receiver)  # type: ignore[no-untyped-call]
    otlp_port = receiver.add_insecure_port("127.0.0.1:0")
    await receiver.start()
    ca = DevCertificateAuthority(tmp_path / "pki")
    runtime = ServiceRuntime(settings_for(ca, otlp_traces_endpoint=f"http://127.0.0.1:{otlp_port}"), vault_definition())
    port = (await runtime.start()).grpc_port
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        pair = ca.issue(Role.SETTLEMENT, file_name="settlement-client")
        creds = mesh.channel_credentials(MeshFiles(pair.cert_file, pair.key_file, ca.cert_file))
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
            metadata = (("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),)
            assert await channel.unary_unary(f"/{SERVICE}/Open", None, None)(b"", timeout=5, metadata=metadata)
    finally:
        runtime.request_stop()
        await asyncio.wait_for(runtime.wait_and_drain(), 20)  # the stop flushes the queued spans
        await receiver.stop(None)
    spans = [
        (resource.resource, span)
        for request in collector.requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert [span.name for _, span in spans] == [f"/{SERVICE}/Open"]
    resource, span = spans[0]
    assert span.trace_id.hex() == trace_id
    assert span.kind == span.SPAN_KIND_SERVER
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "stablegate-vault"


async def test_without_an_endpoint_nothing_is_exported_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    ca = DevCertificateAuthority(tmp_path / "pki")
    assert settings_for(ca).otlp_traces_endpoint is None
    assert settings_for(ca, otlp_traces_endpoint="").otlp_traces_endpoint is None
    for bad in ("otel-collector:4317", "ftp://collector:4317", "http://collector:4317/v1/traces?x=1"):
        with pytest.raises(ConfigError) as refused:
            settings_for(ca, otlp_traces_endpoint=bad)
        assert "STABLEGATE_OTLP_TRACES_ENDPOINT" in str(refused.value)
