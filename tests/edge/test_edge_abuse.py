"""Abuse resistance at the edge, on a real Envoy, edge service, ledger, Postgres and Redis.

A per-client-address limit runs in Envoy before the key check, so a flood of made-up keys from one address
costs the ledger a bounded number of key lookups per second (counted from the ledger's own metrics); forged
X-Forwarded-For headers do not escape it; another address keeps its own budget; a client that never finishes
its request gets 408; and the edge's own gRPC port answers Envoy (the `edge` mesh role) only.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2 as authz_pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as authz_grpc

from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import error_info, mesh_sync_channel
from tests.edge.conftest import Reply, Stack, launch_stack

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

CLIENT_RPS = 10
"""This module's per-address limit (and burst): low, so a flood from Python threads is far above it."""
FLOOD = 400
RECEIVE_TIMEOUT = 2.0
"""This module's request_receive_timeout: a request not fully received by then is 408."""


@pytest.fixture(scope="module")
def limited(
    postgres: PostgresServer, redis_server: RedisServer, mesh_pki: DevMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack whose per-address limit is CLIENT_RPS and whose request receive timeout is short."""
    started: list[parts.RunningProcess] = []
    try:
        stack, _ = launch_stack(
            postgres,
            redis_server,
            mesh_pki,
            tmp_path_factory.mktemp("limited"),
            started,
            client_requests_per_second=CLIENT_RPS,
            request_receive_timeout=RECEIVE_TIMEOUT,
        )
        yield stack
    finally:
        for proc in reversed(started):
            proc.stop()


def made_up_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk_test_" + "".join(secrets.choice(alphabet) for _ in range(32))


def settled_lookups(stack: Stack) -> float:
    """The ledger's lookup count once it stops moving (its counter is bumped as each call finishes)."""
    last = stack.credential_lookups()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = stack.credential_lookups()
        if now == last:
            return now
        last = now
    return last


def test_a_flood_of_made_up_keys_from_one_address_costs_bounded_ledger_lookups(limited: Stack) -> None:
    source = "127.0.0.4"
    before = settled_lookups(limited)

    def attempt(n: int) -> Reply:
        # A fresh key each time (no cache helps), and a forged X-Forwarded-For the limit must not believe.
        forged = {"x-forwarded-for": f"10.{n % 250}.{n // 250}.7"}
        return limited.call("GET", "/v1/invoices", key=made_up_key(), headers=forged, source=source)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(attempt, range(FLOOD)))
    elapsed = time.monotonic() - started
    lookups = settled_lookups(limited) - before

    statuses = [r.status for r in replies]
    checked = statuses.count(401)
    limited_replies = [r for r in replies if r.status == 429]
    assert set(statuses) <= {401, 429}, statuses
    # The budget: the bucket's size at the start, plus one refill per started second of the flood.
    budget = CLIENT_RPS + CLIENT_RPS * (int(elapsed) + 1)
    print(f"flood: {FLOOD} requests in {elapsed:.2f} s, {checked} reached the key check, {lookups:.0f} lookups")
    assert 1 <= checked <= budget, (checked, budget, elapsed)
    assert 1 <= lookups <= budget, (lookups, budget, elapsed)
    assert len(limited_replies) == FLOOD - checked
    if budget < FLOOD:  # the flood outran the budget (always, bar a machine slower than 40 requests a second)
        assert limited_replies
    body = limited_replies[0].json()
    assert body["code"] == 8
    assert body["details"][0]["reason"] == "RATE_LIMITED"
    assert limited_replies[0].headers["retry-after"] == "1"


def test_another_address_keeps_its_own_budget(limited: Stack) -> None:
    _, key = limited.merchant_key()
    flooder = "127.0.0.5"
    # Until the flooder is refused (bounded: the bucket holds CLIENT_RPS, refilled by as many a second).
    refused = False
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(50):
            batch = pool.map(lambda _: limited.call("GET", "/v1/balance", key=key, source=flooder), range(40))
            if any(r.status == 429 for r in batch):
                refused = True
                break
    assert refused
    # A different client address is unaffected by the first one's exhausted bucket.
    other = limited.call("GET", "/v1/balance", key=key, source="127.0.0.6")
    assert other.status == 200, other.body


def test_a_request_never_finished_is_408_json(limited: Stack) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=RECEIVE_TIMEOUT * 5) as conn:
        conn.sendall(
            b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + made_up_key().encode() + b'\r\ncontent-length: 100\r\n\r\n{"amount"'
        )
        started = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        waited = time.monotonic() - started
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert b"application/json" in head.lower()
    error = json.loads(body)
    assert error["code"] == 4
    assert error["details"][0]["reason"] == "REQUEST_TIMEOUT"
    assert waited < RECEIVE_TIMEOUT * 4


def test_the_edge_grpc_port_answers_only_envoys_role(limited: Stack, mesh_pki: DevMesh) -> None:
    check = authz_pb.CheckRequest()
    check.attributes.request.http.path = "/v1/invoices"
    # Envoy's role: the check itself answers (a denial here, as the request carries no key).
    with mesh_sync_channel(mesh_pki, Role.EDGE, limited.edge_port) as channel:
        answer = authz_grpc.AuthorizationStub(channel).Check(check, timeout=5)
    assert answer.denied_response.status.code == 401
    # Another mesh role: refused before the servicer runs.
    with (
        mesh_sync_channel(mesh_pki, Role.LEDGER, limited.edge_port) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        authz_grpc.AuthorizationStub(channel).Check(check, timeout=5)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(refused.value).reason == "MESH_ROLE_NOT_ALLOWED"
    # No client certificate at all: the TLS handshake fails.
    anonymous = grpc.ssl_channel_credentials(root_certificates=mesh_pki.ca_file.read_bytes())
    with (
        grpc.secure_channel(f"127.0.0.1:{limited.edge_port}", anonymous) as channel,
        pytest.raises(grpc.RpcError) as unauthenticated,
    ):
        authz_grpc.AuthorizationStub(channel).Check(check, timeout=5)
    assert unauthenticated.value.code() == grpc.StatusCode.UNAVAILABLE
    # Plaintext: no answer either.
    with (
        grpc.insecure_channel(f"127.0.0.1:{limited.edge_port}") as channel,
        pytest.raises(grpc.RpcError) as plaintext,
    ):
        authz_grpc.AuthorizationStub(channel).Check(check, timeout=5)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
