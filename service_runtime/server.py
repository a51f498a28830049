"""grpc.aio server bootstrap shared by every service.

`serve()` builds the server with the shared interceptor (mesh role check, OpenTelemetry span, ids in logs,
metrics, domain errors),
registers the service's handlers, `grpc.health.v1` health and reflection, binds with mutual TLS (always: the
caller's certificate names its mesh role, checked against the service's `roles` before any handler runs),
starts a Prometheus endpoint, and on SIGTERM or SIGINT drains: health turns NOT_SERVING for every service,
the server waits `drain_delay_seconds` so load balancers notice, then stops accepting calls and gives in-flight
ones `drain_timeout_seconds` to finish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from prometheus_client import CollectorRegistry, start_http_server

from service_runtime import config_view
from service_runtime.config import S, ServiceSettings, settings_or_exit
from service_runtime.interceptors import RpcMetrics, ServiceInterceptor
from service_runtime.logs import configure_logging
from service_runtime.mesh import MethodRoles, Role

log = logging.getLogger("stablegate.server")
OTLP_TIMEOUT_SECONDS = 5
"""How long one span export may take (at shutdown too, so an unreachable collector delays a stop by no more)."""


@dataclass(frozen=True)
class ServiceDefinition:
    """What one service serves: a name, a function registering its handlers, and its full service names."""

    name: str
    register: Callable[[grpc.aio.Server], None]
    service_names: Sequence[str] = field(default_factory=tuple)
    startup: Callable[[], Awaitable[None]] | None = None
    """Runs before the server binds (open pools, run dev migrations); a failure stops the start."""
    shutdown: Callable[[], Awaitable[None]] | None = None
    """Runs after the server has stopped (close pools)."""
    interceptors: Sequence[grpc.aio.ServerInterceptor] = field(default_factory=tuple)  # type: ignore[type-arg]
    """The service's own interceptors, inside the shared ones (so their domain errors get the error shape)."""
    roles: MethodRoles = field(default_factory=dict)
    """Which mesh roles may call which methods (service_runtime.mesh); a method no rule names is refused."""
    metrics: Callable[[CollectorRegistry], None] | None = None
    """Registers the service's own metrics in the runtime's registry (served on /metrics with the RPC metrics)."""


@dataclass
class BoundPorts:
    """The ports a started service actually listens on."""

    grpc_port: int
    metrics_port: int | None


def server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials:
    """Mutual TLS from the settings' files: every caller must present a certificate from the mesh CA."""
    return grpc.ssl_server_credentials(
        [(settings.tls.key_file.read_bytes(), settings.tls.cert_file.read_bytes())],
        root_certificates=settings.tls.ca_file.read_bytes(),
        require_client_auth=True,
    )


RUNTIME_ROLES: MethodRoles = {config_view.METHOD_PREFIX: frozenset({Role.OPERATOR, Role.DASHBOARD})}
"""What every runtime serves besides its service's own methods: its effective configuration, secrets masked, to
operators and the dashboard's configuration page (docs/security.md, "Every service")."""


def runtime_roles(roles: MethodRoles) -> MethodRoles:
    """The service's ROLES plus the runtime's own (a service's table cannot take the runtime's methods)."""
    return {**roles, **RUNTIME_ROLES}


class ServiceRuntime:
    """One running service: its gRPC server, health, metrics and drain logic."""

    def __init__(self, settings: ServiceSettings, definition: ServiceDefinition) -> None:
        self.settings = settings
        self.definition = definition
        self.registry = CollectorRegistry()
        if definition.metrics is not None:
            definition.metrics(self.registry)
        self.health = HealthServicer()
        self.tracer_provider = TracerProvider(
            resource=Resource.create({"service.name": f"stablegate-{definition.name}"})
        )
        """Where the server spans go: to the OTLP endpoint when one is set (add a span processor for more)."""
        if settings.otlp_traces_endpoint:
            self.tracer_provider.add_span_processor(BatchSpanProcessor(otlp_exporter(settings.otlp_traces_endpoint)))
        self.server = grpc.aio.server(
            interceptors=[
                # Role check, span, ids in logs, metrics and the error shape in one wrap per call.
                ServiceInterceptor(
                    RpcMetrics(self.registry),
                    runtime_roles(definition.roles),
                    settings.tls.trust_domain,
                    self.tracer_provider,
                ),
                *definition.interceptors,
            ],
            options=[("grpc.so_reuseport", 0)],
        )
        self._metrics_server: object | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> BoundPorts:
        """Run the startup hook, register everything, bind, start serving, and report SERVING."""
        if self.definition.startup is not None:
            await self.definition.startup()
        self.definition.register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        config_view.register(self.server, self.definition.name, self.settings)
        names = [
            *self.definition.service_names,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
            config_view.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, self.server)
        address = f"{self.settings.host}:{self.settings.grpc_port}"
        port = self.server.add_secure_port(address, server_credentials(self.settings))
        if port == 0:
            raise OSError(f"could not bind gRPC to {address}: the port is taken or the address is not local")
        metrics_port = None
        if self.settings.metrics_port is not None:
            server, _thread = start_http_server(self.settings.metrics_port, self.settings.host, registry=self.registry)
            self._metrics_server = server
            metrics_port = int(server.server_port)
        await self.server.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        await self.health.set("", serving)
        for name in self.definition.service_names:
            await self.health.set(name, serving)
        bound = BoundPorts(port, metrics_port)
        log.info(
            "serving",
            extra={
                "grpc_port": port,
                "metrics_port": metrics_port,
                "role": self.settings.tls.role(),
                "services": list(self.definition.service_names),
            },
        )
        if self.settings.ready_file is not None:
            write_ready_file(self.settings.ready_file, bound)
        return bound

    def request_stop(self) -> None:
        """Begin draining (what SIGTERM does)."""
        self._stopping.set()

    async def wait_and_drain(self) -> None:
        """Wait for a stop request, then flip health to NOT_SERVING, wait the drain delay and stop."""
        await self._stopping.wait()
        log.info("draining", extra={"drain_delay_seconds": self.settings.drain_delay_seconds})
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.drain_delay_seconds)
        await self.server.stop(grace=self.settings.drain_timeout_seconds)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
        if self.definition.shutdown is not None:
            await self.definition.shutdown()
        # Export the spans still queued (bounded by the exporter's timeout), off the event loop.
        await asyncio.to_thread(self.tracer_provider.shutdown)
        log.info("stopped")


def otlp_exporter(endpoint: str) -> SpanExporter:
    """An OTLP/gRPC span exporter to `endpoint` (plaintext for http://, TLS with the system's CAs for https://)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415 - only when exporting
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"), timeout=OTLP_TIMEOUT_SECONDS)


def write_ready_file(path: Path, bound: BoundPorts) -> None:
    """Atomically write the bound ports as JSON, so a supervisor or test knows where the service listens."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"grpc_port": bound.grpc_port, "metrics_port": bound.metrics_port}))
    tmp.replace(path)


async def serve(settings: ServiceSettings, definition: ServiceDefinition) -> None:
    """Run a service until SIGTERM or SIGINT, then drain and return."""
    configure_logging(definition.name, settings.log_level)
    runtime = ServiceRuntime(settings, definition)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.request_stop)
    await runtime.start()
    await runtime.wait_and_drain()


def run(settings: ServiceSettings, definition: ServiceDefinition) -> None:
    """Run a service with its settings until SIGTERM (blocking)."""
    asyncio.run(serve(settings, definition))


def main(settings_cls: type[S], definition: Callable[[S], ServiceDefinition]) -> int:
    """A service's `python -m NAME` entry point: settings from the environment, then serve until SIGTERM."""
    settings = settings_or_exit(settings_cls)
    run(settings, definition(settings))
    return 0
