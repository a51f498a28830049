"""`stablegate up`: the whole gateway on one machine, on embedded defaults, under supervisord.

Prepares each real part (initdb, a SoftHSM token with generated dev PINs, configs), writes a supervisord
config with one program per process (the same command lines the test harness uses), runs supervisord in the
foreground, waits until everything answers, prints the addresses, and on Ctrl-C stops it all.

Our contracts are deployed on the local anvil as soon as it answers. Their addresses are known before that:
anvil starts empty and its first dev account deploys at nonces 0, 1, 2, so `chain.deploy.plan` gives the same
addresses every run. The ledger's environment carries the planned addresses (it needs no contract to exist,
only the CREATE2 math) and the deployment is checked against the plan; a mismatch stops `up`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chain.contracts import Chain, ChainError
from chain.deploy import ANVIL_FIRST_ACCOUNT, Deployment, Plan, Roles, deploy, plan
from chain.rpc import JsonRpc, RpcError, RpcUnavailable
from chain.safe import deploy_safe
from edge.envoy_config import EdgePlan, Upstream, public_routes_from_served, write
from gateway import parts
from ledger.secretbox import new_dev_key
from service_runtime.config import DEMO_SECRET_PREFIX
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import MeshFiles, Role

SERVICE_NAMES = ("ledger", "watcher", "settlement", "signer", "edge", "checkout")
# Well-known local ports; `--base-port N` moves them all to N + offset (the offset is the order below).
DEFAULT_PORTS: dict[str, int] = {
    "envoy": 8080,
    "envoy_admin": 9901,
    "postgres": 55432,
    "redis": 56379,
    "anvil": 8545,
    "ledger": 50051,
    "watcher": 50052,
    "settlement": 50053,
    "signer": 50054,
    "ledger_metrics": 9101,
    "watcher_metrics": 9102,
    "settlement_metrics": 9103,
    "signer_metrics": 9104,
    "edge": 50055,
    "edge_metrics": 9105,
    "envoy_admin_api": 8081,
    "checkout": 50056,
    "checkout_metrics": 9106,
    "checkout_http": 8082,
}
READY_TIMEOUT = 150.0
LOCAL_DRAIN_TIMEOUT = 5
DEV_KEYS: tuple[tuple[str, str], ...] = (
    ("SWEEPER", "dev-sweeper"),
    ("HOT", "dev-hot"),
    ("COLD_OWNER", "dev-cold-owner-1"),
    ("COLD_OWNER", "dev-cold-owner-2"),
)
"""(purpose, label) of the keys `up` makes once on its SoftHSM token with the key ceremony."""
BLOCK_SECONDS = 1
"""anvil's block interval once the contracts are deployed (they deploy block by block, at once, before)."""
DEV_KEY_FUNDING_WEI = 10 * 10**18
"""BNB each dev signing key gets from anvil's first account (the keys pay their own gas)."""


def postgres_base_for(state: Path) -> Path:
    """Where `up` keeps its Postgres cluster for a state dir.

    As root, Postgres runs as `postgres`, which may not be able to enter the checkout (e.g. under /root), so
    the cluster lives in a directory of its own under /var/tmp, named after the state dir so it persists.
    """
    if not parts.running_as_root():
        return state / "postgres"
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"stablegate-{digest}"  # noqa: S108 - checked for ownership before use


def edge_plan(ports: dict[str, int], envoy: MeshFiles) -> EdgePlan:
    """The local Envoy: REST on the envoy port, transcoded to the ledger and settlement, keys and limits by edge.

    Keys, body checks and merchant limits are one ext_authz call to the edge (no separate rate-limit call).
    """
    from ledger.app import SERVED as ledger_served  # noqa: PLC0415
    from settlement.app import SERVED as settlement_served  # noqa: PLC0415

    edge = Upstream("edge", "127.0.0.1", ports["edge"], Role.EDGE)
    return EdgePlan(
        listen_port=ports["envoy"],
        admin_port=ports["envoy_admin"],
        admin_api_port=ports["envoy_admin_api"],
        descriptor_path=parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb",
        upstreams=(
            Upstream("ledger", "127.0.0.1", ports["ledger"], Role.LEDGER),
            Upstream("settlement", "127.0.0.1", ports["settlement"], Role.SETTLEMENT),
        ),
        routes=public_routes_from_served({"ledger": ledger_served, "settlement": settlement_served}),
        ext_authz=Upstream("ext_authz", edge.host, edge.port, Role.EDGE),
        mesh=envoy,
        # The hosted checkout page at /checkout/ (docs/checkout.md).
        checkout=Upstream("checkout", "127.0.0.1", ports["checkout_http"], Role.CHECKOUT),
    )


def fresh_database(pg: parts.PostgresPlan) -> None:
    """The gateway's database, with the watcher's chain state forgotten: `up`'s anvil starts empty every time.

    The ledger's data stays (its invoices' addresses are CREATE2 math on the same planned factory); the
    watcher's cursor, headers and observations described the previous run's chain and would stall the scan.
    """
    parts.create_database(pg)
    psql = str(parts.postgres_bin_dir() / "psql")
    forget = (
        "DO $$ BEGIN IF to_regclass('watcher.cursors') IS NOT NULL THEN "
        "TRUNCATE watcher.cursors, watcher.headers, watcher.observations; END IF; END $$"
    )
    parts.run_checked([psql, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", pg.database, "-c", forget])


class UpError(RuntimeError):
    """The local gateway could not start; the message says what to do."""


def assign_ports(base_port: int | None) -> dict[str, int]:
    """The port of every process: the well-known defaults, or consecutive ports from `base_port`."""
    if base_port is None:
        return dict(DEFAULT_PORTS)
    if not 1024 <= base_port <= 65535 - len(DEFAULT_PORTS):
        raise UpError(f"--base-port {base_port} is out of range: pick 1024..{65535 - len(DEFAULT_PORTS)}")
    return {name: base_port + i for i, name in enumerate(DEFAULT_PORTS)}


@dataclass(frozen=True)
class DevKey:
    """A key `up` made in its SoftHSM token."""

    key_id: str
    label: str
    purpose: str
    address: str


DEV_PLATFORM_REVENUE_ADDRESS = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
"""Where `up` sends withdrawn platform revenue (`STABLEGATE_LEDGER_PLATFORM_REVENUE_ADDRESS`): anvil's tenth account."""


def dev_policy(contracts: Plan, chain_id: int = 97, revenue_address: str = DEV_PLATFORM_REVENUE_ADDRESS) -> str:
    """The local signer's policy (JSON): sweeps by SWEEPER keys; moves into cold, revenue and payouts by HOT.

    Sweeps go through the deployed factory; moves of the treasury's excess into cold, up to 10,000 tokens each;
    payouts from the treasury to the platform revenue address (withdrawals of collected fees, docs/payouts.md,
    "Platform revenue"), up to 10,000 tokens each; payout batches from the treasury, up to 10,000 tokens each (any
    destination: the ledger only queues payouts to a merchant's confirmed settlement address, an invoice's refund
    address or a stray payment's sender). The signer refuses by default: Safe
    transactions out of cold (which need approvers' keys) get rules as their issues land.
    """
    cold = {
        "name": "dev-cold-moves",
        "purposes": ["HOT"],
        "intents": ["cold_move"],
        "chain_ids": [chain_id],
        "contracts": [contracts.treasury],
        "tokens": [contracts.token],
        "max_amount": 10_000 * 10**18,
        "max_gas_limit": 1_000_000,
        "max_fee_per_gas_wei": 100 * 10**9,
        "action": "ALLOW",
    }
    payouts = {
        "name": "dev-payouts",
        "purposes": ["HOT"],
        "intents": ["payout"],
        "chain_ids": [chain_id],
        "contracts": [contracts.treasury],
        "tokens": [contracts.token],
        "max_amount": 10_000 * 10**18,
        "max_gas_limit": 15_000_000,
        "max_fee_per_gas_wei": 100 * 10**9,
        "action": "ALLOW",
    }
    rule = {
        "name": "dev-sweeps",
        "purposes": ["SWEEPER"],
        "intents": ["sweep"],
        "chain_ids": [chain_id],
        "contracts": [contracts.factory],
        "tokens": [contracts.token],
        "max_gas_limit": 15_000_000,
        "max_fee_per_gas_wei": 100 * 10**9,
        "action": "ALLOW",
    }
    revenue = {
        "name": "dev-platform-revenue",
        "purposes": ["HOT"],
        "intents": ["payout"],
        "chain_ids": [chain_id],
        "contracts": [contracts.treasury],
        "tokens": [contracts.token],
        "destinations": [revenue_address],
        "max_amount": 10_000 * 10**18,
        "max_gas_limit": 1_000_000,
        "max_fee_per_gas_wei": 100 * 10**9,
        "action": "ALLOW",
    }
    return json.dumps({"version": 1, "rules": [rule, cold, revenue, payouts]}, indent=2) + "\n"


@dataclass(frozen=True)
class Program:
    """One supervisord program: a process spec plus how to tell it is ready and where it answers."""

    spec: parts.ProcessSpec
    address: str
    ready: Callable[[], bool]
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 30
    on_ready: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Environment of this program only (secrets such as the signer PIN go to the one program that needs them)."""


def supervisor_env_value(value: str) -> str:
    """Quote a value for supervisord's `environment=` (its lexer has no escapes: pick the absent quote)."""
    for quote in ('"', "'"):
        if quote not in value:
            return quote + value.replace("%", "%%") + quote
    raise UpError(f"cannot pass a value with both quote characters through supervisord: {value[:20]}…")


def supervisord_config(state: Path, programs: list[Program], user: str) -> str:
    """Render supervisord's config: foreground, a control socket, one program per process."""
    logs = state / "logs"
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={state / 'supervisord.pid'}",
        f"childlogdir={logs}",
        f"user={user}",
        "",
        "[unix_http_server]",
        f"file={state / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{state / 'supervisor.sock'}",
        "",
    ]
    for priority, program in enumerate(programs, start=1):
        spec = program.spec
        command = " ".join(shlex.quote(a) if a else "''" for a in spec.argv).replace("%", "%%")
        lines += [
            f"[program:{spec.name}]",
            f"command={command}",
            f"priority={priority * 10}",
            "autorestart=true",
            "startsecs=1",
            f"stopsignal={program.stop_signal}",
            f"stopwaitsecs={program.stop_wait_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (spec.name + '.log')}",
        ]
        if program.env:
            pairs = ",".join(f"{k}={supervisor_env_value(v)}" for k, v in sorted(program.env.items()))
            lines.append(f"environment={pairs}")
        if spec.user:
            lines.append(f"user={spec.user}")
        if spec.cwd:
            lines.append(f"directory={spec.cwd}")
        lines.append("")
    return "\n".join(lines)


def _terminate_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes  # noqa: PLC0415

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_leftover_supervisord(state: Path, timeout: float = 60.0) -> int | None:
    """Stop a supervisord a killed `up` left running for this state dir; its pid, or None when there was none.

    Only a live process that is supervisord with this state dir's config is stopped (a stale pid file whose
    pid now belongs to something else is ignored).
    """
    pidfile = state / "supervisord.pid"
    try:
        pid = int(pidfile.read_text().strip())
        process = psutil.Process(pid)
        cmdline = process.cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    if (
        not any(Path(arg).name == "supervisord" for arg in cmdline[:2])
        or str(state / "supervisord.conf") not in cmdline
    ):
        return None
    with contextlib.suppress(psutil.Error):
        process.terminate()
        process.wait(timeout=timeout)
    return pid


class LocalGateway:
    """Everything `stablegate up` starts, and the loop that keeps it in the foreground."""

    def __init__(self, state_dir: Path, base_port: int | None, console: Console) -> None:
        self.state = state_dir.resolve()
        self.base_port = base_port
        self.console = console
        self._supervisord: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] = {}
        self._stop_requested = False
        self._contracts: Plan = plan(ANVIL_FIRST_ACCOUNT, 0)
        self._deployment: Deployment | None = None
        self._keys: dict[str, DevKey] = {}

    def run(self) -> int:
        """Prepare, start, wait until ready, print addresses, then block until Ctrl-C or SIGTERM.

        Whatever happens (a failure, Ctrl-C while starting), everything started is stopped before returning.
        """

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self._stop_requested = True

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, request_stop)
        try:
            leftover = stop_leftover_supervisord(self.state)
            if leftover is not None:
                self.console.print(f"stopped the processes a previous `up` left running (supervisord {leftover})")
            ports = assign_ports(self.base_port)
            taken = [f"{name} ({port})" for name, port in ports.items() if parts.port_is_open(port)]
            if taken:
                raise UpError(
                    f"ports already in use: {', '.join(taken)}. Stop what holds them (another `stablegate up`?) "
                    "or move every port with --base-port N."
                )
            self._ports = ports
            programs = self._prepare(ports)
            self._start_supervisord(programs)
            self._wait_ready(programs)
            self._print_addresses(programs)
            return self._wait_for_stop()
        except (UpError, parts.PartError) as exc:
            self.console.print(f"[bold red]error:[/] {exc}", highlight=False)
            return 130 if self._stop_requested else 1
        finally:
            with self.console.status("stopping…"):
                self._stop()

    # -- preparation -------------------------------------------------------------------------------------

    def _prepare(self, ports: dict[str, int]) -> list[Program]:
        logs = self.state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with self.console.status("preparing Postgres, SoftHSM, Redis, anvil and Envoy…"):
            pg_plan, pg_spec = parts.prepare_postgres(self._postgres_base(), ports["postgres"])
            token = self._softhsm_token()
            self._keys = self._dev_keys(token)
            redis_spec = parts.prepare_redis(self.state, ports["redis"])
            anvil_spec = parts.prepare_anvil(ports["anvil"])
            # A fresh dev CA and one certificate per mesh role at every start: every process restarts with it.
            mesh = DevMesh(self.state / "pki")
            envoy_dir = self.state / "envoy"
            envoy_dir.mkdir(exist_ok=True)
            envoy_spec = parts.prepare_envoy(
                envoy_dir,
                write(edge_plan(ports, mesh.files(Role.EDGE)), envoy_dir / "generated" / "envoy.yaml").read_text(),
                ports["envoy_admin"],
            )
        programs = [
            # INT is Postgres's fast shutdown; TERM would wait for every client to disconnect.
            Program(pg_spec, pg_plan.dsn, pg_spec.ready, stop_signal="INT", on_ready=lambda: fresh_database(pg_plan)),
            Program(redis_spec, f"redis://127.0.0.1:{ports['redis']}/0", redis_spec.ready),
            Program(
                anvil_spec,
                f"http://127.0.0.1:{ports['anvil']} (chain id 97)",
                anvil_spec.ready,
                on_ready=lambda: self._deploy_contracts(f"http://127.0.0.1:{ports['anvil']}"),
            ),
            Program(
                envoy_spec,
                f"http://127.0.0.1:{ports['envoy']} (REST; admin API :{ports['envoy_admin_api']}, "
                f"Envoy admin :{ports['envoy_admin']})",
                envoy_spec.ready,
            ),
        ]
        env = self._service_env(ports, pg_plan, token, mesh)
        probe = mesh.files(Role.OPERATOR)
        for name in SERVICE_NAMES:
            port = ports[name]
            spec = parts.ProcessSpec(
                name=name,
                argv=[sys.executable, "-m", name],
                ready=lambda port=port: parts.grpc_serving(port, probe),  # type: ignore[misc]
                cwd=parts.REPO_ROOT,
            )
            metrics = ports[f"{name}_metrics"]
            own = {k: v for k, v in env.items() if k.startswith(f"STABLEGATE_{name.upper()}_")}
            if name == "signer":
                own.update(token.env)
            address = f"127.0.0.1:{port} (gRPC), :{metrics}/metrics"
            # supervisord loses a stop signal sent in the instant after it spawns a program (the group does not
            # exist yet), so keep its wait short: the drain timeout and a margin.
            programs.append(Program(spec, address, spec.ready, env=own, stop_wait_seconds=LOCAL_DRAIN_TIMEOUT + 5))
        return programs

    def _deploy_contracts(self, rpc_url: str) -> None:
        """Deploy the test token, treasury and factory on the fresh anvil; they must land where planned."""
        chain = Chain(JsonRpc(rpc_url))
        try:
            accounts = chain.accounts()
            if not accounts or accounts[0] != ANVIL_FIRST_ACCOUNT:
                raise UpError(f"anvil's first dev account is not {ANVIL_FIRST_ACCOUNT}: was it given a mnemonic?")
            # The HSM keys hold the sweeper and hot roles and pay their own gas, as in production.
            sweeper, hot = self._keys["dev-sweeper"].address, self._keys["dev-hot"].address
            # Cold storage is a Safe 1.4.1 whose owners are the two COLD_OWNER keys (2 of 2), deployed first by
            # another dev account so the deployer's nonces, and so the planned addresses, stay as they are.
            owners = [k.address for k in self._keys.values() if k.purpose == "COLD_OWNER"]
            cold = deploy_safe(chain, accounts[3], owners, threshold=len(owners), salt=0).address
            roles = Roles(admin=accounts[0], sweeper=sweeper, hot=hot, cold_safe=cold, quarantine=accounts[2])
            deployment = deploy(chain, accounts[0], roles)
            for key in self._keys.values():
                chain.send(accounts[0], key.address, b"", value=DEV_KEY_FUNDING_WEI, what=f"funding {key.label}")
        except (ChainError, RpcError, RpcUnavailable) as exc:
            raise UpError(f"deploying the contracts on anvil failed: {exc}") from exc
        got = Plan(deployment.token, deployment.treasury, deployment.factory, deployment.forwarder_implementation)
        if got != self._contracts:
            raise UpError(
                f"the contracts landed at {got}, not at the planned {self._contracts} the ledger was given: "
                "anvil was not fresh; stop whatever else uses it and run `up` again"
            )
        try:
            # From here on a block every second, transactions or not, as on a real chain: finality keeps moving
            # (the watcher credits payments, settlement's transactions become final) without anyone mining.
            chain.rpc.request("evm_setIntervalMining", BLOCK_SECONDS)
        except (RpcError, RpcUnavailable) as exc:
            raise UpError(f"switching anvil to a block every {BLOCK_SECONDS} s failed: {exc}") from exc
        (self.state / "chain.env").write_text(deployment.env_file_text())
        (self.state / "chain.json").write_text(json.dumps(deployment.as_json(), indent=2, sort_keys=True) + "\n")
        self._deployment = deployment

    def _postgres_base(self) -> Path:
        base = postgres_base_for(self.state)
        base.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = base.lstat()
        if base.is_symlink() or info.st_uid != os.geteuid():
            # A predictable path in a shared directory: refuse one somebody else made.
            raise UpError(f"{base} is not a directory owned by you; remove it and run again")
        base.chmod(0o755)
        return base

    def _softhsm_token(self) -> parts.SoftHsmToken:
        hsm_dir = self.state / "softhsm"
        secrets_file = self.state / "dev-secrets.json"
        if secrets_file.exists() and (hsm_dir / "softhsm2.conf").exists():
            saved = json.loads(secrets_file.read_text())
            return parts.SoftHsmToken(hsm_dir / "softhsm2.conf", saved["label"], saved["so_pin"], saved["user_pin"])
        hsm_dir.mkdir(parents=True, exist_ok=True)
        # Dev PINs are generated here, never committed, and marked so the prod profile refuses them.
        token = parts.init_softhsm_token(
            hsm_dir,
            "stablegate-dev",
            so_pin=DEMO_SECRET_PREFIX + secrets.token_hex(8),
            user_pin=DEMO_SECRET_PREFIX + secrets.token_hex(8),
        )
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"label": token.label, "so_pin": token.so_pin, "user_pin": token.user_pin}, out)
        return token

    def _webhook_key(self) -> str:
        """The dev key sealing webhook secrets: made once, kept private in the state dir, refused by prod."""
        path = self.state / "webhook-secret-key"
        if path.exists():
            return path.read_text().strip()
        key = new_dev_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
        return key

    def _write_policy(self) -> Path:
        """Write the local signer's policy for this run's planned contracts (`dev_policy`)."""
        path = self.state / "signer-policy.json"
        path.write_text(dev_policy(self._contracts))
        return path

    def _dev_keys(self, token: parts.SoftHsmToken) -> dict[str, DevKey]:
        """The dev signing keys by label, made once on the token by the key ceremony (`signer keys create`)."""
        env = {
            **os.environ,
            **token.env,
            "STABLEGATE_SIGNER_PIN": token.user_pin,
            "STABLEGATE_SIGNER_PKCS11_MODULE": str(token.module),
            "STABLEGATE_SIGNER_TOKEN_LABEL": token.label,
        }
        ceremony = [sys.executable, "-m", "gateway", "signer", "keys"]

        def run(*args: str) -> list[DevKey]:
            done = subprocess.run([*ceremony, *args], env=env, capture_output=True, text=True, check=False, timeout=60)
            if done.returncode != 0:
                raise UpError(f"the key ceremony failed ({' '.join(args[:1])}): {done.stderr.strip()}")
            return [
                DevKey(row["key_id"], row["label"], row["purpose"], row["address"])
                for row in map(json.loads, done.stdout.splitlines())
            ]

        keys = {k.label: k for k in run("list")}
        for purpose, label in DEV_KEYS:
            if label not in keys:
                (made,) = run("create", "--purpose", purpose, "--label", label)
                keys[label] = made
        return keys

    def _service_env(
        self, ports: dict[str, int], pg: parts.PostgresPlan, token: parts.SoftHsmToken, mesh: DevMesh
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        for name in SERVICE_NAMES:
            env.update(mesh.files(name).env(name))
            prefix = f"STABLEGATE_{name.upper()}_"
            env[prefix + "PROFILE"] = "dev"
            env[prefix + "GRPC_PORT"] = str(ports[name])
            env[prefix + "METRICS_PORT"] = str(ports[f"{name}_metrics"])
            # No load balancer to tell locally: stop at once, give in-flight calls 5 s.
            env[prefix + "DRAIN_DELAY_SECONDS"] = "0"
            env[prefix + "DRAIN_TIMEOUT_SECONDS"] = str(LOCAL_DRAIN_TIMEOUT)
        rpc = json.dumps([f"http://127.0.0.1:{ports['anvil']}"])
        ledger = f"127.0.0.1:{ports['ledger']}"
        env.update(
            {
                "STABLEGATE_LEDGER_DATABASE_URL": pg.dsn,
                "STABLEGATE_LEDGER_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                # The contracts deployed on anvil once it answers (see the module docstring).
                "STABLEGATE_LEDGER_CHAIN_ID": "97",
                "STABLEGATE_LEDGER_TOKEN_CONTRACT": self._contracts.token,
                "STABLEGATE_LEDGER_TOKEN_DECIMALS": "18",
                "STABLEGATE_LEDGER_FORWARDER_FACTORY": self._contracts.factory,
                "STABLEGATE_LEDGER_FORWARDER_INIT_CODE_HASH": "0x" + self._contracts.init_code_hash.hex(),
                "STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY": self._webhook_key(),
                "STABLEGATE_LEDGER_WEBHOOK_ALLOW_LOOPBACK": "true",
                "STABLEGATE_LEDGER_PLATFORM_REVENUE_ADDRESS": DEV_PLATFORM_REVENUE_ADDRESS,
                "STABLEGATE_WATCHER_RPC_URLS": rpc,
                "STABLEGATE_WATCHER_LEDGER_TARGET": ledger,
                "STABLEGATE_WATCHER_DATABASE_URL": pg.dsn,
                "STABLEGATE_WATCHER_TOKEN_CONTRACT": self._contracts.token,
                "STABLEGATE_WATCHER_FORWARDER_FACTORY": self._contracts.factory,
                # anvil starts empty at every `up`: scan it from its first block.
                "STABLEGATE_WATCHER_START_BLOCK": "1",
                "STABLEGATE_SETTLEMENT_DATABASE_URL": pg.dsn,
                "STABLEGATE_SETTLEMENT_RPC_URLS": rpc,
                "STABLEGATE_SETTLEMENT_LEDGER_TARGET": ledger,
                "STABLEGATE_SETTLEMENT_TOKEN_CONTRACT": self._contracts.token,
                "STABLEGATE_SETTLEMENT_TREASURY_ADDRESS": self._contracts.treasury,
                "STABLEGATE_SETTLEMENT_SIGNER_TARGET": f"127.0.0.1:{ports['signer']}",
                # The sweeper moves final deposits into the treasury with the HSM's SWEEPER key.
                "STABLEGATE_SETTLEMENT_SWEEPER_ENABLED": "true",
                "STABLEGATE_SETTLEMENT_SWEEPER_KEY_ID": self._keys["dev-sweeper"].key_id,
                "STABLEGATE_SETTLEMENT_SWEEPER_ADDRESS": self._keys["dev-sweeper"].address,
                "STABLEGATE_SETTLEMENT_FORWARDER_FACTORY": self._contracts.factory,
                # Hot and cold: above 1,000 tokens the treasury's excess over 500 moves to the cold Safe (HOT key).
                "STABLEGATE_SETTLEMENT_HOT_COLD_ENABLED": "true",
                "STABLEGATE_SETTLEMENT_HOT_KEY_ID": self._keys["dev-hot"].key_id,
                "STABLEGATE_SETTLEMENT_HOT_ADDRESS": self._keys["dev-hot"].address,
                "STABLEGATE_SETTLEMENT_TREASURY_CEILING_BASE_UNITS": str(1_000 * 10**18),
                "STABLEGATE_SETTLEMENT_TREASURY_TARGET_BASE_UNITS": str(500 * 10**18),
                "STABLEGATE_SETTLEMENT_KEY_BNB_FLOOR_WEI": str(10**17),
                # Payouts and refunds queued at the ledger are paid in batches from the treasury (HOT key).
                "STABLEGATE_SETTLEMENT_PAYOUTS_ENABLED": "true",
                "STABLEGATE_SETTLEMENT_COLD_OWNER_KEYS": json.dumps(
                    {k.key_id: k.address for k in self._keys.values() if k.purpose == "COLD_OWNER"}
                ),
                "STABLEGATE_SIGNER_PKCS11_MODULE": str(token.module),
                "STABLEGATE_SIGNER_TOKEN_LABEL": token.label,
                "STABLEGATE_SIGNER_PIN": token.user_pin,
                "STABLEGATE_SIGNER_STATE_PATH": str(self.state / "signer-state.sqlite3"),
                "STABLEGATE_SIGNER_POLICY_PATH": str(self._write_policy()),
                "STABLEGATE_EDGE_LEDGER_TARGET": ledger,
                "STABLEGATE_EDGE_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                "STABLEGATE_CHECKOUT_LEDGER_TARGET": ledger,
                "STABLEGATE_CHECKOUT_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                "STABLEGATE_CHECKOUT_HTTP_PORT": str(ports["checkout_http"]),
                # The ledger's checkout links point at the local Envoy, wherever --base-port moved it.
                "STABLEGATE_LEDGER_CHECKOUT_BASE_URL": f"http://127.0.0.1:{ports['envoy']}/checkout/",
            }
        )
        return env

    # -- running -----------------------------------------------------------------------------------------

    def _start_supervisord(self, programs: list[Program]) -> None:
        import pwd  # noqa: PLC0415

        conf = self.state / "supervisord.conf"
        user = pwd.getpwuid(os.geteuid()).pw_name
        # The config carries the signer's dev PIN: readable by its owner only.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(supervisord_config(self.state, programs, user))
        supervisord = Path(sys.executable).parent / "supervisord"
        self._supervisord = subprocess.Popen(
            [str(supervisord), "-n", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            # If `up` itself is killed (SIGKILL, an OOM kill), supervisord gets SIGTERM and stops everything.
            preexec_fn=_terminate_with_parent,  # noqa: PLW1509 - only calls prctl, safe between fork and exec
        )

    def _wait_ready(self, programs: list[Program]) -> None:
        pending = {p.spec.name: p for p in programs}
        deadline = time.monotonic() + READY_TIMEOUT
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=self.console
        ) as progress:
            task = progress.add_task("starting", total=len(programs))
            while pending:
                if self._stop_requested:
                    raise UpError("interrupted while starting; stopping what was started")
                if self._supervisord is not None and self._supervisord.poll() is not None:
                    raise UpError(f"supervisord exited; see {self.state / 'logs' / 'supervisord.log'}")
                if time.monotonic() > deadline:
                    names = ", ".join(sorted(pending))
                    raise UpError(
                        f"not ready after {READY_TIMEOUT:.0f}s: {names}; see their logs in {self.state / 'logs'}"
                    )
                progress.update(task, description=f"waiting for {', '.join(pending)}")
                for name, program in list(pending.items()):
                    if program.ready():
                        if program.on_ready is not None:
                            program.on_ready()
                        del pending[name]
                        progress.advance(task)
                time.sleep(0.1)

    def _print_addresses(self, programs: list[Program]) -> None:
        table = Table(title="stablegate is up", title_justify="left")
        table.add_column("part")
        table.add_column("address")
        for program in programs:
            table.add_row(program.spec.name, program.address)
        self.console.print(table)
        if self._deployment is not None:
            d = self._deployment
            self.console.print(
                f"contracts: token {d.token} (tUSDT, open mint), factory {d.factory}, treasury {d.treasury}, "
                f"cold Safe {d.roles.cold_safe} (2 of 2 COLD_OWNER keys) ({self.state / 'chain.env'})",
                highlight=False,
            )
        if self._keys:
            held = ", ".join(f"{k.label} {k.address}" for k in self._keys.values())
            self.console.print(f"signing keys (SoftHSM): {held}", highlight=False)
        self.console.print(f"logs: {self.state / 'logs'}   control: supervisorctl -c {self.state / 'supervisord.conf'}")
        self.console.print(
            f"admin key: .venv/bin/stablegate admin keys create --name you --database-url "
            f"postgresql://postgres@127.0.0.1:{self._ports['postgres']}/stablegate",
            highlight=False,
        )
        self.console.print("gateway is up; press Ctrl-C to stop everything", highlight=False)

    def _wait_for_stop(self) -> int:
        assert self._supervisord is not None
        while not self._stop_requested and self._supervisord.poll() is None:
            time.sleep(0.2)
        if not self._stop_requested:
            raise UpError(f"supervisord exited; see {self.state / 'logs' / 'supervisord.log'}")
        self._stop()
        self.console.print("stopped")
        return 0

    def _stop(self) -> None:
        proc = self._supervisord
        if proc is None or proc.poll() is not None:
            return
        # Each program runs in its own process group: remember them all in case supervisord hangs.
        programs = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for child in [psutil.Process(proc.pid), *programs]:
                with contextlib.suppress(psutil.Error):
                    child.kill()
            proc.wait()
