"""Optional mutual TLS on every service, and trace context carried from the caller into the logs."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import parts
from service_runtime.devcerts import CertPair, DevCertificateAuthority


def check(channel: grpc.Channel) -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    return int(reply.status)


def test_mutual_tls_admits_only_clients_with_a_certificate_from_the_ca(tmp_path: Path) -> None:
    ca = DevCertificateAuthority(tmp_path / "pki")
    server = ca.issue("signer", server=True)
    client = ca.issue("settlement", server=False)
    stranger_ca = DevCertificateAuthority(tmp_path / "other-pki", name="somebody else")
    stranger = stranger_ca.issue("intruder", server=False)
    spec, ready = parts.prepare_service(
        "signer",
        tmp_path,
        {
            "STABLEGATE_SIGNER_TLS__CERT_FILE": str(server.cert_file),
            "STABLEGATE_SIGNER_TLS__KEY_FILE": str(server.key_file),
            "STABLEGATE_SIGNER_TLS__CLIENT_CA_FILE": str(ca.cert_file),
        },
    )
    proc = parts.start(spec)
    try:
        target = f"localhost:{parts.read_ready_file(ready)['grpc_port']}"
        root = ca.cert_file.read_bytes()

        def creds(pair: CertPair | None) -> grpc.ChannelCredentials:
            if pair is None:
                return grpc.ssl_channel_credentials(root_certificates=root)
            return grpc.ssl_channel_credentials(
                root_certificates=root,
                private_key=pair.key_file.read_bytes(),
                certificate_chain=pair.cert_file.read_bytes(),
            )

        with grpc.secure_channel(target, creds(client)) as channel:
            assert check(channel) == health_pb2.HealthCheckResponse.SERVING
        for pair in (None, stranger):
            with grpc.secure_channel(target, creds(pair)) as channel, pytest.raises(grpc.RpcError):
                check(channel)
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError):
            check(channel)
    finally:
        proc.stop()


def test_trace_context_from_the_caller_appears_in_the_service_log(tmp_path: Path) -> None:
    spec, ready = parts.prepare_service("watcher", tmp_path)
    proc = parts.start(spec)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        port = parts.read_ready_file(ready)["grpc_port"]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(),
                metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"), ("x-request-id", "trace-test")),
                timeout=3,
            )
    finally:
        proc.stop()
    lines = [line for line in (tmp_path / "watcher.log").read_text().splitlines() if "trace-test" in line]
    assert len(lines) == 1
    assert f'"trace_id": "{trace_id}"' in lines[0]
