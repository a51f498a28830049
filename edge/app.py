"""Wiring of the edge service: Envoy's ext_authz check and rate-limit service on one gRPC port."""

from __future__ import annotations

import grpc
import redis.asyncio as redis
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.ratelimit.v3 import rls_pb2_grpc

from edge.authz import EdgeAuthorizer
from edge.config import EdgeSettings
from edge.ratelimit import RedisRateLimiter
from service_runtime.server import ServiceDefinition

SERVED = ("envoy.service.auth.v3.Authorization", "envoy.service.ratelimit.v3.RateLimitService")


def definition(settings: EdgeSettings) -> ServiceDefinition:
    """The edge's gRPC surface for Envoy, with its ledger channel and Redis client."""
    ledger = grpc.aio.insecure_channel(settings.ledger_target)
    cache = redis.from_url(settings.redis_url)

    def register(server: grpc.aio.Server) -> None:
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(
            EdgeAuthorizer(ledger, cache, cache_seconds=settings.credential_cache_seconds), server
        )
        rls_pb2_grpc.add_RateLimitServiceServicer_to_server(
            RedisRateLimiter(
                cache,
                {"merchant_id": settings.merchant_requests_per_second, "route": settings.route_requests_per_second},
            ),
            server,
        )

    async def shutdown() -> None:
        await ledger.close(None)
        await cache.aclose()

    return ServiceDefinition("edge", register, SERVED, shutdown=shutdown)
