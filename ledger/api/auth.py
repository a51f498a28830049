"""The ledger's authentication interceptor: `authorization: Bearer <key>` metadata → a Principal."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ledger.api.acting import asserted_acting_user, current_acting_user
from ledger.auth import CredentialVerifier, authorize, requirement_for
from ledger.domain.credentials import Principal, bearer_token
from service_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated
from service_runtime.mesh import DEFAULT_TRUST_DOMAIN, Role, peer_role

CLIENT_ADDRESS_HEADER = "x-stablegate-client-address"
"""The client's address as Envoy saw it. Envoy removes a client's copy and sets its own; the ledger believes it
only from a caller holding the `edge` mesh role (any other caller's own address is what counts)."""

MERCHANT_ID_HEADER = "x-stablegate-merchant-id"
KEY_ID_HEADER = "x-stablegate-key-id"
SCOPES_HEADER = "x-stablegate-scopes"
"""The merchant identity the edge's ext_authz verified (with the ledger's own `VerifyCredential`, allow-list
included) and Envoy set on the upstream call. Envoy removes a client's copies first. The ledger trusts them only
from a caller holding the `edge` mesh role (DECISIONS.md); from any other caller they are ignored and the key is
verified."""

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def principal() -> Principal:
    """The verified caller of the current RPC (set by AuthInterceptor)."""
    found = current_principal.get()
    if found is None:
        raise Unauthenticated("this method needs credentials", reason="API_KEY_MISSING")
    return found


def merchant_id() -> str:
    """The merchant the current caller's key belongs to."""
    who = principal()
    assert who.merchant_id is not None, "authorize() admits only merchant keys to merchant methods"
    return who.merchant_id


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Verifies the caller's key and scope before the handler runs; deny by default."""

    def __init__(self, verifier: Callable[[], CredentialVerifier], *, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> None:
        self._verifier = verifier
        self._trust_domain = trust_domain

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Wrap unary handlers with verification; internal and infrastructure methods pass through."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        requirement = requirement_for(method)
        if handler is None:
            return handler
        if not handler.unary_unary:
            # Only unary methods are authenticated yet; anything else is refused rather than let through.
            return handler if requirement.internal and not method.startswith("/stablegate.") else _refused(handler)
        if requirement.internal:
            # Internal methods carry no key: the mesh role check (service_runtime.mesh, outside this
            # interceptor) has already admitted only the roles that may call them.
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        behavior: Any = handler.unary_unary
        deserialize = handler.request_deserializer
        verifier = self._verifier
        trust_domain = self._trust_domain

        asserted_identity = edge_asserted_merchant(metadata)

        async def guarded(raw: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            role = peer_role(context, trust_domain)
            from_edge = role == Role.EDGE
            # Who is at the dashboard's keyboard: believed from the dashboard role only (ledger/api/acting.py).
            current_acting_user.set(asserted_acting_user(metadata, role))
            if from_edge and asserted_identity is not None:
                # Envoy's ext_authz verified this merchant's key a moment ago (scopes, revocation, allow-list):
                # no second lookup. Only the edge role gets here; scopes are still checked below.
                authorize(asserted_identity, requirement)
                current_principal.set(asserted_identity)
                return await behavior(parse(raw, deserialize, method), context)
            token = bearer_token(str(authorization) if authorization is not None else None)
            if from_edge:
                asserted = metadata.get(CLIENT_ADDRESS_HEADER)
                address = str(asserted) if asserted is not None else None
            else:
                address = peer_address(context.peer())
            who = await verifier().verify(token, address)
            authorize(who, requirement)
            current_principal.set(who)
            return await behavior(parse(raw, deserialize, method), context)

        # The body is parsed here rather than by grpc, so a request that is not valid protobuf (what Envoy's
        # transcoder makes of some JSON it cannot map, e.g. an object where a map wants a string) is the caller's
        # error (INVALID_ARGUMENT) instead of grpc's UNKNOWN.
        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=None, response_serializer=handler.response_serializer
        )


def parse(raw: Any, deserialize: Callable[[bytes], Any] | None, method: str) -> Any:
    """The request message from its wire bytes; INVALID_ARGUMENT (`REQUEST_MALFORMED`) if they are not one."""
    if deserialize is None or not isinstance(raw, bytes):
        return raw
    try:
        return deserialize(raw)
    except DecodeError:
        raise InvalidArgument(
            "the request body could not be read as this method's request",
            reason="REQUEST_MALFORMED",
            metadata={"method": method},
        ) from None


def edge_asserted_merchant(metadata: dict[str, Any]) -> Principal | None:
    """The merchant identity in the metadata of a call (believed only from the `edge` role), or None.

    Both the merchant and the key id must be there; scopes are a comma-separated list (none: no scope).
    """
    merchant = metadata.get(MERCHANT_ID_HEADER)
    key_id = metadata.get(KEY_ID_HEADER)
    if not isinstance(merchant, str) or not isinstance(key_id, str) or not merchant or not key_id:
        return None
    scopes = metadata.get(SCOPES_HEADER)
    granted = frozenset(s for s in scopes.split(",") if s) if isinstance(scopes, str) else frozenset()
    return Principal(kind="merchant", key_id=key_id, merchant_id=merchant, scopes=granted)


def peer_address(peer: str | None) -> str | None:
    """The IP address of a gRPC peer string (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`), None for anything else."""
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return None


def _refused(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind that refuses every call (deny by default for streaming methods)."""

    def error() -> PermissionDenied:
        return PermissionDenied("streaming methods are not authenticated yet", reason="STREAMING_NOT_ALLOWED")

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        raise error()

    async def streaming(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        raise error()
        yield  # pragma: no cover - makes this an async generator

    kwargs: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary, **kwargs)
    return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)
