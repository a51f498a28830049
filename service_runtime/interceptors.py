"""Server interceptor shared by every service: request/trace ids in logs, metrics, domain errors as Status."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram

from service_runtime.errors import ERROR_DOMAIN, DomainError, ErrorKind, Internal
from service_runtime.logs import request_id_var, trace_id_var

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


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Binds request and trace ids for logs, records metrics, and maps DomainError to a rich status."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

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
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, request_id, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, request_id, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, request_id, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, request_id, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _bind(self, request_id: str) -> None:
        # Each RPC runs in its own task with its own copy of the context, so these never leak across calls.
        span_context = trace.get_current_span().get_span_context()
        request_id_var.set(request_id)
        trace_id_var.set(format(span_context.trace_id, "032x") if span_context.is_valid else None)

    def _finish(self, method: str, started: float, code: grpc.StatusCode, error: DomainError | None) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.handled.labels(method, code.name).inc()
        self.metrics.latency.labels(method).observe(elapsed)
        fields: dict[str, Any] = {"grpc_method": method, "grpc_code": code.name, "duration_ms": round(elapsed * 1e3, 3)}
        if error is not None:
            fields["reason"] = error.reason
        log.info("rpc", extra=fields)

    async def _fail(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        exc: Exception,
        method: str,
        request_id: str,
        started: float,
    ) -> BaseException:
        """Count the call and abort it with the error shape; an unexpected exception is logged and hidden.

        The call is counted first: `abort` sends the status before it raises, and a client (or a scrape) that
        has the reply must find the call in the metrics already. Returns the AbortError grpc raised, which the
        caller must re-raise itself (grpc checks that the exception ending the call is the one `abort` raised).
        """
        if isinstance(exc, grpc.aio.AbortError):
            raise exc  # the handler aborted on its own; its status stands
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
        self._finish(method, started, code, error)
        try:
            await context.abort(code, error.message, trailing_metadata=trailers)
        except grpc.aio.AbortError as abort:
            return abort
        raise AssertionError("ServicerContext.abort returned instead of raising")

    def _wrap_unary(self, method: str, request_id: str, behavior: Any) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self._bind(request_id)
            started = time.perf_counter()
            context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
            code: grpc.StatusCode | None = grpc.StatusCode.OK  # None once _fail has counted the call
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                code = None
                raise await self._fail(context, exc, method, request_id, started) from None
            finally:
                if code is not None:
                    self._finish(method, started, code, None)

        return handle

    def _wrap_stream(self, method: str, request_id: str, behavior: Any) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            self._bind(request_id)
            started = time.perf_counter()
            code: grpc.StatusCode | None = grpc.StatusCode.OK  # None once _fail has counted the call
            try:
                async for item in behavior(request, context):
                    yield item
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                code = None
                raise await self._fail(context, exc, method, request_id, started) from None
            finally:
                if code is not None:
                    self._finish(method, started, code, None)

        return handle
