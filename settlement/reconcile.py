"""Reconciliation: on-chain balances at one finalized block against the ledger's accounts as of that block.

What is compared, per asset (docs/settlement.md, "Reconciliation"):

| ledger account kind | on chain |
|---|---|
| `treasury` | the token balance of the treasury contract (the hot wallet) |
| `cold_storage` | the token balance of the cold Safe (skipped when no Safe is configured) |
| `chain_clearing` | the sum of token balances at every deposit address the ledger knows (swept ones hold 0) |
| `gas_float` | the sum of BNB held by the signing keys (skipped until the ledger has that account) |

A difference (chain minus ledger, in base units) is reported, never corrected: the caller turns it into a
report row, a metric and an alert event. This module is plain code over two Protocols; the adapters live in
`settlement.reconcile_sources`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class LineStatus(enum.Enum):
    """Outcome of one line."""

    MATCHED = "MATCHED"
    MISMATCHED = "MISMATCHED"
    SKIPPED = "SKIPPED"


class ReportStatus(enum.Enum):
    """Outcome of one run."""

    MATCHED = "MATCHED"
    MISMATCHED = "MISMATCHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Line:
    """One ledger account against what the chain holds for it (base units; None when not read: skipped)."""

    account: str
    kind: str
    asset: str
    address: str
    chain_balance: int | None
    ledger_balance: int | None
    note: str = ""

    @property
    def status(self) -> LineStatus:
        """MATCHED, MISMATCHED, or SKIPPED when one side was not read."""
        if self.chain_balance is None or self.ledger_balance is None:
            return LineStatus.SKIPPED
        return LineStatus.MATCHED if self.chain_balance == self.ledger_balance else LineStatus.MISMATCHED

    @property
    def difference(self) -> int:
        """Chain minus ledger; 0 when matched or skipped."""
        if self.chain_balance is None or self.ledger_balance is None:
            return 0
        return self.chain_balance - self.ledger_balance


@dataclass(frozen=True)
class Report:
    """The result of one reconciliation run."""

    id: str
    chain_id: int
    block_number: int | None
    status: ReportStatus
    lines: tuple[Line, ...]
    error: str
    create_time: dt.datetime
    complete_time: dt.datetime
    trigger: str = "api"
    request_id: str = ""

    @property
    def mismatches(self) -> tuple[Line, ...]:
        """Lines whose balances differ."""
        return tuple(line for line in self.lines if line.status is LineStatus.MISMATCHED)


@dataclass(frozen=True)
class Targets:
    """What to reconcile: the chain, the assets and the addresses from settlement's settings."""

    chain_id: int
    asset: str
    native_asset: str
    token_contract: str
    treasury: str | None
    cold_safe: str | None
    signing_keys: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LedgerAccount:
    """A ledger account's code and balance (as of the block asked for)."""

    code: str
    balance: int


class ChainBalances(Protocol):
    """Reads balances from the chain at a given block."""

    async def finalized_block(self) -> int:
        """The newest finalized block number."""
        ...

    async def token_balances(self, token: str, addresses: Sequence[str], block: int) -> list[int]:
        """`balanceOf` of each address at `block`, in order."""
        ...

    async def native_balances(self, addresses: Sequence[str], block: int) -> list[int]:
        """The native (BNB) balance of each address at `block`, in order."""
        ...


class LedgerBooks(Protocol):
    """Reads the ledger: platform accounts by kind and asset, and the deposit addresses it made."""

    async def accounts(self, kind: str, asset: str, block: int) -> list[LedgerAccount]:
        """The accounts of a kind in an asset, as of `block` (empty when none exists yet)."""
        ...

    async def deposit_addresses(self) -> list[str]:
        """Every deposit address, active and retired."""
        ...


class BlockNotFinalized(ValueError):
    """The block asked for is above the newest finalized block."""

    def __init__(self, block: int, finalized: int) -> None:
        super().__init__(f"block {block} is not finalized yet (newest finalized: {finalized})")
        self.block = block
        self.finalized = finalized


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _ledger_total(accounts: Sequence[LedgerAccount]) -> int:
    return sum(a.balance for a in accounts)


async def compare(
    targets: Targets, chain: ChainBalances, ledger: LedgerBooks, *, block: int | None = None
) -> tuple[int, tuple[Line, ...]]:
    """Read both sides at one finalized block; the block and one line per account (none corrected).

    The block comes first (the newest finalized one unless asked for), then the ledger as of it (payments seen
    in later blocks left out), then the chain at it. Postings without a payment (sweeps, moves to cold) are booked
    at their own finality and counted whenever they are booked: one booked in the moment between reading the
    block and reading the ledger shows as a difference in this run only (docs/settlement.md says so).
    """
    finalized = await chain.finalized_block()
    if block is not None and block > finalized:
        raise BlockNotFinalized(block, finalized)
    at = finalized if block is None else block
    asset, native = targets.asset, targets.native_asset
    lines: list[Line] = []

    treasury = await ledger.accounts("treasury", asset, at)
    code = f"treasury:{asset}"
    if targets.treasury:
        [held] = await chain.token_balances(targets.token_contract, [targets.treasury], at)
        lines.append(Line(code, "treasury", asset, targets.treasury, held, _ledger_total(treasury)))
    else:
        lines.append(Line(code, "treasury", asset, "", None, _ledger_total(treasury), "no treasury configured"))

    cold = await ledger.accounts("cold_storage", asset, at)
    code = f"cold_storage:{asset}"
    if targets.cold_safe:
        [held] = await chain.token_balances(targets.token_contract, [targets.cold_safe], at)
        lines.append(Line(code, "cold_storage", asset, targets.cold_safe, held, _ledger_total(cold)))
    else:
        lines.append(
            Line(code, "cold_storage", asset, "", None, _ledger_total(cold), "no cold Safe configured: not compared")
        )

    clearing = await ledger.accounts("chain_clearing", asset, at)
    addresses = await ledger.deposit_addresses()
    held_at_deposits = sum(await chain.token_balances(targets.token_contract, addresses, at)) if addresses else 0
    lines.append(
        Line(
            f"chain_clearing:{asset}",
            "chain_clearing",
            asset,
            _count(len(addresses), "deposit address", "deposit addresses"),
            held_at_deposits,
            _ledger_total(clearing),
        )
    )

    gas = await ledger.accounts("gas_float", native, at)
    code = f"gas_float:{native}"
    keys = list(targets.signing_keys)
    if not keys:
        lines.append(Line(code, "gas_float", native, "", None, None, "no signing key addresses configured"))
    elif not gas:
        lines.append(
            Line(
                code,
                "gas_float",
                native,
                _count(len(keys), "signing key", "signing keys"),
                None,
                None,
                "the ledger has no gas_float account yet: not compared",
            )
        )
    else:
        held = sum(await chain.native_balances(keys, at))
        keys_text = _count(len(keys), "signing key", "signing keys")
        lines.append(Line(code, "gas_float", native, keys_text, held, _ledger_total(gas)))
    return at, tuple(lines)


def report_status(lines: Sequence[Line]) -> ReportStatus:
    """MISMATCHED when any line differs, else MATCHED."""
    if any(line.status is LineStatus.MISMATCHED for line in lines):
        return ReportStatus.MISMATCHED
    return ReportStatus.MATCHED
