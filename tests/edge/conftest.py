"""Edge fixtures: a real Envoy in front of a real ledger, with the real edge service, on real Postgres and Redis."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chain.deploy import ANVIL_FIRST_ACCOUNT
from chain.deploy import plan as plan_contracts
from edge.envoy_config import EdgePlan, TlsFiles, Upstream, public_routes_from_served, write
from gateway import parts
from ledger.app import SERVED as LEDGER_SERVED
from ledger.secretbox import new_dev_key
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from settlement.app import SERVED as SETTLEMENT_SERVED

if TYPE_CHECKING:
    from tests.conftest import AnvilNode, PostgresServer, RedisServer

DESCRIPTOR = parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb"
MERCHANT_RPS = 40
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
    admin_api_port: int = 0
    """The admin API's own listener (`/admin/v1/…`); the public listener (`port`) never serves it."""
    tls_context: ssl.SSLContext | None = None
    """Set when Envoy's listeners speak TLS: requests go over https with this context."""
    edge_port: int = 0
    """The edge service's gRPC port (ext_authz and rate limits, for Envoy only)."""
    ledger_metrics_port: int = 0
    """The ledger's Prometheus endpoint."""
    ledger_port: int = 0
    """The ledger's gRPC port (mesh clients only)."""
    database_url: str = ""
    """The stack's own database (for `stablegate admin keys create`)."""
    checkout_port: int = 0
    """The checkout service's page listener (mutual TLS, Envoy only); 0 when the stack has no checkout."""
    dashboard_port: int = 0
    """The dashboard service's page listener (mutual TLS, Envoy only); 0 when the stack has no dashboard."""

    def admin_key_with(self, *roles: str, allow_ip: tuple[str, ...] = ()) -> str:
        """A new admin key with these roles (and client networks), made by the CLI like an operator would."""
        args = [sys.executable, "-m", "gateway", "admin", "keys", "create", "--name", "tests"]
        args += [f"--role={role}" for role in roles] + [f"--allow-ip={net}" for net in allow_ip]
        made = subprocess.run(
            [*args, "--database-url", self.database_url], capture_output=True, text=True, check=True, timeout=60
        )
        return made.stdout.strip()

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        key: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        port: int | None = None,
        source: str | None = None,
    ) -> Reply:
        """One HTTP request; `/admin/` paths go to the admin listener unless `port` says otherwise.

        `source` binds the client socket to that loopback address (127.0.0.2, …), a client of another address.
        """
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if port is None:
            port = self.admin_api_port if path.startswith("/admin/") and self.admin_api_port else self.port
        send = {"content-type": "application/json"} if data is not None else {}
        if key is not None:
            send["authorization"] = f"Bearer {key}"
        send.update(headers or {})
        bind = (source, 0) if source is not None else None
        conn: http.client.HTTPConnection
        if self.tls_context is not None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=10, context=self.tls_context, source_address=bind
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=bind)
        try:
            conn.request(method, path, body=data, headers=send)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def ledger_metric(self, name: str, labels: dict[str, str]) -> float:
        """One sample from the ledger's Prometheus endpoint (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ledger_metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def credential_lookups(self) -> float:
        """Key verifications the ledger has answered, whatever the outcome (each is a database lookup here:
        the stack runs the ledger with its credential cache off)."""
        total = 0.0
        for code in ("OK", "UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"):
            total += self.ledger_metric(
                "grpc_server_handled_total",
                {"grpc_method": "/stablegate.ledger.v1.CredentialService/VerifyCredential", "grpc_code": code},
            )
        return total

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


def launch_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    pki: DevMesh,
    base: Path,
    started: list[parts.RunningProcess],
    *,
    profile: str = "test",
    public_tls: TlsFiles | None = None,
    rpc_url: str | None = None,
    client_requests_per_second: int = 200,
    request_receive_timeout: float = 30.0,
    checkout: bool = False,
    dashboard_env: dict[str, str] | None = None,
    ledger_env: dict[str, str] | None = None,
    listen_port: int | None = None,
) -> tuple[Stack, int]:
    """Start a ledger, the edge service and Envoy on a fresh database (appending each to `started`).

    Returns the stack and the ledger's gRPC port. Every hop inside is mutual TLS with `pki`'s certificates;
    `public_tls` puts TLS on Envoy's public listener too. With `rpc_url` (a chain node), settlement runs behind
    Envoy as well (its fee estimate reads that node); without, its upstream is a port nothing listens on. With
    `checkout`, the checkout service runs too and Envoy serves its page at `/checkout/`. With `dashboard_env` (extra
    settings, e.g. its SMTP server), the dashboard runs too, with an admin key of its own (role `dashboard`, as `up`
    makes it), at `/dashboard/`.
    `ledger_env` adds settings to the ledger's environment (e.g. `STABLEGATE_LEDGER_WEBHOOK_ALLOW_LOOPBACK`).
    `listen_port` fixes Envoy's public port beforehand (e.g. for an OIDC provider's registered redirect URI).
    """
    listen_port = listen_port or parts.free_port()
    database = f"edge_{secrets.token_hex(4)}"
    psql = str(parts.postgres_bin_dir() / "psql")
    admin_db = ["-h", "127.0.0.1", "-p", str(postgres.plan.port), "-U", "postgres", "-d", "postgres"]
    parts.run_checked([psql, *admin_db, "-c", f"CREATE DATABASE {database}"])
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{database}"
    # prod refuses the placeholder token, factory and init-code hash: give it what `up` deploys on anvil (the
    # ledger only does CREATE2 math with them; nothing here reads the chain).
    planned = plan_contracts(ANVIL_FIRST_ACCOUNT, 0)
    chain_env = (
        {
            "STABLEGATE_LEDGER_TOKEN_CONTRACT": planned.token,
            "STABLEGATE_LEDGER_FORWARDER_FACTORY": planned.factory,
            "STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH": "0x" + planned.init_code_hash.hex(),
        }
        if profile == "prod"
        else {}
    )
    spec, ready = parts.prepare_service(
        "ledger",
        base,
        {
            "STABLEGATE_LEDGER_PROFILE": profile,
            "STABLEGATE_LEDGER_DATABASE_URL": dsn,
            "STABLEGATE_LEDGER_MIGRATE_ON_START": "true",
            "STABLEGATE_LEDGER_CREDENTIAL_CACHE_SECONDS": "0",
            "STABLEGATE_LEDGER_LOG_LEVEL": "WARNING",
            "STABLEGATE_LEDGER_CHECKOUT_BASE_URL": f"{'https' if public_tls else 'http'}://127.0.0.1:{listen_port}/checkout/",
            # Webhook secrets are sealed with this key; prod refuses the dev marker, so prod gets a plain one.
            "STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY": new_dev_key()
            if profile != "prod"
            else base64.b64encode(secrets.token_bytes(32)).decode(),
            **pki.files(Role.LEDGER).env("ledger"),
            **chain_env,
            **(ledger_env or {}),
        },
    )
    started.append(parts.start(spec))
    ledger_ports = parts.read_ready_file(ready)
    ledger_port = int(ledger_ports["grpc_port"] or 0)
    created = subprocess.run(
        [sys.executable, "-m", "gateway", "admin", "keys", "create", "--name", "tests", "--database-url", dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    spec, ready = parts.prepare_service(
        "edge",
        base,
        {
            "STABLEGATE_EDGE_PROFILE": profile,
            "STABLEGATE_EDGE_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
            "STABLEGATE_EDGE_REDIS_URL": redis_server.url,
            "STABLEGATE_EDGE_CREDENTIAL_CACHE_SECONDS": "0",
            "STABLEGATE_EDGE_MERCHANT_REQUESTS_PER_SECOND": str(MERCHANT_RPS),
            "STABLEGATE_EDGE_ROUTE_REQUESTS_PER_SECOND": str(MERCHANT_RPS),
            **pki.files(Role.EDGE).env("edge"),
        },
    )
    started.append(parts.start(spec))
    edge_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
    settlement_port = parts.free_port()
    if rpc_url is not None:
        spec, ready = parts.prepare_service(
            "settlement",
            base,
            {
                "STABLEGATE_SETTLEMENT_PROFILE": profile,
                "STABLEGATE_SETTLEMENT_RPC_URLS": json.dumps([rpc_url]),
                "STABLEGATE_SETTLEMENT_LOG_LEVEL": "WARNING",
                **pki.files(Role.SETTLEMENT).env("settlement"),
            },
        )
        started.append(parts.start(spec))
        settlement_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
    checkout_upstream = None
    if checkout:
        checkout_port = parts.free_port()
        spec, ready = parts.prepare_service(
            "checkout",
            base,
            {
                "STABLEGATE_CHECKOUT_PROFILE": profile,
                "STABLEGATE_CHECKOUT_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
                "STABLEGATE_CHECKOUT_REDIS_URL": redis_server.url,
                "STABLEGATE_CHECKOUT_HTTP_PORT": str(checkout_port),
                "STABLEGATE_CHECKOUT_POLL_INTERVAL_SECONDS": "0.2",
                "STABLEGATE_CHECKOUT_LOG_LEVEL": "WARNING",
                **pki.files(Role.CHECKOUT).env("checkout"),
            },
        )
        started.append(parts.start(spec))
        checkout_upstream = Upstream("checkout", "127.0.0.1", checkout_port, Role.CHECKOUT)
    dashboard_upstream = None
    if dashboard_env is not None:
        dashboard_port = parts.free_port()
        dashboard_key = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "admin",
                "keys",
                "create",
                "--name",
                "dashboard",
                "--role",
                "dashboard",
                "--database-url",
                dsn,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        spec, ready = parts.prepare_service(
            "dashboard",
            base,
            {
                "STABLEGATE_DASHBOARD_PROFILE": profile,
                "STABLEGATE_DASHBOARD_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
                "STABLEGATE_DASHBOARD_REDIS_URL": redis_server.url,
                "STABLEGATE_DASHBOARD_DATABASE_URL": dsn,
                "STABLEGATE_DASHBOARD_MIGRATE_ON_START": "true",
                "STABLEGATE_DASHBOARD_HTTP_PORT": str(dashboard_port),
                "STABLEGATE_DASHBOARD_PUBLIC_URL": f"{'https' if public_tls else 'http'}://127.0.0.1:{listen_port}",
                "STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY": dashboard_key,
                "STABLEGATE_DASHBOARD_SECRET_KEY": new_dev_key(),
                "STABLEGATE_DASHBOARD_LOG_LEVEL": "WARNING",
                # Notification emails off unless a test turns them on (they would add mail to other tests' boxes).
                "STABLEGATE_DASHBOARD_NOTIFY_INTERVAL_SECONDS": "0",
                **pki.files(Role.DASHBOARD).env("dashboard"),
                **dashboard_env,
            },
        )
        started.append(parts.start(spec))
        dashboard_upstream = Upstream("dashboard", "127.0.0.1", dashboard_port, Role.DASHBOARD)
    plan = EdgePlan(
        listen_port=listen_port,
        admin_port=parts.free_port(),
        descriptor_path=DESCRIPTOR,
        upstreams=(
            Upstream("ledger", "127.0.0.1", ledger_port, Role.LEDGER),
            Upstream("settlement", "127.0.0.1", settlement_port, Role.SETTLEMENT),
        ),
        routes=public_routes_from_served({"ledger": LEDGER_SERVED, "settlement": SETTLEMENT_SERVED}),
        ext_authz=Upstream("ext_authz", "127.0.0.1", edge_port, Role.EDGE),
        mesh=pki.files(Role.EDGE),
        max_request_bytes=16 * 1024,
        tls=public_tls,
        admin_api_port=parts.free_port(),
        client_requests_per_second=client_requests_per_second,
        request_receive_timeout=request_receive_timeout,
        checkout=checkout_upstream,
        dashboard=dashboard_upstream,
    )
    config = write(plan, base / "envoy" / "envoy.yaml")
    started.append(parts.start(parts.prepare_envoy(base / "envoy", config.read_text(), plan.admin_port)))
    stack = Stack(
        plan.listen_port,
        created.stdout.strip(),
        admin_api_port=plan.admin_api_port or 0,
        edge_port=edge_port,
        ledger_metrics_port=int(ledger_ports["metrics_port"] or 0),
        ledger_port=ledger_port,
        database_url=dsn,
        checkout_port=checkout_upstream.port if checkout_upstream is not None else 0,
        dashboard_port=dashboard_upstream.port if dashboard_upstream is not None else 0,
    )
    return stack, ledger_port


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    anvil: AnvilNode,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Envoy in front of a ledger, settlement (reading the session's anvil) and the edge service (test profile,
    mutual TLS inside) for one module."""
    started: list[parts.RunningProcess] = []
    try:
        base = tmp_path_factory.mktemp("stack")
        yield launch_stack(postgres, redis_server, mesh_pki, base, started, rpc_url=anvil.url)[0]
    finally:
        for proc in reversed(started):
            proc.stop()
