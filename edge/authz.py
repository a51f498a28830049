"""Envoy's ext_authz check, answered by the ledger's key verification (one function, two callers).

Envoy asks before any request reaches a service (after its per-address limit). We reject early what is plainly
wrong (no key, a malformed, unknown, revoked or expired key, the wrong kind of key for the route, a body field
the operation does not take) with our JSON error body; then count the request against its merchant's limits
(429 over them), in this same call, so Envoy makes one external call per request; and on success set the
identity headers. Envoy strips those headers from client requests first; the ledger believes them only from the
`edge` mesh role Envoy presents, and any other caller's key is verified again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
import redis.asyncio as redis
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as authz_pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as authz_grpc
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2
from stablegate.ledger.v1 import credential_service_pb2 as cred_pb
from stablegate.ledger.v1 import credential_service_pb2_grpc as cred_grpc

from edge.bodycheck import BodyFields
from edge.envoy_config import MERCHANT_DESCRIPTOR_KEY, RATELIMIT_DOMAIN, ROUTE_GROUP_DESCRIPTOR_KEY
from edge.ratelimit import RedisRateLimiter

log = logging.getLogger("stablegate.edge.authz")

IDENTITY_HEADERS = ("x-stablegate-merchant-id", "x-stablegate-key-id", "x-stablegate-scopes", "x-stablegate-admin")
"""Set by the edge after verification; Envoy removes them from every client request before ext_authz runs."""

SURFACE_KEY = "surface"
"""The ext_authz context extension naming the listener a request came in on: `merchant` or `admin`."""

LOCAL_CACHE_ENTRIES = 10_000
MAX_IDEMPOTENCY_KEY = 200
"""The Idempotency-Key header is a request_id, which is at most this long (refused even when the body sets one)."""
RATE_LIMITED_MESSAGE = "rate limit exceeded; retry after the Retry-After seconds"
REFUSAL_CACHE_SECONDS = 1.0
"""How long a refused key is refused without asking the ledger again (never longer than the key cache)."""

_HTTP_FOR: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.UNAUTHENTICATED: http_status_pb2.Unauthorized,
    grpc.StatusCode.PERMISSION_DENIED: http_status_pb2.Forbidden,
    grpc.StatusCode.INVALID_ARGUMENT: http_status_pb2.Unauthorized,
}


@dataclass(frozen=True)
class Identity:
    """A verified caller, as the ledger described it."""

    kind: str  # "merchant" or "admin"
    key_id: str
    merchant_id: str
    scopes: tuple[str, ...]
    admin: str


def error_body(code: int, message: str, reason: str, metadata: dict[str, str] | None = None) -> str:
    """Our JSON error shape (what Envoy's transcoder produces for a gRPC error)."""
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "stablegate",
        "metadata": metadata or {},
    }
    return json.dumps({"code": code, "message": message, "details": [detail]})


def denied(
    http_status: int,
    grpc_code: int,
    message: str,
    reason: str,
    metadata: dict[str, str] | None = None,
    *,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> authz_pb.CheckResponse:
    """A denial Envoy returns to the client as is."""
    headers = [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v))
        for k, v in (("content-type", "application/json"), *extra_headers)
    ]
    if http_status == http_status_pb2.Unauthorized:
        headers.append(base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key="www-authenticate", value="Bearer")))
    return authz_pb.CheckResponse(
        status=status_pb2.Status(code=grpc_code, message=message),
        denied_response=authz_pb.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=http_status),
            headers=headers,
            body=error_body(grpc_code, message, reason, metadata),
        ),
    )


@functools.lru_cache(maxsize=LOCAL_CACHE_ENTRIES)
def allowed(identity: Identity) -> authz_pb.CheckResponse:
    """Admit the request, carrying the verified identity to rate limits and services.

    Built once per identity (the answer depends on nothing else; it is only serialized, never changed).
    """
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    values = {
        "x-stablegate-key-id": identity.key_id,
        "x-stablegate-merchant-id": identity.merchant_id,
        "x-stablegate-scopes": ",".join(identity.scopes),
        "x-stablegate-admin": identity.admin,
    }
    headers = [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=overwrite)
        for k, v in values.items()
        if v
    ]
    return authz_pb.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK), ok_response=authz_pb.OkHttpResponse(headers=headers)
    )


class EdgeAuthorizer(authz_grpc.AuthorizationServicer):  # type: ignore[misc]
    """ext_authz servicer: verify the bearer key with the ledger (cached briefly in Redis)."""

    def __init__(
        self,
        ledger: grpc.aio.Channel,
        cache: redis.Redis,
        *,
        cache_seconds: float,
        body_fields: BodyFields | None = None,
        limiter: RedisRateLimiter | None = None,
    ) -> None:
        self._body_fields = body_fields
        self._limiter = limiter
        self._credentials = cred_grpc.CredentialServiceStub(ledger)
        self._cache = cache
        self._cache_ms = int(cache_seconds * 1000)
        self._local: dict[str, tuple[float, Identity]] = {}
        self._refused: dict[str, tuple[float, authz_pb.CheckResponse]] = {}

    async def Check(self, request: authz_pb.CheckRequest, context: Any) -> authz_pb.CheckResponse:
        """Allow or deny one HTTP request."""
        http = request.attributes.request.http
        # The listener says which kind of key it takes (Envoy sets it per listener; clients cannot). Without it
        # (an older config) the path decides, as before the admin listener existed.
        surface = request.attributes.context_extensions.get(SURFACE_KEY)
        admin_route = surface == "admin" if surface else http.path.startswith("/admin/")
        client_address = request.attributes.source.address.socket_address.address
        authorization = http.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            return denied(
                http_status_pb2.Unauthorized,
                code_pb2.UNAUTHENTICATED,
                "missing credentials: send `Authorization: Bearer <API key>`",
                "API_KEY_MISSING",
            )
        if scheme.lower() != "bearer" or not token.strip():
            return denied(
                http_status_pb2.Unauthorized,
                code_pb2.UNAUTHENTICATED,
                "the Authorization header must be `Bearer <API key>`",
                "API_KEY_MALFORMED",
            )
        identity = await self._verify(token.strip(), client_address)
        if isinstance(identity, authz_pb.CheckResponse):
            return identity
        if admin_route and identity.kind != "admin":
            return denied(
                http_status_pb2.Forbidden,
                code_pb2.PERMISSION_DENIED,
                "merchant keys cannot call the admin API",
                "ADMIN_KEY_REQUIRED",
            )
        if not admin_route and identity.kind != "merchant":
            return denied(
                http_status_pb2.Forbidden,
                code_pb2.PERMISSION_DENIED,
                "this API takes a merchant key (sk_…), not an admin key",
                "MERCHANT_KEY_REQUIRED",
            )
        return self._body_refusal(http) or await self._over_limit(identity, http) or allowed(identity)

    async def _over_limit(self, identity: Identity, http: Any) -> authz_pb.CheckResponse | None:
        """429 when the request is past its merchant's limit (all routes) or its merchant and route group's.

        Admin calls count per route group alone. Only requests that passed every other check are counted; a
        Redis outage lets the request through (limits protect capacity; the key check above failed closed).
        """
        if self._limiter is None:
            return None
        group = self._body_fields.route_group(http.method, http.path) if self._body_fields is not None else None
        route = [(ROUTE_GROUP_DESCRIPTOR_KEY, group)] if group else []
        if identity.kind == "merchant" and identity.merchant_id:
            merchant = (MERCHANT_DESCRIPTOR_KEY, identity.merchant_id)
            descriptors = [[merchant], [merchant, *route]] if route else [[merchant]]
        else:
            descriptors = [route] if route else []
        if not descriptors:
            return None
        verdict = await self._limiter.count(RATELIMIT_DOMAIN, descriptors)
        if verdict is None or not verdict.over:
            return None
        return denied(
            http_status_pb2.TooManyRequests,
            code_pb2.RESOURCE_EXHAUSTED,
            RATE_LIMITED_MESSAGE,
            "RATE_LIMITED",
            extra_headers=(("retry-after", verdict.retry_after),),
        )

    def _body_refusal(self, http: Any) -> authz_pb.CheckResponse | None:
        """400 for a body or query the operation does not take (edge/bodycheck.py), or an overlong Idempotency-Key."""
        if len(http.headers.get("idempotency-key", "")) > MAX_IDEMPOTENCY_KEY:
            return denied(
                http_status_pb2.BadRequest,
                code_pb2.INVALID_ARGUMENT,
                f"the Idempotency-Key header takes at most {MAX_IDEMPOTENCY_KEY} characters",
                "FIELD_TOO_LONG",
                {"field": "Idempotency-Key"},
            )
        if self._body_fields is None:
            return None
        found = self._body_fields.refusal(http.method, http.path, http.raw_body or http.body.encode())
        if found is None:
            return None
        return denied(
            http_status_pb2.BadRequest, code_pb2.INVALID_ARGUMENT, found.message, found.reason, {"field": found.field}
        )

    async def _verify(self, token: str, client_address: str) -> Identity | authz_pb.CheckResponse:
        # The answer depends on the address too (a key's allowed_ip_ranges, checked by the ledger), so the
        # address is part of the cache key.
        cache_key = "authz:" + hashlib.sha256(f"{client_address}|{token}".encode()).hexdigest()
        local = self._local.get(cache_key)
        if local is not None and local[0] > time.monotonic():
            return local[1]
        refused = self._refused.get(cache_key)
        if refused is not None and refused[0] > time.monotonic():
            return refused[1]  # a bad key hammering the API costs no ledger call for a moment
        if self._cache_ms:
            try:
                cached = await self._cache.get(cache_key)
            except redis.RedisError:
                cached = None  # the cache is an optimisation: fall through to the ledger
            if cached is not None:
                found = json.loads(cached)
                return Identity(**{**found, "scopes": tuple(found["scopes"])})
        try:
            reply = await self._credentials.VerifyCredential(
                cred_pb.VerifyCredentialRequest(credential=token, client_address=client_address), timeout=3
            )
        except grpc.aio.AioRpcError as exc:
            http_status = _HTTP_FOR.get(exc.code())
            if http_status is None:
                log.error("ledger unavailable for key checks", extra={"grpcCode": exc.code().name})
                return denied(
                    http_status_pb2.ServiceUnavailable,
                    code_pb2.UNAVAILABLE,
                    "cannot verify credentials right now; retry shortly",
                    "AUTH_UNAVAILABLE",
                )
            reason = _reason(exc) or "API_KEY_INVALID"
            grpc_code = (
                code_pb2.PERMISSION_DENIED if http_status == http_status_pb2.Forbidden else code_pb2.UNAUTHENTICATED
            )
            answer = denied(http_status, grpc_code, exc.details() or "invalid credentials", reason)
            refuse_ms = min(self._cache_ms, int(REFUSAL_CACHE_SECONDS * 1000))
            if refuse_ms > 0:
                if len(self._refused) > LOCAL_CACHE_ENTRIES:
                    self._refused.clear()
                self._refused[cache_key] = (time.monotonic() + refuse_ms / 1000, answer)
            return answer
        identity = Identity(
            kind="merchant" if reply.kind == cred_pb.CREDENTIAL_KIND_MERCHANT_KEY else "admin",
            key_id=reply.key_id,
            merchant_id=reply.merchant_id,
            scopes=tuple(reply.scopes),
            admin=reply.admin_identity,
        )
        # Cache no longer than the ledger allows (its own cache adds to the revocation delay otherwise).
        ledger_ms = (
            int(reply.cache_until_time.ToMilliseconds() - time.time() * 1000)
            if reply.HasField("cache_until_time")
            else self._cache_ms
        )
        cache_ms = min(self._cache_ms, ledger_ms)
        if cache_ms > 0:
            # This process first (no round trip on the hot path), Redis for the other replicas. Only answers
            # straight from the ledger are kept here, so no entry outlives the bound.
            if len(self._local) > LOCAL_CACHE_ENTRIES:
                self._local.clear()
            self._local[cache_key] = (time.monotonic() + cache_ms / 1000, identity)
            try:
                await self._cache.set(cache_key, json.dumps(identity.__dict__), px=cache_ms)
            except redis.RedisError:
                log.warning("credential cache unavailable")
        return identity


def _reason(exc: grpc.aio.AioRpcError) -> str | None:
    from google.rpc import error_details_pb2  # noqa: PLC0415
    from grpc_status import rpc_status  # noqa: PLC0415

    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return None
