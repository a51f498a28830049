"""Edge fixtures: a real Envoy in front of a real ledger, with the real edge service, on real Postgres and Redis."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from edge.envoy_config import EdgePlan, Upstream, public_routes_from_served, write
from gateway import parts
from ledger.app import SERVED as LEDGER_SERVED
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.app import SERVED as SETTLEMENT_SERVED
from tests.conftest import mesh_client

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

DESCRIPTOR = parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb"
MERCHANT_RPS = 15
"""The stack's per-merchant (and per-route) rate limit, requests per second."""


@dataclass(frozen=True)
class Reply:
    """An HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stack:
    """Envoy in front of a ledger, with the edge's authz and rate-limit service, and an admin key."""

    port: int
    admin_key: str

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        key: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if key is not None:
            request.add_header("authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    def merchant_key(
        self, scopes: tuple[str, ...] = ("invoices:read", "invoices:write", "balance:read")
    ) -> tuple[str, str]:
        merchant = self.call(
            "POST", "/admin/v1/merchants", {"name": "Shop", "contact_email": "ops@shop.example"}, self.admin_key
        )
        assert merchant.status == 200, merchant.body
        merchant_id = merchant.json()["id"]
        issued = self.call(
            "POST", f"/admin/v1/merchants/{merchant_id}/api_keys", {"scopes": list(scopes)}, self.admin_key
        )
        assert issued.status == 200, issued.body
        return merchant_id, issued.json()["plaintext_key"]


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer, redis_server: RedisServer, mesh_pki: DevMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    database = f"edge_{secrets.token_hex(4)}"
    psql = str(parts.postgres_bin_dir() / "psql")
    parts.run_checked(
        [
            psql,
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.plan.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            f"CREATE DATABASE {database}",
        ]
    )
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{database}"
    started: list[parts.RunningProcess] = []
    try:
        spec, ready = parts.prepare_service(
            "ledger",
            base,
            {
                "STABLEGATE_LEDGER_DATABASE_URL": dsn,
                "STABLEGATE_LEDGER_MIGRATE_ON_START": "true",
                "STABLEGATE_LEDGER_CREDENTIAL_CACHE_SECONDS": "0",
                "STABLEGATE_LEDGER_LOG_LEVEL": "WARNING",
                **mesh_pki.files(Role.LEDGER).env("ledger"),
            },
        )
        started.append(parts.start(spec))
        ledger_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "admin",
                "keys",
                "create",
                "--name",
                "tests",
                "--database-url",
                dsn,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        spec, ready = parts.prepare_service(
            "edge",
            base,
            {
                "STABLEGATE_EDGE_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
                "STABLEGATE_EDGE_REDIS_URL": redis_server.url,
                "STABLEGATE_EDGE_CREDENTIAL_CACHE_SECONDS": "0",
                "STABLEGATE_EDGE_MERCHANT_REQUESTS_PER_SECOND": str(MERCHANT_RPS),
                "STABLEGATE_EDGE_ROUTE_REQUESTS_PER_SECOND": str(MERCHANT_RPS),
                **mesh_pki.files(Role.EDGE).env("edge"),
            },
        )
        started.append(parts.start(spec))
        edge_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        plan = EdgePlan(
            listen_port=parts.free_port(),
            admin_port=parts.free_port(),
            descriptor_path=DESCRIPTOR,
            upstreams=(
                Upstream("ledger", "127.0.0.1", ledger_port, Role.LEDGER),
                Upstream("settlement", "127.0.0.1", parts.free_port(), Role.SETTLEMENT),
            ),
            routes=public_routes_from_served({"ledger": LEDGER_SERVED, "settlement": SETTLEMENT_SERVED}),
            ext_authz=Upstream("ext_authz", "127.0.0.1", edge_port, Role.EDGE),
            ratelimit=Upstream("ratelimit", "127.0.0.1", edge_port, Role.EDGE),
            mesh=mesh_client(mesh_pki, Role.EDGE),
            max_request_bytes=16 * 1024,
        )
        config = write(plan, base / "envoy" / "envoy.yaml")
        started.append(parts.start(parts.prepare_envoy(base / "envoy", config.read_text(), plan.admin_port)))
        yield Stack(plan.listen_port, created.stdout.strip())
    finally:
        for proc in reversed(started):
            proc.stop()
