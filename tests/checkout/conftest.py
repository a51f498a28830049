"""Checkout fixtures: the checkout service behind a real Envoy, with a real ledger, Postgres and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.edge.conftest import Stack, launch_stack

REQUEST_TIMEOUT = 3.0
"""Envoy's request timeout in this stack, seconds."""

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer


@pytest.fixture(scope="module")
def checkout_stack(
    postgres: PostgresServer, redis_server: RedisServer, mesh_pki: DevMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Envoy serving the merchant API and the checkout page, the ledger, the edge and the checkout service."""
    started: list[parts.RunningProcess] = []
    try:
        base = tmp_path_factory.mktemp("checkout")
        # A short request timeout: the live-status stream must outlive it (test_live_stream_outlives_…).
        yield launch_stack(
            postgres, redis_server, mesh_pki, base, started, checkout=True, request_receive_timeout=REQUEST_TIMEOUT
        )[0]
    finally:
        for proc in reversed(started):
            proc.stop()
