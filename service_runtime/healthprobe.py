"""`python -m service_runtime.healthprobe SERVICE`: exit 0 when the service in this container answers SERVING.

The container images' HEALTHCHECK and the Kubernetes liveness/readiness probes run it (deploy/docker/,
deploy/kubernetes/). Every mesh port speaks mutual TLS only, so neither Docker nor the kubelet can ask
`grpc.health.v1` themselves: the probe dials 127.0.0.1 on the service's own gRPC port with the service's own
mesh certificate (every mesh role may call health, `service_runtime.mesh.INFRASTRUCTURE`), read from the same
`STABLEGATE_<SERVICE>_GRPC_PORT` and `STABLEGATE_<SERVICE>_TLS__*` variables the service reads. It prints one
line and exits 0 (SERVING), 1 (anything else: NOT_SERVING while draining, unreachable, refused) or 2 (the
probe's own configuration is incomplete). It never prints a key or a certificate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("ledger", "watcher", "settlement", "signer", "edge", "checkout")
"""The mesh services the probe knows (the processes `stablegate up` runs)."""
DEFAULT_TIMEOUT_SECONDS = 3.0
SERVER_NAME = "localhost"
"""The name the probe checks the server certificate against: every mesh certificate names `localhost` (the dev
certificates do; deploy/kubernetes/ asks cert-manager for it too), whatever address the service binds."""


class ProbeConfigError(ValueError):
    """The environment lacks what the probe needs; the message names the variable."""


@dataclass(frozen=True)
class ProbeTarget:
    """Where and as whom to probe: the local gRPC port and the service's own mesh files."""

    port: int
    cert_file: Path
    key_file: Path
    ca_file: Path


def target_from_env(service: str, env: Mapping[str, str]) -> ProbeTarget:
    """Read the service's port and TLS files from its own `STABLEGATE_<SERVICE>_*` variables."""
    if service not in SERVICES:
        raise ProbeConfigError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    prefix = f"STABLEGATE_{service.upper()}_"

    def need(name: str) -> str:
        value = env.get(prefix + name, "").strip()
        if not value:
            raise ProbeConfigError(f"{prefix}{name} is not set")
        return value

    raw_port = need("GRPC_PORT")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ProbeConfigError(f"{prefix}GRPC_PORT must be a port number from 1 to 65535, not {raw_port!r}")
    return ProbeTarget(
        port=int(raw_port),
        cert_file=Path(need("TLS__CERT_FILE")),
        key_file=Path(need("TLS__KEY_FILE")),
        ca_file=Path(need("TLS__CA_FILE")),
    )


def check(target: ProbeTarget, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    """The health status name the service reports for itself (`SERVING`, `NOT_SERVING`, ...).

    Raises grpc.RpcError when it does not answer, OSError when a TLS file cannot be read.
    """
    credentials = grpc.ssl_channel_credentials(
        root_certificates=target.ca_file.read_bytes(),
        private_key=target.key_file.read_bytes(),
        certificate_chain=target.cert_file.read_bytes(),
    )
    options = [("grpc.ssl_target_name_override", SERVER_NAME), ("grpc.enable_retries", 0)]
    with grpc.secure_channel(f"127.0.0.1:{target.port}", credentials, options=options) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Probe the named service; 0 when SERVING, 1 when not, 2 on a usage or configuration error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(f"usage: python -m service_runtime.healthprobe {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    service = args[0]
    try:
        target = target_from_env(service, os.environ if env is None else env)
    except ProbeConfigError as exc:
        print(f"healthprobe: {exc}", file=sys.stderr)
        return 2
    try:
        status = check(target)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        print(f"healthprobe: {service} on port {target.port} did not answer ({code})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"healthprobe: cannot read a mesh TLS file: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{service}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    raise SystemExit(main())
