"""The edge's key check against a real ledger and Redis: caching within the bound, refusals remembered briefly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as redis
from envoy.service.auth.v3 import external_auth_pb2 as authz_pb

from edge.authz import EdgeAuthorizer
from tests.ledger.ledger_harness import Ledger, running_ledger

if TYPE_CHECKING:
    from tests.conftest import RedisServer


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db, credential_cache_seconds=2) as running:
        yield running


def check(key: str, path: str = "/v1/invoices") -> authz_pb.CheckRequest:
    request = authz_pb.CheckRequest()
    request.attributes.request.http.path = path
    request.attributes.request.http.headers["authorization"] = f"Bearer {key}"
    return request


def ledger_checks(ledger: Ledger, code: str) -> float:
    """How many credential checks the ledger has answered with this code (from its own metrics)."""
    value = ledger.runtime.registry.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_method": "/stablegate.ledger.v1.CredentialService/VerifyCredential", "grpc_code": code},
    )
    return value or 0.0


async def test_a_valid_key_is_checked_once_per_bound_and_a_bad_one_refused_without_asking_again(
    ledger: Ledger, redis_server: RedisServer
) -> None:
    _, key = await ledger.merchant_with_key()
    cache = redis.from_url(redis_server.url)
    try:
        authorizer = EdgeAuthorizer(ledger.channel, cache, cache_seconds=2)
        for _ in range(5):
            reply = await authorizer.Check(check(key), None)
            assert reply.status.code == 0
        assert ledger_checks(ledger, "OK") == 1  # the rest came from the cache
        # Another replica finds the answer in Redis: admitted with the same identity, no ledger call.
        replica = EdgeAuthorizer(ledger.channel, cache, cache_seconds=2)
        for _ in range(2):
            shared = await replica.Check(check(key), None)
            assert shared.status.code == 0
            assert shared.ok_response.headers == reply.ok_response.headers
        assert ledger_checks(ledger, "OK") == 1

        bad = key[:-4] + "AAAA"
        for _ in range(5):
            reply = await authorizer.Check(check(bad), None)
            assert reply.denied_response.status.code == 401
        assert ledger_checks(ledger, "UNAUTHENTICATED") == 1  # refusals are remembered for a moment

        admin = await authorizer.Check(check(key, "/admin/v1/merchants"), None)
        assert admin.denied_response.status.code == 403
    finally:
        await cache.aclose()
