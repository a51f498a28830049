"""Serve every RPC of a proto service as UNIMPLEMENTED until the issue that builds it lands.

Registering the whole surface now means clients, Envoy and reflection see every service from day one, and
each call answers with the standard error shape (reason NOT_IMPLEMENTED) instead of an unknown-service error.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from service_runtime.errors import Unimplemented


def unimplemented_handler(service: ServiceDescriptor) -> grpc.GenericRpcHandler[Any, Any]:
    """A generic handler answering each unary RPC of `service` with UNIMPLEMENTED."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        request_cls = GetMessageClass(method.input_type)
        response_cls = GetMessageClass(method.output_type)

        async def behavior(request: Any, context: Any, _name: str = method.full_name) -> Any:
            raise Unimplemented(
                f"{_name} is part of the API but not built yet",
                reason="NOT_IMPLEMENTED",
                metadata={"method": _name},
            )

        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
