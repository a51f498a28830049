"""What every benchmark in bench/ shares: CPU accounting, latency percentiles, the machine, the doc section."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Figures recorded by the scripts in `bench/`. Each script rewrites its own section on every run (the other
sections stay) and records the exact command, the date (UTC) and the machine it ran on. Figures are
reported, not gated (DECISIONS.md, "Tests and figures"): a figure below its goal is recorded as measured,
with a note on what bounds it.
"""


def cpu_of(process: psutil.Process) -> float:
    """CPU seconds (user + system) a process has used so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (Postgres backends, the envoy wrapper's binary)."""
    try:
        root = psutil.Process(pid)
        total = cpu_of(root)
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += cpu_of(child)
    except psutil.NoSuchProcess:
        return 0.0
    return total


def machine_cpu() -> float:
    """Busy CPU seconds of every core together, whoever used them (interrupts too; not a hypervisor's steal)."""
    times = psutil.cpu_times()
    # guest time is already counted in user time on Linux; steal is time the VM did not get at all.
    busy = ("user", "nice", "system", "irq", "softirq")
    return float(sum(getattr(times, name, 0.0) for name in busy))


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    """Latency at quantile q (nearest rank), in milliseconds."""
    ordered = sorted(latencies)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1e3


@dataclass(frozen=True)
class Machine:
    """Where the figures were measured."""

    cpu: str
    cores: int
    python: str
    system: str
    versions: tuple[str, ...]

    def line(self) -> str:
        """One line for the doc."""
        return f"{self.cpu}, {self.cores} cores; Python {self.python}; {self.system}; " + "; ".join(self.versions)


def version_of(argv: list[str], pattern: str, label: str) -> str:
    """`label version` from a tool's `--version` output, or a note that it is unknown."""
    with contextlib.suppress(OSError):
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30).stdout
        found = re.search(pattern, out)
        if found:
            return f"{label} {found.group(1)}"
    return f"{label} (version unknown)"


def machine(versions: tuple[str, ...]) -> Machine:
    """CPU model, core count, Python and kernel, with the versions of the parts the benchmark runs."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return Machine(
        cpu, os.cpu_count() or 0, platform.python_version(), f"{platform.system()} {platform.release()}", versions
    )


def code_version() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain")
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def command_line() -> str:
    """The command as typed from the repository root."""

    def rel(path: str) -> str:
        with contextlib.suppress(ValueError):
            return str(Path(path).absolute().relative_to(REPO_ROOT))
        return path

    return shlex.join([rel(sys.executable), rel(sys.argv[0]), *sys.argv[1:]])


def wrap(text: str) -> str:
    """A paragraph wrapped like the rest of docs/ (words and hyphenated names kept whole)."""
    return textwrap.fill(text, width=110, break_on_hyphens=False, break_long_words=False)


def markers(name: str) -> tuple[str, str]:
    """The comments that fence one benchmark's section of docs/benchmarks.md."""
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def write_section(name: str, text: str, path: Path = DOC) -> None:
    """Replace one benchmark's section of the doc (or append it), keeping every other section."""
    begin, end = markers(name)
    current = path.read_text() if path.exists() else DOC_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated)


Attempt = Callable[[], Awaitable[str | None]]
"""One request: None when it succeeded, else a label for the failure (a status code, an exception name)."""


async def drive(attempt: Attempt, *, seconds: float, concurrency: int) -> tuple[list[float], dict[str, int], float]:
    """Run `concurrency` closed-loop clients for `seconds`; latencies of successes, failures by label, elapsed."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        while (now := time.perf_counter()) < deadline:
            failure = await attempt()
            if failure is None:
                latencies.append(time.perf_counter() - now)
            else:
                errors[failure] = errors.get(failure, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started
