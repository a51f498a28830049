"""Deny by default: a streaming method (none exist yet) is refused, not passed through unauthenticated."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from ledger.api.auth import AuthInterceptor
from service_runtime.errors import PermissionDenied


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = (("authorization", "Bearer sk_test_" + "A" * 32),)


async def _stream(request: Any, context: Any) -> Any:
    yield b"secret"


async def test_a_streaming_merchant_method_is_refused() -> None:
    def no_verifier() -> Any:
        raise AssertionError("a refused stream never reaches key verification")

    interceptor = AuthInterceptor(no_verifier)
    original = grpc.unary_stream_rpc_method_handler(_stream)

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return original

    handler = await interceptor.intercept_service(
        continuation, _Details("/stablegate.merchant.v1.InvoiceService/Watch")
    )
    assert handler is not original
    behavior: Any = handler.unary_stream
    with pytest.raises(PermissionDenied, match="streaming methods are not authenticated"):
        async for _ in behavior(b"", None):
            pass
    health = await interceptor.intercept_service(continuation, _Details("/grpc.health.v1.Health/Watch"))
    assert health is original  # infrastructure streams stay open
