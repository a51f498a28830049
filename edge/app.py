"""Wiring of the edge service: Envoy's ext_authz check and the rate-limit service API on one gRPC port.

The ext_authz check also counts the merchant limits (one external call per request); the rate-limit service
API serves plans that route limits through Envoy's rate-limit filter instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import redis.asyncio as redis
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.ratelimit.v3 import rls_pb2_grpc

from edge.authz import EdgeAuthorizer
from edge.bodycheck import BodyFields
from edge.config import EdgeSettings
from edge.ratelimit import RedisRateLimiter
from service_runtime import mesh
from service_runtime.mesh import MethodRoles, Role
from service_runtime.redis_client import async_redis
from service_runtime.server import ServiceDefinition

SERVED = ("envoy.service.auth.v3.Authorization", "envoy.service.ratelimit.v3.RateLimitService")
# Only Envoy (the edge role) asks for key checks and rate limits (docs/security.md).
ROLES: MethodRoles = {
    "/envoy.service.auth.v3.Authorization/": frozenset({Role.EDGE}),
    "/envoy.service.ratelimit.v3.RateLimitService/": frozenset({Role.EDGE}),
}


@dataclass
class EdgeClients:
    """The ledger channel and the Redis client, made inside the server's event loop at startup."""

    ledger: grpc.aio.Channel | None = None
    cache: redis.Redis | None = field(default=None, repr=False)


def definition(settings: EdgeSettings) -> ServiceDefinition:
    """The edge's gRPC surface for Envoy."""
    clients = EdgeClients()
    authorizer: list[EdgeAuthorizer] = []
    limiter: list[RedisRateLimiter] = []

    async def startup() -> None:
        # grpc.aio channels and redis clients bind to the loop they are made in: make them in the server's.
        clients.ledger = mesh.channel(settings.ledger_target, settings.tls)
        clients.cache = async_redis(settings.redis_url)
        limits = {"merchant_id": settings.merchant_requests_per_second, "route": settings.route_requests_per_second}
        limiter.append(RedisRateLimiter(clients.cache, limits))
        authorizer.append(
            EdgeAuthorizer(
                clients.ledger,
                clients.cache,
                cache_seconds=settings.credential_cache_seconds,
                body_fields=BodyFields(settings.descriptor_path),
                # Limits counted in the key check's own call: one external call per request for Envoy.
                limiter=limiter[0] if settings.limits_in_check else None,
            )
        )

    def register(server: grpc.aio.Server) -> None:
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(authorizer[0], server)
        rls_pb2_grpc.add_RateLimitServiceServicer_to_server(limiter[0], server)

    async def shutdown() -> None:
        if clients.ledger is not None:
            await clients.ledger.close(None)
        if clients.cache is not None:
            await clients.cache.aclose()

    return ServiceDefinition("edge", register, SERVED, startup=startup, shutdown=shutdown, roles=ROLES)
