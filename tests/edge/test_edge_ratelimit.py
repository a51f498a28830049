"""The edge's rate-limit service on a real Redis: counts per window, OVER_LIMIT with Retry-After, fails open."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis.asyncio as redis
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as descriptor_pb
from envoy.service.ratelimit.v3 import rls_pb2

from edge.ratelimit import RedisRateLimiter

if TYPE_CHECKING:
    from tests.conftest import RedisServer


def request(merchant: str, route: str = "invoices") -> rls_pb2.RateLimitRequest:
    entry = descriptor_pb.RateLimitDescriptor.Entry
    return rls_pb2.RateLimitRequest(
        domain="stablegate",
        descriptors=[
            descriptor_pb.RateLimitDescriptor(entries=[entry(key="merchant_id", value=merchant)]),
            descriptor_pb.RateLimitDescriptor(
                entries=[entry(key="merchant_id", value=merchant), entry(key="route", value=route)]
            ),
        ],
    )


async def test_over_the_limit_in_one_window_is_over_limit_with_retry_after(redis_server: RedisServer) -> None:
    cache = redis.from_url(redis_server.url)
    now = [1000.25]
    limiter = RedisRateLimiter(cache, {"merchant_id": 3, "route": 100}, clock=lambda: now[0])
    try:
        codes = [(await limiter.ShouldRateLimit(request("mer_a"), None)).overall_code for _ in range(4)]
        assert codes == [rls_pb2.RateLimitResponse.OK] * 3 + [rls_pb2.RateLimitResponse.OVER_LIMIT]
        over = await limiter.ShouldRateLimit(request("mer_a"), None)
        assert [(h.key, h.value) for h in over.response_headers_to_add] == [("retry-after", "1")]
        assert over.statuses[0].limit_remaining == 0
        # Another merchant has its own budget; the next window starts afresh.
        assert (await limiter.ShouldRateLimit(request("mer_b"), None)).overall_code == rls_pb2.RateLimitResponse.OK
        now[0] += 1
        assert (await limiter.ShouldRateLimit(request("mer_a"), None)).overall_code == rls_pb2.RateLimitResponse.OK
    finally:
        await cache.aclose()


async def test_a_route_limit_applies_per_merchant_and_route(redis_server: RedisServer) -> None:
    cache = redis.from_url(redis_server.url)
    limiter = RedisRateLimiter(cache, {"merchant_id": 100, "route": 2}, clock=lambda: 2000.5)
    try:
        codes = [(await limiter.ShouldRateLimit(request("mer_c", "payouts"), None)).overall_code for _ in range(3)]
        assert codes[-1] == rls_pb2.RateLimitResponse.OVER_LIMIT
        other_route = await limiter.ShouldRateLimit(request("mer_c", "invoices"), None)
        assert other_route.overall_code == rls_pb2.RateLimitResponse.OK
    finally:
        await cache.aclose()


async def test_an_unreachable_redis_fails_open() -> None:
    cache = redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(cache, {"merchant_id": 1})
    try:
        reply = await limiter.ShouldRateLimit(request("mer_d"), None)
        assert reply.overall_code == rls_pb2.RateLimitResponse.OK
    finally:
        await cache.aclose()
