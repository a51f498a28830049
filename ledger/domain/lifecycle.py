"""The invoice lifecycle: which payments an invoice takes, and its status and exception flags from them.

Pure rules, no I/O: the store loads an invoice's terms and its payments, the caller passes the current time,
and `evaluate` says what the invoice is. Nothing here remembers a previous status; an invoice's status is a
function of its terms, its payments and the time, so a reorg that reverses a payment simply re-evaluates
(a PAID invoice goes back to PROCESSING, or to EXPIRED once its expiry has passed).

Transitions (each one a ledger event and an outbox event, written by the caller):

| from | to | when |
|---|---|---|
| OPEN | PROCESSING | a payment is seen |
| OPEN, PROCESSING | PAID | final payments reach `amount - tolerance` |
| OPEN, PROCESSING | EXPIRED | `now >= expire_time` and no payment is pending |
| OPEN | CANCELED | the merchant cancels (only an OPEN invoice can be canceled) |
| EXPIRED | PROCESSING, PAID | a late payment inside the monitoring window is seen, then final |
| PROCESSING, PAID | OPEN, PROCESSING, EXPIRED | a reorg reverses a payment: re-evaluated from what is left |
| CANCELED | CANCELED | always: late payments are credited and flagged, the status stays |

Decisions where the issue leaves room:

- **The monitoring window is half-open.** A payment observed before `monitor_until` is credited, even to an
  expired or canceled invoice; one observed at or after `monitor_until` is held as unallocated.
- **Late means at or after the deadline.** The deadline is `expire_time`, or `cancel_time` when the invoice
  was canceled before it expired. An invoice is expired from `expire_time` on, so a payment observed at that
  very instant is late. `PAID_LATE` is set when *any* credited payment is late, whatever the status: a late
  top-up to an invoice paid in time flags it too, because the merchant must see funds that came after the
  deadline.
- **CANCELED is final.** A canceled invoice stays CANCELED even when late payments complete it: they are
  credited to the merchant (the customer's money is not lost) and flagged `PAID_LATE` (and `OVERPAID`,
  `MULTIPLE_PAYMENTS` as the amounts say) so the merchant can refund rather than ship a canceled order.
  `UNDERPAID` is not set on a canceled invoice: nothing is owed any more.
- **An expired invoice can still be paid.** A late payment inside the monitoring window that brings the paid
  amount to the threshold makes the invoice PAID with `PAID_LATE`.
- **Only final money pays.** `PAID` needs `amount_paid` (FINAL payments) to reach `amount - tolerance`, and
  at least one base unit: a tolerance as large as the amount never makes an unpaid invoice PAID. A payment
  still SEEN keeps an invoice PROCESSING past its expiry (it may yet pay it), and an invoice already PAID
  stays PAID while a further payment is pending. `OVERPAID` compares final money only.
- **Expired and short.** `UNDERPAID` on an EXPIRED invoice means some final money arrived but not enough
  (a pending payment keeps the invoice PROCESSING, so an EXPIRED invoice has nothing pending). An invoice
  still PROCESSING carries no `UNDERPAID` flag yet.
- **Which payment paid it.** FINAL payments are taken in order of `(observe_time, id)`; the first whose
  running total reaches the threshold completed the invoice and its observe time is `paid_time`. The order
  the payments are given in never matters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

PaymentStatus = Literal["SEEN", "FINAL", "REVERSED", "UNALLOCATED"]
"""A payment's status, as stored: seen in a block, final, reversed by a reorg, or held as unallocated."""

InvoiceStatus = Literal["OPEN", "PROCESSING", "PAID", "EXPIRED", "CANCELED"]
"""An invoice's status, as stored and shown to the merchant."""

Admission = Literal["CREDIT", "UNALLOCATED"]
"""What happens to a newly observed payment: credited to the invoice, or held as unallocated."""

UNDERPAID = "UNDERPAID"
"""Paid within the tolerance but short of the amount, or expired with some but not enough money."""
OVERPAID = "OVERPAID"
"""More final money than the invoice's amount."""
PAID_LATE = "PAID_LATE"
"""At least one credited payment was observed at or after the invoice's deadline."""
MULTIPLE_PAYMENTS = "MULTIPLE_PAYMENTS"
"""More than one credited (SEEN or FINAL) payment."""

EXCEPTION_FLAGS: frozenset[str] = frozenset({UNDERPAID, OVERPAID, PAID_LATE, MULTIPLE_PAYMENTS})
"""Every exception flag `evaluate` can set."""

_PAYMENT_STATUSES: frozenset[str] = frozenset(get_args(PaymentStatus))
_CREDITED: frozenset[str] = frozenset({"SEEN", "FINAL"})


def _require_aware(value: dt.datetime, name: str) -> None:
    # Naive and aware datetimes cannot be compared; the store's timestamptz columns are always aware.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True)
class PaymentFact:
    """What the lifecycle needs to know of one payment at the invoice's deposit address."""

    id: str
    amount: int
    status: PaymentStatus
    observe_time: dt.datetime

    def __post_init__(self) -> None:
        """Refuse a non-positive amount, an unknown status or a naive time."""
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"payment {self.id}: amount must be a positive integer, got {self.amount!r}")
        if self.status not in _PAYMENT_STATUSES:
            raise ValueError(f"payment {self.id}: unknown status {self.status!r}")
        _require_aware(self.observe_time, "observe_time")


@dataclass(frozen=True)
class InvoiceTerms:
    """The parts of an invoice the lifecycle depends on: what is owed, until when, and whether it was canceled."""

    amount: int
    tolerance: int
    expire_time: dt.datetime
    monitor_until: dt.datetime
    canceled: bool
    cancel_time: dt.datetime | None

    def __post_init__(self) -> None:
        """Refuse terms the schema would refuse, and a cancel time without a cancel (or the reverse)."""
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"amount must be a positive integer, got {self.amount!r}")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int) or self.tolerance < 0:
            raise ValueError(f"tolerance must be a non-negative integer, got {self.tolerance!r}")
        _require_aware(self.expire_time, "expire_time")
        _require_aware(self.monitor_until, "monitor_until")
        if self.monitor_until < self.expire_time:
            raise ValueError("monitor_until must not be before expire_time")
        if self.canceled != (self.cancel_time is not None):
            raise ValueError("cancel_time is set exactly when the invoice is canceled")
        if self.cancel_time is not None:
            _require_aware(self.cancel_time, "cancel_time")

    @property
    def threshold(self) -> int:
        """The least final amount that pays the invoice: `amount - tolerance`, and never less than 1."""
        return max(self.amount - self.tolerance, 1)

    @property
    def deadline(self) -> dt.datetime:
        """From this instant on a payment is late: the expiry, or the cancel time if that came first."""
        if self.cancel_time is not None and self.cancel_time < self.expire_time:
            return self.cancel_time
        return self.expire_time


@dataclass(frozen=True)
class Evaluation:
    """An invoice's status, exception flags and amounts, as `evaluate` derives them."""

    status: InvoiceStatus
    exceptions: frozenset[str]
    amount_paid: int
    amount_pending: int
    paid_time: dt.datetime | None


def admit_payment(terms: InvoiceTerms, observe_time: dt.datetime) -> Admission:
    """Credit a payment observed before `monitor_until` (even after expiry or cancel); hold later ones unallocated."""
    _require_aware(observe_time, "observe_time")
    return "CREDIT" if observe_time < terms.monitor_until else "UNALLOCATED"


def is_late(terms: InvoiceTerms, observe_time: dt.datetime) -> bool:
    """Whether a payment observed at `observe_time` came at or after the invoice's deadline (`payments.late`)."""
    _require_aware(observe_time, "observe_time")
    return observe_time >= terms.deadline


def evaluate(terms: InvoiceTerms, payments: Sequence[PaymentFact], now: dt.datetime) -> Evaluation:
    """The invoice's status, flags and amounts from its credited (SEEN and FINAL) payments at time `now`.

    REVERSED and UNALLOCATED payments are ignored. The result depends on the set of payments, not their order;
    payment ids must be unique. See the module docstring for the rules and the edge cases.
    """
    _require_aware(now, "now")
    ids = [p.id for p in payments]
    if len(set(ids)) != len(ids):
        raise ValueError("payment ids must be unique")

    credited = [p for p in payments if p.status in _CREDITED]
    final = sorted((p for p in credited if p.status == "FINAL"), key=lambda p: (p.observe_time, p.id))
    amount_paid = sum(p.amount for p in final)
    amount_pending = sum(p.amount for p in credited if p.status == "SEEN")

    flags: set[str] = set()
    if len(credited) > 1:
        flags.add(MULTIPLE_PAYMENTS)
    if amount_paid > terms.amount:
        flags.add(OVERPAID)
    if any(is_late(terms, p.observe_time) for p in credited):
        flags.add(PAID_LATE)

    paid_time = _completing_time(final, terms.threshold)
    status: InvoiceStatus
    if terms.canceled:
        status, paid_time = "CANCELED", None
    elif paid_time is not None:
        status = "PAID"
        if amount_paid < terms.amount:
            flags.add(UNDERPAID)
    elif now >= terms.expire_time and amount_pending == 0:
        status = "EXPIRED"
        if amount_paid > 0:
            flags.add(UNDERPAID)
    elif credited:
        status = "PROCESSING"
    else:
        status = "OPEN"

    return Evaluation(
        status=status,
        exceptions=frozenset(flags),
        amount_paid=amount_paid,
        amount_pending=amount_pending,
        paid_time=paid_time,
    )


def _completing_time(final: Sequence[PaymentFact], threshold: int) -> dt.datetime | None:
    """The observe time of the first final payment (in the given order) whose running total reaches `threshold`."""
    total = 0
    for payment in final:
        total += payment.amount
        if total >= threshold:
            return payment.observe_time
    return None
