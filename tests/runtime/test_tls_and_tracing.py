"""Mutual TLS on every service in every profile, the caller's mesh role checked per method, and trace context."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import parts
from service_runtime import mesh
from service_runtime.config import ConfigError, ServiceSettings, load_settings
from service_runtime.devcerts import DevCertificateAuthority, DevMesh
from service_runtime.mesh import MeshFiles, Role
from service_runtime.server import ServiceDefinition, ServiceRuntime
from tests.conftest import error_info, mesh_sync_channel

SERVICE = "test.v1.Vault"


def vault_definition() -> ServiceDefinition:
    """A service whose Open method only settlement may call, with a streaming method too, and one no rule names."""

    async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return b"opened"

    async def stream(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        yield b"one"
        yield b"two"

    def register(server: grpc.aio.Server) -> None:
        handlers = {
            "Open": grpc.unary_unary_rpc_method_handler(unary),
            "Watch": grpc.unary_stream_rpc_method_handler(stream),
            "Forgotten": grpc.unary_unary_rpc_method_handler(unary),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    roles = {f"/{SERVICE}/Open": frozenset({Role.SETTLEMENT}), f"/{SERVICE}/Watch": frozenset({Role.SETTLEMENT})}
    return ServiceDefinition("vault", register, (SERVICE,), roles=roles)


@pytest.mark.parametrize("profile", ["dev", "prod"])
async def test_a_method_answers_its_roles_only_and_refuses_other_roles_no_role_and_no_certificate(
    profile: str, tmp_path: Path
) -> None:
    # prod refuses the dev CA by name, so prod runs on an "operator's" CA.
    name = "stablegate dev CA" if profile == "dev" else "example.com mesh CA"
    ca = DevCertificateAuthority(tmp_path / "pki", name=name)
    server = ca.issue(Role.SIGNER)

    def files(role: str, **kwargs: Any) -> MeshFiles:
        pair = ca.issue(role, file_name=f"{role}-{len(kwargs)}", **kwargs)
        return MeshFiles(pair.cert_file, pair.key_file, ca.cert_file)

    settings = load_settings(
        ServiceSettings,
        profile=profile,
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=0,
        tls=MeshFiles(server.cert_file, server.key_file, ca.cert_file).settings(),
    )
    runtime = ServiceRuntime(settings, vault_definition())
    port = (await runtime.start()).grpc_port
    target = f"127.0.0.1:{port}"

    async def call(creds: grpc.ChannelCredentials, method: str = "Open") -> bytes:
        async with grpc.aio.secure_channel(target, creds) as channel:
            if method == "Watch":
                return b"".join(
                    [r async for r in channel.unary_stream(f"/{SERVICE}/Watch", None, None)(b"", timeout=5)]
                )
            return bytes(await channel.unary_unary(f"/{SERVICE}/{method}", None, None)(b"", timeout=5))

    try:
        settlement = mesh.channel_credentials(files(Role.SETTLEMENT))
        assert await call(settlement) == b"opened"
        assert await call(settlement, "Watch") == b"onetwo"

        for role in (Role.EDGE, Role.WATCHER, Role.OPERATOR):
            for method in ("Open", "Watch"):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(mesh.channel_credentials(files(role)), method)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, (role, method)
                assert error_info(refused.value).reason == "MESH_ROLE_NOT_ALLOWED"

        # A method no rule names is refused even to the role that may call its neighbours (deny by default).
        with pytest.raises(grpc.aio.AioRpcError) as unnamed:
            await call(settlement, "Forgotten")
        assert unnamed.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # A certificate from the mesh CA that names no role (or another trust domain's) is refused.
        for odd in ("spiffe://elsewhere/role/settlement", "spiffe://stablegate/role/root"):
            with pytest.raises(grpc.aio.AioRpcError) as roleless:
                await call(mesh.channel_credentials(files(Role.SETTLEMENT, spiffe=odd)))
            assert roleless.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_info(roleless.value).reason == "MESH_ROLE_MISSING"

        # No certificate, or one from another CA: the TLS handshake itself fails.
        stranger_ca = DevCertificateAuthority(tmp_path / "stranger", name="somebody else")
        stranger = stranger_ca.issue(Role.SETTLEMENT)
        refused_creds = [
            grpc.ssl_channel_credentials(root_certificates=ca.cert_file.read_bytes()),
            grpc.ssl_channel_credentials(
                root_certificates=ca.cert_file.read_bytes(),
                private_key=stranger.key_file.read_bytes(),
                certificate_chain=stranger.cert_file.read_bytes(),
            ),
        ]
        for creds in refused_creds:
            with pytest.raises(grpc.aio.AioRpcError) as handshake:
                await call(creds)
            assert handshake.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(target) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as plain:
                await plaintext.unary_unary(f"/{SERVICE}/Open", None, None)(b"", timeout=5)
            assert plain.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        runtime.request_stop()
        await asyncio.wait_for(runtime.wait_and_drain(), 15)


def test_settings_without_mesh_tls_or_with_another_roles_certificate_are_refused(
    mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.config import LedgerSettings

    for profile in ("dev", "test"):
        monkeypatch.setenv("STABLEGATE_LEDGER_PROFILE", profile)
        with pytest.raises(ConfigError, match="STABLEGATE_LEDGER_TLS: Field required"):
            load_settings(LedgerSettings)
    for key, value in mesh_pki.files(Role.EDGE).env("ledger").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(
        ConfigError, match="STABLEGATE_LEDGER_TLS: the certificate names the edge role; the ledger needs a ledger one"
    ):
        load_settings(LedgerSettings)


def test_prod_refuses_the_dev_ca(mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.config import LedgerSettings

    for key, value in mesh_pki.files(Role.LEDGER).env("ledger").items():
        monkeypatch.setenv(key, value)
    assert load_settings(LedgerSettings).tls.role() == "ledger"
    monkeypatch.setenv("STABLEGATE_LEDGER_PROFILE", "prod")
    with pytest.raises(ConfigError, match="STABLEGATE_LEDGER_TLS: prod refuses the development CA"):
        load_settings(LedgerSettings)


def test_trace_context_from_the_caller_appears_in_the_service_log(tmp_path: Path, mesh_pki: DevMesh) -> None:
    spec, ready = parts.prepare_service("settlement", tmp_path, mesh_pki.files(Role.SETTLEMENT).env("settlement"))
    proc = parts.start(spec)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        with mesh_sync_channel(mesh_pki, Role.OPERATOR, port) as channel:
            health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(),
                metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"), ("x-request-id", "trace-test")),
                timeout=3,
            )
    finally:
        proc.stop()
    lines = [line for line in (tmp_path / "settlement.log").read_text().splitlines() if "trace-test" in line]
    assert len(lines) == 1
    assert f'"trace_id": "{trace_id}"' in lines[0]


async def test_each_call_is_a_server_span_in_the_callers_trace_with_its_status(tmp_path: Path) -> None:
    """The runtime's one interceptor opens a SERVER span per call, a child of the caller's `traceparent`, and marks
    refused calls (a role refusal included) as errors; the ids in logs are the span's."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    ca = DevCertificateAuthority(tmp_path / "pki")
    server = ca.issue(Role.SIGNER)
    settings = load_settings(
        ServiceSettings,
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=0,
        tls=MeshFiles(server.cert_file, server.key_file, ca.cert_file).settings(),
    )
    runtime = ServiceRuntime(settings, vault_definition())
    exporter = InMemorySpanExporter()
    runtime.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    port = (await runtime.start()).grpc_port
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = (("traceparent", f"00-{trace_id}-{parent_id}-01"),)

    async def call(role: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        pair = ca.issue(role, file_name=f"{role}-client")
        creds = mesh.channel_credentials(MeshFiles(pair.cert_file, pair.key_file, ca.cert_file))
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
            await channel.unary_unary(f"/{SERVICE}/Open", None, None)(b"", timeout=5, metadata=metadata)

    try:
        await call(Role.SETTLEMENT, traceparent)
        with pytest.raises(grpc.aio.AioRpcError):
            await call(Role.EDGE, traceparent)
        await call(Role.SETTLEMENT)
    finally:
        runtime.request_stop()
        await asyncio.wait_for(runtime.wait_and_drain(), 15)
    spans = [s for s in exporter.get_finished_spans() if s.name == f"/{SERVICE}/Open"]
    assert len(spans) == 3
    served, refused, fresh = spans
    for span in spans:
        assert span.kind == SpanKind.SERVER
        assert span.attributes is not None
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == SERVICE
        assert span.attributes["rpc.method"] == "Open"
    for span in (served, refused):
        assert format(span.context.trace_id, "032x") == trace_id
        assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id
    assert served.attributes is not None and served.attributes["rpc.grpc.status_code"] == 0
    assert served.status.status_code == StatusCode.UNSET
    assert refused.attributes is not None and refused.attributes["rpc.grpc.status_code"] == 7
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.status.description == "MESH_ROLE_NOT_ALLOWED"
    # Without a traceparent the call starts a trace of its own.
    assert fresh.parent is None and format(fresh.context.trace_id, "032x") != trace_id
