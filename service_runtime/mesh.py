"""Mesh identity: mutual TLS between every pair of our processes, and the roles that may call each method.

Every process of ours holds a certificate from the mesh CA (the dev CA made at setup, or the operator's CA)
whose URI SAN is a SPIFFE ID naming its role: `spiffe://<trust domain>/role/<role>`. A server requires a
client certificate from that CA in every profile, reads the caller's role from the verified certificate, and
refuses a method the role may not call with PERMISSION_DENIED before any handler runs. Each service declares
who may call what in its `ServiceDefinition.roles`; a method no rule names is refused (deny by default).
Health and reflection answer any mesh role. Merchants and admins never hold mesh certificates: they reach
the public services through Envoy, which calls them with the `edge` role.
"""

from __future__ import annotations

import enum
import ipaddress
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc

from service_runtime.errors import PermissionDenied


class Role(enum.StrEnum):
    """The roles a mesh certificate can name (docs/security.md says who may call what)."""

    EDGE = "edge"
    """Envoy and the edge service: public REST traffic, key checks and rate limits."""
    LEDGER = "ledger"
    """The system of record."""
    WATCHER = "watcher"
    """Reads the chain, reports observations to the ledger."""
    SETTLEMENT = "settlement"
    """Sweeps, payouts and reconciliation; the signer's only signing client."""
    SIGNER = "signer"
    """The signing enclave."""
    DASHBOARD = "dashboard"
    """The web dashboards (a gRPC client like the edge)."""
    CHECKOUT = "checkout"
    """The hosted checkout page: reads the invoice a checkout link names, nothing else."""
    OPERATOR = "operator"
    """Operators' tools: health probes, the runner, status and audit reads."""


ROLES: frozenset[str] = frozenset(r.value for r in Role)
INFRASTRUCTURE = ("/grpc.health.v1.", "/grpc.reflection.")
"""Method prefixes every mesh role may call: health probes and reflection."""

DEFAULT_TRUST_DOMAIN = "stablegate"


def spiffe_id(trust_domain: str, role: str) -> str:
    """The SPIFFE ID a certificate carries for a role: `spiffe://<trust domain>/role/<role>`."""
    return f"spiffe://{trust_domain}/role/{role}"


def role_from_spiffe_id(value: str, trust_domain: str) -> str | None:
    """The role a SPIFFE ID names in the trust domain, or None when it is foreign or names no known role."""
    prefix = f"spiffe://{trust_domain}/role/"
    if not value.startswith(prefix):
        return None
    role = value.removeprefix(prefix)
    return role if role in ROLES else None


class _HasAuthContext(Protocol):
    def auth_context(self) -> Mapping[str, Any]: ...


def peer_role(context: _HasAuthContext, trust_domain: str) -> str | None:
    """The caller's role, from the SPIFFE ID of its verified client certificate (None without one)."""
    ids = context.auth_context().get("peer_spiffe_id", [])
    if len(ids) != 1:
        return None
    raw = ids[0]
    return role_from_spiffe_id(raw.decode() if isinstance(raw, bytes) else str(raw), trust_domain)


MethodRoles = Mapping[str, frozenset[str]]
"""Who may call what: keys are a full method (`/pkg.Service/Method`), a service (`/pkg.Service/`) or a package
prefix (`/pkg.`); the longest key that prefixes a method decides. A full method matches only itself
(`…/GetMerchant` says nothing of `…/GetMerchantFeePlan`)."""


def roles_for(rules: MethodRoles, method: str) -> frozenset[str]:
    """The roles that may call `method` under `rules` (empty: nobody; infrastructure: every role)."""
    if method.startswith(INFRASTRUCTURE):
        return ROLES
    best = ""
    for key in rules:
        matches = method.startswith(key) if key.endswith(("/", ".")) else method == key
        if matches and len(key) > len(best):
            best = key
    return rules[best] if best else frozenset()


def check_rules(rules: MethodRoles) -> None:
    """Refuse a rule table that names an unknown role or a key that is not a method path (a typo denies)."""
    for key, roles in rules.items():
        if not key.startswith("/") or key == "/":
            raise ValueError(f"role rule {key!r} is not a method, service or package path starting with '/'")
        unknown = set(roles) - ROLES
        if unknown:
            raise ValueError(f"role rule {key!r} names unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")


class RoleCheck:
    """One service's role check: PermissionDenied unless the caller's certificate names a role the method allows.

    The roles of each method are worked out once.
    """

    def __init__(self, rules: MethodRoles, trust_domain: str) -> None:
        check_rules(rules)
        self._rules = rules
        self._trust_domain = trust_domain
        self._allowed: dict[str, frozenset[str]] = {}

    def check(self, method: str, context: _HasAuthContext) -> None:
        """Raise PermissionDenied (MESH_ROLE_MISSING or MESH_ROLE_NOT_ALLOWED) unless the caller may call it."""
        allowed = self._allowed.get(method)
        if allowed is None:
            allowed = self._allowed[method] = roles_for(self._rules, method)
        trust_domain = self._trust_domain
        role = peer_role(context, trust_domain)
        if role is None:
            raise PermissionDenied(
                "the client certificate names no mesh role; mesh certificates carry "
                f"{spiffe_id(trust_domain, '<role>')}",
                reason="MESH_ROLE_MISSING",
                metadata={"method": method},
            )
        if role not in allowed:
            raise PermissionDenied(
                f"the {role} role may not call this method",
                reason="MESH_ROLE_NOT_ALLOWED",
                metadata={"method": method, "peerRole": role, "allowedRoles": ",".join(sorted(allowed))},
            )


class MeshRoleInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses a call whose caller's certificate names no role allowed for the method (PERMISSION_DENIED).

    The runtime does the same check inside its `ServiceInterceptor` (one handler wrap per call); this interceptor
    is for a server composed without it.
    """

    def __init__(self, rules: MethodRoles, trust_domain: str) -> None:
        self._check = RoleCheck(rules, trust_domain)

    async def intercept_service(
        self,
        continuation: Any,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Wrap the method's handler (any of the four kinds) with the role check."""
        handler: Any = await continuation(handler_call_details)
        if handler is None:  # an unknown method: grpc answers UNIMPLEMENTED
            return None  # type: ignore[return-value]
        method = handler_call_details.method
        role_check = self._check

        def check(context: _HasAuthContext) -> None:
            role_check.check(method, context)

        return _guarded(handler, check)


def _guarded(handler: grpc.RpcMethodHandler[Any, Any], check: Any) -> grpc.RpcMethodHandler[Any, Any]:
    kwargs: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary or handler.stream_unary:
        behavior: Any = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            check(context)
            return await behavior(request, context)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
        return grpc.stream_unary_rpc_method_handler(unary, **kwargs)
    streaming: Any = handler.unary_stream or handler.stream_stream

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        check(context)
        async for item in streaming(request, context):
            yield item

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
    return grpc.stream_stream_rpc_method_handler(stream, **kwargs)


@dataclass(frozen=True)
class MeshFiles:
    """One process's mesh TLS files: its role certificate, key and the CA bundle (the shape of TlsSettings)."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    trust_domain: str = DEFAULT_TRUST_DOMAIN

    def settings(self) -> dict[str, str]:
        """As a `tls=` override for load_settings."""
        return {k: str(v) for k, v in self.__dict__.items()}

    def env(self, service: str) -> dict[str, str]:
        """As STABLEGATE_<SERVICE>_TLS__* environment variables."""
        prefix = f"STABLEGATE_{service.upper()}_TLS__"
        return {prefix + k.upper(): v for k, v in self.settings().items()}


class ClientTls(Protocol):
    """What a mesh client needs: its certificate and key, and the mesh CA to verify servers."""

    @property
    def cert_file(self) -> Any:
        """PEM certificate naming the client's role."""

    @property
    def key_file(self) -> Any:
        """PEM private key of that certificate."""

    @property
    def ca_file(self) -> Any:
        """PEM bundle of the mesh CA."""


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    """Client credentials presenting our certificate and trusting only the mesh CA."""
    with open(tls.ca_file, "rb") as ca, open(tls.key_file, "rb") as key, open(tls.cert_file, "rb") as cert:
        return grpc.ssl_channel_credentials(
            root_certificates=ca.read(), private_key=key.read(), certificate_chain=cert.read()
        )


def balanced_target(target: str) -> tuple[str, list[tuple[str, Any]]]:
    """A target for gRPC and the channel options it needs: one `host:port` as it is, a list balanced round-robin.

    `IPv4:port,IPv4:port,…` (replicas of one service, `TARGETS_PATTERN`) becomes gRPC's `ipv4:` target with the
    `round_robin` policy: each call goes to the next replica that is connected, and a replica that stops
    answering is left out until it reconnects.

    Every address of a list must be the same host (replicas on one machine, as `stablegate up --replicas`
    runs them): one gRPC channel checks every server's certificate against one name, so a list of different
    hosts would accept from each replica a certificate naming only the first. Such a list is refused
    (`ReplicaNamesDiffer`); replicas on several hosts go behind one name that each of their certificates
    carries (docs/operations.md, "Scaling on one machine").
    """
    targets = [t.strip() for t in target.split(",")]
    if len(targets) == 1:
        return target, []
    for one in targets:
        host, _, port = one.rpartition(":")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{one!r} in the target list is not IPv4:port (a list takes IPv4 addresses)") from None
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{one!r} in the target list has no valid port")
    hosts = sorted({one.rpartition(":")[0] for one in targets})
    if len(hosts) > 1:
        raise ReplicaNamesDiffer(hosts)
    options: list[tuple[str, Any]] = [
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.ssl_target_name_override", hosts[0]),
        ("grpc.default_authority", hosts[0]),
    ]
    return "ipv4:" + ",".join(targets), options


class ReplicaNamesDiffer(ValueError):
    """A replica list names several hosts: one channel would check every replica's certificate against one."""

    def __init__(self, hosts: list[str]) -> None:
        super().__init__(
            f"the replicas in the list are on different hosts ({', '.join(hosts)}); a list must be one host's "
            "ports, because one mutual-TLS channel checks every replica's certificate against a single name. "
            "Put replicas on several hosts behind one DNS name their certificates carry and give that host:port"
        )
        self.hosts = hosts


def channel(target: str, tls: ClientTls, options: list[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A grpc.aio channel to another mesh process, over mutual TLS (make it inside the loop that uses it).

    `target` is `host:port`, or a list of replicas' `IPv4:port` balanced round-robin (`balanced_target`).
    """
    resolved, balancing = balanced_target(target)
    return grpc.aio.secure_channel(resolved, channel_credentials(tls), options=[*balancing, *(options or [])])


def https_listener_ssl(tls: ClientTls) -> ssl.SSLContext:
    """Mutual TLS for an HTTP page listener (checkout, dashboard): our certificate; a client one from the mesh CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca_file))
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def peer_cert_has_role(peercert: Any, trust_domain: str, role: Role) -> bool:
    """True when a verified TLS peer certificate (`ssl` `getpeercert()` form) names `role` in a URI SAN."""
    if not peercert:
        return False
    return any(
        kind == "URI" and role_from_spiffe_id(value, trust_domain) == role
        for kind, value in peercert.get("subjectAltName", ())
    )
