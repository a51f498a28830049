"""`stablegate`, the one CLI for operators: run services, check their config, bring the gateway up locally."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rich.console import Console

from gateway.backup import add_backup_commands
from gateway.demo import add_demo_commands
from gateway.up_options import MAX_REPLICAS, REPLICAS_VAR, ReplicasError, parse_replicas
from service_runtime.config import EXIT_CONFIG, ServiceSettings, settings_or_exit
from service_runtime.server import ServiceDefinition


@dataclass(frozen=True)
class ServiceEntry:
    """Where a service's settings class and definition function live (imported on demand)."""

    settings: str
    definition: str

    def load(self) -> tuple[type[ServiceSettings], Callable[[Any], ServiceDefinition]]:
        """Import the settings class and the definition function."""
        return cast(type[ServiceSettings], _import(self.settings)), cast(
            Callable[[Any], ServiceDefinition], _import(self.definition)
        )


def _import(path: str) -> object:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


SERVICES: dict[str, ServiceEntry] = {
    "ledger": ServiceEntry("ledger.config:LedgerSettings", "ledger.app:definition"),
    "watcher": ServiceEntry("watcher.config:WatcherSettings", "watcher.app:definition"),
    "settlement": ServiceEntry("settlement.config:SettlementSettings", "settlement.app:definition"),
    "signer": ServiceEntry("signer.config:SignerSettings", "signer.app:definition"),
    "edge": ServiceEntry("edge.config:EdgeSettings", "edge.app:definition"),
    "checkout": ServiceEntry("checkout.config:CheckoutSettings", "checkout.app:definition"),
    "dashboard": ServiceEntry("dashboard.config:DashboardSettings", "dashboard.app:definition"),
}


def _settings_or_exit(name: str) -> tuple[ServiceSettings, Callable[[Any], ServiceDefinition]]:
    settings_cls, definition = SERVICES[name].load()
    return settings_or_exit(settings_cls), definition


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in the foreground until SIGTERM."""
    from service_runtime.server import run  # noqa: PLC0415 - keeps `--help` fast

    settings, definition = _settings_or_exit(args.service)
    run(settings, definition(settings))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate a service's configuration from the environment and print it with secrets masked."""
    settings, _ = _settings_or_exit(args.service)
    print(json.dumps(settings.redacted(), indent=2, sort_keys=True))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a configuration and what it points at; print PASS/WARN/FAIL with the next step; 1 on any FAIL."""
    from gateway.doctor import Doctor, Status, load_env_file, render  # noqa: PLC0415

    for path in args.env_file:
        if not path.is_file():
            print(f"error: --env-file {path} does not exist", file=sys.stderr)
            return EXIT_CONFIG
        os.environ.update(load_env_file(path))
    checks = Doctor(os.environ, head_max_age=args.head_max_age, timeout=args.timeout).run()
    render(checks, Console(width=max(Console().width, 200)).print)
    failed = [c for c in checks if c.status is Status.FAIL]
    print(f"{len(failed)} FAIL, {sum(c.status is Status.WARN for c in checks)} WARN, {len(checks)} checks")
    return 1 if failed else 0


def cmd_up(args: argparse.Namespace) -> int:
    """Bring the whole gateway up locally under supervisord; Ctrl-C stops it."""
    from chain.networks import NETWORK_VAR, NETWORK_VARS  # noqa: PLC0415
    from gateway.localrun import LocalGateway  # noqa: PLC0415

    network = os.environ.get(NETWORK_VAR, "").strip()
    if network not in ("", "local"):
        print(
            f"error: `up` runs the local chain (anvil, chain id 97) with a test token and a SoftHSM token; "
            f"{NETWORK_VAR}={network} names a real network, which `up` does not run. Unset {NETWORK_VAR} for the "
            "local gateway; to run against a real network, configure each service (docs/chain.md, 'Networks') and "
            "check it with `stablegate doctor`.",
            file=sys.stderr,
        )
        return 2
    # `up` sets every service's chain settings itself (its anvil, its planned token): a network variable left in
    # the shell would contradict them in every service it starts.
    for var in NETWORK_VARS:
        os.environ.pop(var, None)
    gateway = LocalGateway(
        state_dir=args.state_dir, base_port=args.base_port, console=Console(), replicas=args.replicas
    )
    return gateway.run()


# Services that own a Postgres schema, and where their migrations live (applied in this order).
MIGRATIONS: dict[str, Path] = {
    "ledger": Path(__file__).resolve().parent.parent / "ledger" / "store" / "migrations",
    "watcher": Path(__file__).resolve().parent.parent / "watcher" / "store" / "migrations",
    "settlement": Path(__file__).resolve().parent.parent / "settlement" / "store" / "migrations",
    "dashboard": Path(__file__).resolve().parent.parent / "dashboard" / "store" / "migrations",
}


def cmd_db_roles(args: argparse.Namespace) -> int:
    """Make (or bring up to date) one role per schema owner (gateway/db_roles.py)."""
    import asyncio  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    from gateway.db_roles import SCHEMA_OWNERS, provision_roles  # noqa: PLC0415

    url: str | None = args.database_url
    if url is None:
        settings, _ = _settings_or_exit("ledger")
        url = str(getattr(settings, "database_url"))  # noqa: B009 - ledger settings carry the URL

    async def run() -> int:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"error: cannot connect to the database: {type(exc).__name__}", file=sys.stderr)
            return 1
        try:
            await provision_roles(conn)
        except asyncpg.PostgresError as exc:
            print(f"error: setting the roles up failed: {exc}", file=sys.stderr)
            return 1
        finally:
            await conn.close()
        print(f"roles with their own schema: {', '.join(SCHEMA_OWNERS)}")
        return 0

    return asyncio.run(run())


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """Apply every service's pending migrations to the database."""
    import asyncio  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    from service_runtime.migrations import MigrationError, discover, migrate  # noqa: PLC0415

    url: str | None = args.database_url
    if url is None:
        settings, _ = _settings_or_exit("ledger")
        url = str(getattr(settings, "database_url"))  # noqa: B009 - ledger settings carry the URL

    async def run() -> int:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            print(
                f"error: cannot connect to the database: {exc}. Is Postgres up (./dev up)? "
                "Check --database-url or STABLEGATE_LEDGER_DATABASE_URL.",
                file=sys.stderr,
            )
            return 1
        try:
            for service, directory in MIGRATIONS.items():
                new = await migrate(conn, service, discover(service, directory))
                names = ", ".join(m.name for m in new) or "nothing new"
                print(f"{service}: {names}")
        except MigrationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            await conn.close()
        return 0

    return asyncio.run(run())


def cmd_admin_keys_create(args: argparse.Namespace) -> int:
    """Create an admin key (ak_…) and print it once; only its hash is stored."""
    import asyncio  # noqa: PLC0415
    import datetime as dt  # noqa: PLC0415
    import getpass  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    from ledger.domain.audit import AuditEvent  # noqa: PLC0415
    from ledger.domain.credentials import ADMIN_ROLES, new_admin_key, parse_ip_ranges  # noqa: PLC0415
    from ledger.domain.ids import new_id  # noqa: PLC0415
    from ledger.store.audit import append as append_audit  # noqa: PLC0415
    from ledger.store.credentials import insert_admin_key  # noqa: PLC0415
    from service_runtime.errors import InvalidArgument  # noqa: PLC0415

    roles = sorted(set(args.role or ["admin"]))
    unknown = sorted(set(roles) - ADMIN_ROLES)
    if unknown:
        print(f"error: unknown role {', '.join(unknown)}; known: {', '.join(sorted(ADMIN_ROLES))}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        networks = parse_ip_ranges(list(args.allow_ip or []), field="--allow-ip")
    except InvalidArgument as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    url: str | None = args.database_url
    if url is None:
        settings, _ = _settings_or_exit("ledger")
        url = str(getattr(settings, "database_url"))  # noqa: B009

    async def run() -> int:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"error: cannot connect to the database: {exc}. Is Postgres up (./dev up)?", file=sys.stderr)
            return 1
        try:
            issued = new_admin_key()
            key_id = new_id("adm")
            async with conn.transaction():
                await insert_admin_key(
                    conn,
                    key_id=key_id,
                    prefix=issued.prefix,
                    secret_hash=issued.secret_hash,
                    roles=roles,
                    name=args.name,
                    allowed_ip_ranges=networks,
                )
                event = AuditEvent(
                    id=new_id("aud"),
                    sequence=0,
                    actor=f"cli:{getpass.getuser()}",
                    action="admin_key.create",
                    subject=f"admin_keys/{key_id}",
                    event_time=dt.datetime.now(dt.UTC),
                    details={
                        "name": args.name,
                        "roles": ",".join(roles),
                        "prefix": issued.prefix,
                        "allowedIpRanges": ",".join(str(n) for n in networks),
                    },
                )
                await append_audit(conn, event)
        except asyncpg.UndefinedTableError:
            print("error: the ledger schema is missing: run `stablegate db migrate` first", file=sys.stderr)
            return 1
        finally:
            await conn.close()
        print(issued.plaintext)
        print(f"admin key {key_id} ({', '.join(roles)}) created; the key above is shown only once", file=sys.stderr)
        return 0

    return asyncio.run(run())


def cmd_mesh_certs(args: argparse.Namespace) -> int:
    """Make a dev mesh CA and one certificate per role; print the TLS variables of each service."""
    from service_runtime.devcerts import DevMesh  # noqa: PLC0415

    mesh = DevMesh(args.dir.resolve(), trust_domain=args.trust_domain)
    for service in SERVICES:
        for key, value in sorted(mesh.files(service).env(service).items()):
            print(f"{key}={value}")
    print(
        f"mesh CA and certificates for {', '.join(sorted(mesh.roles))} written to {args.dir} "
        "(development only: the prod profile refuses this CA)",
        file=sys.stderr,
    )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Compare on-chain balances with the ledger once (gateway/reconcile_cli.py); exit 1 on a difference."""
    from gateway.reconcile_cli import cmd_reconcile as run  # noqa: PLC0415 - keeps `--help` fast

    return run(args)


def cmd_gas_top_up(args: argparse.Namespace) -> int:
    """Book a final BNB top-up of a signing key (gateway/gas_cli.py)."""
    from gateway.gas_cli import cmd_gas_top_up as run  # noqa: PLC0415 - keeps `--help` fast

    return run(args)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the settlement or fee report as CSV (gateway/report_cli.py)."""
    from gateway.report_cli import cmd_report as run  # noqa: PLC0415 - keeps `--help` fast

    url: str | None = args.database_url
    if url is None:
        settings, _ = _settings_or_exit("ledger")
        url = str(getattr(settings, "database_url"))  # noqa: B009 - ledger settings carry the URL
    return run(args, url)


def cmd_payouts_run_schedules(args: argparse.Namespace) -> int:
    """Run the payout scheduler once (gateway/schedules_cli.py)."""
    from gateway.schedules_cli import cmd_run_schedules as run  # noqa: PLC0415 - keeps `--help` fast

    settings, _ = _settings_or_exit("ledger")
    url: str = args.database_url or str(getattr(settings, "database_url"))  # noqa: B009 - ledger settings carry it
    return run(args, cast(Any, settings), url)


def cmd_ledger_kek(args: argparse.Namespace) -> int:
    """Manage the webhook KEK in the ledger's token (gateway/kek_cli.py)."""
    from gateway.kek_cli import cmd_kek as run  # noqa: PLC0415 - keeps `--help` fast

    settings, _ = _settings_or_exit("ledger")
    return run(args, cast(Any, settings))


LOCAL_RPC_URL = "http://127.0.0.1:8545"


def cmd_chain_deploy(args: argparse.Namespace) -> int:
    """Deploy the treasury and forwarder factory (and a test token) and write the ledger's chain variables."""
    from chain.contracts import Chain, ChainError  # noqa: PLC0415
    from chain.deploy import Roles, deploy  # noqa: PLC0415
    from chain.rpc import JsonRpc, RpcError, RpcUnavailable  # noqa: PLC0415

    console = Console(stderr=True)

    def fail(message: str) -> int:
        console.print(f"[bold red]error:[/] {message}", highlight=False)
        return 1

    chain = Chain(JsonRpc(args.rpc_url))
    try:
        chain_id = chain.chain_id()
        accounts = chain.accounts()
    except RpcUnavailable as exc:
        return fail(f"{exc}. Is the node up (`./dev up` runs anvil on {LOCAL_RPC_URL})? Check --rpc-url.")
    except RpcError as exc:
        return fail(f"the node at {args.rpc_url} refused {exc.method}: {exc.message}")
    deployer = args.deployer or (accounts[0] if accounts else None)
    if deployer is None or deployer.lower() not in {a.lower() for a in accounts}:
        return fail(
            f"the node at {args.rpc_url} (chain {chain_id}) has no unlocked account"
            + (f" {deployer}" if deployer else "")
            + " to sign with. This command deploys with a node's dev accounts (anvil); deploying to a public "
            "chain needs a real signer, which arrives with the signer issue (docs/chain.md)."
        )

    def pick(value: str | None, index: int, what: str) -> str:
        if value:
            return str(value)
        fallback = accounts[index] if index < len(accounts) else deployer
        console.print(f"  {what}: the node's dev account {fallback} (pass --{what.replace(' ', '-')} to choose)")
        return fallback

    roles = Roles(
        admin=pick(args.admin, 0, "admin"),
        sweeper=pick(args.sweeper, 0, "sweeper"),
        hot=pick(args.hot, 0, "hot"),
        cold_safe=pick(args.cold_safe, 1, "cold safe"),
        quarantine=pick(args.quarantine, 2, "quarantine"),
    )
    try:
        with console.status(f"deploying to chain {chain_id} at {args.rpc_url} from {deployer}…") as status:

            def progress(message: str) -> None:
                status.update(message + "…")
                console.print(f"  {message}", highlight=False)

            deployment = deploy(chain, deployer, roles, token=args.token, progress=progress)
    except (ChainError, RpcError, RpcUnavailable) as exc:
        return fail(f"deployment failed: {exc}")
    env_file: Path = args.env_file
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(deployment.env_file_text())
    env_file.with_suffix(".json").write_text(json.dumps(deployment.as_json(), indent=2, sort_keys=True) + "\n")
    console.print(
        f"[green]deployed[/] token {deployment.token} ({deployment.token_decimals} decimals"
        + (", test token" if deployment.test_token else "")
        + f"), treasury {deployment.treasury}, factory {deployment.factory}",
        highlight=False,
    )
    console.print(f"init-code hash {deployment.init_code_hash}", highlight=False)
    console.print(
        f"wrote {env_file} (load it with: set -a; . {env_file}; set +a) and {env_file.with_suffix('.json')}",
        highlight=False,
    )
    return 0


def _signer_pin(args: argparse.Namespace) -> str | None:
    """The token PIN from --pin-file or STABLEGATE_SIGNER_PIN (never from the command line, never printed)."""
    if args.pin_file is not None:
        return str(args.pin_file.read_text().strip())
    return os.environ.get("STABLEGATE_SIGNER_PIN") or None


def _signer_session(args: argparse.Namespace) -> Any:
    """A PKCS#11 session on the signer's token, for the key ceremony (this process only)."""
    from signer.config import SOFTHSM_MODULE  # noqa: PLC0415
    from signer.keystore.pkcs11_session import HsmConfig, Pkcs11Session  # noqa: PLC0415

    pin = _signer_pin(args)
    if pin is None:
        raise SystemExit("error: no PIN: give --pin-file or set STABLEGATE_SIGNER_PIN")
    module = args.module or Path(os.environ.get("STABLEGATE_SIGNER_PKCS11_MODULE", str(SOFTHSM_MODULE)))
    token = args.token_label or os.environ.get("STABLEGATE_SIGNER_TOKEN_LABEL", "stablegate-dev")
    return Pkcs11Session(HsmConfig(module, token, pin))


def cmd_signer_keys_create(args: argparse.Namespace) -> int:
    """The key ceremony: generate a key pair inside the HSM and print its id, purpose and address."""
    from service_runtime.errors import DomainError  # noqa: PLC0415
    from signer.domain.purpose import KeyPurpose  # noqa: PLC0415

    try:
        session = _signer_session(args)
        try:
            key = session.create_key(KeyPurpose(args.purpose), args.label)
        finally:
            session.close()
    except (DomainError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(json.dumps({"key_id": key.key_id, "label": key.label, "purpose": key.purpose, "address": key.address}))
    return 0


def cmd_signer_keys_list(args: argparse.Namespace) -> int:
    """List the signer's keys on the token: id, label, purpose, address (one JSON object a line)."""
    from service_runtime.errors import DomainError  # noqa: PLC0415

    try:
        session = _signer_session(args)
        try:
            keys = session.list_keys()
        finally:
            session.close()
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    for key in keys:
        print(json.dumps({"key_id": key.key_id, "label": key.label, "purpose": key.purpose, "address": key.address}))
    return 0


def cmd_signer_audit_verify(args: argparse.Namespace) -> int:
    """Check the signer's hash-chained audit log; name the first bad record."""
    from signer.store.state import verify_path  # noqa: PLC0415

    path: Path = args.state
    if not path.exists():
        print(f"error: no state file at {path}", file=sys.stderr)
        return 1
    verdict = verify_path(path)
    if verdict.ok:
        print(f"audit log intact: {verdict.records} records")
        return 0
    print(f"audit log BROKEN at record {verdict.bad_sequence}: {verdict.problem}", file=sys.stderr)
    return 2


def _add_signer_commands(sub: Any) -> None:

    from signer.domain.purpose import KeyPurpose  # noqa: PLC0415

    signer = sub.add_parser("signer", help="the signing enclave: key ceremony, audit checks")
    signer_sub = signer.add_subparsers(dest="signer_command", required=True, metavar="ACTION")
    keys = signer_sub.add_parser("keys", help="keys in the HSM")
    keys_sub = keys.add_subparsers(dest="signer_keys_command", required=True, metavar="ACTION")
    hsm_args = argparse.ArgumentParser(add_help=False)
    hsm_args.add_argument("--module", type=Path, default=None, help="PKCS#11 library (default: config, SoftHSM)")
    hsm_args.add_argument("--token-label", default=None, help="token label (default: STABLEGATE_SIGNER_TOKEN_LABEL)")
    hsm_args.add_argument("--pin-file", type=Path, default=None, help="file holding the user PIN (else env)")
    create = keys_sub.add_parser("create", parents=[hsm_args], help="generate a key pair inside the HSM")
    create.add_argument("--purpose", required=True, choices=[p.value for p in KeyPurpose])
    create.add_argument("--label", required=True, help="a unique human label, e.g. hot-1")
    create.set_defaults(func=cmd_signer_keys_create)
    listing = keys_sub.add_parser("list", parents=[hsm_args], help="list keys with purpose and address")
    listing.set_defaults(func=cmd_signer_keys_list)
    audit = signer_sub.add_parser("audit", help="the signer's audit log")
    audit_sub = audit.add_subparsers(dest="signer_audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="check the hash chain; name the first bad record")
    verify.add_argument(
        "--state",
        type=Path,
        default=Path(os.environ.get("STABLEGATE_SIGNER_STATE_PATH", "signer-state.sqlite3")),
        help="the signer's SQLite state file (default: STABLEGATE_SIGNER_STATE_PATH)",
    )
    verify.set_defaults(func=cmd_signer_audit_verify)


def _add_settlement_commands(sub: Any) -> None:
    """`stablegate reconcile`, `stablegate report` and `stablegate gas top-up`."""
    reconcile = sub.add_parser(
        "reconcile",
        help="compare on-chain balances with the ledger at the newest finalized block (settlement's settings); "
        "exit 1 on a difference, 2 when the run failed",
    )
    reconcile.add_argument("--json", action="store_true", help="print the report as JSON")
    reconcile.add_argument("--block", type=int, default=None, help="a finalized block (default: the newest)")
    reconcile.add_argument(
        "--request-id", default=None, help="idempotency key: the same key returns the first run's report"
    )
    reconcile.set_defaults(func=cmd_reconcile)

    report = sub.add_parser(
        "report", help="settlement and fee reports per UTC day and merchant, or a merchant's monthly statement, as CSV"
    )
    report.add_argument("report", choices=("settlement", "fees", "statement"), help="which report")
    report.add_argument("--month", default=None, help="statement: the UTC month, YYYY-MM")
    report.add_argument("--asset", default="USDT", help="statement: the asset (default USDT)")
    report.add_argument("--since", default=None, help="first UTC day, YYYY-MM-DD (default: today)")
    report.add_argument("--until", default=None, help="last UTC day, included (default: --since)")
    report.add_argument("--merchant", default=None, help="only this merchant (mer_…); required for a statement")
    report.add_argument(
        "--output", "--out", type=Path, default=None, help="write the CSV here (default: standard output)"
    )
    report.add_argument("--database-url", default=None, help="Postgres URL (default: STABLEGATE_LEDGER_DATABASE_URL)")
    report.set_defaults(func=cmd_report)

    payouts = sub.add_parser("payouts", help="merchant payouts (ledger side)")
    payouts_sub = payouts.add_subparsers(dest="payouts_command", required=True, metavar="ACTION")
    run_schedules = payouts_sub.add_parser(
        "run-schedules",
        help="one pass of the payout scheduler now (the ledger's settings); exit 1 when a merchant's payout failed",
    )
    run_schedules.add_argument("--at", default=None, help="the time to run at, ISO 8601 with offset (default: now)")
    run_schedules.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    run_schedules.add_argument(
        "--database-url", default=None, help="Postgres URL (default: STABLEGATE_LEDGER_DATABASE_URL)"
    )
    run_schedules.set_defaults(func=cmd_payouts_run_schedules)

    gas = sub.add_parser("gas", help="the signing keys' BNB (gas float)")
    gas_sub = gas.add_subparsers(dest="gas_command", required=True, metavar="ACTION")
    top_up = gas_sub.add_parser(
        "top-up",
        help="book a final BNB transfer to a signing key (Dr gas_float / Cr platform_capital), once per transaction; "
        "exit 1 when the chain does not show one",
    )
    top_up.add_argument("--tx-hash", required=True, help="the funding transaction (0x…)")
    top_up.add_argument("--json", action="store_true", help="print the result as JSON")
    top_up.set_defaults(func=cmd_gas_top_up)


def _add_doctor_command(sub: Any) -> None:
    """`stablegate doctor`."""
    doctor = sub.add_parser(
        "doctor", help="check a configuration and its connectivity (Postgres, Redis, RPCs, token, signer, certs)"
    )
    doctor.add_argument(
        "--env-file", type=Path, action="append", default=[], help="env file to read first (repeatable)"
    )
    doctor.add_argument(
        "--head-max-age",
        type=int,
        default=None,
        help="seconds the head block may be old (default: the network's; 60 without one; 0: unchecked)",
    )
    doctor.add_argument("--timeout", type=float, default=5.0, help="seconds per connection attempt")
    doctor.set_defaults(func=cmd_doctor)


def _replicas(value: str) -> int:
    """`--replicas`: a whole number from 1 to `MAX_REPLICAS` (gateway/up_options.py)."""
    try:
        return parse_replicas(value)
    except ReplicasError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (--replicas, or ${REPLICAS_VAR} as its default)") from None


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one parser: every command and its options
    """The argument parser of the `stablegate` command."""
    parser = argparse.ArgumentParser(
        prog="stablegate",
        description="stablegate: self-hosted USDT (BEP20) payment gateway. One CLI for operators.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up", help="bring the whole gateway up locally (Postgres, Redis, SoftHSM, anvil, Envoy, services)"
    )
    up.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".stablegate"),
        help="where local data and logs live (default: .stablegate)",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="put every port at an offset from this one instead of the defaults (see docs/development.md)",
    )
    up.add_argument(
        "--replicas",
        type=_replicas,
        default=os.environ.get(REPLICAS_VAR, "1"),
        help=f"run this many (1-{MAX_REPLICAS}) of the ledger, edge, checkout and dashboard behind Envoy, and of the "
        f"watcher and settlement (standbys under their leases); default ${REPLICAS_VAR} or 1 (docs/operations.md)",
    )
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one service in the foreground (config from STABLEGATE_<SERVICE>_*)")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    migrate = db_sub.add_parser("migrate", help="apply pending schema migrations of every service")
    migrate.add_argument(
        "--database-url", default=None, help="Postgres URL (default: STABLEGATE_LEDGER_DATABASE_URL or its default)"
    )
    migrate.set_defaults(func=cmd_db_migrate)
    roles = db_sub.add_parser(
        "roles", help="one login role per schema owner, with privileges on its own schema only (idempotent)"
    )
    roles.add_argument(
        "--database-url",
        default=None,
        help="Postgres URL of a superuser or the database owner (default: STABLEGATE_LEDGER_DATABASE_URL)",
    )
    roles.set_defaults(func=cmd_db_roles)

    admin = sub.add_parser("admin", help="administer the gateway")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    keys = admin_sub.add_parser("keys", help="admin API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create an admin key (ak_…) and print it once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--role",
        action="append",
        help="admin (default), operator, viewer or dashboard (docs/security.md); repeat for several",
    )
    create.add_argument(
        "--allow-ip",
        action="append",
        metavar="CIDR",
        help="a client network the key may be used from (e.g. 203.0.113.0/24); repeat for several; default: any",
    )
    create.add_argument("--database-url", default=None, help="Postgres URL (default: STABLEGATE_LEDGER_DATABASE_URL)")
    create.set_defaults(func=cmd_admin_keys_create)

    mesh = sub.add_parser("mesh", help="the service mesh's identities")
    mesh_sub = mesh.add_subparsers(dest="mesh_command", required=True, metavar="ACTION")
    certs = mesh_sub.add_parser(
        "certs", help="make a dev CA and a certificate per mesh role; print each service's TLS variables"
    )
    certs.add_argument("--dir", type=Path, default=Path(".stablegate/pki"), help="where to write them")
    certs.add_argument("--trust-domain", default="stablegate", help="SPIFFE trust domain (default: stablegate)")
    certs.set_defaults(func=cmd_mesh_certs)

    chain = sub.add_parser("chain", help="our contracts on the chain")
    chain_sub = chain.add_subparsers(dest="chain_command", required=True, metavar="ACTION")
    deploy = chain_sub.add_parser(
        "deploy",
        help="deploy the treasury, the forwarder factory and (without --token) a test token; write the ledger's "
        "chain variables to an env file",
    )
    deploy.add_argument("--rpc-url", default=LOCAL_RPC_URL, help=f"JSON-RPC URL of the node (default {LOCAL_RPC_URL})")
    deploy.add_argument(
        "--token", default=None, help="an existing token's address (default: deploy StablegateTestToken, local only)"
    )
    deploy.add_argument("--deployer", default=None, help="unlocked account that deploys (default: the node's first)")
    for role, text in (
        ("admin", "admin of the factory's roles"),
        ("sweeper", "the account allowed to flush deposit addresses"),
        ("hot", "the treasury's HOT key (payouts, moves to cold)"),
        ("cold-safe", "the cold Safe funds move to (it also administers the treasury's roles)"),
        ("quarantine", "where other tokens found at deposit addresses go"),
    ):
        deploy.add_argument(f"--{role}", default=None, help=f"{text} (default: a dev account of the node)")
    deploy.add_argument(
        "--env-file",
        type=Path,
        default=Path(".stablegate/chain.env"),
        help="where to write the ledger's variables (default .stablegate/chain.env; a .json beside it has all)",
    )
    deploy.set_defaults(func=cmd_chain_deploy)
    _add_signer_commands(sub)
    add_demo_commands(sub)
    add_backup_commands(sub)
    _add_settlement_commands(sub)

    _add_doctor_command(sub)
    _add_config_commands(sub)
    _add_ledger_commands(sub)
    return parser


def _add_config_commands(sub: Any) -> None:
    config = sub.add_parser("config", help="inspect configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser(
        "check", help="validate a service's config from the environment and print it (secrets masked)"
    )
    check.add_argument("service", choices=sorted(SERVICES))
    check.set_defaults(func=cmd_config_check)


def _add_ledger_commands(sub: Any) -> None:
    from gateway.kek_cli import add_kek_commands  # noqa: PLC0415 - keeps `--help` fast

    add_kek_commands(sub, cmd_ledger_kek)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `stablegate` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
