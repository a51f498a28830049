"""`stablegate up`: the whole gateway on one machine, on embedded defaults, under supervisord.

Prepares each real part (initdb, a SoftHSM token with generated dev PINs, configs), writes a supervisord
config with one program per process (the same command lines the test harness uses), runs supervisord in the
foreground, waits until everything answers, prints the addresses, and on Ctrl-C stops it all. With `--replicas N`
it runs N of every service but the signer, each on its own ports (`REPLICATED_SERVICES`, `assign_ports`), listed
as endpoints of Envoy's clusters and in the ledger's clients' target list (docs/operations.md, "Scaling on one
machine").

The local chain is kept in the state dir like the ledger's data (`anvil/`): anvil dumps it every
`CHAIN_DUMP_SECONDS` and on exit, `up` keeps a copy known to be whole (`ChainKeeper`), and every start of anvil,
`up`'s first as supervisord's restart after a crash, loads the newest whole one and mines a block a second by
itself (`gateway/anvil_launch.py`, anvil's supervised command), so the treasury's balance, the keys' nonces and
the watcher's cursor still agree with the chain. A SIGKILL of `up` or of anvil alone loses at most the last few
seconds of blocks, which the watcher sees as a reorg and settlement as dropped transactions it sends again.

Our contracts are deployed on the first start, on an empty anvil, as soon as it answers. Their addresses are
known before that: anvil's first dev account deploys at nonces 0, 1, 2, so `chain.deploy.plan` gives the same
addresses every time. The ledger's environment carries the planned addresses (it needs no contract to exist,
only the CREATE2 math); the deployment is checked against the plan, and a kept chain is checked to hold them.
A mismatch stops `up`. Without a whole kept chain `up` starts an empty one and forgets the watcher's state,
unless settlement has sent transactions on the lost chain: then it refuses and says what to do
(`prepare_database`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
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
from gateway.anvil_launch import CHAIN_DUMP, CHAIN_KEPT, dump_height
from gateway.ledger_kek_dev import ledger_kek_env, ledger_kek_token, rewrap_legacy_secrets
from gateway.up_options import ReplicasError, parse_replicas
from ledger.secretbox import new_dev_key
from service_runtime.config import DEMO_SECRET_PREFIX
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import MeshFiles, Role

SERVICE_NAMES = ("ledger", "watcher", "settlement", "signer", "edge", "checkout", "dashboard")
# Well-known local ports; `--base-port N` moves them all to N + offset (the offset is the order below). All of
# them sit below Linux's ephemeral range (32768-60999 by default): a client retrying a local port that is not
# listening yet may be handed that very port as its own source port and connect to itself (TCP simultaneous
# open), and the service meant for it then cannot bind.
DEFAULT_PORTS: dict[str, int] = {
    "envoy": 8080,
    "envoy_admin": 9901,
    "postgres": 15432,
    "redis": 16379,
    "anvil": 8545,
    "ledger": 20051,
    "watcher": 20052,
    "settlement": 20053,
    "signer": 20054,
    "ledger_metrics": 9101,
    "watcher_metrics": 9102,
    "settlement_metrics": 9103,
    "signer_metrics": 9104,
    "edge": 20055,
    "edge_metrics": 9105,
    "envoy_admin_api": 8081,
    "checkout": 20056,
    "checkout_metrics": 9106,
    "checkout_http": 8082,
    "dashboard": 20057,
    "dashboard_metrics": 9107,
    "dashboard_http": 8083,
}
REPLICATED_SERVICES = ("ledger", "watcher", "settlement", "edge", "checkout", "dashboard")
"""The services `up --replicas N` runs N of (every one but the signer). The ledger, edge, checkout and dashboard
are stateless: Envoy balances over them and the ledger's clients round-robin over its replicas. The watcher's
scanner and settlement's loops are singletons under leases: their extra replicas are standbys (settlement's gRPC
surface is served by every replica). docs/operations.md, "Scaling on one machine"."""
REPLICA_PORT_STEP = 100
"""Without --base-port, replica k (2, 3, …) of a service answers on the first one's ports plus (k - 1) * 100."""
PAGE_PORTS = {"checkout": "checkout_http", "dashboard": "dashboard_http"}
"""The services with an HTTP page listener beside their gRPC port (its port's name)."""
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
ADMIN_KEY_COMMAND = (sys.executable, "-m", "gateway", "admin", "keys", "create")
"""`stablegate admin keys create`, as the operator runs it (docs/api.md, "Authentication")."""
SIGNER_DIR = "signer"
SIGNER_STATE_FILE = "signer-state.sqlite3"
"""`<state>/signer/signer-state.sqlite3`: the signer's audit log and approvals (directory 0700, file 0600)."""
DEMO_FILE = "demo-merchant.json"
"""In the state dir, mode 0600: the admin key, demo merchant and merchant key `up` made once (secrets)."""
DEMO_MERCHANT = {"name": "Demo merchant", "contact_email": "demo@stablegate.example"}
DEMO_KEY_SCOPES = (
    "invoices:read",
    "invoices:write",
    "balance:read",
    "payouts:read",
    "payouts:write",
    "webhooks:read",
    "webhooks:write",
)
"""Every merchant scope: the demo merchant, on a local chain with test money, must be able to register a webhook
endpoint and ask for a payout as the quickstart does (docs/quickstart.md)."""
DEMO_INVOICE_BODY = '{"amount": "10.50", "description": "stablegate up demo"}'
DASHBOARD_ADMIN_KEY_FILE = "dashboard-admin-key"
"""In the state dir, mode 0600: the admin key the dashboard onboards merchants with (made once `up` is ready)."""


def postgres_base_for(state: Path) -> Path:
    """Where `up` keeps its Postgres cluster for a state dir: `<state>/postgres` (its data in `pgdata/`).

    As root, Postgres runs as the `postgres` user, which is given traverse permission (an ACL entry `x`, nothing
    else) on the directories above it that it could not enter otherwise (`grant_traverse`).
    """
    return state / "postgres"


def legacy_postgres_base_for(state: Path) -> Path:
    """Where `up` kept a root-run cluster before it moved into the state dir: /var/tmp/stablegate-<hash>."""
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"stablegate-{digest}"  # noqa: S108 - only read and moved, after an ownership check  # nosec B108


def can_enter(path: Path, user: str) -> bool:
    """True when `user` can reach and enter `path` (asked of the system as that user: mode bits and ACLs count)."""
    ids = parts.drop_privileges_to(user)
    probe = subprocess.run(
        ["test", "-x", str(path)], user=ids.user, group=ids.group, extra_groups=ids.extra_groups, check=False
    )
    return probe.returncode == 0


def grant_traverse(directory: Path, user: str) -> list[Path]:
    """Let `user` enter `directory` and every directory above it; the directories given an ACL entry now.

    From / down, only a directory the user cannot enter yet gets one (`setfacl -m u:<user>:x`: traverse only, no
    listing, no reading); the others are left alone, so a checkout under /work changes nothing, one under /root
    gets one entry on /root, and a second run changes nothing.
    """
    setfacl = shutil.which("setfacl")
    granted: list[Path] = []
    for path in [*reversed(directory.parents), directory]:
        if can_enter(path, user):
            continue
        if setfacl is None:
            raise UpError(
                f"the {user} user cannot enter {path}, and setfacl is missing to let it: run ./dev setup "
                "(apt-get install acl), or pick a --state-dir it can reach"
            )
        parts.run_checked([setfacl, "-m", f"u:{user}:x", str(path)])
        granted.append(path)
    return granted


def migrate_legacy_postgres(state: Path, base: Path) -> Path | None:
    """Move a cluster an older `up` kept under /var/tmp into the state dir; where it came from, or None.

    Only when the state dir has no cluster yet and the old one is a real directory owned by us (root): moved
    with `mv`, which keeps the `postgres` user's ownership and modes.
    """
    legacy = legacy_postgres_base_for(state)
    if (base / "pgdata" / "PG_VERSION").exists() or not (legacy / "pgdata" / "PG_VERSION").exists():
        return None
    info = legacy.lstat()
    if legacy.is_symlink() or info.st_uid != os.geteuid():
        raise UpError(
            f"{legacy} holds a Postgres cluster of an older `up` but is not a directory owned by you; move its "
            f"pgdata/ to {base / 'pgdata'} yourself (keeping owner and modes) or remove it to start empty"
        )
    base.mkdir(mode=0o755, parents=True, exist_ok=True)
    parts.run_checked(["mv", str(legacy / "pgdata"), str(base / "pgdata")])
    shutil.rmtree(legacy, ignore_errors=True)
    return legacy


def edge_plan(ports: dict[str, int], envoy: MeshFiles) -> EdgePlan:
    """The local Envoy: REST on the envoy port, transcoded to the ledger and settlement, keys and limits by edge.

    Keys, body checks and merchant limits are one ext_authz call to the edge (no separate rate-limit call).
    """
    from ledger.app import SERVED as ledger_served  # noqa: PLC0415
    from settlement.app import SERVED as settlement_served  # noqa: PLC0415

    n = replica_count(ports)

    def more(service: str, port_name: str | None = None) -> tuple[int, ...]:
        """The ports of a service's replicas after the first."""
        return tuple(replica_ports(service, k, ports)[port_name or service] for k in range(2, n + 1))

    edge = Upstream("edge", "127.0.0.1", ports["edge"], Role.EDGE, more("edge"))
    return EdgePlan(
        listen_port=ports["envoy"],
        admin_port=ports["envoy_admin"],
        admin_api_port=ports["envoy_admin_api"],
        descriptor_path=parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb",
        upstreams=(
            Upstream("ledger", "127.0.0.1", ports["ledger"], Role.LEDGER, more("ledger")),
            Upstream("settlement", "127.0.0.1", ports["settlement"], Role.SETTLEMENT, more("settlement")),
        ),
        routes=public_routes_from_served({"ledger": ledger_served, "settlement": settlement_served}),
        ext_authz=Upstream("ext_authz", edge.host, edge.port, Role.EDGE, edge.replica_ports),
        mesh=envoy,
        # The hosted checkout page at /checkout/ (docs/checkout.md).
        checkout=Upstream(
            "checkout", "127.0.0.1", ports["checkout_http"], Role.CHECKOUT, more("checkout", "checkout_http")
        ),
        # The dashboards at /dashboard/ (docs/dashboard.md).
        dashboard=Upstream(
            "dashboard", "127.0.0.1", ports["dashboard_http"], Role.DASHBOARD, more("dashboard", "dashboard_http")
        ),
    )


CHAIN_DIR = "anvil"
"""In the state dir: the local chain anvil dumps (`state.json`) and the copy `up` keeps of it (`state.kept.json`)."""
CHAIN_DUMP_SECONDS = 2
"""anvil dumps its chain this often (and on exit): a SIGKILL of anvil loses at most these last seconds."""
CHAIN_KEEP_SECONDS = 5
"""While it runs, `up` copies a whole dump to the kept file this often (anvil writes its dump in place)."""
FIRST_DUMP_TIMEOUT = 30.0
"""How long `up` waits, after deploying on a fresh chain, for anvil's first dump that holds the deployment."""


def read_chain_dump(path: Path) -> bytes | None:
    """The bytes of an anvil state dump when the file is whole (JSON with its blocks), else None."""
    try:
        raw = path.read_bytes()
        parsed = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(parsed, dict) or "blocks" not in parsed or "best_block_number" not in parsed:
        return None
    return raw


class ChainKeeper:
    """Keeps a whole copy of anvil's chain in the state dir (`keep`), written atomically.

    anvil writes its dump in place (truncate, then write): killed in that instant, it leaves half a file. The
    copy is only ever replaced by a dump that parses, through a temporary file and a rename, so it is whole.
    """

    def __init__(self, state: Path) -> None:
        self.directory = state / CHAIN_DIR
        self.dump = self.directory / CHAIN_DUMP
        self.kept = self.directory / CHAIN_KEPT
        self._seen: tuple[int, int] | None = None
        self._kept_whole_as: tuple[int, int] | None = None
        """(mtime, size) of the kept file when it last parsed whole: unchanged since, it is not parsed again."""

    def keep(self) -> Path | None:
        """Copy anvil's latest dump over the kept file if it is whole and new; the kept file, or None if none."""
        with contextlib.suppress(OSError):
            info = self.dump.stat()
            seen = (info.st_mtime_ns, info.st_size)
            if seen != self._seen:
                raw = read_chain_dump(self.dump)
                if raw is not None:
                    self._write(raw)
                    self._seen = seen
        try:
            info = self.kept.stat()
        except OSError:
            return None
        kept_as = (info.st_mtime_ns, info.st_size)
        if kept_as != self._kept_whole_as:
            self._kept_whole_as = kept_as if read_chain_dump(self.kept) is not None else None
        return self.kept if self._kept_whole_as is not None else None

    def set_aside(self) -> list[Path]:
        """Rename the files of a chain `up` does not keep (`*.set-aside`, replacing older ones); those renamed.

        A fresh chain is about to start: anvil's launcher loads any whole dump it finds, so none may be left.
        """
        moved = []
        for path in (self.dump, self.kept):
            if path.exists():
                aside = path.with_name(path.name + ".set-aside")
                os.replace(path, aside)
                moved.append(aside)
        self._seen = self._kept_whole_as = None
        return moved

    def _write(self, raw: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.kept.with_name(CHAIN_KEPT + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.kept)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def supervised_anvil(spec: parts.ProcessSpec, chain_dir: Path) -> parts.ProcessSpec:
    """`spec`'s anvil run through `gateway.anvil_launch`: each start loads the newest whole dump and mines by itself.

    supervisord restarts a program with the command line it was given; the launcher picks the chain when it runs.
    """
    launcher = [sys.executable, "-m", "gateway.anvil_launch", "--chain-dir", str(chain_dir)]
    argv = [*launcher, "--block-seconds", str(BLOCK_SECONDS), "--", *spec.argv]
    return replace(spec, argv=argv, cwd=parts.REPO_ROOT)


def _psql(pg: parts.PostgresPlan, sql: str) -> str:
    psql = str(parts.postgres_bin_dir() / "psql")
    argv = [psql, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", pg.database, "-tAc", sql]
    return parts.run_checked(argv).strip()


def settlement_transactions(pg: parts.PostgresPlan) -> int:
    """How many transactions settlement has recorded (signed, sent or mined) on the chain it knew; 0 if none."""
    exists = "SELECT count(*) FROM pg_tables WHERE schemaname = 'settlement' AND tablename = 'chain_transactions'"
    if _psql(pg, exists) != "1":
        return 0
    return int(_psql(pg, "SELECT count(*) FROM settlement.chain_transactions"))


def prepare_database(pg: parts.PostgresPlan, *, fresh_chain: bool, chain_dir: Path) -> None:
    """The gateway's database; on a fresh chain, with what described the previous chain forgotten.

    The ledger's data stays either way (its invoices' addresses are CREATE2 math on the same planned factory).
    On a kept chain the watcher scans on from its cursor and settlement keeps its nonces: they describe this
    chain. On a fresh chain the watcher's cursor, headers and observations described the lost chain (they would
    stall the scan) and are forgotten, and settlement's nonces are reset to the fresh chain's counts; but if
    settlement has transactions on the lost chain (sweeps, moves, payouts: nonces the fresh chain never saw, a
    treasury balance it does not hold), nothing can make them agree, and `up` refuses with what to do.
    """
    parts.create_database(pg)
    if not fresh_chain:
        return
    sent = settlement_transactions(pg)
    if sent:
        state = chain_dir.parent
        raise UpError(
            f"no whole saved chain in {chain_dir} (missing or unreadable: an `up` from before chains were kept, or "
            f"the files were removed), but the database records {sent} settlement transactions on it: their nonces "
            "and the treasury's balance cannot match a fresh chain. Put back the saved chain, or start over with "
            f"no data: `rm -rf {state}` (as the user that runs `up`) and run `up` again"
        )
    forget = (
        "DO $$ BEGIN IF to_regclass('watcher.cursors') IS NOT NULL THEN "
        "TRUNCATE watcher.cursors, watcher.headers, watcher.observations; END IF; "
        "IF to_regclass('settlement.nonces') IS NOT NULL THEN "
        "UPDATE settlement.nonces SET next_nonce = 0, chain_latest = NULL, chain_pending = NULL, recovered_at = NULL; "
        "END IF; END $$"
    )
    _psql(pg, forget)


class UpError(RuntimeError):
    """The local gateway could not start; the message says what to do."""


def replica_name(service: str, k: int) -> str:
    """The program name of replica `k` (1, 2, …) of a service: the service's name for the first, then `ledger-2`."""
    return service if k == 1 else f"{service}-{k}"


def replica_port_names(service: str) -> tuple[str, ...]:
    """The names in `DEFAULT_PORTS` of one service's ports: gRPC, metrics and (checkout, dashboard) its page."""
    return (service, f"{service}_metrics", *((PAGE_PORTS[service],) if service in PAGE_PORTS else ()))


def replica_ports(service: str, k: int, ports: Mapping[str, int]) -> dict[str, int]:
    """Replica `k`'s ports by their first replica's names (`ledger`, `ledger_metrics`, `checkout_http`)."""
    return {
        name: ports[name if k == 1 else f"{replica_name(service, k)}:{name}"] for name in replica_port_names(service)
    }


def check_replicas(replicas: int) -> int:
    """`replicas` when it is 1..MAX_REPLICAS (gateway/up_options.py); else an `UpError` saying so."""
    try:
        return parse_replicas(str(replicas))
    except ReplicasError as exc:
        raise UpError(f"--replicas: {exc}") from None


def assign_ports(base_port: int | None, replicas: int = 1) -> dict[str, int]:
    """The port of every process: the well-known defaults, or consecutive ports from `base_port`.

    With `replicas` above 1, each replica k (2, …) of `REPLICATED_SERVICES` gets its own ports, named
    `<service>-<k>:<port name>` (`ledger-2:ledger`, `ledger-2:ledger_metrics`): the defaults plus
    `REPLICA_PORT_STEP` * (k - 1), or the next ones of the block after `DEFAULT_PORTS`'. A block that would overlap
    the kernel's ephemeral port range is refused (see `DEFAULT_PORTS`).
    """
    check_replicas(replicas)
    extra = [
        (f"{replica_name(service, k)}:{name}", DEFAULT_PORTS[name] + REPLICA_PORT_STEP * (k - 1))
        for k in range(2, replicas + 1)
        for service in REPLICATED_SERVICES
        for name in replica_port_names(service)
    ]
    if base_port is None:
        return {**DEFAULT_PORTS, **dict(extra)}
    names = [*DEFAULT_PORTS, *(name for name, _ in extra)]
    if not 1024 <= base_port <= 65535 - len(names):
        raise UpError(f"--base-port {base_port} is out of range: pick 1024..{65535 - len(names)}")
    low, high = parts.ephemeral_port_range()
    last = base_port + len(names) - 1
    if base_port <= high and last >= low:
        raise UpError(
            f"--base-port {base_port} puts ports {base_port}..{last} inside the kernel's ephemeral range {low}..{high} "
            "(/proc/sys/net/ipv4/ip_local_port_range), where a client's own source port can take a service's port "
            f"before it binds: pick a base from 1024 to {low - len(names)}"
        )
    return {name: base_port + i for i, name in enumerate(names)}


def replica_count(ports: Mapping[str, int]) -> int:
    """How many replicas of each replicated service `ports` (from `assign_ports`) has."""
    return 1 + sum(1 for name in ports if name.startswith("ledger-") and name.endswith(":ledger"))


def ledger_target(ports: Mapping[str, int]) -> str:
    """The ledger's gRPC target for its clients: `127.0.0.1:<port>`, or every replica's, comma-separated."""
    return ",".join(
        f"127.0.0.1:{replica_ports('ledger', k, ports)['ledger']}" for k in range(1, replica_count(ports) + 1)
    )


@dataclass(frozen=True)
class DevKey:
    """A key `up` made in its SoftHSM token."""

    key_id: str
    label: str
    purpose: str
    address: str


@dataclass(frozen=True)
class DemoMerchant:
    """The merchant `up` onboards once through the admin API, its key, and the admin key that made them."""

    admin_key: str = field(repr=False)
    merchant_id: str
    api_key: str = field(repr=False)


def dashboard_mail_note(environ: Mapping[str, str], state: Path) -> str:
    """Where the dashboard's emails go under `up`, for the banner: the rule `_dashboard_env` and the dashboard apply.

    A mail folder wins (the dashboard writes there even with SMTP set); else an SMTP host in up's environment gets
    them; else `up` points the dashboard at `<state>/mail/`.
    """
    if folder := environ.get("STABLEGATE_DASHBOARD_MAIL_DIR"):
        return f"emails are written to {folder}/*.eml, not sent"
    if host := environ.get("STABLEGATE_DASHBOARD_SMTP_HOST"):
        port = environ.get("STABLEGATE_DASHBOARD_SMTP_PORT") or "25"
        return f"emails are sent through SMTP at {host}:{port}"
    return f"sign-up emails land in {state / 'mail'}/*.eml"


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only (0600 from creation, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def rest_call(url: str, key: str, body: object = None, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """One JSON call to the local edge with a bearer key; (status, body), HTTP errors as their status."""
    request = urllib.request.Request(  # noqa: S310 - loopback URLs of our own Envoy
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the Request above (loopback, our Envoy)  # nosec B310
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"message": raw.decode(errors="replace")}
    return status, parsed if isinstance(parsed, dict) else {"value": parsed}


TRANSIENT_RETRY_SECONDS = 30.0
"""How long `up` asks the admin API again while it answers 503 right after readiness (`rest_call_retrying`)."""


def rest_call_retrying(
    url: str, key: str, body: object = None, *, within: float = TRANSIENT_RETRY_SECONDS, pause: float = 0.5
) -> tuple[int, dict[str, object]]:
    """`rest_call`, made again while the answer is transient, for up to `within` seconds; the last answer.

    Transient: 503 (Envoy's own when an upstream is not reachable yet, or a service's gRPC UNAVAILABLE) and a
    connection that fails. Right after every part answers its readiness probe, the admin API's route may still
    answer so for a moment. Any other answer is returned at once; a connection still failing at the end is an
    `UpError`.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            status, answer = rest_call(url, key, body)
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise UpError(f"{url.split('?', maxsplit=1)[0]} did not answer: {exc}") from exc
        else:
            if status != 503 or time.monotonic() >= deadline:
                return status, answer
        time.sleep(pause)


def curl_create_invoice(edge_url: str, api_key: str) -> str:
    """The copy-pasteable curl line that creates an invoice through Envoy (docs/api.md, "Invoices, step by step")."""
    return (
        f"curl -sS --fail-with-body {edge_url}/v1/invoices "
        f"-H {shlex.quote('Authorization: Bearer ' + api_key)} "
        "-H 'Content-Type: application/json' "
        f"-d {shlex.quote(DEMO_INVOICE_BODY)}"
    )


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


def leftover_programs(state: Path) -> list[psutil.Process]:
    """Processes a supervisord of this state dir started that still run (it was killed before it stopped them).

    supervisord puts `SUPERVISOR_SERVER_URL=unix://<state>/supervisor.sock` into each program's environment, and
    their children (Postgres backends) inherit it: that marks them as this state dir's, and nothing else. A
    server that rewrites its title over its environment (Redis does) is known by its executable and working
    directory instead: Redis and Postgres run in their data directories inside the state dir.
    """
    marker = f"unix://{state / 'supervisor.sock'}"
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid == os.getpid():
                continue
            if process.environ().get("SUPERVISOR_SERVER_URL") == marker or _runs_in_data_dir(process, state):
                found.append(process)
    return found


def _runs_in_data_dir(process: psutil.Process, state: Path) -> bool:
    """True for a Redis or Postgres server process working in this state dir's data directories."""
    cwd, name = Path(process.cwd()), process.name()  # the name run, not the exe (redis-server is a symlink)
    return (name == "redis-server" and cwd == state / "redis") or (
        name == "postgres" and cwd.is_relative_to(postgres_base_for(state))
    )


def stop_leftover_programs(state: Path, timeout: float = 20.0) -> int:
    """Stop what `leftover_programs` finds (SIGTERM, then SIGKILL after `timeout`); how many there were."""
    leftovers = leftover_programs(state)
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return len(leftovers)


def remove_stale_postmaster_pid(data_dir: Path) -> bool:
    """Remove `postmaster.pid` when no live Postgres serves `data_dir`; True when one was removed.

    Postgres clears a lock file whose pid is dead by itself, but refuses to start when that pid now belongs to
    another process (likely after a SIGKILL and a busy machine), so check what the pid is.
    """
    lock = data_dir / "postmaster.pid"
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        process = psutil.Process(pid)
        if Path(process.exe()).name == "postgres" and str(data_dir) in process.cmdline():
            return False
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return False  # a process we may not inspect: leave the lock to Postgres's own check
    lock.unlink(missing_ok=True)
    return True


class LocalGateway:
    """Everything `stablegate up` starts, and the loop that keeps it in the foreground."""

    def __init__(self, state_dir: Path, base_port: int | None, console: Console, replicas: int = 1) -> None:
        self.state = state_dir.resolve()
        self.base_port = base_port
        self.replicas = replicas
        """How many of each of `REPLICATED_SERVICES` run (`--replicas`)."""
        self.console = console
        self._supervisord: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] = {}
        self._stop_requested = False
        self._contracts: Plan = plan(ANVIL_FIRST_ACCOUNT, 0)
        self._deployment: Deployment | None = None
        self._keys: dict[str, DevKey] = {}
        self._pg_dsn = ""
        self._demo: DemoMerchant | None = None
        self._ready_seconds = 0.0
        self._chain = ChainKeeper(self.state)
        self._kept_chain: Path | None = None

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
            orphans = stop_leftover_programs(self.state)
            if orphans:
                self.console.print(f"stopped {orphans} processes a killed supervisord of a previous `up` left running")
            if remove_stale_postmaster_pid(postgres_base_for(self.state) / "pgdata"):
                self.console.print("removed the stale postmaster.pid of a Postgres that was killed")
            ports = assign_ports(self.base_port, self.replicas)
            taken = [f"{name} ({port})" for name, port in ports.items() if parts.port_is_open(port)]
            if taken:
                raise UpError(
                    f"ports already in use: {', '.join(taken)}. Stop what holds them (another `stablegate up`?) "
                    "or move every port with --base-port N."
                )
            self._ports = ports
            started = time.monotonic()
            programs = self._prepare(ports)
            self._start_supervisord(programs)
            self._wait_ready(programs)
            self._ready_seconds = time.monotonic() - started
            with self.console.status("the demo merchant and its key…"):
                self._demo = self._demo_merchant()
                self._dashboard_admin_key()
                moved = rewrap_legacy_secrets(self._kek_token, self._pg_dsn, self._webhook_key())
                if moved:
                    self.console.print(f"moved {moved} webhook endpoints' secrets under the ledger's KEK")
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
            pg_plan, pg_spec = parts.prepare_postgres(self._postgres_base(), ports["postgres"], durable=True)
            self._pg_dsn = pg_plan.dsn
            token = self._softhsm_token()
            self._keys = self._dev_keys(token)
            # The ledger's own KEK token beside the signer's: webhook secrets are envelope-encrypted under it.
            self._kek_token = ledger_kek_token(self.state, token)
            redis_spec = parts.prepare_redis(self.state, ports["redis"])
            # The chain of the previous run if a whole one was kept (then no deployment), else an empty one.
            self._kept_chain = self._chain.keep() if (self.state / "chain.json").exists() else None
            self._chain.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self._kept_chain is None:
                self._chain.set_aside()  # anvil_launch must not load a chain `up` does not keep
            anvil_spec = supervised_anvil(
                parts.prepare_anvil(ports["anvil"], dump_state=self._chain.dump, dump_interval=CHAIN_DUMP_SECONDS),
                self._chain.directory,
            )
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
            Program(
                pg_spec,
                pg_plan.dsn,
                pg_spec.ready,
                stop_signal="INT",
                on_ready=lambda: prepare_database(
                    pg_plan, fresh_chain=self._kept_chain is None, chain_dir=self._chain.directory
                ),
            ),
            Program(redis_spec, f"redis://127.0.0.1:{ports['redis']}/0", redis_spec.ready),
            Program(
                anvil_spec,
                f"http://127.0.0.1:{ports['anvil']} (chain id 97)",
                anvil_spec.ready,
                on_ready=lambda: self._chain_ready(f"http://127.0.0.1:{ports['anvil']}"),
            ),
            Program(
                envoy_spec,
                f"http://127.0.0.1:{ports['envoy']} (REST; admin API :{ports['envoy_admin_api']}, "
                f"Envoy admin :{ports['envoy_admin']})",
                envoy_spec.ready,
            ),
        ]
        env = self._service_env(ports, pg_plan, token, mesh) | ledger_kek_env(self._kek_token)
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
            if name in ("signer", "ledger"):
                own.update(token.env)  # one SoftHSM token directory; each opens only its own token
            address = f"127.0.0.1:{port} (gRPC), :{metrics}/metrics"
            # supervisord loses a stop signal sent in the instant after it spawns a program (the group does not
            # exist yet), so keep its wait short: the drain timeout and a margin.
            programs.append(Program(spec, address, spec.ready, env=own, stop_wait_seconds=LOCAL_DRAIN_TIMEOUT + 5))
            if name in REPLICATED_SERVICES:
                programs += [self._replica(name, k, ports, own, probe) for k in range(2, self.replicas + 1)]
        return programs

    def _replica(self, service: str, k: int, ports: dict[str, int], env: dict[str, str], probe: MeshFiles) -> Program:
        """Replica `k` (2, …) of a service: the first one's program with its own ports (`replica_ports`)."""
        name = replica_name(service, k)
        own = replica_ports(service, k, ports)
        prefix = f"STABLEGATE_{service.upper()}_"
        env = {**env, prefix + "GRPC_PORT": str(own[service]), prefix + "METRICS_PORT": str(own[f"{service}_metrics"])}
        if service in PAGE_PORTS:
            env[prefix + "HTTP_PORT"] = str(own[PAGE_PORTS[service]])
        port = own[service]
        spec = parts.ProcessSpec(
            name=name,
            argv=[sys.executable, "-m", service],
            ready=lambda: parts.grpc_serving(port, probe),
            cwd=parts.REPO_ROOT,
        )
        address = f"127.0.0.1:{port} (gRPC), :{own[f'{service}_metrics']}/metrics"
        return Program(spec, address, spec.ready, env=env, stop_wait_seconds=LOCAL_DRAIN_TIMEOUT + 5)

    def _chain_ready(self, rpc_url: str) -> None:
        """On a fresh chain deploy the contracts; on a kept one check they are there; then a block a second."""
        if self._kept_chain is None:
            self._deploy_contracts(rpc_url)
        else:
            self._check_kept_chain(rpc_url)
        try:
            # From here on a block every second, transactions or not, as on a real chain: finality keeps moving
            # (the watcher credits payments, settlement's transactions become final) without anyone mining. A
            # loaded chain mines so from its start (anvil_launch); a fresh one mined a block per transaction.
            JsonRpc(rpc_url).request("evm_setIntervalMining", BLOCK_SECONDS)
            head = int(JsonRpc(rpc_url).request("eth_blockNumber"), 16)
        except (RpcError, RpcUnavailable, ValueError) as exc:
            raise UpError(f"switching anvil to a block every {BLOCK_SECONDS} s failed: {exc}") from exc
        if self._kept_chain is None:
            self._keep_first_dump(head)

    def _keep_first_dump(self, deployed_at: int) -> None:
        """Wait for anvil's first dump holding the deployment and keep it: a restart of anvil from now on loads it.

        Without it, an anvil killed in the seconds after the deployment would come back empty (no dump to load).
        """
        deadline = time.monotonic() + FIRST_DUMP_TIMEOUT
        while (dump_height(self._chain.dump) or -1) < deployed_at:
            if time.monotonic() > deadline:
                raise UpError(
                    f"anvil wrote no whole dump of the deployed chain to {self._chain.dump} in "
                    f"{FIRST_DUMP_TIMEOUT:.0f} s; see {self.state / 'logs' / 'anvil.log'}"
                )
            time.sleep(0.2)
        self._chain.keep()

    def _check_kept_chain(self, rpc_url: str) -> None:
        """The kept chain holds the deployment `chain.json` names, at the planned addresses; no redeployment."""
        saved = json.loads((self.state / "chain.json").read_text())
        deployment = Deployment(**{**saved, "roles": Roles(**saved["roles"])})
        got = Plan(deployment.token, deployment.treasury, deployment.factory, deployment.forwarder_implementation)
        start_over = f"start over with no data: `rm -rf {self.state}` and run `up` again"
        if got != self._contracts:
            raise UpError(f"{self.state / 'chain.json'} names {got}, not the planned {self._contracts}; {start_over}")
        chain = Chain(JsonRpc(rpc_url))
        contracts = {
            "token": deployment.token,
            "treasury": deployment.treasury,
            "factory": deployment.factory,
            "cold Safe": deployment.roles.cold_safe,
        }
        try:
            missing = [f"{what} {address}" for what, address in contracts.items() if not chain.code(address)]
        except (ChainError, RpcError, RpcUnavailable) as exc:
            raise UpError(f"reading the kept chain from anvil failed: {exc}") from exc
        if missing:
            raise UpError(
                f"the chain kept in {self._chain.directory} has no code for the deployed {', '.join(missing)}: it is "
                f"not the chain {self.state / 'chain.json'} describes; {start_over}"
            )
        self._deployment = deployment

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
        (self.state / "chain.env").write_text(deployment.env_file_text())
        (self.state / "chain.json").write_text(json.dumps(deployment.as_json(), indent=2, sort_keys=True) + "\n")
        self._deployment = deployment

    def _postgres_base(self) -> Path:
        """The cluster's directory in the state dir, reachable by the user Postgres runs as (root: `postgres`)."""
        base = postgres_base_for(self.state)
        base.mkdir(mode=0o755, parents=True, exist_ok=True)
        if parts.running_as_root():
            moved = migrate_legacy_postgres(self.state, base)
            if moved is not None:
                self.console.print(f"moved the Postgres cluster of an older `up` from {moved} to {base}")
            grant_traverse(base, "postgres")
        return base

    def _demo_merchant(self) -> DemoMerchant:
        """The demo merchant and its API key: made once through the admin CLI and API, then kept in the state dir.

        Each step's result is saved (mode 0600) as soon as it exists, so an interrupted start resumes rather than
        making a second merchant. A saved key or merchant the gateway no longer knows (its database was removed) is
        made again.
        """
        path = self.state / DEMO_FILE
        saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        edge = f"http://127.0.0.1:{self._ports['envoy']}"
        admin = f"http://127.0.0.1:{self._ports['envoy_admin_api']}"
        if saved.get("api_key"):
            status, body = rest_call_retrying(f"{edge}/v1/invoices", saved["api_key"])
            if status == 200:
                return DemoMerchant(saved["admin_key"], saved["merchant_id"], saved["api_key"])
            if status != 401:
                raise UpError(f"checking the demo merchant's key failed ({status}): {body}")
            self.console.print(f"the demo merchant in {path} is not in this database any more; making a new one")
            saved = {}

        def save() -> None:
            write_private(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")

        if saved.get("admin_key") and rest_call_retrying(f"{admin}/admin/v1/merchants", saved["admin_key"])[0] == 401:
            saved = {}  # an interrupted start's admin key this database does not know
        if saved.get("merchant_id"):
            status, _ = rest_call_retrying(f"{admin}/admin/v1/merchants/{saved['merchant_id']}", saved["admin_key"])
            if status == 404:
                del saved["merchant_id"]
        if not saved.get("admin_key"):
            made = subprocess.run(
                [*ADMIN_KEY_COMMAND, "--name", "up-demo", "--database-url", self._pg_dsn],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            if made.returncode != 0:
                raise UpError(f"making the demo admin key failed: {made.stderr.strip()}")
            saved["admin_key"] = made.stdout.strip()
            save()
        if not saved.get("merchant_id"):
            status, merchant = rest_call_retrying(f"{admin}/admin/v1/merchants", saved["admin_key"], DEMO_MERCHANT)
            if status != 200:
                raise UpError(f"onboarding the demo merchant failed ({status}): {merchant}")
            saved["merchant_id"] = str(merchant["id"])
            save()
        status, key = rest_call_retrying(
            f"{admin}/admin/v1/merchants/{saved['merchant_id']}/api_keys",
            saved["admin_key"],
            {"scopes": list(DEMO_KEY_SCOPES), "name": "up-demo"},
        )
        if status != 200:
            raise UpError(f"issuing the demo merchant's key failed ({status}): {key}")
        saved["api_key"] = str(key["plaintext_key"])
        save()
        return DemoMerchant(saved["admin_key"], saved["merchant_id"], saved["api_key"])

    def _dashboard_admin_key(self) -> None:
        """The dashboard's admin key (role `dashboard`: the admin methods it calls): made once, kept in the state dir.

        Made again when the database no longer knows it, or when it is a full `admin` key an older `up` made.
        """
        path = self.state / DASHBOARD_ADMIN_KEY_FILE
        admin = f"http://127.0.0.1:{self._ports['envoy_admin_api']}"
        if path.exists():
            key = path.read_text().strip()
            status, body = rest_call_retrying(f"{admin}/admin/v1/merchants", key)
            # A full `admin` key an older `up` made reads stray funds too (200): replaced by a narrow one. The
            # `dashboard` role may not (403 ROLE_MISSING): kept.
            if status == 200 and rest_call_retrying(f"{admin}/admin/v1/stray_funds", key)[0] == 403:
                return
            if status not in (200, 401):  # else "unknown key": a new key would only leave another live admin key
                raise UpError(f"checking the dashboard's admin key failed ({status}): {body}")
        made = subprocess.run(
            [*ADMIN_KEY_COMMAND, "--name", "up-dashboard", "--role", "dashboard", "--database-url", self._pg_dsn],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if made.returncode != 0:
            raise UpError(f"making the dashboard's admin key failed: {made.stderr.strip()}")
        write_private(path, made.stdout.strip())

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
        return self._private_key("webhook-secret-key")

    def _private_key(self, name: str) -> str:
        """A dev sealing key (`dev-only-`, refused by prod) made once and kept in the state dir, mode 0600."""
        path = self.state / name
        if path.exists():
            return path.read_text().strip()
        key = new_dev_key()
        write_private(path, key)
        return key

    def _signer_state_path(self) -> Path:
        """The signer's state file (audit log, approvals): in `<state>/signer/`, mode 0700; the file is 0600.

        A state file an older `up` kept in the state dir itself moves there, with its WAL and shared memory.
        """
        directory = self.state / SIGNER_DIR
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
        path = directory / SIGNER_STATE_FILE
        for suffix in ("", "-wal", "-shm"):
            old = self.state / (SIGNER_STATE_FILE + suffix)
            if old.exists() and not (directory / old.name).exists():
                os.replace(old, directory / old.name)
                (directory / old.name).chmod(0o600)
        return path

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
        # Every ledger replica, balanced round-robin by each client (service_runtime.mesh.balanced_target).
        ledger = ledger_target(ports)
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
                "STABLEGATE_WATCHER_TOKEN_DECIMALS": "18",
                "STABLEGATE_WATCHER_FORWARDER_FACTORY": self._contracts.factory,
                # A fresh chain is scanned from its first block; on a kept one the watcher goes on from its cursor.
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
                "STABLEGATE_SIGNER_STATE_PATH": str(self._signer_state_path()),
                "STABLEGATE_SIGNER_POLICY_PATH": str(self._write_policy()),
                "STABLEGATE_EDGE_LEDGER_TARGET": ledger,
                "STABLEGATE_EDGE_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                "STABLEGATE_CHECKOUT_LEDGER_TARGET": ledger,
                "STABLEGATE_CHECKOUT_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                "STABLEGATE_CHECKOUT_HTTP_PORT": str(ports["checkout_http"]),
                # The ledger's checkout links point at the local Envoy, wherever --base-port moved it.
                "STABLEGATE_LEDGER_CHECKOUT_BASE_URL": f"http://127.0.0.1:{ports['envoy']}/checkout/",
                "STABLEGATE_DASHBOARD_DATABASE_URL": pg.dsn,
                "STABLEGATE_DASHBOARD_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
                "STABLEGATE_DASHBOARD_LEDGER_TARGET": ledger,
                # The admin health and reconciliation pages read these (docs/dashboard.md).
                "STABLEGATE_DASHBOARD_WATCHER_TARGET": f"127.0.0.1:{ports['watcher']}",
                "STABLEGATE_DASHBOARD_SETTLEMENT_TARGET": f"127.0.0.1:{ports['settlement']}",
                # The approvals queue and the signer's audit viewer relay to the signer (docs/dashboard.md).
                "STABLEGATE_DASHBOARD_SIGNER_TARGET": f"127.0.0.1:{ports['signer']}",
                "STABLEGATE_DASHBOARD_HTTP_PORT": str(ports["dashboard_http"]),
                "STABLEGATE_DASHBOARD_PUBLIC_URL": f"http://127.0.0.1:{ports['envoy']}",
                "STABLEGATE_DASHBOARD_SECRET_KEY": self._private_key("dashboard-secret-key"),
                # Written once the ledger is up (`_dashboard_admin_key`); the dashboard reads it when it needs it.
                "STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY_PATH": str(self.state / DASHBOARD_ADMIN_KEY_FILE),
            }
        )
        if not os.environ.get("STABLEGATE_DASHBOARD_SMTP_HOST"):
            # No SMTP server given: verification emails are written to <state>/mail/ as .eml files. With
            # STABLEGATE_DASHBOARD_SMTP_HOST (and _SMTP_PORT) in up's environment, the dashboard sends them there.
            env["STABLEGATE_DASHBOARD_MAIL_DIR"] = str(self.state / "mail")
        return env

    # -- running -----------------------------------------------------------------------------------------

    def _start_supervisord(self, programs: list[Program]) -> None:

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
        self.console.print(f"healthy in {self._ready_seconds:.0f} s", highlight=False)
        if self._demo is not None:
            self._print_demo(self._demo)
        self.console.print("gateway is up; press Ctrl-C to stop everything", highlight=False)

    def _print_demo(self, demo: DemoMerchant) -> None:
        """The edge and admin URLs, the demo keys (to the terminal only) and the curl line that makes an invoice."""
        edge = f"http://127.0.0.1:{self._ports['envoy']}"
        pay = "stablegate demo pay <invoice-id>"
        if self._ports["postgres"] != DEFAULT_PORTS["postgres"] or self._ports["anvil"] != DEFAULT_PORTS["anvil"]:
            pay += f" --database-url {self._pg_dsn} --rpc-url http://127.0.0.1:{self._ports['anvil']}"
        lines = [
            f"edge (REST):   {edge}",
            f"admin API:     http://127.0.0.1:{self._ports['envoy_admin_api']}   admin key: {demo.admin_key}",
            f"demo merchant: {demo.merchant_id}   API key: {demo.api_key}",
            f"               (kept in {self.state / DEMO_FILE}, mode 0600)",
            f"dashboard:     {edge}/dashboard/   ({dashboard_mail_note(os.environ, self.state)})",
            "create an invoice:",
            f"  {curl_create_invoice(edge, demo.api_key)}",
            f"then pay it on the local chain: .venv/bin/{pay}",
        ]
        for line in lines:
            # soft_wrap: the curl line stays one line, whatever the terminal's width, so it pastes as it is.
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def _wait_for_stop(self) -> int:
        assert self._supervisord is not None
        kept_at = time.monotonic()
        while not self._stop_requested and self._supervisord.poll() is None:
            time.sleep(0.2)
            if time.monotonic() - kept_at >= CHAIN_KEEP_SECONDS:
                self._chain.keep()
                kept_at = time.monotonic()
        if not self._stop_requested:
            raise UpError(f"supervisord exited; see {self.state / 'logs' / 'supervisord.log'}")
        self._stop()
        self.console.print("stopped")
        return 0

    def _stop(self) -> None:
        proc = self._supervisord
        if proc is None:
            return
        if proc.poll() is not None:
            self._chain.keep()
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
        # anvil dumped its chain as it stopped: keep that last one.
        self._chain.keep()
