"""The fees one transaction is signed with, and the bump a replacement needs."""

from __future__ import annotations

from dataclasses import dataclass

MIN_BUMP_PERCENT = 10
"""Nodes (geth, BSC, anvil) refuse a replacement unless both fee fields rise by at least 10%."""


@dataclass(frozen=True)
class TxFees:
    """Fees in wei: EIP-1559 (max fee and tip) or, when `legacy`, one gas price (`max_fee_per_gas`)."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    legacy: bool = False

    @property
    def fee_cap(self) -> int:
        """The most one unit of gas may cost."""
        return self.max_fee_per_gas


def _raise_by(value: int, percent: int) -> int:
    # Ceiling division, and at least one wei more: 10% of a small number must still be a rise.
    return max(value + 1, -(-value * (100 + percent) // 100))


def bumped(old: TxFees, now: TxFees, percent: int) -> TxFees:
    """The fees of a replacement: each field at least `percent` (>= 10) above the old one, and no less than now's."""
    if percent < MIN_BUMP_PERCENT:
        raise ValueError(f"a replacement raises fees by at least {MIN_BUMP_PERCENT}%")
    tip = max(_raise_by(old.max_priority_fee_per_gas, percent), now.max_priority_fee_per_gas)
    cap = max(_raise_by(old.max_fee_per_gas, percent), now.max_fee_per_gas, tip)
    return TxFees(cap, tip if not old.legacy else cap, old.legacy)
