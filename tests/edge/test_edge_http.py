"""REST through the real edge: Envoy transcoding to a real ledger, keys checked by the real edge service."""

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
from ledger.app import SERVED as LEDGER_SERVED
from service_runtime import parts
from settlement.app import SERVED as SETTLEMENT_SERVED

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

DESCRIPTOR = parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb"
MERCHANT_RPS = 15


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
    postgres: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
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
            },
        )
        started.append(parts.start(spec))
        ledger_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "service_runtime.cli",
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
            },
        )
        started.append(parts.start(spec))
        edge_port = int(parts.read_ready_file(ready)["grpc_port"] or 0)
        plan = EdgePlan(
            listen_port=parts.free_port(),
            admin_port=parts.free_port(),
            descriptor_path=DESCRIPTOR,
            upstreams=(
                Upstream("ledger", "127.0.0.1", ledger_port),
                Upstream("settlement", "127.0.0.1", parts.free_port()),
            ),
            routes=public_routes_from_served({"ledger": LEDGER_SERVED, "settlement": SETTLEMENT_SERVED}),
            ext_authz=Upstream("ext_authz", "127.0.0.1", edge_port),
            ratelimit=Upstream("ratelimit", "127.0.0.1", edge_port),
            max_request_bytes=16 * 1024,
        )
        config = write(plan, base / "envoy" / "envoy.yaml")
        started.append(parts.start(parts.prepare_envoy(base / "envoy", config.read_text(), plan.admin_port)))
        yield Stack(plan.listen_port, created.stdout.strip())
    finally:
        for proc in reversed(started):
            proc.stop()


def test_create_get_list_and_cancel_an_invoice_over_rest(stack: Stack) -> None:
    _, key = stack.merchant_key()
    created = stack.call("POST", "/v1/invoices", {"amount": "10.50", "order_id": "A-1"}, key)
    assert created.status == 200, created.body
    invoice = created.json()
    assert invoice["status"] == "INVOICE_STATUS_OPEN"
    assert (invoice["amount"], invoice["amount_base_units"]) == ("10.5", str(105 * 10**17))
    assert invoice["deposit_address"].startswith("0x")
    assert created.headers["content-type"].startswith("application/json")
    assert not {"server", "grpc-status", "grpc-message", "x-envoy-upstream-service-time"} & set(created.headers)

    got = stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key)
    assert got.status == 200
    assert got.json()["id"] == invoice["id"]
    listed = stack.call("GET", "/v1/invoices?order_id=A-1", key=key)
    assert [i["id"] for i in listed.json()["invoices"]] == [invoice["id"]]
    canceled = stack.call("POST", f"/v1/invoices/{invoice['id']}:cancel", {"reason": "changed mind"}, key)
    assert canceled.status == 200, canceled.body
    assert canceled.json()["status"] == "INVOICE_STATUS_CANCELED"
    balance = stack.call("GET", "/v1/balance", key=key)
    assert balance.json()["assets"][0]["available_base_units"] == "0"


def test_missing_malformed_and_revoked_keys_are_401(stack: Stack) -> None:
    merchant_id, key = stack.merchant_key()
    assert stack.call("GET", "/v1/invoices").status == 401
    malformed = stack.call("GET", "/v1/invoices", key="sk_test_nope")
    assert malformed.status == 401
    assert malformed.json()["details"][0]["reason"] == "API_KEY_MALFORMED"
    keys = stack.call("GET", f"/admin/v1/merchants/{merchant_id}/api_keys", key=stack.admin_key).json()["api_keys"]
    revoked = stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}/api_keys/{keys[0]['id']}:revoke", {}, stack.admin_key
    )
    assert revoked.status == 200
    after = stack.call("GET", "/v1/invoices", key=key)
    assert after.status == 401
    assert after.json()["details"][0]["reason"] == "API_KEY_REVOKED"


def test_scope_other_merchant_bad_field_and_kinds_of_key(stack: Stack) -> None:
    _, reader = stack.merchant_key(scopes=("invoices:read",))
    assert stack.call("POST", "/v1/invoices", {"amount": "1"}, reader).status == 403
    _, key_a = stack.merchant_key()
    _, key_b = stack.merchant_key()
    invoice = stack.call("POST", "/v1/invoices", {"amount": "1"}, key_a).json()
    assert stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key_b).status == 404
    bad = stack.call("POST", "/v1/invoices", {"amount": "1.5e3"}, key_a)
    assert bad.status == 400
    assert bad.json()["details"][0]["metadata"]["field"] == "amount"
    assert stack.call("GET", "/admin/v1/merchants", key=key_a).status == 403
    assert stack.call("GET", "/v1/invoices", key=stack.admin_key).status == 403


def test_a_client_sent_merchant_header_has_no_effect(stack: Stack) -> None:
    victim, victim_key = stack.merchant_key()
    _, key = stack.merchant_key()
    stack.call("POST", "/v1/invoices", {"amount": "3"}, victim_key)
    forged = stack.call("GET", "/v1/invoices", key=key, headers={"x-stablegate-merchant-id": victim})
    assert forged.status == 200
    assert forged.json().get("invoices", []) == []


def test_idempotency_key_replays_and_conflicts(stack: Stack) -> None:
    _, key = stack.merchant_key()
    headers = {"idempotency-key": f"order-{secrets.token_hex(4)}"}
    first = stack.call("POST", "/v1/invoices", {"amount": "4"}, key, headers=headers)
    again = stack.call("POST", "/v1/invoices", {"amount": "4"}, key, headers=headers)
    assert first.status == again.status == 200
    assert first.json()["id"] == again.json()["id"]
    other = stack.call("POST", "/v1/invoices", {"amount": "5"}, key, headers=headers)
    assert other.status == 409
    assert other.json()["details"][0]["reason"] == "REQUEST_ID_REUSED"


def test_oversized_body_is_413_and_a_burst_is_429_with_retry_after(stack: Stack) -> None:
    _, key = stack.merchant_key()
    big = stack.call("POST", "/v1/invoices", key=key, raw=json.dumps({"description": "x" * 20000}).encode())
    assert big.status == 413
    statuses = [stack.call("GET", "/v1/balance", key=key) for _ in range(MERCHANT_RPS * 3)]
    limited = [r for r in statuses if r.status == 429]
    assert limited, [r.status for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["code"] == 8
