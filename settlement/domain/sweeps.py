"""What a sweep is made of and how deposits are cut into batches: plain data and functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Deposit:
    """A deposit address whose credited payments are final and not yet swept (the ledger's view)."""

    deposit_address: str
    salt: str
    invoice_id: str
    amount: int
    """Token base units the ledger credited to this address."""
    payment_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quarantine:
    """A stray token an admin asked to quarantine (the ledger's view): moved by the next flush of its address."""

    stray_id: str
    deposit_address: str
    salt: str
    invoice_id: str
    token_contract: str
    amount: int
    """Base units of the stray token the reported transfer brought."""


def stray_entries(items: Sequence[Deposit], quarantines: Sequence[Quarantine]) -> list[tuple[int, str]]:
    """FlushBatch's stray entries for a batch: (index of the address's salt in `items`, token), each pair once.

    A forwarder's whole balance of a token moves with one entry, so two requested transfers of one token to one
    address make one entry. A quarantine whose address is not in the batch is a caller's error (ValueError).
    """
    index = {d.deposit_address.lower(): i for i, d in enumerate(items)}
    entries: list[tuple[int, str]] = []
    for q in quarantines:
        address = q.deposit_address.lower()
        if address not in index:
            raise ValueError(f"quarantine {q.stray_id}: {address} is not in the batch")
        entry = (index[address], q.token_contract.lower())
        if entry not in entries:
            entries.append(entry)
    return entries


@dataclass(frozen=True)
class GasBudget:
    """How much gas one sweep transaction may use, and what each forwarder in it costs.

    `per_forwarder` is measured for a forwarder deployed and flushed in a batch (about 54k on BSC's EVM; 101k
    for one alone includes the 21k base), `base` is the call's own overhead.
    """

    max_gas: int
    per_forwarder: int
    base: int

    def forwarders(self) -> int:
        """How many forwarders fit in one transaction (at least one)."""
        return max(1, (self.max_gas - self.base) // self.per_forwarder)


def batches(deposits: Sequence[Deposit], batch_size: int, budget: GasBudget) -> list[tuple[Deposit, ...]]:
    """Cut deposits, in the order given, into batches of at most `batch_size` that fit the gas budget."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    size = min(batch_size, budget.forwarders())
    return [tuple(deposits[i : i + size]) for i in range(0, len(deposits), size)]


def gas_limit(estimate: int, margin_percent: int, budget: GasBudget) -> int:
    """The gas limit to sign: the node's estimate plus a margin, within the budget but never below the estimate."""
    return max(estimate, min(estimate + estimate * margin_percent // 100, budget.max_gas))
