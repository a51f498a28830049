"""The first README command's time to healthy, in a fresh clone, with the install time beside it (issue 21).

What a new user runs, step by step, in a `git clone` of this repository (its committed HEAD) in a temporary
directory:

1. `./dev setup`: the install step `./dev up` starts with (apt packages when missing, a `.venv` with the project
   and its dev tools, `node_modules`). On this machine the apt packages are already installed and the pip and npm
   caches are warm, so this is a lower bound of a first install; the doc says so.
2. `./dev up --base-port <free>`: the README's command (its install check finds everything done and `exec`s
   `stablegate up`), with the default state dir `.stablegate/` of the fresh clone, timed from the start of the
   command to the line `gateway is up` (printed once every part is healthy and the demo merchant, its key and the
   curl line are printed). The printed curl line is then run and must create an invoice.
3. Ctrl-C (SIGINT), timed until `up` exits with every port closed; then the same command again (data kept),
   timed the same way, and Ctrl-C again.

Prints the figures and rewrites this benchmark's section of docs/benchmarks.md.

    .venv/bin/python bench/up_time.py
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from benchlib import REPO_ROOT, code_version, command_line, machine, markers, version_of, wrap, write_section

from gateway import localrun, parts

SECTION = "up_time"
BEGIN, END = markers(SECTION)
ACCEPTANCE_SECONDS = 180.0
UP_TIMEOUT = 600.0
READY_LINE = b"gateway is up"


@dataclass(frozen=True)
class Start:
    """One `./dev up`: seconds to `gateway is up`, what it said itself, seconds for Ctrl-C to stop it."""

    seconds: float
    self_reported: str
    stop_seconds: float
    invoice_created: bool


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    """A git command's output (it must succeed)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def curl_line(text: str) -> list[str]:
    """The curl command `up` printed to create an invoice, as argv."""
    (line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    return shlex.split(line)


def start_and_stop(clone: Path, base: int, out: Path) -> Start:
    """`./dev up --base-port base` in the clone until it is up; run its curl line; Ctrl-C it and wait for the exit."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("VIRTUAL_ENV", None)
    with out.open("wb") as sink:
        started = time.monotonic()
        proc = subprocess.Popen(
            ["./dev", "up", "--base-port", str(base)], cwd=clone, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    try:
        while READY_LINE not in out.read_bytes():
            if proc.poll() is not None or time.monotonic() - started > UP_TIMEOUT:
                raise RuntimeError(f"`./dev up` did not come up:\n{out.read_text()[-3000:]}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        text = out.read_text()
        healthy = re.search(r"healthy in (\d+) s", text)
        made = subprocess.run(curl_line(text), capture_output=True, text=True, timeout=30, check=False)
        invoice = json.loads(made.stdout) if made.stdout.strip().startswith("{") else {}
        created = made.returncode == 0 and str(invoice.get("id", "")).startswith("inv_")
        stopping = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        ports = localrun.assign_ports(base)
        while [p for p in ports.values() if parts.port_is_open(p)] and time.monotonic() - stopping < 60:
            time.sleep(0.05)
        stop_seconds = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for process in localrun.leftover_programs((clone / ".stablegate").resolve()):
            with contextlib.suppress(psutil.Error):
                process.kill()
    return Start(seconds, healthy.group(1) + " s" if healthy else "not printed", stop_seconds, created)


@dataclass(frozen=True)
class Result:
    """Every figure of the run."""

    clone_seconds: float
    setup_seconds: float
    first: Start
    second: Start
    load: tuple[float, float, float]


def measure(keep: bool) -> Result:
    """Clone, install, start, stop, start again."""
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-up-"))
    clone = tmp / "stablegate"
    try:
        started = time.monotonic()
        git("clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone), cwd=tmp)
        clone_seconds = time.monotonic() - started
        started = time.monotonic()
        with (tmp / "setup.out").open("wb") as sink:
            subprocess.run(["./dev", "setup"], cwd=clone, stdout=sink, stderr=subprocess.STDOUT, check=True)
        setup_seconds = time.monotonic() - started
        print(f"clone {clone_seconds:.1f} s, ./dev setup {setup_seconds:.1f} s", flush=True)
        base = parts.free_port_block(len(localrun.assign_ports(20000)))
        first = start_and_stop(clone, base, tmp / "up-1.out")
        print(f"first ./dev up: {first.seconds:.1f} s to up, stopped in {first.stop_seconds:.1f} s", flush=True)
        second = start_and_stop(clone, base, tmp / "up-2.out")
        print(f"second ./dev up: {second.seconds:.1f} s to up, stopped in {second.stop_seconds:.1f} s", flush=True)
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return Result(clone_seconds, setup_seconds, first, second, load)


def section(r: Result) -> str:
    """This benchmark's section of docs/benchmarks.md."""
    host = machine((version_of([str(parts.postgres_bin_dir() / "postgres"), "--version"], r"(\d+\.\d+)", "Postgres"),))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    worst = max(r.first.seconds, r.second.seconds)
    verdict = "met" if worst < ACCEPTANCE_SECONDS else "not met"
    verdict_text = wrap(
        f"**Acceptance** healthy in under {ACCEPTANCE_SECONDS / 60:.0f} minutes after installs: **{verdict}** "
        f"(worst start {worst:.0f} s). The install time is a lower bound: on a machine with cold caches pip and "
        "npm download everything (and apt installs Postgres, Redis, SoftHSM, Chromium and Node.js when missing)."
    )
    curl = "yes" if r.first.invoice_created and r.second.invoice_created else "NO"
    intro = wrap(
        "What a new user runs, in a `git clone` of the repository (its committed HEAD) in a temporary directory: "
        "`./dev setup` (the install step `./dev up` starts with), then the README's `./dev up` (with `--base-port` "
        "at a free block, as other work shares this machine; the default state dir `.stablegate/`), timed from "
        "the command's start to its line `gateway is up` (every part healthy, the demo merchant, its key and the "
        "curl line printed); the printed curl line is run and must create an invoice; then Ctrl-C, timed until "
        "`up` exits and every port is closed; then the same command again with the data kept."
    )
    return f"""{BEGIN}
## `./dev up`: a fresh clone's time to healthy, and its install time

{intro}

- Command: `{command_line()}`
- Date: {when}
- Machine: {host.line()}
- Load average (the machine was shared with other work): {r.load[0]:.1f} at the start
- Code: {code_version()}

| step | seconds |
|---|---:|
| `git clone` (local) | {r.clone_seconds:.1f} |
| `./dev setup` (install; apt packages already installed, pip and npm caches warm) | {r.setup_seconds:.1f} |
| first `./dev up` to `gateway is up` (fresh state; "healthy in {r.first.self_reported}") | **{r.first.seconds:.1f}** |
| Ctrl-C until every port closed | {r.first.stop_seconds:.1f} |
| second `./dev up` to `gateway is up` (data kept; "healthy in {r.second.self_reported}") | **{r.second.seconds:.1f}** |
| Ctrl-C until every port closed | {r.second.stop_seconds:.1f} |

The printed curl line created an invoice after each start: {curl}.

{verdict_text}
{END}
"""


def main() -> None:
    """Run the benchmark, print its figures, rewrite its section of the doc."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep the clone and its logs (printed at the end)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if git("status", "--porcelain"):
        print("note: the clone has the committed HEAD only; uncommitted changes here are not measured")
    result = measure(args.keep)
    if not (result.first.invoice_created and result.second.invoice_created):
        raise SystemExit("the printed curl line did not create an invoice")
    if not args.no_doc:
        write_section(SECTION, section(result))


if __name__ == "__main__":
    main()
