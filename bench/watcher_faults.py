"""The watcher under provider faults at the issue's full size: 1,000 payments, each credited exactly once.

    .venv/bin/python bench/watcher_faults.py [--payments 1000] [--no-write]

The test suite runs `test_payments_are_each_credited_once_while_providers_die_lie_and_refuse` with 300
payments to keep its time budget (DECISIONS, "Suite time"); this script runs the same test with the stated
size and records the outcome and the time it took in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time

from benchlib import REPO_ROOT, code_version, command_line, machine, wrap, write_section
from rich.console import Console

SECTION = "watcher-faults"
TEST = "tests/chain/test_watcher.py::test_payments_are_each_credited_once_while_providers_die_lie_and_refuse"
console = Console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=1000, help="payments in the fault run (default 1000)")
    parser.add_argument("--no-write", action="store_true", help="print the outcome, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    env = {**os.environ, "STABLEGATE_FAULT_PAYMENTS": str(args.payments)}
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=900", TEST]
    with console.status(f"running the fault scenario with {args.payments:,} payments…"):
        started = time.perf_counter()
        run = subprocess.run(pytest, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    passed = run.returncode == 0
    console.print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:])
    outcome = "every payment credited exactly once" if passed else "**failed** (see the test's output)"
    console.print(f"{args.payments:,} payments: {outcome} in {seconds:.0f} s")
    if not args.no_write:
        host = machine(())
        text = "\n".join(
            [
                f"<!-- bench:{SECTION}:begin -->",
                "## Watcher: payments under provider faults, at full size",
                "",
                wrap(
                    f"`{TEST.split('::')[1]}` with {args.payments:,} payments: two providers behind our "
                    "fault-injecting JSON-RPC proxy in front of anvil, in phases (one killed, 502s, garbage, "
                    "internal errors, a stale head that omits newer blocks, range limits, 429s), at least one "
                    "answering correctly at every moment; the test asserts every invoice PAID, one payment row "
                    "each, the merchant's balance equal to the sum, the books sound, and both breakers opened "
                    "and closed again."
                ),
                "",
                f"- Command: `{command_line()}`",
                f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
                f"- Machine: {host.line()}",
                f"- Code: {code_version()}",
                "",
                f"**Outcome**: {outcome}, in {seconds:.0f} s (including the test's set-up).",
                f"<!-- bench:{SECTION}:end -->",
                "",
            ]
        )
        write_section(SECTION, text)
        console.print("recorded in docs/benchmarks.md")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
