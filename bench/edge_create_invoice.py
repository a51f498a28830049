"""`POST /v1/invoices` requests/s through Envoy against a no-op authenticated RPC on the same path (issue 20).

Starts a throwaway Postgres and Redis, the ledger, the edge service (ext_authz and rate limits, with limits far
above what the machine can reach) and Envoy, each as its own process on free ports in a temporary directory,
exactly as `tests/edge/conftest.py` does. It makes an admin key with `stablegate admin keys create`, then a
merchant and a merchant key over REST, and drives C closed-loop HTTP/1.1 clients (aiohttp, keep-alive) for N
seconds each against `GET /healthz` (answered by Envoy itself: no ext_authz, no rate limit, no upstream; a floor
for Envoy alone), the baseline `GET /v1/invoices/none` (the no-op authenticated RPC: the same Envoy, ext_authz,
per-address and per-merchant limits, transcoder and the ledger's key check and handler, which answers 404
INVOICE_NOT_FOUND for an id that cannot exist without asking Postgres) and `POST /v1/invoices` (a unique
`Idempotency-Key` per request). Prints requests/s, p50/p99 latency, CPU per request of each process and the
ratio invoices / baseline, and rewrites this benchmark's section of docs/benchmarks.md.

    .venv/bin/python bench/edge_create_invoice.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
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
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edge.config import EdgeSettings
from edge.envoy_config import EdgePlan, Upstream, public_routes_from_served, write
from gateway import parts
from ledger.app import SERVED as LEDGER_SERVED
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role

DESCRIPTOR = REPO_ROOT / "gen" / "stablegate_descriptor.binpb"
GOAL_RATE = 1000.0
GOAL_RATIO = 0.4
SECTION = "edge_create_invoice"
BEGIN, END = markers(SECTION)
HEALTHZ = "GET /healthz"
NOOP = "GET /v1/invoices/none"
NOOP_STATUS = 404
"""The baseline's answer: the ledger refuses an id that cannot exist (INVOICE_NOT_FOUND) before any query."""
CREATE = "POST /v1/invoices"
PROCESSES = ("envoy", "ledger", "edge", "postgres", "redis")


def _highest_limit() -> int:
    """The highest rate limit the edge's settings accept: far above what two cores push through Envoy."""
    field = EdgeSettings.model_fields["merchant_requests_per_second"]
    return min(int(getattr(m, "le", sys.maxsize)) for m in field.metadata)


HIGH_LIMIT = _highest_limit()

# Wide enough for the table when the output is not a terminal (a log file, CI).
console = Console(emoji=False, width=None if sys.stdout.isatty() else 200)


# --- the parts --------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running parts, and what the benchmark needs to reach them."""

    base: Path
    processes: dict[str, parts.RunningProcess]
    port: int
    admin_key: str
    admin_api_port: int

    @property
    def url(self) -> str:
        """Envoy's public listener."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """Envoy's admin API listener."""
        return f"http://127.0.0.1:{self.admin_api_port}"


def _service(name: str, base: Path, env: dict[str, str]) -> tuple[parts.RunningProcess, int]:
    spec, ready_file = parts.prepare_service(name, base, env)
    spec.ready_timeout = 60.0
    running = parts.start(spec)
    port = parts.read_ready_file(ready_file)["grpc_port"]
    assert port is not None
    return running, port


def create_admin_key(dsn: str) -> str:
    """An admin key made the way an operator makes one: `stablegate admin keys create`."""
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "admin",
            "keys",
            "create",
            "--name",
            "bench",
            *("--database-url", dsn),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO_ROOT,
    )
    if created.returncode != 0:
        raise parts.PartError(f"stablegate admin keys create failed: {created.stderr.strip()}")
    return created.stdout.strip()


@contextlib.contextmanager
def running_stack(envoy_concurrency: int) -> Iterator[Stack]:
    """Postgres, Redis, the ledger, the edge service and Envoy on free ports; all stopped at the end."""
    base = parts.make_shared_dir("stablegate-bench-")
    started: list[parts.RunningProcess] = []
    try:
        plan, spec = parts.prepare_postgres(base, parts.free_port())
        spec.log_path = base / "postgres.log"
        postgres = parts.start(spec)
        started.append(postgres)
        parts.create_database(plan)
        spec = parts.prepare_redis(base, parts.free_port())
        spec.log_path = base / "redis.log"
        redis = parts.start(spec)
        started.append(redis)
        assert spec.port is not None
        pki = DevMesh(base / "pki")
        ledger, ledger_port = _service(
            "ledger",
            base,
            {
                "STABLEGATE_LEDGER_DATABASE_URL": plan.dsn,
                "STABLEGATE_LEDGER_MIGRATE_ON_START": "true",
                "STABLEGATE_LEDGER_LOG_LEVEL": "WARNING",
                "STABLEGATE_LEDGER_DRAIN_DELAY_SECONDS": "0",
                **pki.files(Role.LEDGER).env("ledger"),
            },
        )
        started.append(ledger)
        admin_key = create_admin_key(plan.dsn)
        # Credential caches stay at their defaults (edge and ledger), so a key is verified once per cache period.
        edge, edge_port = _service(
            "edge",
            base,
            {
                "STABLEGATE_EDGE_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
                "STABLEGATE_EDGE_REDIS_URL": f"redis://127.0.0.1:{spec.port}/0",
                "STABLEGATE_EDGE_MERCHANT_REQUESTS_PER_SECOND": str(HIGH_LIMIT),
                "STABLEGATE_EDGE_ROUTE_REQUESTS_PER_SECOND": str(HIGH_LIMIT),
                "STABLEGATE_EDGE_LOG_LEVEL": "WARNING",
                "STABLEGATE_EDGE_DRAIN_DELAY_SECONDS": "0",
                **pki.files(Role.EDGE).env("edge"),
            },
        )
        started.append(edge)
        edge_plan = EdgePlan(
            listen_port=parts.free_port(),
            admin_port=parts.free_port(),
            descriptor_path=DESCRIPTOR,
            upstreams=(Upstream("ledger", "127.0.0.1", ledger_port, Role.LEDGER),),
            routes=public_routes_from_served({"ledger": LEDGER_SERVED}),
            ext_authz=Upstream("ext_authz", "127.0.0.1", edge_port, Role.EDGE),
            mesh=pki.files(Role.EDGE),
            admin_api_port=parts.free_port(),
            # The load comes from one address: its per-address limit must not be what the benchmark measures.
            client_requests_per_second=HIGH_LIMIT,
        )
        config = write(edge_plan, base / "envoy" / "envoy.yaml")
        envoy_spec = parts.prepare_envoy(base / "envoy", config.read_text(), edge_plan.admin_port)
        envoy_spec.argv[envoy_spec.argv.index("--concurrency") + 1] = str(envoy_concurrency)
        envoy_spec.log_path = base / "envoy.log"
        envoy = parts.start(envoy_spec)
        started.append(envoy)
        processes = {"envoy": envoy, "ledger": ledger, "edge": edge, "postgres": postgres, "redis": redis}
        yield Stack(base, processes, edge_plan.listen_port, admin_key, edge_plan.admin_api_port or 0)
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(base, ignore_errors=True)


async def onboard(session: aiohttp.ClientSession, stack: Stack) -> str:
    """A merchant and its invoices:write key, made over the admin REST API; returns the key."""
    admin = {"authorization": f"Bearer {stack.admin_key}"}
    merchant_body = {"name": "Bench shop", "contact_email": "bench@shop.example"}
    async with session.post(f"{stack.admin_url}/admin/v1/merchants", json=merchant_body, headers=admin) as resp:
        merchant = await resp.json(content_type=None)
        if resp.status != 200:
            raise parts.PartError(f"onboarding failed: {resp.status} {merchant}")
    url = f"{stack.admin_url}/admin/v1/merchants/{merchant['id']}/api_keys"
    scopes = {"scopes": ["invoices:write", "invoices:read"], "name": "bench"}
    async with session.post(url, json=scopes, headers=admin) as resp:
        issued = await resp.json(content_type=None)
        if resp.status != 200:
            raise parts.PartError(f"issuing the merchant key failed: {resp.status} {issued}")
    return str(issued["plaintext_key"])


# --- load -------------------------------------------------------------------------------------------------


def cpu_sample(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part, this load generator and the whole machine."""
    sample = {name: tree_cpu(stack.processes[name].pid) for name in PROCESSES}
    sample["client"] = cpu_of(psutil.Process())
    sample["machine"] = machine_cpu()
    return sample


@dataclass(frozen=True)
class Result:
    """One measured phase: requests that succeeded, their latencies, failures, elapsed time and CPU per part."""

    route: str
    latencies: list[float]
    errors: dict[str, int]
    elapsed: float
    cpu: dict[str, float]

    @property
    def cpu_others(self) -> float:
        """CPU used during the phase outside the benchmark's processes (other work, interrupt handling)."""
        ours = sum(self.cpu[name] for name in (*PROCESSES, "client"))
        return max(0.0, self.cpu["machine"] - ours)

    @property
    def requests(self) -> int:
        """Requests that succeeded (HTTP 200; the baseline's expected 404)."""
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.requests / self.elapsed

    def percentile(self, q: float) -> float:
        """Latency at quantile q (nearest rank), in milliseconds."""
        return percentile_ms(self.latencies, q)

    def per_request_ms(self, part: str) -> float:
        """CPU milliseconds of one part per successful request."""
        return self.cpu[part] / max(self.requests, 1) * 1e3

    def utilisation(self, part: str) -> float:
        """Share of one core the part used during the phase."""
        seconds = self.cpu_others if part == "others" else self.cpu[part]
        return seconds / self.elapsed


Request = Callable[[], Awaitable[int]]


def outcome(request: Request, expected: int = 200) -> Attempt:
    """The request as an attempt: None on the expected status, else the status or the client error's name."""

    async def attempt() -> str | None:
        try:
            status = await request()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__
        return None if status == expected else str(status)

    return attempt


async def measure(
    stack: Stack,
    route: str,
    request: Request,
    *,
    seconds: float,
    warmup: float,
    concurrency: int,
    expected: int = 200,
) -> Result:
    """Warm up, then measure one route with CPU samples around the measured window."""
    await drive(outcome(request, expected), seconds=warmup, concurrency=concurrency)
    before = cpu_sample(stack)
    latencies, errors, elapsed = await drive(outcome(request, expected), seconds=seconds, concurrency=concurrency)
    after = cpu_sample(stack)
    return Result(route, latencies, errors, elapsed, {k: after[k] - before[k] for k in after})


def healthz_request(session: aiohttp.ClientSession, stack: Stack) -> Request:
    """The no-op baseline: Envoy's direct response on /healthz."""
    url = f"{stack.url}/healthz"

    async def request() -> int:
        async with session.get(url) as resp:
            await resp.read()
            return resp.status

    return request


def noop_request(session: aiohttp.ClientSession, stack: Stack, merchant_key: str) -> Request:
    """The baseline: an authenticated GET the ledger answers 404 without a database query."""
    url = f"{stack.url}/v1/invoices/none"
    headers = {"authorization": f"Bearer {merchant_key}"}

    async def request() -> int:
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status == NOOP_STATUS and b"INVOICE_NOT_FOUND" not in body:
                return 0  # a 404 from anywhere but the ledger's handler is not the baseline
            return resp.status

    return request


def create_request(session: aiohttp.ClientSession, stack: Stack, merchant_key: str) -> Request:
    """POST /v1/invoices with a fresh Idempotency-Key on every request."""
    url = f"{stack.url}/v1/invoices"
    body = json.dumps({"amount": "10.50", "description": "bench"}).encode()
    run = secrets.token_hex(4)
    counter = itertools.count()

    async def request() -> int:
        headers = {
            "authorization": f"Bearer {merchant_key}",
            "content-type": "application/json",
            "idempotency-key": f"bench-{run}-{next(counter)}",
        }
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    return request


async def run_phases(stack: Stack, *, seconds: float, warmup: float, concurrency: int) -> tuple[Result, Result, Result]:
    """Onboard, then healthz, the baseline and POST /v1/invoices, over one pool of keep-alive connections."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        merchant_key = await onboard(session, stack)
        healthz = await measure(
            stack, HEALTHZ, healthz_request(session, stack), seconds=seconds, warmup=warmup, concurrency=concurrency
        )
        baseline = await measure(
            stack,
            NOOP,
            noop_request(session, stack, merchant_key),
            seconds=seconds,
            warmup=warmup,
            concurrency=concurrency,
            expected=NOOP_STATUS,
        )
        create = await measure(
            stack,
            CREATE,
            create_request(session, stack, merchant_key),
            seconds=seconds,
            warmup=warmup,
            concurrency=concurrency,
        )
    return healthz, baseline, create


# --- report -----------------------------------------------------------------------------------------------


def print_results(healthz: Result, baseline: Result, create: Result, ratio: float) -> None:
    """A rich table of both phases and the ratio."""
    table = Table(title="edge: POST /v1/invoices against a no-op route through the same Envoy")
    columns = ("route", "requests", "req/s", "p50 ms", "p99 ms", "errors", *PROCESSES, "client", "others")
    table.caption = "CPU columns: share of one core during the phase; others = other processes and interrupts"
    for column in columns:
        table.add_column(column, justify="left" if column == "route" else "right")
    for r in (healthz, baseline, create):
        table.add_row(
            r.route,
            f"{r.requests:,}",
            f"{r.rate:,.0f}",
            f"{r.percentile(0.50):.2f}",
            f"{r.percentile(0.99):.2f}",
            ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0",
            *(f"{r.utilisation(part):.0%}" for part in (*PROCESSES, "client", "others")),
        )
    console.print(table)
    rate_style = "bold green" if create.rate >= GOAL_RATE else "bold yellow"
    ratio_style = "bold green" if ratio >= GOAL_RATIO else "bold yellow"
    console.print(
        f"invoices/s = [{rate_style}]{create.rate:,.0f}[/] (goal ≥ {GOAL_RATE:,.0f}); "
        f"ratio create/no-op RPC = [{ratio_style}]{ratio:.3f}[/] (goal ≥ {GOAL_RATIO}); reported, not gated"
    )


def bound_note(healthz: Result, baseline: Result, create: Result, cores: int, envoy_concurrency: int) -> str:
    """What bounds POST /v1/invoices, from this run's CPU figures."""
    use = {part: create.utilisation(part) for part in (*PROCESSES, "client", "others")}
    total = sum(use.values())
    names = {"client": "load generator", "others": "other processes and interrupts"}
    ranked = sorted((*PROCESSES, "client"), key=lambda part: -create.per_request_ms(part))
    per_request = ", ".join(f"{names.get(part, part)} {create.per_request_ms(part):.2f}" for part in ranked)
    spent = sum(create.per_request_ms(part) for part in ranked)
    text = (
        f"An invoice through the edge costs {spent:.2f} ms of CPU in all: {per_request} (ms per request, costliest "
        f"first). The no-op authenticated RPC (the baseline) costs "
        + ", ".join(f"{names.get(part, part)} {baseline.per_request_ms(part):.2f}" for part in ranked)
        + f", so the invoice itself adds {spent - sum(baseline.per_request_ms(part) for part in ranked):.2f} ms. "
        f"A healthz request costs Envoy {healthz.per_request_ms('envoy'):.2f} ms and the load generator "
        f"{healthz.per_request_ms('client'):.2f} ms, and nothing else ({healthz.rate:,.0f}/s, a floor for what "
        "Envoy alone answers). During the invoice phase, in shares of one core: "
        + ", ".join(f"{names.get(part, part)} {share:.0%}" for part, share in use.items())
        + f"; {total:.0%} in all, of the {cores * 100}% that {cores} cores offer. "
    )
    if use["others"] >= 0.1:
        text += (
            f"Other processes and interrupt handling used {use['others']:.0%} of a core meanwhile: where that is "
            "other work, the machine was not quiet and these figures are lower than it can do. "
        )
    busiest = max(PROCESSES, key=lambda part: use[part])
    if use[busiest] >= 0.85:
        single = {
            "ledger": "its Python event loop runs on one core",
            "edge": "its Python event loop runs on one core",
            "envoy": f"it runs {envoy_concurrency} worker thread{'s' if envoy_concurrency > 1 else ''}",
            "redis": "it is single-threaded",
            "postgres": "its backends share the cores",
        }[busiest]
        text += f"The {busiest} process is saturated ({single}), so the bound is its CPU per request. "
    if total >= 0.85 * cores:
        text += (
            "The machine is saturated: every part of the path (Envoy, the edge's one call for the key and limits, "
            "the ledger, Postgres, Redis) and the load generator share its cores, so the sum of their CPU per "
            "request bounds the rate. "
        )
    elif use[busiest] < 0.85:
        text += (
            "No process saturates a core and the machine has CPU to spare, so the bound is waiting: each request "
            "holds one of the concurrent clients across Envoy's calls to the edge and the ledger and the ledger's "
            "round trips to Postgres. "
        )
    ceiling = cores / max(spent / 1e3, 1e-9)
    text += (
        f"Were the {cores} cores given to this path alone, they would carry at most about {ceiling:,.0f} "
        "invoices/s at this CPU per request. The baseline and the invoice share the path's fixed costs (Envoy, "
        "ext_authz with the edge's key cache, the per-address and per-merchant limits, transcoding, the ledger's "
        "interceptor); the ratio isolates what CreateInvoice adds (its Postgres round trips, the insert and the "
        "outbox row), and holds up on a shared machine where the absolute rates do not."
    )
    return text.strip()


def section(
    *,
    command: str,
    when: dt.datetime,
    host: Machine,
    args: argparse.Namespace,
    healthz: Result,
    baseline: Result,
    create: Result,
    ratio: float,
    note: str | None,
) -> str:
    """This benchmark's section of docs/benchmarks.md."""
    rows = []
    for r in (healthz, baseline, create):
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0"
        cpu = " | ".join(f"{r.per_request_ms(part):.2f}" for part in (*PROCESSES, "client"))
        rows.append(
            f"| `{r.route}` | {r.requests:,} | {r.rate:,.0f} | {r.percentile(0.5):.2f} | {r.percentile(0.99):.2f} | "
            f"{errors} | {cpu} | {r.utilisation('others'):.0%} |"
        )
    rate_verdict = "met" if create.rate >= GOAL_RATE else "**not met**"
    ratio_verdict = "met" if ratio >= GOAL_RATIO else "**not met**"
    intro = (
        "`POST /v1/invoices` requests/s through Envoy against a no-op authenticated RPC through the same Envoy, "
        "ext_authz and limits in the same run (issue 20): `GET /v1/invoices/none` with the same merchant key, which "
        "the ledger's handler answers 404 INVOICE_NOT_FOUND without a database query (an id that cannot exist). "
        "`GET /healthz`, Envoy's direct response, is shown as a floor for Envoy and the load generator alone. "
        "The machine is shared with other engineers' work: absolute rates vary between runs, the ratio much "
        "less, so the ratio is the figure to compare. Postgres, Redis, the ledger (`stablegate serve ledger`), "
        "the edge service (`stablegate serve edge`, rate limits raised to "
        f"{HIGH_LIMIT:,}/s so they never bind, credential cache at its default) and Envoy "
        f"(`--concurrency {args.envoy_concurrency}`) each run as their own process on this machine, as in the "
        "edge tests. The load generator is aiohttp in this script's process: "
        f"{args.concurrency} closed-loop clients over HTTP/1.1 keep-alive connections for {args.seconds:g} s per "
        f"route after a {args.warmup:g} s warm-up. Each invoice has a unique `Idempotency-Key`, the merchant's key "
        "(`Authorization: Bearer sk_test_…`) and a new invoice row."
    )
    lines = [
        BEGIN,
        "## Edge: POST /v1/invoices through Envoy against a no-op route",
        "",
        wrap(intro),
        "",
        f"- Command: `{command}`",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {host.line()}",
        f"- Code: {code_version()}",
        "",
        "| route | requests | requests/s | p50 ms | p99 ms | errors | "
        + " | ".join(f"{part} CPU ms/req" for part in PROCESSES)
        + " | client CPU ms/req | other processes and interrupts, % of a core |",
        "|---|" + "---:|" * (len(PROCESSES) + 7),
        *rows,
        "",
        f"**Invoices/s**: **{create.rate:,.0f}** (p99 {create.percentile(0.99):.1f} ms). Goal ≥ {GOAL_RATE:,.0f} — "
        f"{rate_verdict}.",
        "",
        f"**Ratio** invoices / no-op authenticated RPC: **{ratio:.3f}**. Goal: ratio ≥ {GOAL_RATIO} — {ratio_verdict}.",
    ]
    if note:
        lines += ["", wrap("**What bounds it.** " + note)]
    lines += [END, ""]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per route (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each route (default 2)")
    parser.add_argument(
        "--envoy-concurrency", type=int, default=1, help="Envoy worker threads (default 1, as `stablegate up` runs it)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency <= 0 or args.warmup < 0 or args.envoy_concurrency <= 0:
        parser.error("--seconds, --concurrency and --envoy-concurrency must be positive, --warmup not negative")
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
    """Start the parts, measure both routes, print and record."""
    command, when, host = (
        command_line(),
        dt.datetime.now(dt.UTC),
        machine(
            (
                version_of(
                    [str(parts.postgres_bin_dir() / "postgres"), "--version"], r"\(PostgreSQL\) (\S+)", "PostgreSQL"
                ),
                version_of([parts.which("redis-server", ""), "--version"], r"v=(\S+)", "Redis"),
                version_of([parts.which("envoy", ""), "--version"], r"/(\d+\.\d+\.\d+)/", "Envoy"),
            )
        ),
    )
    console.print(f"[dim]{host.line()}[/]")
    with running_stack(args.envoy_concurrency) as stack:
        console.print(
            f"Envoy on {stack.url}; {args.concurrency} clients, {args.seconds:g} s per route "
            f"(pids: {', '.join(f'{name} {p.pid}' for name, p in stack.processes.items())})"
        )
        healthz, baseline, create = asyncio.run(
            run_phases(stack, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency)
        )
    ratio = create.rate / baseline.rate if baseline.rate else float("nan")
    print_results(healthz, baseline, create, ratio)
    if not create.requests or not baseline.requests:
        console.print("[bold red]a phase had no successful requests; nothing recorded[/]")
        return 1
    below = create.rate < GOAL_RATE or ratio < GOAL_RATIO
    note = bound_note(healthz, baseline, create, host.cores, args.envoy_concurrency) if below else None
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
                healthz=healthz,
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
