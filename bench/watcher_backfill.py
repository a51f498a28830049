"""Watcher backfill: matched transfers/s of the watcher's scan against a bare eth_getLogs sweep of the same range.

    .venv/bin/python bench/watcher_backfill.py [--transfers 100000] [--deposit-share 0.1] [--no-write]

Builds a chain on a throwaway anvil with `--transfers` token transfers (a share of them to deposit addresses,
the rest to random ones), then, in the same run: (1) a bare sweep, `eth_getLogs` of the token's Transfer logs
over the whole range in the watcher's chunk size, parsed and counted, nothing else; (2) the watcher's own scan
(`watcher.scanner.Scanner`: the same logs plus the other-token query for the watched addresses, matching,
parent-hash checks above finality, each match stored in its Postgres schema) over the same range. The
watcher reports to a counting reporter: what the ledger does with each report is measured by the ledger's
benchmark, not here. Ratio = bare sweep seconds / watcher seconds. Goal ≥ 0.8 (reported, not gated).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from benchlib import REPO_ROOT, code_version, command_line, machine, version_of, wrap, write_section
from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(REPO_ROOT))

from chain.build import ARTIFACTS_DIR
from chain.client import ChainClient, ClientOptions
from chain.types import TRANSFER_TOPIC, parse_transfer_logs
from gateway import parts
from watcher.metrics import WatcherMetrics
from watcher.reporter import FeedPage
from watcher.scanner import Scanner, ScanOptions
from watcher.store import state
from watcher.store.state import Observed, apply_migrations

SECTION = "watcher-backfill"
GOAL = 0.8
CHUNK = 2000
console = Console()


@dataclass
class CountingReporter:
    """Stands where the ledger would: counts reports, feeds nothing (the watch set is loaded directly)."""

    chain_id: int = 97
    reports: int = 0
    finality_calls: int = 0
    seen: set[tuple[str, int]] = field(default_factory=set)

    async def feed(self, cursor: str, page_size: int = 1000) -> FeedPage:
        return FeedPage([], cursor, True)

    async def transfer(self, observed: Observed, finality: str, block_time: int | None = None) -> str:
        self.reports += 1
        self.seen.add((observed.tx_hash, observed.log_index))
        return "MATCHED"

    async def finality(self, number: int, block_hash: str, canonical: list[tuple[int, str]]) -> Any:
        self.finality_calls += 1

        class Reply:
            credited_payment_count = 0

        return Reply()


def word(value: int | str) -> str:
    if isinstance(value, str):
        return value.lower().removeprefix("0x").rjust(64, "0")
    return hex(value)[2:].rjust(64, "0")


async def rpc(session: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> Any:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as resp:
        reply = await resp.json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


async def build_chain(url: str, transfers: int, share: float) -> tuple[str, list[str], int]:
    """Deploy the token and make the transfers; (token, deposit addresses, transfers to them)."""
    async with aiohttp.ClientSession() as session:
        accounts = [str(a) for a in await rpc(session, url, "eth_accounts", [])]
        artifact = json.loads((ARTIFACTS_DIR / "StablegateTestToken.json").read_text())
        name = b"Bench USD"
        args = word(64) + word(128) + word(len(name)) + name.hex().ljust(64, "0")
        args += word(4) + b"USDT".hex().ljust(64, "0")
        deploy = {"from": accounts[0], "data": artifact["bytecode"] + args}
        tx = await rpc(session, url, "eth_sendTransaction", [deploy])
        receipt = None
        while receipt is None:
            receipt = await rpc(session, url, "eth_getTransactionReceipt", [tx])
            await asyncio.sleep(0.02)
        token = str(receipt["contractAddress"]).lower()
        senders = accounts[1:9]
        for sender in senders:
            data = "0x40c10f19" + word(sender) + word(10**30)
            await rpc(session, url, "eth_sendTransaction", [{"from": accounts[0], "to": token, "data": data}])
        deposits = ["0x" + secrets.token_hex(20) for _ in range(max(1, int(transfers * share) // 10))]
        nonces = {s: int(await rpc(session, url, "eth_getTransactionCount", [s, "pending"]), 16) for s in senders}
        await rpc(session, url, "evm_setAutomine", [False])
        matched = 0
        sem = asyncio.Semaphore(32)

        async def send(i: int) -> None:
            nonlocal matched
            to_deposit = (i % round(1 / share)) == 0 if share > 0 else False
            to = deposits[i % len(deposits)] if to_deposit else "0x" + secrets.token_hex(20)
            matched += to_deposit
            data = "0xa9059cbb" + word(to) + word(10**18 + i)
            sender = senders[i % len(senders)]
            nonce, nonces[sender] = nonces[sender], nonces[sender] + 1
            tx = {"from": sender, "to": token, "data": data, "gas": hex(80_000), "nonce": hex(nonce)}
            async with sem:
                await rpc(session, url, "eth_sendTransaction", [tx])

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("making transfers", total=transfers)
            batch = 600
            for start in range(0, transfers, batch):
                await asyncio.gather(*(send(i) for i in range(start, min(transfers, start + batch))))
                await rpc(session, url, "evm_mine", [])
                progress.advance(task, min(batch, transfers - start))
        await rpc(session, url, "evm_setAutomine", [True])
        await rpc(session, url, "anvil_mine", [hex(20)])
        return token, deposits, matched


async def bare_sweep(url: str, token: str, last: int) -> tuple[float, int]:
    """eth_getLogs of the token's Transfer logs over [1, last] in CHUNK blocks, parsed; (seconds, logs)."""
    client = ChainClient([url], ClientOptions(timeout_seconds=60))
    try:
        started, count = time.perf_counter(), 0
        for start in range(1, last + 1, CHUNK):
            end = min(last, start + CHUNK - 1)
            query = {"address": token, "topics": [TRANSFER_TOPIC], "fromBlock": hex(start), "toBlock": hex(end)}
            count += len(await client.call("eth_getLogs", [query], parse_transfer_logs))
        return time.perf_counter() - started, count
    finally:
        await client.close()


async def watcher_scan(url: str, dsn: str, token: str, deposits: list[str], last: int) -> tuple[float, int]:
    """The watcher's scan over [1, last] with the deposit addresses watched; (seconds, matches reported)."""
    await apply_migrations(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    client = ChainClient([url], ClientOptions(timeout_seconds=60))
    reporter = CountingReporter()
    try:
        async with pool.acquire() as conn:
            far = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            await state.add_addresses(conn, 97, [(a, f"inv_{i}", far) for i, a in enumerate(deposits)])
        # The native-BNB balance check is periodic work (every 30 s), not per transfer: left out of the ratio.
        options = ScanOptions(chain_id=97, token=token, start_block=1, max_range=CHUNK, native_check_seconds=0)
        scanner = Scanner(client, pool, reporter, options, WatcherMetrics())  # type: ignore[arg-type]
        head = await client.head()
        assert head >= last
        started = time.perf_counter()
        await scanner.tick()
        return time.perf_counter() - started, reporter.reports
    finally:
        await client.close()
        await pool.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=100_000, help="token transfers on the chain (default 100000)")
    parser.add_argument("--deposit-share", type=float, default=0.1, help="share to deposit addresses (default 0.1)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    base = parts.make_shared_dir("stablegate-bench-")
    started: list[parts.RunningProcess] = []
    try:
        plan, spec = parts.prepare_postgres(base, parts.free_port())
        started.append(parts.start(spec))
        parts.create_database(plan)
        anvil_port = parts.free_port()
        anvil = parts.prepare_anvil(anvil_port)
        anvil.argv += ["--gas-limit", "100000000"]
        started.append(parts.start(anvil))
        url = f"http://127.0.0.1:{anvil_port}"
        console.print(f"building a chain with {args.transfers:,} transfers…")
        built = time.perf_counter()
        token, deposits, matched = await build_chain(url, args.transfers, args.deposit_share)
        async with aiohttp.ClientSession() as session:
            head = int(await rpc(session, url, "eth_blockNumber", []), 16)
        console.print(f"chain built in {time.perf_counter() - built:.0f} s: {head} blocks")
        bare_seconds, logs = await bare_sweep(url, token, head)
        scan_seconds, reports = await watcher_scan(url, plan.dsn, token, deposits, head)
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(base, ignore_errors=True)
    ratio = bare_seconds / scan_seconds
    console.print(
        f"bare sweep: {logs:,} logs in {bare_seconds:.2f} s ({logs / bare_seconds:,.0f}/s); watcher: {reports:,} "
        f"matched of {logs:,} in {scan_seconds:.2f} s ({reports / scan_seconds:,.0f} matched/s, "
        f"{logs / scan_seconds:,.0f} transfers/s); ratio {ratio:.2f} (goal ≥ {GOAL})"
    )
    if reports != matched:
        console.print(f"[bold red]the watcher matched {reports:,} transfers; {matched:,} went to deposit addresses[/]")
        return 1
    if not args.no_write:
        host = machine((version_of(["anvil", "--version"], r"anvil Version: (\S+)", "anvil"),))
        verdict = "met" if ratio >= GOAL else "**not met**"
        text = "\n".join(
            [
                f"<!-- bench:{SECTION}:begin -->",
                "## Watcher: backfill against a bare eth_getLogs sweep",
                "",
                wrap(
                    f"A throwaway anvil with {logs:,} token transfers in {head:,} blocks, {matched:,} of them to "
                    f"{len(deposits):,} watched deposit addresses. The bare sweep reads the token's Transfer logs "
                    f"over the whole range in {CHUNK}-block `eth_getLogs` calls and parses them. The watcher's scan "
                    "covers the same range with its own chunking, adds the other-token query for the watched "
                    "addresses, matches, and stores each match in its Postgres schema (the periodic native-BNB "
                    "balance check is off); it reports to a counting "
                    "stand-in for the ledger (the ledger's recording cost is the ledger benchmark's)."
                ),
                "",
                f"- Command: `{command_line()}`",
                f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
                f"- Machine: {host.line()}",
                f"- Code: {code_version()}",
                "",
                "| pass | transfers | matched | seconds | transfers/s | matched/s |",
                "|---|---:|---:|---:|---:|---:|",
                f"| bare `eth_getLogs` sweep | {logs:,} | — | {bare_seconds:.2f} | {logs / bare_seconds:,.0f} | — |",
                f"| watcher scan | {logs:,} | {reports:,} | {scan_seconds:.2f} | {logs / scan_seconds:,.0f} | "
                f"{reports / scan_seconds:,.0f} |",
                "",
                f"**Ratio** bare seconds / watcher seconds: **{ratio:.2f}**. Goal: ≥ {GOAL} — {verdict}.",
                f"<!-- bench:{SECTION}:end -->",
                "",
            ]
        )
        write_section(SECTION, text)
        console.print("recorded in docs/benchmarks.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "120")
    sys.exit(main())
