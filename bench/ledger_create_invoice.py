"""CreateInvoice calls/s against a no-op RPC on the same ledger, in the same run (issue 3's benchmark).

Starts a throwaway Postgres and the ledger as its own process (so the load generator does not share the
server's event loop or core), onboards a merchant over gRPC, then drives C concurrent callers for N seconds
each against `grpc.health.v1.Health/Check` (the baseline: it passes through the same shared interceptors)
and `InvoiceService/CreateInvoice` (a unique request_id per call). Prints calls/s, p50/p99 latency, CPU per
call of each process and the ratio, and rewrites this benchmark's section of docs/benchmarks.md. Below the
goal it restarts the ledger under cProfile for a short CreateInvoice run and records where its CPU goes.

    .venv/bin/python bench/ledger_create_invoice.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import pstats
import re
import shutil
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import psutil
from benchlib import (
    DOC,
    REPO_ROOT,
    Attempt,
    Machine,
    code_version,
    command_line,
    cpu_of,
    drive,
    machine,
    machine_cpu,
    markers,
    percentile_ms,
    tree_cpu,
    version_of,
    wrap,
    write_section,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as inv_grpc

from gateway import parts
from gateway.cli import MIGRATIONS
from ledger.config import LedgerSettings
from ledger.domain.credentials import new_admin_key
from ledger.domain.ids import new_id
from ledger.store.credentials import insert_admin_key
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.migrations import discover, migrate

GOAL = 0.5
SECTION = "ledger_create_invoice"
BEGIN, END = markers(SECTION)
HEALTH = "grpc.health.v1.Health/Check"
CREATE = "stablegate.merchant.v1.InvoiceService/CreateInvoice"

console = Console(emoji=False)


# --- the parts --------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running Postgres and ledger, and what the benchmark needs to reach them."""

    base: Path
    dsn: str
    postgres: parts.RunningProcess
    ledger: parts.RunningProcess
    grpc_port: int
    pki: DevMesh

    def channel(self) -> grpc.aio.Channel:
        """A channel to the ledger as Envoy reaches it: mutual TLS with the edge role's certificate."""
        return mesh.channel(f"127.0.0.1:{self.grpc_port}", self.pki.files(Role.EDGE))


def ledger_env(dsn: str, pki: DevMesh) -> dict[str, str]:
    """The ledger's environment: the bench database, test profile, quiet logs, no drain delay, mesh TLS."""
    return {
        **pki.files(Role.LEDGER).env("ledger"),
        "STABLEGATE_LEDGER_DATABASE_URL": dsn,
        "STABLEGATE_LEDGER_MIGRATE_ON_START": "true",
        "STABLEGATE_LEDGER_PROFILE": "test",
        "STABLEGATE_LEDGER_LOG_LEVEL": "WARNING",
        "STABLEGATE_LEDGER_DRAIN_DELAY_SECONDS": "0",
    }


def start_ledger(
    base: Path, dsn: str, pki: DevMesh, *, profile_to: Path | None = None
) -> tuple[parts.RunningProcess, int]:
    """Start the ledger as its own process (under cProfile when `profile_to` is set); returns it and its port."""
    spec, ready_file = parts.prepare_service("ledger", base, ledger_env(dsn, pki))
    if profile_to is not None:
        # `python -m cProfile -o FILE -m ledger`: stats are written at a clean exit.
        spec.argv[1:1] = ["-m", "cProfile", "-o", str(profile_to)]
    spec.ready_timeout = 60.0
    running = parts.start(spec)
    port = parts.read_ready_file(ready_file)["grpc_port"]
    assert port is not None
    return running, port


async def prepare_database(dsn: str) -> str:
    """Apply the ledger's migrations and store an admin key; returns the key's plaintext."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, "ledger", discover("ledger", MIGRATIONS["ledger"]))
        admin = new_admin_key()
        await insert_admin_key(
            conn,
            key_id=new_id("adm"),
            prefix=admin.prefix,
            secret_hash=admin.secret_hash,
            roles=["admin"],
            name="bench",
        )
    finally:
        await conn.close()
    return admin.plaintext


@contextlib.contextmanager
def running_stack() -> Iterator[tuple[Stack, str]]:
    """Postgres on a free port in a temporary directory, migrated, and the ledger on it; all stopped at the end."""
    base = parts.make_shared_dir("stablegate-bench-")
    postgres: parts.RunningProcess | None = None
    stack: Stack | None = None
    try:
        plan, spec = parts.prepare_postgres(base, parts.free_port())
        spec.log_path = base / "postgres.log"
        postgres = parts.start(spec)
        parts.create_database(plan)
        admin_key = asyncio.run(prepare_database(plan.dsn))
        pki = DevMesh(base / "pki")
        ledger, port = start_ledger(base, plan.dsn, pki)
        stack = Stack(base, plan.dsn, postgres, ledger, port, pki)
        yield stack, admin_key
    finally:
        # stack.ledger, not the first ledger: the profile run replaces it.
        for process in (stack.ledger if stack else None, postgres):
            if process is not None:
                process.stop()
        shutil.rmtree(base, ignore_errors=True)


async def onboard(stack: Stack, admin_key: str) -> str:
    """A merchant with an invoices:write key, made over the admin API; returns the key."""
    admin = (("authorization", f"Bearer {admin_key}"),)
    async with stack.channel() as channel:
        merchant = await merchants_grpc.MerchantAdminServiceStub(channel).OnboardMerchant(
            merchants_pb.OnboardMerchantRequest(name="Bench shop", contact_email="bench@shop.example"), metadata=admin
        )
        key = await keys_grpc.ApiKeyAdminServiceStub(channel).IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=merchant.merchant.id, scopes=["invoices:write"], name="bench"),
            metadata=admin,
        )
    return str(key.api_key.plaintext_key)


# --- load -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the ledger, Postgres (all its backends), this client and the whole machine."""

    ledger: float
    postgres: float
    client: float
    machine: float


def cpu_sample(stack: Stack) -> CpuSample:
    """CPU used so far by each process of the run, and by the machine."""
    return CpuSample(tree_cpu(stack.ledger.pid), tree_cpu(stack.postgres.pid), cpu_of(psutil.Process()), machine_cpu())


@dataclass(frozen=True)
class Result:
    """One measured phase: calls that succeeded, their latencies, failures, elapsed time and CPU per process."""

    rpc: str
    latencies: list[float]
    errors: dict[str, int]
    elapsed: float
    cpu_ledger: float
    cpu_postgres: float
    cpu_client: float
    cpu_machine: float

    @property
    def cpu_others(self) -> float:
        """CPU used during the phase by processes outside the benchmark (other work sharing the machine)."""
        return max(0.0, self.cpu_machine - self.cpu_ledger - self.cpu_postgres - self.cpu_client)

    @property
    def calls(self) -> int:
        """Calls that succeeded."""
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        return self.calls / self.elapsed

    def percentile(self, q: float) -> float:
        """Latency at quantile q (nearest rank), in milliseconds."""
        return percentile_ms(self.latencies, q)

    def per_call_ms(self, cpu_seconds: float) -> float:
        """CPU milliseconds per successful call."""
        return cpu_seconds / max(self.calls, 1) * 1e3

    def utilisation(self, cpu_seconds: float) -> float:
        """Share of one core used during the phase."""
        return cpu_seconds / self.elapsed


Call = Callable[[], Awaitable[object]]


def outcome(call: Call) -> Attempt:
    """The call as an attempt: None when it returned, its gRPC status name when it failed."""

    async def attempt() -> str | None:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return None

    return attempt


async def measure(stack: Stack, rpc: str, call: Call, *, seconds: float, warmup: float, concurrency: int) -> Result:
    """Warm up, then measure one RPC with CPU samples around the measured window."""
    await drive(outcome(call), seconds=warmup, concurrency=concurrency)
    before = cpu_sample(stack)
    latencies, errors, elapsed = await drive(outcome(call), seconds=seconds, concurrency=concurrency)
    after = cpu_sample(stack)
    return Result(
        rpc,
        latencies,
        errors,
        elapsed,
        after.ledger - before.ledger,
        after.postgres - before.postgres,
        after.client - before.client,
        after.machine - before.machine,
    )


def create_call(channel: grpc.aio.Channel, merchant_key: str) -> Call:
    """CreateInvoice with a fresh request_id on every call."""
    stub = inv_grpc.InvoiceServiceStub(channel)
    auth = (("authorization", f"Bearer {merchant_key}"),)

    async def call() -> object:
        request = inv_pb.CreateInvoiceRequest(request_id=new_id("req"), amount="10.50", description="bench")
        return await stub.CreateInvoice(request, metadata=auth, timeout=30)

    return call


def health_call(channel: grpc.aio.Channel) -> Call:
    """The no-op baseline: grpc.health.v1.Health/Check for the whole server."""
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="")

    async def call() -> object:
        return await stub.Check(request, timeout=30)

    return call


async def run_phases(
    stack: Stack, merchant_key: str, *, seconds: float, warmup: float, concurrency: int
) -> tuple[Result, Result]:
    """The baseline, then CreateInvoice, over one channel."""
    async with stack.channel() as channel:
        baseline = await measure(
            stack, HEALTH, health_call(channel), seconds=seconds, warmup=warmup, concurrency=concurrency
        )
        create = await measure(
            stack, CREATE, create_call(channel, merchant_key), seconds=seconds, warmup=warmup, concurrency=concurrency
        )
    return baseline, create


# --- profile ----------------------------------------------------------------------------------------------

IDLE = "waiting (event loop idle, threads)"
STARTUP = "process start and stop (imports)"
# Where a function's self time is counted: the first pattern that matches "file:function" wins. cProfile
# cannot see into grpc's Cython core, so its work shows as the self time of the loop's `Context.run`; and the
# only asyncio transports in the ledger are asyncpg's, so socket I/O of the selector loop is Postgres traffic.
AREAS: tuple[tuple[str, str], ...] = (
    (r"select\.epoll|selectors\.py|threading\.py|_thread\.lock", IDLE),
    (r"<frozen |importlib|builtins\.compile|marshal|site-packages/setuptools", STARTUP),
    (r"'run' of '_contextvars\.Context'|/grpc/|grpc\._cython|cygrpc", "grpc (C core and Cython, seen via the loop)"),
    (r"asyncpg|_socket\.socket|selector_events\.py", "asyncpg (driver, protocol, socket I/O to Postgres)"),
    (r"google/protobuf|google\._upb|upb", "protobuf"),
    (r"opentelemetry", "OpenTelemetry interceptor"),
    (r"prometheus_client", "Prometheus metrics"),
    (r"/ledger/", "ledger code"),
    (r"/service_runtime/", "service_runtime code"),
    (r"/json/|_json", "json"),
    (r"hashlib|_hashlib|sha3|keccak|Crypto", "hashing (keccak, sha256)"),
    (r"secrets\.py|random\.py|_random|urandom", "random ids"),
    (r"asyncio/|_asyncio", "asyncio (the loop itself)"),
    (r"logging/", "logging"),
)


@dataclass(frozen=True)
class Profile:
    """The ledger's self time under CreateInvoice by area (share of busy time), and its costliest functions."""

    by_area: list[tuple[str, float]]
    top: list[tuple[str, float]]
    idle_share: float


def area_of(name: str) -> str:
    """The area a profiled function belongs to."""
    for pattern, area in AREAS:
        if re.search(pattern, name):
            return area
    return "other (builtins, stdlib)"


def read_profile(path: Path) -> Profile:
    """Group the ledger's cProfile self time by area."""
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    functions: list[tuple[str, float]] = []
    for (filename, line, function), (_cc, _nc, self_time, _cum, _callers) in raw.items():
        area = area_of(f"{filename}:{function}")
        totals[area] = totals.get(area, 0.0) + self_time
        if area not in (IDLE, STARTUP):
            functions.append((f"{Path(filename).name}:{line}:{function}" if filename != "~" else function, self_time))
    idle = totals.pop(IDLE, 0.0)
    totals.pop(STARTUP, None)  # not the load being profiled
    busy = sum(totals.values()) or 1.0
    by_area = sorted(((a, t / busy) for a, t in totals.items()), key=lambda item: -item[1])
    top = sorted(((n, t / busy) for n, t in functions), key=lambda item: -item[1])
    return Profile(by_area, top[:10], idle / (busy + idle))


def profile_create(stack: Stack, merchant_key: str, *, seconds: float, concurrency: int) -> Profile:
    """Restart the ledger under cProfile, drive CreateInvoice for `seconds`, stop it and read the profile."""
    stack.ledger.stop()
    out = stack.base / "ledger.prof"
    stack.ledger, stack.grpc_port = start_ledger(stack.base, stack.dsn, stack.pki, profile_to=out)

    async def load() -> None:
        async with stack.channel() as channel:
            call = create_call(channel, merchant_key)
            await drive(outcome(call), seconds=min(1.0, seconds), concurrency=concurrency)
            await drive(outcome(call), seconds=seconds, concurrency=concurrency)

    asyncio.run(load())
    stack.ledger.stop()  # SIGTERM: the service drains and returns, and cProfile writes its stats
    if not out.exists():
        raise parts.PartError(f"the profiled ledger wrote no stats; log:\n{stack.ledger.log_tail()}")
    return read_profile(out)


# --- report -----------------------------------------------------------------------------------------------


def print_results(baseline: Result, create: Result, ratio: float) -> None:
    """A rich table of both phases and the ratio."""
    table = Table(title="ledger: CreateInvoice against a no-op RPC")
    columns = ("RPC", "calls", "calls/s", "p50 ms", "p99 ms", "errors", "ledger", "Postgres", "client", "others")
    table.caption = "CPU columns: share of one core during the phase; others = processes outside the benchmark"
    for column in columns:
        table.add_column(column, justify="left" if column == "RPC" else "right")
    for r in (baseline, create):
        table.add_row(
            r.rpc,
            f"{r.calls:,}",
            f"{r.rate:,.0f}",
            f"{r.percentile(0.50):.2f}",
            f"{r.percentile(0.99):.2f}",
            ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0",
            f"{r.utilisation(r.cpu_ledger):.0%}",
            f"{r.utilisation(r.cpu_postgres):.0%}",
            f"{r.utilisation(r.cpu_client):.0%}",
            f"{r.utilisation(r.cpu_others):.0%}",
        )
    console.print(table)
    style = "bold green" if ratio >= GOAL else "bold yellow"
    console.print(f"ratio create/baseline = [{style}]{ratio:.3f}[/] (goal ≥ {GOAL}; reported, not gated)")


def print_profile(profile: Profile) -> None:
    """The profile's areas and costliest functions."""
    table = Table(title="ledger under CreateInvoice: self time by area (share of busy time)")
    table.add_column("area")
    table.add_column("share", justify="right")
    for area, share in profile.by_area:
        table.add_row(area, f"{share:.1%}")
    console.print(table)
    top = Table(title="costliest functions (self time)")
    top.add_column("function")
    top.add_column("share", justify="right")
    for name, share in profile.top:
        top.add_row(name, f"{share:.1%}")
    console.print(top)


def bound_note(baseline: Result, create: Result, profile: Profile | None, cores: int, pool_size: int) -> str:
    """What bounds CreateInvoice, from this run's CPU figures (and profile, when one was taken)."""
    use = {
        "ledger": create.utilisation(create.cpu_ledger),
        "Postgres": create.utilisation(create.cpu_postgres),
        "load generator": create.utilisation(create.cpu_client),
        "other processes": create.utilisation(create.cpu_others),
    }
    total = sum(use.values())
    text = (
        f"A CreateInvoice costs {create.per_call_ms(create.cpu_ledger):.2f} ms of ledger CPU against "
        f"{baseline.per_call_ms(baseline.cpu_ledger):.2f} ms for a Health/Check, plus "
        f"{create.per_call_ms(create.cpu_postgres):.2f} ms of Postgres CPU. During the CreateInvoice phase, in "
        "shares of one core: " + ", ".join(f"{name} {share:.0%}" for name, share in use.items()) + f"; "
        f"{total:.0%} in all, of the {cores * 100}% that {cores} cores offer. "
    )
    ceiling = baseline.per_call_ms(baseline.cpu_ledger) / create.per_call_ms(create.cpu_ledger)
    text += (
        f"Were the ledger's CPU the only limit, the ratio could reach at most {ceiling:.2f} (the baseline's ledger "
        "CPU per call over CreateInvoice's). "
    )
    if use["ledger"] >= 0.85:
        text += (
            "The ledger process is saturated (its Python event loop runs on one core; grpc's C core adds a little "
            "on other threads), so the bound is its CPU per call. "
        )
    elif total >= 0.85 * cores:
        text += (
            "The machine is saturated: the ledger, Postgres and the load generator (and any other processes) "
            "share its cores, and CreateInvoice needs Postgres's CPU as well as the ledger's. "
        )
    else:
        text += (
            "No process saturates a core and the machine has CPU to spare, so the bound is waiting: each call "
            f"holds one of the pool's {pool_size} connections across its round trips to Postgres. "
        )
    text += (
        "Beyond what the baseline pays (the interceptors, one gRPC round trip), a CreateInvoice makes one round "
        "trip to Postgres (the invoice and its outbox event in one statement; a retry's replay lookup only when "
        "that insert finds the request id taken; the merchant's defaults are cached and pooled connections are "
        "not reset), renders the invoice message and an outbox event to JSON, and computes the CREATE2 address "
        "and EIP-55 checksums in Python. "
    )
    if profile is not None:
        areas = ", ".join(f"{area} {share:.0%}" for area, share in profile.by_area[:7])
        text += (
            "A cProfile of the ledger under the same CreateInvoice load (a separate, shorter run; self time, "
            f"idle time excluded) puts its busy time in: {areas}."
        )
    return text.strip()


def section(
    *,
    command: str,
    when: dt.datetime,
    host: Machine,
    args: argparse.Namespace,
    baseline: Result,
    create: Result,
    ratio: float,
    note: str | None,
) -> str:
    """This benchmark's section of docs/benchmarks.md."""
    rows = []
    for r in (baseline, create):
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0"
        rows.append(
            f"| `{r.rpc}` | {r.calls:,} | {r.rate:,.0f} | {r.percentile(0.5):.2f} | {r.percentile(0.99):.2f} | "
            f"{errors} | {r.per_call_ms(r.cpu_ledger):.2f} | {r.per_call_ms(r.cpu_postgres):.2f} | "
            f"{r.per_call_ms(r.cpu_client):.2f} | {r.utilisation(r.cpu_others):.0%} |"
        )
    verdict = "met" if ratio >= GOAL else "**not met**"
    intro = (
        "CreateInvoice calls/s against `grpc.health.v1.Health/Check` on the same ledger in the same run (issue 3). "
        f"The ledger runs as its own process (`stablegate serve ledger`, test profile, log level WARNING, "
        f"database pool {args.pool_size}) on a throwaway Postgres on the same machine; one `grpc.aio` channel "
        f"carries {args.concurrency} closed-loop callers for {args.seconds:g} s per RPC after a {args.warmup:g} s "
        "warm-up. The baseline passes through the same shared interceptors (OpenTelemetry, metrics, errors; the "
        "ledger's authentication interceptor lets it through unchecked); each CreateInvoice has a fresh "
        "`request_id`, the merchant's key (verified, then cached for `credential_cache_seconds`) and a new invoice."
    )
    lines = [
        BEGIN,
        "## Ledger: CreateInvoice against a no-op RPC",
        "",
        wrap(intro),
        "",
        f"- Command: `{command}`",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {host.line()}",
        f"- Code: {code_version()}",
        "",
        "| RPC | calls | calls/s | p50 ms | p99 ms | errors | ledger CPU ms/call | Postgres CPU ms/call "
        "| client CPU ms/call | other processes, % of a core |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"**Ratio** CreateInvoice / baseline: **{ratio:.3f}**. Goal: ratio ≥ {GOAL} — {verdict}.",
    ]
    if note:
        lines += ["", wrap("**What bounds it.** " + note)]
    lines += [END, ""]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per RPC (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (default 32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each RPC (default 2)")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile the ledger under CreateInvoice afterwards (default: only when the ratio is below the goal)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency <= 0 or args.warmup < 0:
        parser.error("--seconds and --concurrency must be positive, --warmup not negative")
    default_pool = LedgerSettings.model_fields["database_pool_size"].default
    args.pool_size = int(os.environ.get("STABLEGATE_LEDGER_DATABASE_POOL_SIZE", default_pool))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and record it; a part that fails to start is reported with its log."""
    args = parse_args(argv)
    try:
        return run(args)
    except parts.PartError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 1


def run(args: argparse.Namespace) -> int:
    """Start the parts, measure both RPCs, profile below the goal, print and record."""
    command, when, host = (
        command_line(),
        dt.datetime.now(dt.UTC),
        machine(
            (
                version_of(
                    [str(parts.postgres_bin_dir() / "postgres"), "--version"], r"\(PostgreSQL\) (\S+)", "PostgreSQL"
                ),
            )
        ),
    )
    console.print(f"[dim]{host.line()}[/]")
    profile: Profile | None = None
    with running_stack() as (stack, admin_key):
        merchant_key = asyncio.run(onboard(stack, admin_key))
        console.print(
            f"ledger pid {stack.ledger.pid} on 127.0.0.1:{stack.grpc_port}; "
            f"{args.concurrency} callers, {args.seconds:g} s per RPC"
        )
        baseline, create = asyncio.run(
            run_phases(stack, merchant_key, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency)
        )
        ratio = create.rate / baseline.rate if baseline.rate else float("nan")
        print_results(baseline, create, ratio)
        if args.profile or (args.profile is None and ratio < GOAL):
            console.print("[dim]profiling the ledger under CreateInvoice (a separate, shorter run)…[/]")
            profile = profile_create(stack, merchant_key, seconds=min(args.seconds, 5.0), concurrency=args.concurrency)
            print_profile(profile)
    if not create.calls or not baseline.calls:
        console.print("[bold red]a phase had no successful calls; nothing recorded[/]")
        return 1
    note = bound_note(baseline, create, profile, host.cores, args.pool_size) if ratio < GOAL or profile else None
    if note:
        console.print(f"[bold]What bounds it.[/] {note}")
    if not args.no_write:
        write_section(
            SECTION,
            section(
                command=command,
                when=when,
                host=host,
                args=args,
                baseline=baseline,
                create=create,
                ratio=ratio,
                note=note,
            ),
        )
        console.print(f"recorded in {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
