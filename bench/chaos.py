"""Chaos: SIGKILL every process of `stablegate up` in turn, on a schedule, while payments flow (issue 24).

The command: one run of the runner (tests/e2e/chaos.py, `run_chaos`, shared with tests/e2e/test_chaos.py) at 1,000
payments, which prints what it killed and counted and writes that into docs/benchmarks.md. What it kills and how
(the chain, anvil, included: it comes back from its last dump): tests/e2e/chaos.py and docs/e2e.md, "Chaos".

    .venv/bin/python bench/chaos.py [--invoices 1000] [--replicas 2] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import REPO_ROOT, code_version, command_line, machine, markers, version_of, write_section

sys.path.insert(0, str(REPO_ROOT))  # the chaos runner and the end-to-end harness, shared with the suite
from gateway import parts
from gateway.up_options import MAX_REPLICAS
from tests.e2e.chaos import Checked, Kill, run_chaos
from tests.e2e.e2e_harness import SUITE_SETTINGS, running_gateway

# --- the command -----------------------------------------------------------------------------------------------


def run(
    count: int, tmp: Path, interval: float, rounds: int, replicas: int = 1
) -> tuple[list[Kill], Checked, dict[str, float]]:
    """Start `up` (`--replicas`), kill every program during a `count`-payment run, check everything.

    (kills, counts, timings).
    """
    started = time.monotonic()
    with running_gateway(tmp, settings=SUITE_SETTINGS, replicas=replicas) as g:
        up = time.monotonic() - started
        load_before = os.getloadavg()[0]
        kills, checked, timings = run_chaos(g, count, interval=interval, rounds=rounds)
    return kills, checked, {"up": up, **timings, "load_before": load_before, "load_after": os.getloadavg()[0]}


def section(count: int, kills: Sequence[Kill], checked: Checked, timings: dict[str, float], replicas: int = 1) -> str:
    """This benchmark's section of docs/benchmarks.md."""
    begin, end = markers("chaos")
    how = "`./dev up` does" if replicas == 1 else f"`./dev up --replicas {replicas}` does (every replica killed too)"
    rows = "\n".join(
        f"| {k.program} | {k.how} | {k.at:.1f} | {k.down_seconds:.1f} | {k.pid} → {k.new_pid} |" for k in kills
    )
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine(
        (
            version_of([str(parts.postgres_bin_dir() / "postgres"), "--version"], r"(\d+\.\d+)", "Postgres"),
            version_of([str(REPO_ROOT / "node_modules/.bin/anvil"), "--version"], r"Version: (\S+)", "anvil"),
        )
    )
    return f"""{begin}
## Chaos: {count:,} payments while every process is killed

`bench/chaos.py` starts the gateway as {how}, then, while {count:,} invoices are created over REST and
paid at once on chain, SIGKILLs each of `up`'s programs in turn, the chain (anvil) included (its whole process
group, read from `supervisorctl status`; supervisord restarts it, and anvil comes back from its last dump: the
fault's row shows its head before the kill and after the restart; docs/e2e.md, "Chaos"). The request path (edge,
Envoy, checkout, dashboard) is faulted while the invoices are created, the rest once the payments are sent. One
fault at a time; the next waits until every program is RUNNING again.

- Command: `{command_line()}`
- Date: {when}
- Code: {code_version()}
- Machine: {host.line()}; load average {timings["load_before"]:.1f} when the load began, {timings["load_after"]:.1f}
  at its end (the machine was shared with other work)
- Times in seconds from the start of the load (the first invoice created): gateway up in {timings["up"]:.0f} s
  before it; invoices created by {timings["created"]:.0f} s; payments sent at {timings["sent"]:.0f} s; the last
  `invoice.paid` received at {timings["last_notified"]:.0f} s; every check passed at {timings["checked"]:.0f} s.

| program | fault | at (s) | down (s) | pid |
|---|---|---:|---:|---|
{rows}

Counts, all asserted in the run: {checked.invoices:,} invoices; **{checked.credited_once:,} credited exactly once**
(one `payment_final` journal transaction each, none reversed); **{checked.webhooks_paid:,} `invoice.paid` events,
one per invoice**, delivered {checked.paid_deliveries:,} times (redeliveries share the `webhook-id`), every one
verified with standardwebhooks; **{checked.swept_once:,} deposits swept exactly once** (one token transfer each to
the treasury on chain, one `sweep_deposits` row each in the ledger); {checked.journal_transactions:,} journal
transactions, {checked.unbalanced} unbalanced; {checked.payments_resent:,} payments sent again by the
customers' wallets (lost with the blocks the chain's restart lost, or dropped from anvil's pool), and
{checked.seen_reorged:,} payments seen (not credited) in lost blocks and reorged by the ledger before their credit;
the merchant's balance grew by the invoices' sum and `stablegate reconcile` MATCHED the chain.
{end}
"""


def main() -> None:
    """Run the chaos benchmark, print what it killed and counted, rewrite its section of the doc."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between faults")
    parser.add_argument("--rounds", type=int, default=1, help="times every program is faulted")
    parser.add_argument("--replicas", type=int, default=1, help="`up --replicas`: each replica is killed too")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.invoices < 1 or args.rounds < 1 or args.interval < 0:
        parser.error("--invoices and --rounds must be at least 1, --interval not negative")
    if not 1 <= args.replicas <= MAX_REPLICAS:
        parser.error(f"--replicas must be 1 to {MAX_REPLICAS}")
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        kills, checked, timings = run(args.invoices, Path(tmp), args.interval, args.rounds, args.replicas)
    for k in kills:
        print(f"{k.program}: {k.how} pid {k.pid} -> {k.new_pid}, down {k.down_seconds:.1f} s")
    print(checked)
    print(timings)
    if not args.no_doc:
        write_section("chaos", section(args.invoices, kills, checked, timings, args.replicas))


if __name__ == "__main__":
    main()
