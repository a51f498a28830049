"""Payouts, ledger side: the record, its states and which moves are allowed.

A payout is accepted QUEUED with its amount plus fee *reserved*: moved from the merchant's available balance to
`merchant_reserved` in the same transaction, so it can never be spent twice. From QUEUED it is canceled by the
merchant (released) until settlement claims it for a batch; then it is held PENDING_APPROVAL while the signer's
approvers decide, or broadcast. A broadcast payout is confirmed at finality (the reservation leaves through the
treasury, the fee is earned) or failed (released). Balances never go negative (a database constraint), so no
payout can overdraw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Kind = Literal["PAYOUT", "REFUND", "STRAY_REFUND", "REVENUE"]
"""A transfer out: a merchant's payout or refund of an invoice; or the platform's own (docs/payouts.md, "Stray
funds", "Platform revenue"): an unallocated payment returned to its sender, collected fees withdrawn."""
PLATFORM_KINDS: frozenset[str] = frozenset({"STRAY_REFUND", "REVENUE"})
"""Kinds that move platform accounts, not a merchant's balance, and are announced to operators only."""
Status = Literal["PENDING_APPROVAL", "QUEUED", "BROADCAST", "CONFIRMED", "FAILED", "CANCELED", "REJECTED"]
"""The proto's status names, without the prefix."""
Trigger = Literal["MANUAL", "SCHEDULED"]
"""What made a payout (the proto's PayoutTrigger names, without the prefix)."""

CANCELABLE: frozenset[str] = frozenset({"PENDING_APPROVAL", "QUEUED"})
"""States the merchant may cancel from (nothing has been sent)."""
RESERVING: frozenset[str] = frozenset({"PENDING_APPROVAL", "QUEUED", "BROADCAST"})
"""States whose amount plus fee sits in `merchant_reserved`."""


@dataclass(frozen=True)
class PayoutRecord:
    """A stored payout."""

    id: str
    merchant_id: str
    settlement_address_id: str | None
    destination_address: str
    asset: str
    chain_id: int
    token_contract: str
    amount: int
    fee: int
    status: Status
    description: str
    metadata: dict[str, str]
    tx_hash: str | None
    block_number: int | None
    failure_reason: str
    create_time: dt.datetime
    update_time: dt.datetime
    broadcast_time: dt.datetime | None
    confirm_time: dt.datetime | None
    cancel_time: dt.datetime | None
    kind: Kind = "PAYOUT"
    """PAYOUT (to a settlement address), REFUND (of an invoice, to the address the merchant gave), STRAY_REFUND or
    REVENUE (the platform's: see `PLATFORM_KINDS`)."""
    invoice_id: str | None = None
    """The invoice a refund refunds; None for a payout."""
    reason: str = ""
    """Why a refund is made (the merchant's or the admin's words); empty for a payout."""
    approval_id: str = ""
    """The signer's approval a PENDING_APPROVAL payout waits for."""
    trigger: Trigger = "MANUAL"
    """What made a payout: the merchant (MANUAL) or its payout schedule (SCHEDULED)."""

    @property
    def total(self) -> int:
        """Amount plus fee: what the payout takes from the merchant's balance."""
        return self.amount + self.fee


def payout_fee(fixed_fee: int, amount: int) -> int:
    """The fee of a payout of `amount` base units: the configured fixed fee (the gas is the platform's)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer, got {amount!r}")
    return fixed_fee


REFUNDING: frozenset[str] = frozenset({"PENDING_APPROVAL", "QUEUED", "BROADCAST", "CONFIRMED"})
"""Refund states that count against what an invoice can still be refunded."""


def refundable(amount_paid: int, refunds: list[PayoutRecord]) -> int:
    """What an invoice can still be refunded: what it was paid (credited) less its refunds not canceled or failed."""
    taken = sum(r.amount for r in refunds if r.status in REFUNDING)
    return max(0, amount_paid - taken)
