"""Payouts, ledger side: the record, its states and which moves are allowed.

A payout is accepted QUEUED (PENDING_APPROVAL is kept for the signer's approval quorum, which settlement will drive)
with its amount plus fee *reserved*: moved from the merchant's available balance to `merchant_reserved` in the
same transaction, so it can never be spent twice. From QUEUED it is canceled by the merchant (released), or
broadcast by settlement; a broadcast payout is confirmed at finality (the reservation leaves through the treasury,
the fee is earned) or failed (released). Balances never go negative (a database constraint), so no payout can
overdraw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Kind = Literal["PAYOUT", "REFUND"]
"""A transfer out of the merchant's balance: a payout, or a refund of an invoice."""
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
    """PAYOUT (to a settlement address) or REFUND (of an invoice, to the address the merchant gave)."""
    invoice_id: str | None = None
    """The invoice a refund refunds; None for a payout."""
    reason: str = ""
    """Why a refund is made (the merchant's words); empty for a payout."""
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


REFUNDING: frozenset[str] = frozenset({"QUEUED", "BROADCAST", "CONFIRMED"})
"""Refund states that count against what an invoice can still be refunded."""


def refundable(amount_paid: int, refunds: list[PayoutRecord]) -> int:
    """What an invoice can still be refunded: what it was paid (credited) less its refunds not canceled or failed."""
    taken = sum(r.amount for r in refunds if r.status in REFUNDING)
    return max(0, amount_paid - taken)
