"""Per-merchant and per-route-group rate limits, backed by Redis fixed windows (one per descriptor per second).

The edge's ext_authz check counts a request's descriptors (the merchant id it just verified; the merchant and
the route group) in the same call as the key check; each descriptor is counted in Redis for the current
one-second window. Over any limit, the answer is 429 with a `Retry-After`
header and our JSON body. A Redis failure fails open (the request goes
on, the failure is logged): rate limiting protects capacity, it is not an authorisation decision.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from envoy.config.core.v3 import base_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from google.protobuf import duration_pb2

log = logging.getLogger("stablegate.edge.ratelimit")

WINDOW_SECONDS = 1


Descriptor = Sequence[tuple[str, str]]
"""A rate-limit descriptor's entries, (key, value) pairs, the most specific last (Envoy's descriptor shape)."""


@dataclass(frozen=True)
class Verdict:
    """What counting one request decided: per descriptor (limit, count), and the seconds until the window resets."""

    counted: tuple[tuple[int, int], ...]
    reset_seconds: float

    @property
    def over(self) -> bool:
        """True when any descriptor's count is past its limit."""
        return any(count > limit for limit, count in self.counted)

    @property
    def retry_after(self) -> str:
        """The Retry-After header's value: whole seconds until the window resets, at least 1."""
        return str(max(1, math.ceil(self.reset_seconds)))


class RedisRateLimiter(rls_pb2_grpc.RateLimitServiceServicer):  # type: ignore[misc]
    """Count descriptors in Redis and decide OK or OVER_LIMIT.

    Two callers: Envoy's rate-limit filter (`ShouldRateLimit`, when a plan routes limits through it) and the
    edge's ext_authz check (`count`), which counts a request's merchant and route-group limits in the same call
    as its key check, so a request costs Envoy one external call instead of two. Either way the Redis keys are
    the same.
    """

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

    def limit_for(self, entries: Descriptor) -> int | None:
        """The limit of a descriptor: that of its most specific entry with a configured limit."""
        for key, _ in reversed(entries):
            if key in self._limits:
                return self._limits[key]
        return None

    async def count(self, domain: str, descriptors: Sequence[Descriptor], hits: int = 1) -> Verdict | None:
        """Count one request against each descriptor's current window (one Redis round trip).

        None when Redis cannot be reached: the caller lets the request through (fail open, logged).
        """
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        reset = (window + 1) * WINDOW_SECONDS - now
        keyed = [
            (limit, f"rl:{domain}:{'|'.join(f'{k}={v}' for k, v in entries)}:{window}")
            for entries in descriptors
            if (limit := self.limit_for(entries)) is not None
        ]
        if not keyed:
            return Verdict((), reset)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for _, key in keyed:
                    pipe.incrby(key, hits)
                    pipe.expire(key, WINDOW_SECONDS + 1)
                results = await pipe.execute()
        except redis.RedisError:
            log.error("rate-limit store unavailable; letting the request through")
            return None
        return Verdict(tuple((limit, int(results[i * 2])) for i, (limit, _) in enumerate(keyed)), reset)

    async def ShouldRateLimit(self, request: rls_pb2.RateLimitRequest, context: Any) -> rls_pb2.RateLimitResponse:
        """Count this request against each descriptor's window."""
        descriptors = [[(e.key, e.value) for e in d.entries] for d in request.descriptors]
        limited = [d for d in descriptors if self.limit_for(d) is not None]
        verdict = await self.count(request.domain, limited, max(request.hits_addend, 1))
        if verdict is None:
            return rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK)
        statuses = []
        for limit, count in verdict.counted:
            statuses.append(
                rls_pb2.RateLimitResponse.DescriptorStatus(
                    code=rls_pb2.RateLimitResponse.OVER_LIMIT if count > limit else rls_pb2.RateLimitResponse.OK,
                    current_limit=rls_pb2.RateLimitResponse.RateLimit(
                        requests_per_unit=limit, unit=rls_pb2.RateLimitResponse.RateLimit.SECOND
                    ),
                    limit_remaining=max(limit - count, 0),
                    duration_until_reset=duration_pb2.Duration(nanos=int(verdict.reset_seconds * 1e9) % 1_000_000_000),
                )
            )
        if not verdict.over:
            return rls_pb2.RateLimitResponse(overall_code=rls_pb2.RateLimitResponse.OK, statuses=statuses)
        return rls_pb2.RateLimitResponse(
            overall_code=rls_pb2.RateLimitResponse.OVER_LIMIT,
            statuses=statuses,
            response_headers_to_add=[base_pb2.HeaderValue(key="retry-after", value=verdict.retry_after)],
        )
