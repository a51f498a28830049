"""Server interceptor shared by every service: role check, server span, ids in logs, metrics, errors as Status.

One interceptor for all of them (the mesh role check, an OpenTelemetry server span, request and trace ids in logs,
metrics, domain errors as a rich status), so a call pays one handler wrap.

It does what OpenTelemetry's grpc.aio server interceptor did (a SERVER span per call named by the method, the
caller's W3C `traceparent` honoured, `rpc.*` attributes, an error status on failure) without its per-call
servicer-context wrapper and peer parsing, which cost more than the span itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, Counter, Histogram

from service_runtime.errors import ERROR_DOMAIN, DomainError, ErrorKind, Internal
from service_runtime.logs import request_id_var, trace_id_var
from service_runtime.mesh import MethodRoles, RoleCheck

log = logging.getLogger("stablegate.rpc")

REQUEST_ID_HEADER = "x-request-id"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

GRPC_CODES: dict[ErrorKind, grpc.StatusCode] = {kind: getattr(grpc.StatusCode, kind.value) for kind in ErrorKind}


def status_for(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error: its code, message and one ErrorInfo."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    code = getattr(code_pb2, error.kind.value)
    return status_pb2.Status(code=code, message=error.message, details=[detail])


class RpcMetrics:
    """Prometheus counters and latency histogram for handled RPCs, in a registry of the caller's."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed, by method and status code.",
            ["grpc_method", "grpc_code"],
            registry=registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds", "Time to handle an RPC.", ["grpc_method"], registry=registry
        )
        self._handled: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    def record(self, method: str, code: str, seconds: float) -> None:
        """Count one handled call and its latency (the labelled children are looked up once per method)."""
        handled = self._handled.get((method, code))
        if handled is None:
            handled = self._handled[(method, code)] = self.handled.labels(method, code)
        latency = self._latency.get(method)
        if latency is None:
            latency = self._latency[method] = self.latency.labels(method)
        handled.inc()
        latency.observe(seconds)


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Checks the mesh role, traces the call, binds log ids, records metrics, maps DomainError to a rich status.

    `roles` (with the trust domain) is the service's role table (service_runtime.mesh); None checks no role (the
    caller composes `MeshRoleInterceptor` itself). `tracer_provider` None: the global one.
    """

    def __init__(
        self,
        metrics: RpcMetrics,
        roles: MethodRoles | None = None,
        trust_domain: str | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.metrics = metrics
        self._roles = RoleCheck(roles, trust_domain) if roles is not None and trust_domain is not None else None
        self._tracer = trace.get_tracer("stablegate.rpc", tracer_provider=tracer_provider)
        self._span_attributes: dict[str, dict[str, str]] = {}

    def _attributes(self, method: str) -> dict[str, str]:
        found = self._span_attributes.get(method)
        if found is None:
            service, _, name = method.lstrip("/").partition("/")
            found = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
            self._span_attributes[method] = found
        return found

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Wrap the method's handler; services and health/reflection alike."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = str(metadata.get(REQUEST_ID_HEADER) or uuid.uuid4())
        call = _Call(method, request_id, metadata)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(call, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(call, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(call, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(call, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _start(self, call: _Call) -> trace.Span:
        """Open the call's SERVER span (a child of the caller's `traceparent`, if any) and bind the log ids."""
        parent = propagate.extract(call.metadata) if "traceparent" in call.metadata else None
        span = self._tracer.start_span(
            call.method, context=parent, kind=SpanKind.SERVER, attributes=self._attributes(call.method)
        )
        # Each RPC runs in its own task with its own copy of the context, so these never leak across calls (and
        # need no detaching). The handler's own spans, if any, are children of this one.
        otel_context.attach(trace.set_span_in_context(span))
        span_context = span.get_span_context()
        request_id_var.set(call.request_id)
        trace_id_var.set(format(span_context.trace_id, "032x") if span_context.is_valid else None)
        return span

    def _finish(
        self, method: str, started: float, code: grpc.StatusCode, error: DomainError | None, span: trace.Span
    ) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.record(method, code.name, elapsed)
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code is not grpc.StatusCode.OK:
                span.set_status(StatusCode.ERROR, error.reason if error is not None else code.name)
        span.end()
        fields: dict[str, Any] = {"grpc_method": method, "grpc_code": code.name, "duration_ms": round(elapsed * 1e3, 3)}
        if error is not None:
            fields["reason"] = error.reason
        log.info("rpc", extra=fields)

    async def _fail(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        exc: Exception,
        call: _Call,
        started: float,
        span: trace.Span,
    ) -> BaseException:
        """Count the call and abort it with the error shape; an unexpected exception is logged and hidden.

        The call is counted first: `abort` sends the status before it raises, and a client (or a scrape) that
        has the reply must find the call in the metrics already. Returns the AbortError grpc raised, which the
        caller must re-raise itself (grpc checks that the exception ending the call is the one `abort` raised).
        """
        if isinstance(exc, grpc.aio.AbortError):
            raise exc  # the handler aborted on its own; its status stands
        method, request_id = call.method, call.request_id
        if isinstance(exc, DomainError):
            error = exc
        else:
            log.error("unhandled error", exc_info=exc, extra={"grpc_method": method})
            error = Internal(
                f"internal error; quote request id {request_id} when reporting it",
                reason="INTERNAL_ERROR",
                metadata={"requestId": request_id},
            )
        code = GRPC_CODES[error.kind]
        status = status_for(error)
        trailers = ((STATUS_DETAILS_KEY, status.SerializeToString()), (REQUEST_ID_HEADER, request_id))
        self._finish(method, started, code, error, span)
        try:
            await context.abort(code, error.message, trailing_metadata=trailers)
        except grpc.aio.AbortError as abort:
            return abort
        raise AssertionError("ServicerContext.abort returned instead of raising")

    def _wrap_unary(self, call: _Call, behavior: Any) -> Any:
        roles = self._roles

        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            span = self._start(call)
            started = time.perf_counter()
            context.set_trailing_metadata(((REQUEST_ID_HEADER, call.request_id),))
            code: grpc.StatusCode | None = grpc.StatusCode.OK  # None once _fail has counted the call
            try:
                if roles is not None:
                    roles.check(call.method, context)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                code = None
                raise await self._fail(context, exc, call, started, span) from None
            finally:
                if code is not None:
                    self._finish(call.method, started, code, None, span)

        return handle

    def _wrap_stream(self, call: _Call, behavior: Any) -> Any:
        roles = self._roles

        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            span = self._start(call)
            started = time.perf_counter()
            code: grpc.StatusCode | None = grpc.StatusCode.OK  # None once _fail has counted the call
            try:
                if roles is not None:
                    roles.check(call.method, context)
                async for item in behavior(request, context):
                    yield item
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                code = None
                raise await self._fail(context, exc, call, started, span) from None
            finally:
                if code is not None:
                    self._finish(call.method, started, code, None, span)

        return handle


class _Call:
    """What the interceptor knows of one call before its handler runs."""

    __slots__ = ("metadata", "method", "request_id")

    def __init__(self, method: str, request_id: str, metadata: dict[str, Any]) -> None:
        self.method = method
        self.request_id = request_id
        self.metadata = metadata
