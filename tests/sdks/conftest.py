"""SDK fixtures: the live edge (Envoy, the edge service, a ledger whose dispatcher may post to loopback), a merchant
key per test, a webhook receiver that keeps every raw delivery, and a flaky proxy that loses answers on purpose."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.edge.conftest import Stack, launch_stack

if TYPE_CHECKING:
    from tests.conftest import AnvilNode, PostgresServer, RedisServer

SDK_SCOPES = (
    "invoices:read",
    "invoices:write",
    "balance:read",
    "payouts:read",
    "webhooks:read",
    "webhooks:write",
)
"""What the SDK tests' merchant keys may do."""


@pytest.fixture(scope="package")
def sdk_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    anvil: AnvilNode,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The edge stack for every SDK test module, its ledger's webhook dispatcher allowed to reach loopback."""
    started: list[parts.RunningProcess] = []
    try:
        base = tmp_path_factory.mktemp("sdk-stack")
        yield launch_stack(
            postgres,
            redis_server,
            mesh_pki,
            base,
            started,
            rpc_url=anvil.url,
            ledger_env={"STABLEGATE_LEDGER_WEBHOOK_ALLOW_LOOPBACK": "true"},
        )[0]
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest.fixture
def merchant_key(sdk_stack: Stack) -> str:
    """A fresh merchant (so its lists hold only this test's invoices) and its key with every SDK scope."""
    return sdk_stack.merchant_key(SDK_SCOPES)[1]


def base_url(stack: Stack) -> str:
    """The edge's public URL."""
    return f"http://127.0.0.1:{stack.port}"


@dataclass
class Delivery:
    """One raw webhook request as the receiver got it."""

    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback that answers 200 and keeps every request's headers and raw body."""

    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        """Where the gateway posts."""
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, event_type: str, within: float = 20.0) -> Delivery:
        """The first delivery whose body has this event type."""
        needle = f'"type":"{event_type}"'.encode()
        deadline = time.monotonic() + within
        with self.arrived:
            while True:
                for delivery in self.deliveries:
                    if needle in delivery.body.replace(b" ", b""):
                        return delivery
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event_type} delivery within {within} s; got {len(self.deliveries)}")
                self.arrived.wait(left)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver for one test."""
    found = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with found.arrived:
                found.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
                found.arrived.notify_all()
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Seen:
    """One request the flaky proxy got, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]
    action: str


@dataclass
class FlakyProxy:
    """A real HTTP proxy on loopback in front of the edge that misbehaves on a script, then forwards.

    Script actions, one per request, in order: `lose` forwards the request and then closes the connection without
    answering (the call happened, the client never hears of it); `503` answers 503 UNAVAILABLE with `Retry-After: 0`
    without forwarding; `504text` answers 504 in plain text, as Envoy does on its own timeout. After the script, every
    request is forwarded.
    """

    upstream_port: int
    script: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def flaky_proxy(sdk_stack: Stack) -> Iterator[FlakyProxy]:
    """A flaky proxy in front of the SDK stack's edge, for one test."""
    proxy = FlakyProxy(sdk_stack.port)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
            action = proxy.script.pop(0) if proxy.script else "forward"
            proxy.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in headers.items()}, action))
            if action == "504text":  # what Envoy itself answers when the service is too slow: plain text
                payload = b"upstream request timeout"
                self.send_response(504)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if action == "503":
                payload = (
                    b'{"code":14,"message":"upstream unavailable","details":[{"@type":'
                    b'"type.googleapis.com/google.rpc.ErrorInfo","reason":"UNAVAILABLE","domain":"stablegate"}]}'
                )
                self.send_response(503)
                self.send_header("content-type", "application/json")
                self.send_header("retry-after", "0")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=15)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
            finally:
                upstream.close()
            if action == "lose":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
