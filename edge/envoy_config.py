"""The production-shaped Envoy bootstrap for the edge, generated from a typed plan and the descriptor set.

One `EdgePlan` says where Envoy listens, which upstream serves which public gRPC service, and which optional
parts are on (ext_authz, rate limits, CORS, TLS). `envoy_config(plan)` turns it into the bootstrap as a dict,
`render_yaml` and `write` into the file Envoy reads.

How a REST request travels (the filter order, first to last):

1. `header_mutation` strips every identity header a client could forge, and on the way out adds the security
   headers and removes any `server` header (it is the first filter, so its response side runs last and also
   sees Envoy's own local replies).
2. `cors` (only with configured origins) answers preflights.
3. `buffer` caps the request body (413 over `max_request_bytes`).
4. `ext_authz` checks the API key against our authorization service, counts the request against its merchant's
   rate limits in the same call (429 over them) and sets the identity headers: one external call per request.
5. `grpc_json_transcoder` turns the REST call into a gRPC call: the path becomes `/<package>.<Service>/<Method>`
   and, because `match_incoming_request_route` stays false, the route cache is cleared so the route is matched
   again on the gRPC path.
6. `ratelimit` (only when the plan names a `ratelimit` upstream; the plans we ship do not, since ext_authz counts
   the same limits) sends the route's descriptors to a rate-limit service. It comes after the transcoder on
   purpose: the filter does nothing when no route with a cluster matched, and before transcoding the REST
   path matches only the catch-all (see `_routes`).
7. `router` sends the gRPC call to the upstream's HTTP/2 cluster, over mutual TLS: Envoy presents its `edge`
   mesh certificate and accepts only an upstream whose certificate names the role the plan expects.

Envoy answers a few routes itself, without an API key and without transcoding (`_plain_http`): `GET /healthz`,
and the generated OpenAPI document and reference page (`ApiDocs`, written by codegen) at `GET /v1/openapi.json`
and `GET /v1/reference`; the page alone gets a CSP that allows its inline stylesheet. With `EdgePlan.checkout`,
`GET /checkout/…` goes without a key to the checkout service (HTTP/1.1 over mutual TLS), with its own CSP.

Routes match gRPC paths and require the marker header the transcoder sets, so only transcoded REST calls reach
the upstreams: a native gRPC client gets UNIMPLEMENTED (ext_authz tells admin from merchant calls by the REST
path, which a native call would not have). Safe methods (bound to GET) get a route each with retries; the rest
of a service shares one route without. Before transcoding, a REST path matches only the catch-all routes at
the end, which exist so that CORS and ext_authz have a route to read their per-route settings from.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from service_runtime import csp
from service_runtime.mesh import ROLES, MeshFiles, spiffe_id

PUBLIC_PACKAGES = ("stablegate.merchant.v1.", "stablegate.admin.v1.")
"""Package prefixes of the services the edge exposes; everything else stays inside the mesh."""

IDENTITY_HEADERS = (
    "x-stablegate-merchant-id",
    "x-stablegate-key-id",
    "x-stablegate-scopes",
    "x-stablegate-admin",
    "x-stablegate-client-address",
    "x-stablegate-acting-user-kind",
    "x-stablegate-acting-user-id",
    "x-stablegate-acting-user-email",
)
"""Headers only ext_authz and Envoy may set; Envoy removes them from every client request first. (The acting-user
ones only the dashboard sets, on its own mesh calls; the ledger ignores them from the edge anyway:
ledger/api/acting.py.)"""

CLIENT_ADDRESS_HEADER = "x-stablegate-client-address"
"""The client's address as Envoy saw it (see `EdgePlan.trusted_proxy_hops`), set on every upstream call; the
ledger believes it only from the `edge` mesh role, to check a key's allowed_ip_ranges, and the dashboard (which
answers only the `edge` role) counts its per-client limits by it (dashboard/client_address.py)."""

MERCHANT_PACKAGE = "stablegate.merchant.v1."
ADMIN_PACKAGE = "stablegate.admin.v1."
ADMIN_OPENAPI_PATH = "/admin/v1/openapi.json"
ADMIN_REFERENCE_PATH = "/admin/v1/reference"

SECURITY_HEADERS = (
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("cache-control", "no-store"),
)
"""Headers on every response, Envoy's own replies included (the API serves JSON only, hence the strict CSP)."""

RETRY_ON = "unavailable,reset,connect-failure"
"""What a safe (GET-bound) call is retried on; calls with side effects are retried only by `REPLICA_RETRY_ON`."""
REPLICA_RETRY_ON = "connect-failure,refused-stream,reset-before-request"
"""What any call to a cluster of several replicas is retried on, on another replica: failures before the request
reached a service (a replica killed or restarting), so even a call with side effects cannot run twice. A call
cut off after it was sent is not retried by Envoy; the client retries it with its Idempotency-Key."""
SAFE_REPLICA_RETRY_ON = ",".join(dict.fromkeys([*RETRY_ON.split(","), *REPLICA_RETRY_ON.split(",")]))
"""A safe (GET-bound) call to replicas: both."""
REPLICA_EJECTION_SECONDS = 5
"""How long a replica that refused connections is left out before Envoy tries it again (outlier detection)."""

TRANSCODED_MARKER = "x-envoy-original-path"
"""Set by the transcoder on every call it made; upstream routes require it, so native gRPC gets UNIMPLEMENTED."""

UNROUTED_CLUSTER = "unrouted"
"""A cluster without endpoints behind the catch-all REST route (a reserved upstream name)."""

IDEMPOTENCY_HEADER = "idempotency-key"
CLIENT_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
MAX_TRACKED_CLIENTS = 100_000
"""Client addresses with a bucket of their own at once (least recently used evicted beyond)."""

RATELIMIT_DOMAIN = "stablegate"
MERCHANT_DESCRIPTOR_KEY = "merchant_id"
ROUTE_GROUP_DESCRIPTOR_KEY = "route"

GEN_ROOT = Path(__file__).resolve().parent.parent / "gen"
OPENAPI_PATH = "/v1/openapi.json"
REFERENCE_PATH = "/v1/reference"
REFERENCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
"""The reference page's CSP: its inline stylesheet and nothing else (no scripts, no external resources)."""
CHECKOUT_PREFIX = "/checkout/"
"""The hosted checkout page's paths on the public listener (docs/checkout.md), proxied to the checkout service."""
CHECKOUT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The checkout page's CSP: its own script, stylesheet, event stream and refund-address form, nothing inline,
nothing third-party."""
DASHBOARD_PREFIX = "/dashboard/"
"""The dashboards' paths on the public listener (docs/dashboard.md), proxied to the dashboard service."""
DASHBOARD_CSP = csp.DASHBOARD_CSP
"""The dashboard's CSP, defined once in service_runtime/csp.py: the dashboard sends the same policy itself."""
CHECKOUT_FORM_PATH = r"^/checkout/[^/]+/[^/]+/refund-address$"
"""The one checkout path that takes a POST: the customer's refund address (a form, set once)."""
MAX_DIRECT_RESPONSE_BYTES = 1024 * 1024
"""Envoy's cap on a direct response's body (its default, 4 KiB, is far below the OpenAPI document)."""

CORS_ALLOW_HEADERS = "authorization, content-type, idempotency-key"
CORS_EXPOSE_HEADERS = "retry-after, x-request-id"

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_EXT_AUTHZ = "envoy.filters.http.ext_authz"
_CORS = "envoy.filters.http.cors"
_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_HEADER_MUTATION = "envoy.filters.http.header_mutation"


@dataclass(frozen=True)
class Upstream:
    """A gRPC server Envoy sends traffic to (a cluster of one address; a DNS name may resolve to several)."""

    name: str
    host: str
    port: int
    role: str
    """The mesh role the upstream's certificate must name (Envoy checks its SPIFFE ID)."""
    replica_ports: tuple[int, ...] = ()
    """More replicas of the same service on `host`, one port each: every one is an endpoint of the cluster, which
    then routes around a replica that dies (`REPLICA_RETRY_ON`, health checks, outlier detection)."""

    @property
    def ports(self) -> tuple[int, ...]:
        """Every replica's port, `port` first."""
        return (self.port, *self.replica_ports)


@dataclass(frozen=True)
class TlsFiles:
    """PEM certificate chain and private key for the public listener."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class ApiDocs:
    """The generated OpenAPI documents and reference pages the edge serves itself (Envoy reads them at start).

    The merchant API's on the public listener, the admin API's on the admin listener.
    """

    openapi_json: Path = GEN_ROOT / "openapi.json"
    reference_html: Path = GEN_ROOT / "reference.html"
    admin_openapi_json: Path = GEN_ROOT / "admin_openapi.json"
    admin_reference_html: Path = GEN_ROOT / "admin_reference.html"


@dataclass(frozen=True)
class RpcMethod:
    """One method of a public service, with the HTTP verb of its `google.api.http` rule (None: gRPC only)."""

    service: str
    name: str
    http_verb: str | None
    response_body: str | None = None
    """The response field REST returns by itself (google.api.http `response_body`), unwrapped at the edge."""
    http_path: str | None = None
    """The REST path template of its `google.api.http` rule, e.g. `/v1/invoices/{id}:cancel`."""

    @property
    def grpc_path(self) -> str:
        """The HTTP/2 path of the gRPC call, which is what routes match after transcoding."""
        return f"/{self.service}/{self.name}"

    @property
    def safe(self) -> bool:
        """True when the method is bound to GET: no side effects, so Envoy may retry it."""
        return self.http_verb == "get"


@dataclass(frozen=True, kw_only=True)
class EdgePlan:
    """Everything the edge's Envoy needs to know; `routes` maps an upstream's name to the services it serves."""

    listen_port: int
    admin_port: int
    descriptor_path: Path
    upstreams: tuple[Upstream, ...]
    routes: Mapping[str, tuple[str, ...]]
    mesh: MeshFiles
    """Every upstream is reached over mutual TLS with this identity; there is no plaintext upstream."""
    host: str = "127.0.0.1"
    # The admin interface can stop Envoy (POST /quitquitquit): it stays on loopback even when `host` is public.
    admin_host: str = "127.0.0.1"
    admin_api_port: int | None = None
    """The admin API's own listener (`/admin/v1/…`, admin keys only); None: the admin API is not served. The
    public listener never serves it."""
    admin_api_host: str = "127.0.0.1"
    """Where the admin API listens: loopback by default, a private interface when operators reach it remotely."""
    client_requests_per_second: int = 100
    """Requests per second one client address may make to a listener, counted before the key is checked."""
    client_burst: int | None = None
    """Requests one client address may make at once (the token bucket's size); None: one second's worth."""
    trusted_proxy_hops: int = 0
    """How many proxies in front of Envoy append to X-Forwarded-For. 0 (the default): the client address is the
    TCP peer and X-Forwarded-For is ignored, so a client cannot pick the address its limits count against. Set it
    only when that many trusted load balancers stand in front; Envoy then takes the address that many hops from
    the right of X-Forwarded-For."""
    ext_authz: Upstream | None = None
    ratelimit: Upstream | None = None
    """Envoy's rate-limit filter calling this service: a second external call per request. None in every plan we
    ship: the edge's ext_authz counts the same limits in its own call. Set it only for an edge service started
    with `STABLEGATE_EDGE_LIMITS_IN_CHECK=false`, or each request is counted twice."""
    max_request_bytes: int = 64 * 1024
    request_timeout: float = 15.0
    """How long an upstream may take to answer a call (504 after)."""
    request_receive_timeout: float = 30.0
    """How long a client may take to send a whole request, headers and body, and get its answer (408 if the
    request was not received in time); bounds slow-body (slowloris) clients."""
    request_headers_timeout: float = 10.0
    """How long a client may take to send a request's headers (the connection is closed after)."""
    idle_timeout: float = 300.0
    """How long a client connection may stay open without a request in flight."""
    max_heap_bytes: int = 1024 * 1024 * 1024
    """Envoy's heap budget for the overload manager: past 95 % it frees memory, past 98 % it stops accepting
    requests (503) rather than be killed for memory."""
    connect_timeout: float = 1.0
    ext_authz_timeout: float = 0.5
    ratelimit_timeout: float = 0.25
    max_connections: int = 10_000
    cors_origins: tuple[str, ...] = ()
    tls: TlsFiles | None = None
    health_check_interval: float = 5.0
    api_docs: ApiDocs | None = ApiDocs()
    """Served at `GET /v1/openapi.json` and `GET /v1/reference` without an API key; None serves neither."""
    checkout: Upstream | None = None
    """The checkout service's page listener (HTTP/1.1 over mutual TLS), served at `/checkout/` on the public
    listener without an API key; None: `/checkout/` is an unknown path."""
    dashboard: Upstream | None = None
    """The dashboard service's page listener (HTTP/1.1 over mutual TLS), served at `/dashboard/` on the public
    listener without an API key (it has its own login); None: `/dashboard/` is an unknown path."""

    def __post_init__(self) -> None:
        """Reject plans Envoy would reject later with a less helpful message, or accept and serve wrongly."""
        names = [u.name for u in self.upstreams]
        extra = [u.name for u in (self.ext_authz, self.ratelimit, self.checkout, self.dashboard) if u is not None]
        extra.append(UNROUTED_CLUSTER)
        if len(set(names + extra)) != len(names + extra):
            raise ValueError(f"upstream names must be unique: {names + extra}")
        unknown = set(self.routes) - set(names)
        if unknown:
            raise ValueError(f"routes name upstreams that are not in the plan: {sorted(unknown)}")
        seen: dict[str, str] = {}
        for upstream, services in self.routes.items():
            for service in services:
                if not service.startswith(PUBLIC_PACKAGES):
                    raise ValueError(f"{service} is not a public service; only {PUBLIC_PACKAGES} go through the edge")
                if service in seen:
                    raise ValueError(f"{service} is routed to both {seen[service]} and {upstream}")
                seen[service] = upstream
        if not seen:
            raise ValueError("the plan routes no service")
        roles = [
            u.role
            for u in (*self.upstreams, self.ext_authz, self.ratelimit, self.checkout, self.dashboard)
            if u is not None
        ]
        if unknown_roles := sorted(set(roles) - ROLES):
            raise ValueError(f"upstreams name unknown mesh roles {unknown_roles}; known: {sorted(ROLES)}")
        if self.max_request_bytes <= 0 or self.request_timeout <= 0 or self.request_receive_timeout <= 0:
            raise ValueError("max_request_bytes, request_timeout and request_receive_timeout must be positive")
        if self.client_requests_per_second <= 0 or (self.client_burst is not None and self.client_burst <= 0):
            raise ValueError("client_requests_per_second and client_burst must be positive")
        if self.trusted_proxy_hops < 0:
            raise ValueError("trusted_proxy_hops must not be negative")
        if self.admin_api_port is not None and self.admin_api_port in (self.listen_port, self.admin_port):
            raise ValueError("admin_api_port must differ from listen_port and admin_port")

    def replicated(self) -> frozenset[str]:
        """The names of the upstreams with more than one replica."""
        every = (*self.upstreams, self.ext_authz, self.ratelimit, self.checkout, self.dashboard)
        return frozenset(u.name for u in every if u is not None and u.replica_ports)

    @property
    def services(self) -> tuple[str, ...]:
        """Every routed public service, in route order."""
        return tuple(s for services in self.routes.values() for s in services)

    def surfaces(self) -> tuple[Surface, ...]:
        """The listeners: the public one (merchant API), and the admin API's when `admin_api_port` is set."""
        docs = self.api_docs
        public = Surface(
            "public",
            "merchant",
            self.host,
            self.listen_port,
            MERCHANT_PACKAGE,
            () if docs is None else ((OPENAPI_PATH, docs.openapi_json), (REFERENCE_PATH, docs.reference_html)),
        )
        if self.admin_api_port is None:
            return (public,)
        admin = Surface(
            "admin_api",
            "admin",
            self.admin_api_host,
            self.admin_api_port,
            ADMIN_PACKAGE,
            ()
            if docs is None
            else ((ADMIN_OPENAPI_PATH, docs.admin_openapi_json), (ADMIN_REFERENCE_PATH, docs.admin_reference_html)),
        )
        return (public, admin)


@dataclass(frozen=True)
class Surface:
    """One listener of the edge and what it serves: the public merchant API or the private admin API."""

    name: str
    """The listener's and its stats' name."""
    audience: str
    """`merchant` or `admin`: the kind of key ext_authz demands here (its `surface` context extension)."""
    host: str
    port: int
    package: str
    """The proto package whose services this listener routes."""
    docs: tuple[tuple[str, Path], ...]
    """(path, file) of the OpenAPI document and the reference page served here without a key."""

    def services(self, plan: EdgePlan) -> tuple[str, ...]:
        """The plan's routed services this listener serves."""
        return tuple(s for s in plan.services if s.startswith(self.package))


def public_routes_from_served(served: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Keep only the public services of each upstream's SERVED list (upstreams left with none are dropped)."""
    routes = {name: tuple(s for s in services if s.startswith(PUBLIC_PACKAGES)) for name, services in served.items()}
    return {name: services for name, services in routes.items() if services}


def read_methods(descriptor_path: Path, services: Sequence[str]) -> dict[str, tuple[RpcMethod, ...]]:
    """The methods of each named service in the descriptor set, with their HTTP verbs and response bodies.

    Raises ValueError for a service the set lacks, and for a `response_body` the edge cannot unwrap (the
    response message must have that one field and no other, so the unwrapped JSON is exactly the resource).
    """
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes())
    messages = {f".{file.package}.{m.name}": m for file in fds.file for m in file.message_type}
    found: dict[str, tuple[RpcMethod, ...]] = {}
    for file in fds.file:
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            if full_name not in services:
                continue
            found[full_name] = tuple(_method(full_name, m, messages) for m in service.method)
    missing = [s for s in services if s not in found]
    if missing:
        raise ValueError(f"{descriptor_path} has no service {missing}; regenerate it with gateway.codegen")
    return found


def _method(
    service: str, method: descriptor_pb2.MethodDescriptorProto, messages: Mapping[str, descriptor_pb2.DescriptorProto]
) -> RpcMethod:
    rule = method.options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    body = rule.response_body or None
    if body is not None:
        fields = [f.name for f in messages[method.output_type].field]
        if fields != [body]:
            raise ValueError(
                f"{service}.{method.name}: response_body {body!r} can be unwrapped at the edge only when it is the "
                f"response's one field (it has {fields})"
            )
    if verb in (None, "custom"):
        return RpcMethod(service, method.name, None, body)
    return RpcMethod(service, method.name, verb, body, str(getattr(rule, verb)))


def transcoder_descriptor(source: Path, dest: Path) -> Path:
    """Write the descriptor set Envoy's transcoder reads: ours, with every `response_body` cleared.

    Envoy 1.40 refuses `response_body` on anything but google.api.HttpBody ("not supported yet for non-HttpBody
    fields"). The transcoder therefore answers `{"invoice": {...}}`, and the edge's Lua filter takes the resource
    out on success, so REST still returns the resource itself (DECISIONS.md) while the protos keep saying so.
    """
    fds = descriptor_pb2.FileDescriptorSet.FromString(source.read_bytes())
    for file in fds.file:
        for service in file.service:
            for method in service.method:
                if method.options.HasExtension(annotations_pb2.http):
                    method.options.Extensions[annotations_pb2.http].response_body = ""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(fds.SerializeToString(deterministic=True))
    return dest


# On requests, before the transcoder: a percent-encoded path or query that is not UTF-8 once decoded is a 400
# here; the transcoder would put the bytes in a proto string field, which the upstream cannot parse (a 500).
# On responses, after the transcoder (filters see responses in reverse order): on a 200 from a route that
# names a response field, `{"<field>":<resource>}` becomes `<resource>`. Errors and other routes pass as they are.
UNWRAP_LUA = """
local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len = 0
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then len = 3
    elseif c >= 0xF0 and c <= 0xF4 then len = 4
    else return false end
    if i + len - 1 > n then return false end
    for j = i + 1, i + len - 1 do
      local d = string.byte(s, j)
      if d < 0x80 or d > 0xBF then return false end
    end
    local d = string.byte(s, i + 1)
    if len == 3 and ((c == 0xE0 and d < 0xA0) or (c == 0xED and d > 0x9F)) then return false end
    if len == 4 and ((c == 0xF0 and d < 0x90) or (c == 0xF4 and d > 0x8F)) then return false end
    i = i + len
  end
  return true
end

function envoy_on_request(handle)
  -- Headers travel on to the services as gRPC metadata, whose names are [0-9a-z_.-] only: drop the others
  -- (a client's `*: x` would otherwise fail the call inside the service).
  local unfit = {}
  for key, _ in pairs(handle:headers()) do
    if string.sub(key, 1, 1) ~= ":" and not string.match(key, "^[0-9a-z_%.%-]+$") then
      table.insert(unfit, key)
    end
  end
  for _, key in ipairs(unfit) do
    handle:headers():remove(key)
  end
  local path = handle:headers():get(":path") or ""
  if not string.find(path, "%%[89A-Fa-f]") then
    return
  end
  local decoded = string.gsub(path, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if not valid_utf8(decoded) then
    handle:respond({[":status"] = "400"}, "the path or query is not UTF-8 once percent-decoded")
  end
end

function envoy_on_response(handle)
  local headers = handle:headers()
  local content_type = headers:get("content-type") or ""
  if string.sub(content_type, 1, 16) == "application/json" then
    headers:remove("grpc-status")
    headers:remove("grpc-message")
    headers:remove("grpc-accept-encoding")
  end
  local field = handle:metadata():get("response_body")
  if field == nil or handle:headers():get(":status") ~= "200" then
    return
  end
  local body = handle:body()
  if body == nil then
    return
  end
  local text = body:getBytes(0, body:length())
  local prefix = '{"' .. field .. '":'
  if string.sub(text, 1, #prefix) == prefix and string.sub(text, -1) == "}" then
    body:setBytes(string.sub(text, #prefix + 1, -2))
  end
end
"""
_LUA = "envoy.filters.http.lua"
_EXT_AUTHZ_RETRY = {"num_retries": 2, "retry_on": REPLICA_RETRY_ON}


def envoy_config(plan: EdgePlan, transcoder_descriptor_path: Path | None = None) -> dict[str, Any]:
    """The Envoy bootstrap for the plan, as a dict ready for YAML or JSON.

    `transcoder_descriptor_path` is the descriptor the transcoder reads (see `transcoder_descriptor`); `write`
    makes it beside the config.
    """
    methods = read_methods(plan.descriptor_path, plan.services)
    clusters = [_cluster(u, plan, health_checked=True) for u in plan.upstreams]
    clusters += [_cluster(u, plan, health_checked=False) for u in (plan.ext_authz, plan.ratelimit) if u is not None]
    if plan.checkout is not None:
        clusters.append(_checkout_cluster(plan.checkout, plan))
    if plan.dashboard is not None:
        clusters.append(_checkout_cluster(plan.dashboard, plan))
    # Without endpoints: a REST request the transcoder neither transcoded nor rejected would get 503 here.
    clusters.append({"name": UNROUTED_CLUSTER, "type": "STATIC", "connect_timeout": "1s"})
    descriptor = transcoder_descriptor_path or plan.descriptor_path
    listeners = []
    for surface in plan.surfaces():
        listener: dict[str, Any] = {
            "name": surface.name,
            "address": _address(surface.host, surface.port),
            "per_connection_buffer_limit_bytes": 64 * 1024,
            "filter_chains": [{"filters": [_connection_manager(plan, surface, methods, descriptor)]}],
        }
        if plan.tls is not None:
            listener["filter_chains"][0]["transport_socket"] = _downstream_tls(plan.tls)
        listeners.append(listener)
    return {
        "admin": {"address": _address(plan.admin_host, plan.admin_port)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "overload_manager": _overload_manager(plan),
    }


def _overload_manager(plan: EdgePlan) -> dict[str, Any]:
    """Connection cap and heap budget for Envoy's overload manager.

    Under pressure Envoy sheds load (503s, no keep-alive) rather than fall over.
    """
    heap = "envoy.resource_monitors.fixed_heap"

    def at(threshold: float) -> dict[str, Any]:
        return {"triggers": [{"name": heap, "threshold": {"value": threshold}}]}

    return {
        "refresh_interval": "0.25s",
        "resource_monitors": [
            {
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": _typed(
                    "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                    max_active_downstream_connections=plan.max_connections,
                ),
            },
            {
                "name": heap,
                "typed_config": _typed(
                    "envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
                    max_heap_size_bytes=plan.max_heap_bytes,
                ),
            },
        ],
        "actions": [
            {"name": "envoy.overload_actions.shrink_heap", **at(0.95)},
            {"name": "envoy.overload_actions.stop_accepting_requests", **at(0.98)},
            {"name": "envoy.overload_actions.disable_http_keepalive", **at(0.95)},
        ],
    }


def render_yaml(plan: EdgePlan, transcoder_descriptor_path: Path | None = None) -> str:
    """The bootstrap rendered as YAML."""
    return yaml.safe_dump(envoy_config(plan, transcoder_descriptor_path), sort_keys=False)


def write(plan: EdgePlan, path: Path) -> Path:
    """Write the bootstrap YAML to `path` and the transcoder's descriptor beside it; return the config's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = transcoder_descriptor(plan.descriptor_path, path.parent / "transcoder_descriptor.binpb")
    path.write_text(render_yaml(plan, descriptor))
    return path


# --- listener and HTTP connection manager -----------------------------------------------------------------


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def _downstream_tls(tls: TlsFiles) -> dict[str, Any]:
    context = {
        "common_tls_context": {
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(tls.cert_file)},
                    "private_key": {"filename": str(tls.key_file)},
                }
            ],
        }
    }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": _typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", **context),
    }


def _connection_manager(
    plan: EdgePlan, surface: Surface, methods: Mapping[str, tuple[RpcMethod, ...]], descriptor: Path
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "@type": _HCM,
        "stat_prefix": surface.name,
        "codec_type": "AUTO",
        # The client address is the TCP peer, or with trusted proxies in front the address they appended to
        # X-Forwarded-For that many hops from the right; a client's own X-Forwarded-For entries never count.
        "use_remote_address": True,
        "xff_num_trusted_hops": plan.trusted_proxy_hops,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "common_http_protocol_options": {
            "headers_with_underscores_action": "REJECT_REQUEST",
            "idle_timeout": _duration(plan.idle_timeout),
        },
        "http2_protocol_options": {"max_concurrent_streams": 100, "initial_stream_window_size": 65536},
        # A method Envoy's HTTP/1 parser does not know (QUERY, …) reaches the route table, which answers 405 on
        # a declared path (404 elsewhere), instead of a bare 400 from the parser.
        "http_protocol_options": {"allow_custom_methods": True},
        # PASS_THROUGH: Envoy adds no `server: envoy` of its own; the header_mutation filter removes any the
        # upstream sends, so no response carries a server banner.
        "server_header_transformation": "PASS_THROUGH",
        "request_headers_timeout": _duration(plan.request_headers_timeout),
        "request_timeout": _duration(plan.request_receive_timeout),
        "stream_idle_timeout": "60s",
        "route_config": {
            "name": surface.name,
            "virtual_hosts": [_virtual_host(plan, surface, methods)],
            "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BYTES,
        },
        "local_reply_config": _local_reply_config([m for s in surface.services(plan) for m in methods[s]]),
        "http_filters": _http_filters(plan, surface, descriptor),
    }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def _http_filters(plan: EdgePlan, surface: Surface, descriptor: Path) -> list[dict[str, Any]]:
    filters = [_header_mutation(), _client_address_limit(plan, surface)]
    if plan.cors_origins and surface.audience == "merchant":
        filters.append({"name": _CORS, "typed_config": _typed("envoy.extensions.filters.http.cors.v3.Cors")})
    filters.append(
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": _typed(
                "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=plan.max_request_bytes
            ),
        }
    )
    if plan.ext_authz is not None:
        filters.append(_ext_authz(plan.ext_authz, plan.ext_authz_timeout, plan.max_request_bytes))
    filters.append(
        {
            "name": _LUA,
            "typed_config": _typed(
                "envoy.extensions.filters.http.lua.v3.Lua", default_source_code={"inline_string": UNWRAP_LUA}
            ),
        }
    )
    filters.append(_transcoder(surface.services(plan), descriptor))
    if plan.ratelimit is not None:
        filters.append(_ratelimit(plan.ratelimit, plan.ratelimit_timeout))
    filters.append(
        {"name": "envoy.filters.http.router", "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")}
    )
    return filters


def _client_address_limit(plan: EdgePlan, surface: Surface) -> dict[str, Any]:
    """A token bucket per client address, in Envoy itself, before the key is checked.

    It bounds what one address can make the key check (and the ledger lookup behind it) do, however many
    different keys it tries. Each address gets its own bucket (a descriptor entry without a value is a wildcard:
    Envoy keeps one bucket per value seen, up to `max_dynamic_descriptors`, least recently used evicted).
    """
    rate = plan.client_requests_per_second
    burst = plan.client_burst or rate
    bucket = {"max_tokens": burst, "tokens_per_fill": rate, "fill_interval": "1s"}
    everything = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge.client_limit"}
    return {
        "name": CLIENT_LIMIT_FILTER,
        "typed_config": _typed(
            "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            stat_prefix=f"{surface.name}_client_address",
            # Far above any one address's bucket: only the per-address descriptors below bite.
            token_bucket={"max_tokens": 1_000_000_000, "tokens_per_fill": 1_000_000_000, "fill_interval": "1s"},
            filter_enabled=everything,
            filter_enforced=everything,
            max_dynamic_descriptors=MAX_TRACKED_CLIENTS,
            rate_limits=[{"actions": [{"remote_address": {}}]}],
            descriptors=[{"entries": [{"key": "remote_address"}], "token_bucket": bucket}],
            response_headers_to_add=[_header("retry-after", "1")],
        ),
    }


def _header_mutation() -> dict[str, Any]:
    # No banner and no upstream timing; the gRPC trailers-as-headers on REST answers go in the Lua filter, which
    # can tell REST (JSON) from gRPC responses (gRPC clients need grpc-status).
    internal = ("server", "x-envoy-upstream-service-time")
    response = [{"remove": name} for name in internal] + [
        {"append": {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}
        for k, v in SECURITY_HEADERS
    ]
    return {
        "name": _HEADER_MUTATION,
        "typed_config": _typed(
            "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            mutations={
                "request_mutations": [{"remove": h} for h in (*IDENTITY_HEADERS, TRANSCODED_MARKER)],
                "response_mutations": response,
            },
        ),
    }


def _ext_authz(upstream: Upstream, timeout: float, max_body: int) -> dict[str, Any]:
    return {
        "name": _EXT_AUTHZ,
        "typed_config": _typed(
            "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            grpc_service={
                "envoy_grpc": {"cluster_name": upstream.name},
                "timeout": _duration(timeout),
                # With replicas, a check refused by a dead one is asked of another (a check has no side effect
                # until it is answered).
                **(
                    {"retry_policy": {"num_retries": 2, "retry_on": REPLICA_RETRY_ON}} if upstream.replica_ports else {}
                ),
            },
            transport_api_version="V3",
            failure_mode_allow=False,
            # An unreachable authorization service is an outage (503, UNAVAILABLE), not the caller's fault.
            status_on_error={"code": "ServiceUnavailable"},
            allowed_headers={
                "patterns": [{"exact": "authorization"}, {"exact": "x-request-id"}, {"exact": IDEMPOTENCY_HEADER}]
            },
            # The body too, so the edge can refuse fields the operation does not take (edge/bodycheck.py).
            with_request_body={"max_request_bytes": max_body, "allow_partial_message": False, "pack_as_bytes": True},
        ),
    }


def _transcoder(services: Sequence[str], descriptor: Path) -> dict[str, Any]:
    return {
        "name": _TRANSCODER,
        "typed_config": _typed(
            "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            proto_descriptor=str(descriptor.resolve()),
            services=list(services),
            # False (the default, spelled out): after transcoding the route cache is cleared and the route is
            # matched again on the gRPC path, which is what the route table matches.
            match_incoming_request_route=False,
            convert_grpc_status=True,
            print_options={"preserve_proto_field_names": True, "always_print_primitive_fields": False},
            request_validation_options={"reject_unknown_method": True, "reject_unknown_query_parameters": True},
        ),
    }


def _ratelimit(upstream: Upstream, timeout: float) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.ratelimit",
        "typed_config": _typed(
            "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            domain=RATELIMIT_DOMAIN,
            timeout=_duration(timeout),
            # Fail open: a rate-limit service outage must not stop payments; ext_authz still fails closed.
            failure_mode_deny=False,
            rate_limit_service={
                "grpc_service": {"envoy_grpc": {"cluster_name": upstream.name}},
                "transport_api_version": "V3",
            },
        ),
    }


# --- routes -----------------------------------------------------------------------------------------------


def _virtual_host(plan: EdgePlan, surface: Surface, methods: Mapping[str, tuple[RpcMethod, ...]]) -> dict[str, Any]:
    host: dict[str, Any] = {"name": surface.name, "domains": ["*"], "routes": _routes(plan, surface, methods)}
    per_filter: dict[str, Any] = {}
    if plan.cors_origins and surface.audience == "merchant":
        per_filter[_CORS] = _typed(
            "envoy.extensions.filters.http.cors.v3.CorsPolicy",
            allow_origin_string_match=[{"exact": origin} for origin in plan.cors_origins],
            allow_methods="GET, POST, PATCH, DELETE",
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age="600",
            allow_credentials=False,
        )
    if plan.ext_authz is not None:
        # Tells the authorization service which kind of key this listener takes; clients cannot set it.
        per_filter[_EXT_AUTHZ] = _typed(
            "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
            check_settings={"context_extensions": {"surface": surface.audience}},
        )
    if per_filter:
        host["typed_per_filter_config"] = per_filter
    return host


def _routes(plan: EdgePlan, surface: Surface, methods: Mapping[str, tuple[RpcMethod, ...]]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {
            "name": "healthz",
            "match": {"path": "/healthz"},
            "direct_response": {"status": 200, "body": {"inline_string": '{"status":"ok"}'}},
            "response_headers_to_add": [
                {
                    "header": {"key": "content-type", "value": "application/json"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
            **_plain_http(plan),
        }
    ]
    routes += _api_doc_routes(plan, surface.docs)
    if plan.checkout is not None and surface.audience == "merchant":
        routes += _checkout_routes(plan, plan.checkout)
    if plan.dashboard is not None and surface.audience == "merchant":
        routes += _dashboard_routes(plan, plan.dashboard)
    # The other listener's paths are no paths here: 404 before any key check, so a merchant key never reaches
    # the admin API and an admin path on the public listener looks like any unknown path.
    foreign = "/v1/" if surface.audience == "admin" else "/admin/"
    routes.append({"name": f"not_here {foreign}", "match": {"prefix": foreign}, "direct_response": {"status": 404}})
    routes[-1].update(_plain_http(plan))
    services = surface.services(plan)
    routes += _method_not_allowed_routes(plan, [m for s in services for m in methods[s]])
    upstream_of = {service: upstream for upstream, names in plan.routes.items() for service in names}
    for service in services:
        upstream = upstream_of[service]
        # Safe methods get an exact-path route each, with retries; the service prefix catches the rest
        # (writes, and gRPC-only methods) without retries.
        # Rate limits group them per service as `<service>:read` and `<service>:write`.
        # A method whose REST response is one field of its gRPC response gets its own route too, carrying
        # that field's name for the Lua filter that unwraps it.
        for method in methods[service]:
            if method.safe or method.response_body:
                match = {"path": method.grpc_path}
                group = f"{service}:read" if method.safe else f"{service}:write"
                route = _upstream_route(plan, upstream, method.grpc_path, group, match, retry=method.safe)
                if method.response_body:
                    route["metadata"] = {"filter_metadata": {_LUA: {"response_body": method.response_body}}}
                routes.append(route)
        prefix = {"prefix": f"/{service}/"}
        routes.append(_upstream_route(plan, upstream, f"/{service}/", f"{service}:write", prefix, retry=False))
    # Before the transcoder runs, a REST path matches no route above. These two give the filters before it
    # a route to read their settings from (CORS even needs one with a cluster). After transcoding, the gRPC
    # path matches a route above; the router reaches these only for requests the transcoder passed through
    # untouched, which are gRPC calls to a path we do not route (internal services among them).
    routes.append({"name": "grpc_not_routed", "match": {"prefix": "/", "grpc": {}}, "direct_response": {"status": 404}})
    routes.append({"name": "rest", "match": {"prefix": "/"}, "route": {"cluster": UNROUTED_CLUSTER}})
    return routes


def path_regex(template: str) -> str:
    """A RE2 regex matching the paths of a `google.api.http` template.

    `{id}` is one segment without a colon (so `/v1/invoices/{id}` does not match `/v1/invoices/x:cancel`, the
    path of another method), `{x=**}` anything.
    """
    out, rest = "^", template
    while rest:
        start = rest.find("{")
        if start < 0:
            out += re.escape(rest)
            break
        out += re.escape(rest[:start])
        end = rest.index("}", start)
        variable = rest[start + 1 : end]
        out += ".+" if variable.endswith("**") else "[^/:]+"
        rest = rest[end + 1 :]
    return out + "$"


def _declared_verbs(methods: Sequence[RpcMethod]) -> dict[str, list[str]]:
    """Each REST path template with the HTTP methods declared on it."""
    verbs: dict[str, set[str]] = {}
    for method in methods:
        if method.http_path is not None and method.http_verb is not None:
            verbs.setdefault(method.http_path, set()).add(method.http_verb.upper())
    return {template: sorted(verbs[template]) for template in sorted(verbs)}


def _method_not_allowed_routes(plan: EdgePlan, methods: Sequence[RpcMethod]) -> list[dict[str, Any]]:
    """405 with `Allow` for a declared path called with an undeclared HTTP method (before any key check).

    A path is matched by its own template's regex only (`path_regex`), so a request to one template is never
    refused for the methods of another.
    """
    routes = []
    for template, allowed in _declared_verbs(methods).items():
        allow = ", ".join(allowed)
        # With CORS on, OPTIONS is the preflight, which the CORS filter answers on the catch-all route.
        passed = allowed + (["OPTIONS"] if plan.cors_origins else [])
        routes.append(
            {
                "name": f"method_not_allowed {template}",
                "match": {
                    "safe_regex": {"regex": path_regex(template)},
                    "headers": [
                        {
                            "name": ":method",
                            "string_match": {"safe_regex": {"regex": f"^({'|'.join(passed)})$"}},
                            "invert_match": True,
                        }
                    ],
                },
                "direct_response": {
                    "status": 405,
                    "body": {"inline_string": _error_json(3, f"this path takes {allow}", "METHOD_NOT_ALLOWED")},
                },
                "response_headers_to_add": [_header("allow", allow), _header("content-type", "application/json")],
                **_plain_http(plan),
            }
        )
    return routes


def _api_doc_routes(plan: EdgePlan, docs: Sequence[tuple[str, Path]]) -> list[dict[str, Any]]:
    # Envoy reads the files when it loads the config: a missing or oversized one would stop it with a less
    # helpful message, so both are checked here.
    for _, path in docs:
        if not path.is_file():
            raise ValueError(f"{path} does not exist; generate it with gateway.codegen")
        if path.stat().st_size > MAX_DIRECT_RESPONSE_BYTES:
            raise ValueError(f"{path} is over {MAX_DIRECT_RESPONSE_BYTES} bytes, Envoy's direct response cap here")
    get = [{"name": ":method", "string_match": {"exact": "GET"}}]
    routes = []
    for url, path in docs:
        page = path.suffix == ".html"
        route: dict[str, Any] = {
            "name": url,
            "match": {"path": url, "headers": get},
            "direct_response": {"status": 200, "body": {"filename": str(path.resolve())}},
            "response_headers_to_add": [
                _header("content-type", "text/html; charset=utf-8" if page else "application/json")
            ],
            **_plain_http(plan),
        }
        if page:
            # The page's looser CSP replaces the API's strict one in the header_mutation filter itself, which
            # sets the strict one on every response (route-level headers would be overwritten by it).
            route["typed_per_filter_config"][_HEADER_MUTATION] = _typed(
                "envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
                mutations={"response_mutations": [{"append": _header("content-security-policy", REFERENCE_CSP)}]},
            )
        routes.append(route)
        # Any other method on a document's path is 405, like the API's own paths.
        routes.append(
            {
                "name": f"method_not_allowed {url}",
                "match": {"path": url},
                "direct_response": {
                    "status": 405,
                    "body": {"inline_string": _error_json(3, "this path takes GET", "METHOD_NOT_ALLOWED")},
                },
                "response_headers_to_add": [_header("allow", "GET"), _header("content-type", "application/json")],
                **_plain_http(plan),
            }
        )
    return routes


def _checkout_routes(plan: EdgePlan, upstream: Upstream) -> list[dict[str, Any]]:
    """The hosted checkout page's routes: GET (and POST of the refund-address form), no API key, its own CSP.

    The link's token is checked by the ledger; the live status is a long-lived event stream, kept alive by
    comment lines within the connection manager's idle timeout.
    """
    config = _plain_http(plan)["typed_per_filter_config"]
    config[_LUA] = _typed("envoy.extensions.filters.http.lua.v3.LuaPerRoute", disabled=True)
    config[_HEADER_MUTATION] = _typed(
        "envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
        mutations={"response_mutations": [{"append": _header("content-security-policy", CHECKOUT_CSP)}]},
    )
    get = [{"name": ":method", "string_match": {"exact": "GET"}}]
    post = [{"name": ":method", "string_match": {"exact": "POST"}}]
    return [
        {
            "name": "checkout refund_address",
            "match": {"safe_regex": {"regex": CHECKOUT_FORM_PATH}, "headers": post},
            "route": {"cluster": upstream.name, "timeout": _duration(plan.request_timeout), **_page_retry(upstream)},
            "typed_per_filter_config": config,
        },
        {
            "name": "checkout",
            "match": {"prefix": CHECKOUT_PREFIX, "headers": get},
            "route": {"cluster": upstream.name, "timeout": "0s", **_page_retry(upstream, safe=True)},
            "typed_per_filter_config": config,
        },
        {
            "name": "checkout method_not_allowed",
            "match": {"prefix": CHECKOUT_PREFIX},
            "direct_response": {
                "status": 405,
                "body": {"inline_string": _error_json(3, "the checkout page takes GET", "METHOD_NOT_ALLOWED")},
            },
            "response_headers_to_add": [_header("allow", "GET"), _header("content-type", "application/json")],
            **_plain_http(plan),
        },
    ]


def _dashboard_routes(plan: EdgePlan, upstream: Upstream) -> list[dict[str, Any]]:
    """The dashboard's routes: GET and POST (its forms), no API key (it has its own login), its own CSP.

    Forms are small: the connection manager's request-size cap applies as everywhere. Writes are not retried.
    """
    config = _plain_http(plan)["typed_per_filter_config"]
    config[_LUA] = _typed("envoy.extensions.filters.http.lua.v3.LuaPerRoute", disabled=True)
    config[_HEADER_MUTATION] = _typed(
        "envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
        mutations={"response_mutations": [{"append": _header("content-security-policy", DASHBOARD_CSP)}]},
    )
    get = [{"name": ":method", "string_match": {"exact": "GET"}}]
    post = [{"name": ":method", "string_match": {"exact": "POST"}}]
    return [
        {
            "name": "dashboard form",
            "match": {"prefix": DASHBOARD_PREFIX, "headers": post},
            "route": {"cluster": upstream.name, "timeout": _duration(plan.request_timeout), **_page_retry(upstream)},
            "typed_per_filter_config": config,
            # The client's address for the dashboard's per-client limits (a client's own copy was removed first).
            "request_headers_to_add": [_header(CLIENT_ADDRESS_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")],
        },
        {
            "name": "dashboard",
            "match": {"prefix": DASHBOARD_PREFIX, "headers": get},
            "route": {
                "cluster": upstream.name,
                "timeout": _duration(plan.request_timeout),
                **_page_retry(upstream, safe=True),
            },
            "typed_per_filter_config": config,
            "request_headers_to_add": [_header(CLIENT_ADDRESS_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")],
        },
        {
            "name": "dashboard method_not_allowed",
            "match": {"prefix": DASHBOARD_PREFIX},
            "direct_response": {
                "status": 405,
                "body": {"inline_string": _error_json(3, "the dashboard takes GET and POST", "METHOD_NOT_ALLOWED")},
            },
            "response_headers_to_add": [_header("allow", "GET, POST"), _header("content-type", "application/json")],
            **_plain_http(plan),
        },
    ]


def _checkout_cluster(upstream: Upstream, plan: EdgePlan) -> dict[str, Any]:
    """A page service's upstream (checkout, dashboard): HTTP/1.1 over mutual TLS, its certificate naming its role."""
    cluster = _cluster(upstream, plan, health_checked=False, page=True)
    del cluster["typed_extension_protocol_options"]
    tls = _upstream_tls(plan.mesh, upstream.role)
    tls["typed_config"]["common_tls_context"]["alpn_protocols"] = ["http/1.1"]
    cluster["transport_socket"] = tls
    return cluster


def _page_retry(upstream: Upstream, *, safe: bool = False) -> dict[str, Any]:
    """A page route's retry policy: GETs on `RETRY_ON`; with replicas, any call also on `REPLICA_RETRY_ON`."""
    if not upstream.replica_ports:
        return {"retry_policy": {"retry_on": RETRY_ON}} if safe else {}
    retry_on = SAFE_REPLICA_RETRY_ON if safe else REPLICA_RETRY_ON
    return {"retry_policy": {"retry_on": retry_on, "num_retries": 2, **_other_replica()}}


def _other_replica() -> dict[str, Any]:
    """A retry goes to another replica than the one that failed, when there is one."""
    return {
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": _typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"),
            }
        ],
        "host_selection_retry_max_attempts": 3,
    }


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _plain_http(plan: EdgePlan) -> dict[str, Any]:
    # A route Envoy answers itself: no API key needed, and no transcoding (which would reject the path as
    # an unknown method before the router could answer).
    config = {_TRANSCODER: _typed("envoy.config.route.v3.FilterConfig", disabled=True)}
    if plan.ext_authz is not None:
        config[_EXT_AUTHZ] = _typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", disabled=True)
    return {"typed_per_filter_config": config}


def _upstream_route(
    plan: EdgePlan, upstream: str, name: str, group: str, match: dict[str, str], *, retry: bool
) -> dict[str, Any]:
    action: dict[str, Any] = {"cluster": upstream, "timeout": _duration(plan.request_timeout)}
    if retry:
        action["retry_policy"] = {
            "retry_on": RETRY_ON,
            "num_retries": 2,
            "per_try_timeout": _duration(plan.request_timeout / 3),
        }
    if upstream in plan.replicated():
        policy = action.setdefault("retry_policy", {"retry_on": REPLICA_RETRY_ON, "num_retries": 2})
        if retry:
            policy["retry_on"] = SAFE_REPLICA_RETRY_ON
        policy.update(_other_replica())
    if plan.ratelimit is not None:
        merchant = {"header_name": IDENTITY_HEADERS[0], "descriptor_key": MERCHANT_DESCRIPTOR_KEY}
        route_group = {"descriptor_key": ROUTE_GROUP_DESCRIPTOR_KEY, "descriptor_value": group}
        action["rate_limits"] = [
            # Per merchant, across every route.
            {"actions": [{"request_headers": merchant}]},
            # Per merchant and route group (the most specific key last); without a merchant (admin calls) per
            # route group alone.
            {"actions": [{"request_headers": {**merchant, "skip_if_absent": True}}, {"generic_key": route_group}]},
        ]
    # Only calls the transcoder made (it sets the original path; clients' copies are stripped first): a native
    # gRPC client would otherwise pass ext_authz, which tells admin from merchant routes by the REST path.
    transcoded = {"name": TRANSCODED_MARKER, "present_match": True}
    return {
        "name": name,
        "match": {**match, "grpc": {}, "headers": [transcoded]},
        "route": action,
        # The client's address for the ledger's allow-list check (a client's own copy was removed first).
        "request_headers_to_add": [_header(CLIENT_ADDRESS_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")],
    }


# --- Envoy's own error replies ----------------------------------------------------------------------------

# (HTTP status of a local reply, gRPC code, reason, message; None: the reply's own text): Envoy's own replies
# in the API's error shape, each with an ErrorInfo reason. ext_authz denials (401/403) carry our authorization
# service's JSON body and are left alone; 400 comes from the transcoder (bad JSON, unknown query parameter, an
# unknown body field) and its text names the problem.
LOCAL_REPLIES: tuple[tuple[int, int, str, str | None], ...] = (
    (429, 8, "RATE_LIMITED", "rate limit exceeded; retry after the Retry-After seconds"),
    (413, 3, "BODY_TOO_LARGE", "request body too large"),
    (408, 4, "REQUEST_TIMEOUT", "the request was not received in time"),
    (404, 5, "NOT_FOUND", "no such method or path"),
    (405, 3, "METHOD_NOT_ALLOWED", "this path does not take this HTTP method"),
    (502, 14, "UPSTREAM_FAILED", "a service failed to answer; retry later"),
    (503, 14, "UNAVAILABLE", "service unavailable; retry later"),
    (504, 4, "UPSTREAM_TIMEOUT", "a service did not answer in time; retry later"),
    (400, 3, "INVALID_REQUEST", None),
)


def _query_method_not_allowed(methods: Sequence[RpcMethod]) -> list[dict[str, Any]]:
    """405 for QUERY on a declared path: Envoy refuses a QUERY without a content type (400) before routing."""
    mappers = []
    for template, allowed in _declared_verbs(methods).items():
        allow = ", ".join(allowed)
        path = path_regex(template)[:-1] + r"(\?.*)?$"
        request = [
            {"header_filter": {"header": {"name": ":method", "string_match": {"exact": "QUERY"}}}},
            {"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {"regex": path}}}}},
        ]
        mappers.append(
            {
                "filter": {"and_filter": {"filters": request}},
                "status_code": 405,
                "headers_to_add": [_header("allow", allow)],
                "body_format_override": {
                    "text_format_source": {
                        "inline_string": _error_json(3, f"this path takes {allow}", "METHOD_NOT_ALLOWED")
                    },
                    "content_type": "application/json",
                },
            }
        )
    return mappers


# Envoy's own refusals before any filter runs (the connection manager and the HTTP codecs), told apart by their
# response code details (a CEL expression on `response.code_details`); their own text is empty or a bare status
# phrase, so each gets a message of ours: (condition, gRPC code, reason, message). A message with `%…%` would be
# read as a command operator: none has one (RESPONSE_CODE_DETAILS is added where the details name the problem).
ENVOY_REFUSALS: tuple[tuple[str, int, str, str], ...] = (
    (
        "response.code_details == 'path_normalization_failed'",
        3,
        "PATH_INVALID",
        "the path has an escaped slash or backslash (percent-encoded / or \\), a NUL or a fragment, "
        "which the edge refuses",
    ),
    ("response.code_details == 'missing_host_header'", 3, "HOST_MISSING", "the request has no Host header"),
    ("response.code_details == 'low_version'", 9, "HTTP_VERSION_UNSUPPORTED", "use HTTP/1.1 or HTTP/2"),
    (
        "response.code_details == 'upgrade_failed'",
        7,
        "UPGRADE_NOT_SUPPORTED",
        "this API does not upgrade connections (WebSocket or any other protocol)",
    ),
    (
        "response.code_details == 'http1.headers_too_large' || response.code == 431",
        3,
        "HEADERS_TOO_LARGE",
        "the request's headers are too large",
    ),
    (
        "response.code_details.startsWith('http1.') || response.code_details.startsWith('http2.') "
        "|| response.code_details.startsWith('http.')",
        3,
        "HTTP_REQUEST_INVALID",
        "the request is not valid HTTP (%RESPONSE_CODE_DETAILS%)",
    ),
)
_CEL_FILTER = "envoy.access_loggers.extension_filters.cel"


def _local_reply_config(methods: Sequence[RpcMethod]) -> dict[str, Any]:
    """Every reply Envoy makes itself, in our JSON error shape with a reason (first matching mapper wins)."""
    # ext_authz denials (flag UAEX, 400/401/403) already carry our JSON body with their own reason: left as they
    # are. An unreachable authorization service (UAEX too, but 503 and no body) gets the 503 mapper below.
    denial_status = {"comparison": {"op": "LE", "value": {"default_value": 403, "runtime_key": "edge.denials"}}}
    authz_denial = {
        "filter": {
            "and_filter": {
                "filters": [
                    {"response_flag_filter": {"flags": ["UAEX"]}},
                    {"status_code_filter": denial_status},
                ]
            }
        }
    }
    mappers = [authz_denial, *_query_method_not_allowed(methods)]
    for condition, code, reason, text in ENVOY_REFUSALS:
        cel = _typed("envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", expression=condition)
        mappers.append(
            {
                "filter": {"extension_filter": {"name": _CEL_FILTER, "typed_config": cel}},
                "body_format_override": {
                    "json_format": {"code": code, "message": text, "details": [_error_info(reason)]},
                    "content_type": "application/json",
                },
            }
        )
    for status, code, reason, message in LOCAL_REPLIES:
        status_filter = {
            "comparison": {"op": "EQ", "value": {"default_value": status, "runtime_key": f"edge.{status}"}}
        }
        if message is None:
            # json_format escapes the reply's text into a JSON string.
            body = {
                "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": [_error_info(reason)]},
                "content_type": "application/json",
            }
        else:
            body = {
                "text_format_source": {"inline_string": _error_json(code, message, reason)},
                "content_type": "application/json",
            }
        mappers.append({"filter": {"status_code_filter": status_filter}, "body_format_override": body})
    # Any other error Envoy answers itself (a status none of the above names): still our shape, with the
    # response code details naming what Envoy refused.
    for low, high, code, reason, text in (
        (400, 499, 3, "REQUEST_REFUSED", "the edge refused the request (%RESPONSE_CODE_DETAILS%)"),
        (500, 599, 13, "EDGE_ERROR", "the edge could not handle the request (%RESPONSE_CODE_DETAILS%); retry later"),
    ):
        band = {
            "and_filter": {
                "filters": [
                    {"status_code_filter": {"comparison": {"op": "GE", "value": _status_value(low)}}},
                    {"status_code_filter": {"comparison": {"op": "LE", "value": _status_value(high)}}},
                ]
            }
        }
        mappers.append(
            {
                "filter": band,
                "body_format_override": {
                    "json_format": {"code": code, "message": text, "details": [_error_info(reason)]},
                    "content_type": "application/json",
                },
            }
        )
    return {"mappers": mappers}


def _status_value(status: int) -> dict[str, Any]:
    return {"default_value": status, "runtime_key": f"edge.{status}"}


def _error_info(reason: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "stablegate"}


def _error_json(code: int, message: str, reason: str) -> str:
    return json.dumps({"code": code, "message": message, "details": [_error_info(reason)]}, separators=(",", ":"))


# --- clusters ---------------------------------------------------------------------------------------------


def _cluster(upstream: Upstream, plan: EdgePlan, *, health_checked: bool, page: bool = False) -> dict[str, Any]:
    try:
        ipaddress.ip_address(upstream.host)
        discovery = "STATIC"
    except ValueError:
        discovery = "STRICT_DNS"
    cluster: dict[str, Any] = {
        "name": upstream.name,
        "type": discovery,
        "connect_timeout": _duration(plan.connect_timeout),
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            _HTTP_PROTOCOL_OPTIONS: _typed(_HTTP_PROTOCOL_OPTIONS, explicit_http_config={"http2_protocol_options": {}})
        },
        "load_assignment": {
            "cluster_name": upstream.name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _address(upstream.host, p)}} for p in upstream.ports]}
            ],
        },
    }
    cluster["transport_socket"] = _upstream_tls(plan.mesh, upstream.role)
    if upstream.replica_ports:
        # Several replicas: a gRPC health check on each (ext_authz too), and a replica that refuses connections
        # (killed, restarting) left out at once for a few seconds; page listeners are checked by outlier
        # detection alone.
        health_checked = health_checked or not page
    if health_checked:
        cluster["health_checks"] = [
            {
                "timeout": "1s",
                "interval": _duration(plan.health_check_interval),
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": ""},
            }
        ]
        cluster["outlier_detection"] = {
            # gRPC statuses count as their HTTP equivalents (UNAVAILABLE as 503, INTERNAL as 500).
            "consecutive_5xx": 5,
            "consecutive_gateway_failure": 5,
            "interval": "10s",
            "base_ejection_time": "30s",
            "max_ejection_percent": 50,
        }
    if upstream.replica_ports:
        cluster["outlier_detection"] = {
            **cluster.get("outlier_detection", {}),
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 1,
            "interval": "1s",
            "base_ejection_time": _duration(REPLICA_EJECTION_SECONDS),
            "max_ejection_percent": 50,
        }
    return cluster


def _upstream_tls(mesh: MeshFiles, role: str) -> dict[str, Any]:
    """Mutual TLS to one upstream: Envoy presents its edge certificate and accepts only the expected role's."""
    context = {
        "common_tls_context": {
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
            "alpn_protocols": ["h2"],
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(mesh.cert_file)},
                    "private_key": {"filename": str(mesh.key_file)},
                }
            ],
            "validation_context": {
                "trusted_ca": {"filename": str(mesh.ca_file)},
                "match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"exact": spiffe_id(mesh.trust_domain, role)}}
                ],
            },
        }
    }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": _typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", **context),
    }
