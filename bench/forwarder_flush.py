"""Gas per deposit address swept by ForwarderFactory.flushBatch, new and reused forwarders (issue 15).

Starts its own anvil (chain id 97, as the tests do), deploys the contracts from contracts/artifacts, funds
deposit addresses with the test token and measures the gas of: one new forwarder swept alone; one reused
forwarder alone; batches of N new, N reused and N mixed (half each, the acceptance test's shape). Per-deposit
gas is the transaction's gas used over N (the 21,000 base cost shared). For comparison it also measures what
sweeping an ordinary key-held deposit address costs: a BNB top-up for gas plus an ERC20 transfer of the whole
balance. Prints the figures and rewrites this benchmark's section of docs/benchmarks.md.

    .venv/bin/python bench/forwarder_flush.py [--batch 100] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from itertools import count

from benchlib import (
    DOC,
    REPO_ROOT,
    Machine,
    code_version,
    command_line,
    machine,
    markers,
    version_of,
    wrap,
    write_section,
)
from rich.console import Console
from rich.table import Table

from chain import abi
from chain.build import EVM_VERSION, SOLC_VERSION
from chain.contracts import Chain, Contract, load_artifact
from chain.deploy import Deployment, Roles, deploy
from chain.rpc import JsonRpc
from gateway import parts

SECTION = "forwarder_flush"
TOKEN = 10**18
console = Console()


@dataclass(frozen=True)
class Row:
    """One measured transaction."""

    case: str
    deposits: int
    gas: int

    @property
    def per_deposit(self) -> int:
        """Gas used over the deposits it swept (rounded down)."""
        return self.gas // self.deposits


class Bench:
    """The deployed contracts and a source of fresh, funded deposit addresses."""

    def __init__(self, chain: Chain, deployment: Deployment, accounts: list[str]) -> None:
        self.chain = chain
        self.d = deployment
        self.sweeper = accounts[0]
        self.payer = accounts[4]
        self.token = Contract(chain, deployment.token, load_artifact("StablegateTestToken"))
        self.factory = Contract(chain, deployment.factory, load_artifact("ForwarderFactory"))
        self._ids = count()
        self.token.transact("mint", self.payer, 10**12 * TOKEN, sender=self.payer)

    def salts(self, n: int) -> list[bytes]:
        """N salts never used before."""
        return [abi.keccak256(f"bench-{next(self._ids)}".encode()) for _ in range(n)]

    def fund(self, salts: list[bytes]) -> None:
        """Pay each deposit address an amount of the token, as a customer would."""
        for k, salt in enumerate(salts):
            address = self.factory.call1("predict", salt)
            self.token.transact("transfer", address, (k + 1) * TOKEN + 1, sender=self.payer)

    def flush(self, salts: list[bytes]) -> int:
        """Gas of one flushBatch over `salts`."""
        return self.factory.transact("flushBatch", salts, [], [], sender=self.sweeper).gas_used

    def deployed(self, n: int) -> list[bytes]:
        """N salts whose forwarders exist already (swept once, empty)."""
        salts = self.salts(n)
        self.flush(salts)
        return salts


def measure(bench: Bench, batch: int) -> list[Row]:
    """Every case, in a fixed order on one chain."""
    rows: list[Row] = []

    def run(case: str, salts: list[bytes]) -> None:
        bench.fund(salts)
        rows.append(Row(case, len(salts), bench.flush(salts)))

    run("1 new forwarder, alone", bench.salts(1))
    run("1 reused forwarder, alone", bench.deployed(1))
    run(f"{batch} new forwarders, one batch", bench.salts(batch))
    run(f"{batch} reused forwarders, one batch", bench.deployed(batch))
    half = batch // 2
    mixed = [s for pair in zip(bench.salts(half), bench.deployed(batch - half), strict=True) for s in pair]
    run(f"{batch} mixed (half new, half reused), one batch", mixed)

    # A deposit address held by a key instead: top it up with BNB for gas, then transfer its whole balance.
    holder = bench.chain.accounts()[5]
    bench.token.transact("transfer", holder, 10 * TOKEN, sender=bench.payer)
    top_up = bench.chain.send(bench.payer, holder, b"", value=10**15).gas_used
    balance = int(bench.token.call1("balanceOf", holder))
    sweep = bench.token.transact("transfer", bench.d.treasury, balance, sender=holder).gas_used
    rows.append(Row("key-held address: BNB top-up + ERC20 transfer (for comparison)", 1, top_up + sweep))
    return rows


def section(*, command: str, when: dt.datetime, host: Machine, rows: list[Row], batch: int) -> str:
    """This benchmark's section of docs/benchmarks.md."""
    begin, end = markers(SECTION)
    by_case = {r.case: r for r in rows}
    new = by_case[f"{batch} new forwarders, one batch"].per_deposit
    reused = by_case[f"{batch} reused forwarders, one batch"].per_deposit
    key_held = rows[-1].per_deposit
    lines = [
        begin,
        "## Chain: gas per deposit swept by ForwarderFactory.flushBatch",
        "",
        wrap(
            "Gas of one `flushBatch` transaction over funded deposit addresses (issue 15), on anvil (chain id 97), "
            f"contracts compiled with solc {SOLC_VERSION} (`evmVersion` {EVM_VERSION}, optimizer 200 runs). Per "
            "deposit: the transaction's gas used over the addresses it swept (the 21,000 base cost shared). A new "
            "forwarder is deployed (an EIP-1167 clone, CREATE2) in the same call; a reused one was swept before. "
            "Each sweep moves the token's whole balance to the treasury and emits `Flushed`. Gas is deterministic: "
            "it does not depend on the machine."
        ),
        "",
        f"- Command: `{command}`",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {host.line()}",
        f"- Code: {code_version()}",
        "",
        "| case | deposits | gas used | gas per deposit |",
        "|---|---:|---:|---:|",
        *(f"| {r.case} | {r.deposits} | {r.gas:,} | {r.per_deposit:,} |" for r in rows),
        "",
        wrap(
            f"**Per deposit in a batch of {batch}:** {new:,} gas for a new forwarder, {reused:,} for a reused one "
            f"(a key-held address would cost {key_held:,} in two transactions, and a BNB balance to keep on each). "
            f"At a gas price of 1 gwei that is {new / 10**9:.6f} BNB per new deposit and {reused / 10**9:.6f} BNB "
            "per reused one."
        ),
        end,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start anvil, deploy, measure, print and record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=100, help="deposit addresses per batch (default 100)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    anvil_spec = parts.prepare_anvil(parts.free_port())
    anvil_bin = anvil_spec.argv[0]
    host = machine((version_of([anvil_bin, "--version"], r"anvil(?: Version:)? ([0-9][^\s]*)", "anvil"),))
    command, when = command_line(), dt.datetime.now(dt.UTC)
    console.print(f"[dim]{host.line()}[/]")
    proc = parts.start(anvil_spec)
    try:
        chain = Chain(JsonRpc(f"http://127.0.0.1:{anvil_spec.port}"))
        accounts = chain.accounts()
        roles = Roles(accounts[0], accounts[0], accounts[0], accounts[1], accounts[2])
        bench = Bench(chain, deploy(chain, accounts[0], roles), accounts)
        rows = measure(bench, args.batch)
    finally:
        proc.stop()
    table = Table(title="gas per deposit swept")
    for column in ("case", "deposits", "gas used", "gas per deposit"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for r in rows:
        table.add_row(r.case, str(r.deposits), f"{r.gas:,}", f"{r.per_deposit:,}")
    console.print(table)
    if not args.no_write:
        write_section(SECTION, section(command=command, when=when, host=host, rows=rows, batch=args.batch))
        console.print(f"recorded in {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
