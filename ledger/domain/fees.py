"""Platform fee plans and the fee a payment pays: integer arithmetic in base units, one rounding rule.

A plan is a percentage in basis points (1 bp = 0.01 %), a fixed part and a minimum, all in base units. The fee
on a gross amount `g` is

    fee(g) = min(g, max(minimum, fixed + floor(g * bps / 10000)))

— the percentage part is rounded *down* to the base unit (the merchant's favour; the fraction is never charged),
the minimum applies after the fixed part is added, and a fee never exceeds the gross amount, so the net
(`g - fee(g)`) is never negative. `fee + net = gross` holds exactly by construction.

An invoice is charged on what it has been paid in full, not payment by payment: when a payment to an invoice is
credited at finality, it pays `fee(paid after) - fee(paid before)`, the increase of the invoice's fee. An invoice
paid in two transfers therefore pays the fixed part and the minimum once, exactly as if paid in one; the charges
are never negative and never exceed the payment (`fee` never rises faster than its argument, since bps ≤ 10000).
"""

from __future__ import annotations

from dataclasses import dataclass

BPS_DENOMINATOR = 10_000
"""Basis points in a whole: 10000 bp = 100 %."""


@dataclass(frozen=True)
class FeePlan:
    """A merchant's platform fee plan: basis points, a fixed part and a minimum (base units)."""

    bps: int = 0
    fixed: int = 0
    minimum: int = 0

    def __post_init__(self) -> None:
        """Refuse a plan outside 0..10000 bp or with a negative fixed part or minimum."""
        for name in ("bps", "fixed", "minimum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.bps > BPS_DENOMINATOR:
            raise ValueError(f"bps must be at most {BPS_DENOMINATOR}, got {self.bps}")

    @property
    def is_free(self) -> bool:
        """True when the plan never charges anything."""
        return self.bps == 0 and self.fixed == 0 and self.minimum == 0


def fee_for(plan: FeePlan, gross: int) -> int:
    """The fee on `gross` base units (≥ 0): `min(gross, max(minimum, fixed + floor(gross * bps / 10000)))`."""
    if isinstance(gross, bool) or not isinstance(gross, int) or gross < 0:
        raise ValueError(f"gross must be a non-negative integer, got {gross!r}")
    if gross == 0:
        return 0
    percentage = gross * plan.bps // BPS_DENOMINATOR
    return min(gross, max(plan.minimum, plan.fixed + percentage))


def charge_for_payment(plan: FeePlan, paid_before: int, amount: int) -> int:
    """What a payment of `amount` pays when the invoice had `paid_before` credited: fee(after) - fee(before).

    Never negative and never more than `amount`; over any sequence of payments the charges sum to
    `fee_for(plan, total paid)`.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer, got {amount!r}")
    return fee_for(plan, paid_before + amount) - fee_for(plan, paid_before)


@dataclass(frozen=True)
class Split:
    """A gross amount split into the platform's fee and the merchant's net."""

    gross: int
    fee: int

    @property
    def net(self) -> int:
        """What the merchant keeps: gross - fee."""
        return self.gross - self.fee
