"""Settlement's view of the ledger's SweepLedgerService: which deposits to sweep, and booking a sweep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from settlement.domain.sweeps import Deposit


@dataclass(frozen=True)
class SweepRecord:
    """What the ledger books for a final sweep (idempotent by sweep_id)."""

    sweep_id: str
    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    sweeper_address: str
    gas_used: int
    effective_gas_price_wei: int
    swept: Mapping[str, int]
    """Token base units moved to the treasury, per deposit address."""


class SweepLedger(Protocol):
    """The two ledger calls the sweeper makes."""

    async def sweepable(self, chain_id: int) -> list[Deposit]:
        """Every deposit address whose credited payments are final and not yet swept."""
        ...

    async def record_sweep(self, record: SweepRecord) -> tuple[str, bool]:
        """Book a final sweep; (journal transaction id, whether it was already recorded)."""
        ...
