"""Envoy's rate-limit service, backed by Redis fixed windows (one per descriptor per second).

Envoy sends the descriptors of a request (the merchant id ext_authz verified, the route group); each descriptor
is counted in Redis for the current one-second window. Over any limit, the answer is OVER_LIMIT with a
`Retry-After` header, and Envoy replies 429 with our JSON body. A Redis failure fails open (the request goes
on, the failure is logged): rate limiting protects capacity, it is not an authorisation decision.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from envoy.config.core.v3 import base_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from google.protobuf import duration_pb2

log = logging.getLogger("stablegate.edge.ratelimit")

WINDOW_SECONDS = 1


class RedisRateLimiter(rls_pb2_grpc.RateLimitServiceServicer):  # type: ignore[misc]
    """Count descriptors in Redis and decide OK or OVER_LIMIT."""

    def __init__(
        self,
        cache: redis.Redis,
        limits: dict[str, int],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = cache
        self._limits = limits  # descriptor's last key ("merchant_id", "route") → requests per window
        self._clock = clock

    def limit_for(self, descriptor: Any) -> int | None:
        """The limit of a descriptor: that of its most specific entry with a configured limit."""
        for entry in reversed(descriptor.entries):
            if entry.key in self._limits:
                return self._limits[entry.key]
        return None

    async def ShouldRateLimit(self, request: rls_pb2.RateLimitRequest, context: Any) -> rls_pb2.RateLimitResponse:
        """Count this request against each descriptor's window."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        reset = (window + 1) * WINDOW_SECONDS - now
        hits = max(request.hits_addend, 1)
        checks = [(d, self.limit_for(d)) for d in request.descriptors]
        keyed = [
            (d, limit, f"rl:{request.domain}:{'|'.join(f'{e.key}={e.value}' for e in d.entries)}:{window}")
            for d, limit in checks
            if limit is not None
        ]
        counts: list[int] = []
        if keyed:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for _, _, key in keyed:
                        pipe.incrby(key, hits)
                        pipe.expire(key, WINDOW_SECONDS + 1)
                    results = await pipe.execute()
                counts = [int(results[i * 2]) for i in range(len(keyed))]
            except redis.RedisError:
                log.error("rate-limit store unavailable; letting the request through")
                return rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK)
        statuses = []
        over = False
        for (_, limit, _), count in zip(keyed, counts, strict=True):
            exceeded = count > limit
            over = over or exceeded
            statuses.append(
                rls_pb2.RateLimitResponse.DescriptorStatus(
                    code=rls_pb2.RateLimitResponse.OVER_LIMIT if exceeded else rls_pb2.RateLimitResponse.OK,
                    current_limit=rls_pb2.RateLimitResponse.RateLimit(
                        requests_per_unit=limit, unit=rls_pb2.RateLimitResponse.RateLimit.SECOND
                    ),
                    limit_remaining=max(limit - count, 0),
                    duration_until_reset=duration_pb2.Duration(nanos=int(reset * 1e9) % 1_000_000_000),
                )
            )
        if not over:
            return rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK, statuses=statuses)
        retry_after = str(max(1, math.ceil(reset)))
        return rls_pb2.RateLimitResponse(
            overall_code=rls_pb2.RateLimitResponse.OVER_LIMIT,
            statuses=statuses,
            response_headers_to_add=[base_pb2.HeaderValue(key="retry-after", value=retry_after)],
        )
