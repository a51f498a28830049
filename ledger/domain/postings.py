"""The journal postings each payment event makes: balanced double-entry transactions as plain data.

A payment moves through the accounts like this (Dr = debit, Cr = credit; amounts in base units):

| event | entries |
|---|---|
| payment seen (credited to an invoice) | Dr chain_clearing / Cr merchant_pending |
| payment final | Dr merchant_pending / Cr merchant_available (net), Cr platform_fees (the fee; ledger/domain/fees.py) |
| seen payment reorged out | Dr merchant_pending / Cr chain_clearing |
| credited payment reorged | Dr platform_fees (fee), Dr merchant_available, Dr merchant_receivable / Cr chain_clearing |
| payment held as unallocated | Dr chain_clearing / Cr unallocated |
| unallocated payment reorged out | Dr unallocated / Cr chain_clearing |

Settlement's sweep, once its transaction is final, is one transaction in two assets:

| event | entries |
|---|---|
| sweep final (token) | Dr treasury / Cr chain_clearing, the tokens the forwarders' Transfer logs moved |
| sweep final (gas) | Dr gas_expense / Cr gas_float, in BNB wei: gas used * effective gas price (omitted when 0) |

Chain clearing is the platform's claim on tokens sitting at deposit addresses; the sweep moves it to the
treasury. Gas float is the BNB the signing keys hold for gas; the operator's BNB top-ups of those keys are
Dr gas_float / Cr platform_capital (`TreasuryLedgerService.RecordGasTopUp`).

Moves between the hot treasury and the cold Safe (`TreasuryLedgerService.RecordColdMove`):

| event | entries |
|---|---|
| move into cold final | Dr cold_storage / Cr treasury (tokens); Dr gas_expense / Cr gas_float (BNB gas) |
| move out of cold final | Dr treasury / Cr cold_storage (tokens); Dr gas_expense / Cr gas_float (BNB gas) |
| BNB top-up of a signing key final | Dr gas_float / Cr platform_capital (BNB) |

A reversal never fails (DECISIONS.md): it always posts in full, and whatever the merchant's available balance
cannot cover becomes a merchant receivable (what the merchant owes the platform), so merchant balances never go
negative.

Balances are kept in each account's normal orientation, as the schema keeps them: a debit raises a
debit-normal (asset) account and lowers a credit-normal (liability or income) one, and the reverse for a
credit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Side = Literal["D", "C"]
"""Debit or credit."""

NORMAL_SIDE: dict[str, Side] = {
    # Assets: what the platform holds or is owed.
    "chain_clearing": "D",
    "treasury": "D",
    "cold_storage": "D",
    "gas_expense": "D",
    "gas_float": "D",
    "merchant_receivable": "D",
    # Liabilities and income: what the platform owes merchants, holds for others, or has earned.
    "merchant_available": "C",
    "merchant_pending": "C",
    "merchant_reserved": "C",
    "unallocated": "C",
    "unallocated_reserved": "C",
    "platform_fees": "C",
    "platform_fees_reserved": "C",
    "platform_capital": "C",
}
"""Each account kind of the schema (`ledger.accounts.kind`) and the side that increases its balance."""

NON_NEGATIVE_KINDS: frozenset[str] = frozenset({"merchant_available", "merchant_pending", "merchant_reserved"})
"""Account kinds whose balance may never go below zero (the schema's `merchant_balance_not_negative`)."""

PAYMENT_SEEN = "payment_seen"
"""Posting kind: a payment credited to an invoice was seen on chain."""
PAYMENT_FINAL = "payment_final"
"""Posting kind: a seen payment's block became final."""
SEEN_PAYMENT_REORGED = "seen_payment_reorged"
"""Posting kind: a reorg dropped a payment that was seen but not final."""
CREDITED_PAYMENT_REVERSED = "credited_payment_reversed"
"""Posting kind: a reorg dropped a payment already credited as final (depth fallback only)."""
UNALLOCATED_PAYMENT = "unallocated_payment"
"""Posting kind: a payment that no invoice takes is held as unallocated."""
UNALLOCATED_PAYMENT_REVERSED = "unallocated_payment_reversed"
"""Posting kind: a reorg dropped a payment held as unallocated."""
SWEEP = "sweep"
"""Posting kind: a final sweep moved tokens from deposit addresses to the treasury, paying gas in BNB."""
COLD_MOVE_IN = "cold_move_in"
"""Posting kind: a final move of tokens from the treasury into the cold Safe, paying gas in BNB."""
COLD_MOVE_OUT = "cold_move_out"
"""Posting kind: a final Safe transaction moved tokens out of the cold Safe to the treasury, paying gas in BNB."""
GAS_TOP_UP = "gas_top_up"
"""Posting kind: BNB sent to a signing key by the operator (platform capital put into the gas float)."""

PAYOUT_RESERVED = "payout_reserved"
"""Posting kind: a payout was accepted; its amount plus fee is held from the available balance."""
PAYOUT_RELEASED = "payout_released"
"""Posting kind: a payout was canceled, rejected or failed; its reservation goes back to the available balance."""
PAYOUT_CONFIRMED = "payout_confirmed"
"""Posting kind: a payout's transaction is final; the reservation leaves through the treasury, the fee is earned."""

REFUND_RESERVED = "refund_reserved"
"""Posting kind: a refund was accepted; its amount is held from the available balance."""
REFUND_RELEASED = "refund_released"
"""Posting kind: a refund was canceled or failed; its reservation goes back to the available balance."""
REFUND_CONFIRMED = "refund_confirmed"
"""Posting kind: a refund's transaction is final; the reservation leaves through the treasury."""

UNALLOCATED_PAYMENT_ALLOCATED = "unallocated_payment_allocated"
"""Posting kind: an admin allocated an unallocated payment to an invoice; credited as a final payment would be."""
STRAY_REFUND_RESERVED = "stray_refund_reserved"
"""Posting kind: an admin's refund of an unallocated payment to its sender was accepted; its amount is held."""
STRAY_REFUND_RELEASED = "stray_refund_released"
"""Posting kind: a stray refund failed; its amount goes back to `unallocated`."""
STRAY_REFUND_CONFIRMED = "stray_refund_confirmed"
"""Posting kind: a stray refund's transaction is final; the amount left through the treasury."""
REVENUE_RESERVED = "revenue_reserved"
"""Posting kind: a platform revenue withdrawal was accepted; its amount is held out of `platform_fees`."""
REVENUE_RELEASED = "revenue_released"
"""Posting kind: a revenue withdrawal failed; its amount goes back to `platform_fees`."""
REVENUE_CONFIRMED = "revenue_confirmed"
"""Posting kind: a revenue withdrawal's transaction is final; the fees left through the treasury."""

GAS_ASSET = "BNB"
"""The asset gas is paid and booked in (amounts in wei)."""


@dataclass(frozen=True)
class AccountRef:
    """One ledger account: its kind, its merchant (for `merchant_*` kinds only) and its asset."""

    kind: str
    merchant_id: str | None
    asset: str

    def __post_init__(self) -> None:
        """Refuse an unknown kind, and a merchant id on a platform account or its absence on a merchant one."""
        if self.kind not in NORMAL_SIDE:
            raise ValueError(f"unknown account kind {self.kind!r}")
        if (self.merchant_id is None) != (not self.kind.startswith("merchant_")):
            raise ValueError(f"account kind {self.kind} needs a merchant id exactly when it is a merchant account")
        if not self.asset:
            raise ValueError("an account needs an asset")

    @property
    def normal_side(self) -> Side:
        """The side that increases this account's balance."""
        return NORMAL_SIDE[self.kind]


@dataclass(frozen=True)
class Entry:
    """One line of a posting: an amount (> 0, base units) debited or credited to an account."""

    account: AccountRef
    side: Side
    amount: int


@dataclass(frozen=True)
class Posting:
    """A journal transaction: entries that balance per asset, of a kind, with a memo for people."""

    kind: str
    entries: tuple[Entry, ...]
    memo: str


def check_balanced(posting: Posting) -> None:
    """Raise `ValueError` unless the posting has entries, all positive integers, and debits equal credits per asset."""
    if not posting.entries:
        raise ValueError(f"posting {posting.kind} has no entries")
    net: dict[str, int] = defaultdict(int)
    for entry in posting.entries:
        amount = entry.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"posting {posting.kind}: entry amounts must be positive integers, got {amount!r}")
        if entry.side not in ("D", "C"):
            raise ValueError(f"posting {posting.kind}: entry side must be 'D' or 'C', got {entry.side!r}")
        net[entry.account.asset] += amount if entry.side == "D" else -amount
    unbalanced = sorted(asset for asset, difference in net.items() if difference != 0)
    if unbalanced:
        raise ValueError(f"posting {posting.kind} does not balance in {', '.join(unbalanced)}")


def apply(balances: Mapping[AccountRef, int], posting: Posting) -> dict[AccountRef, int]:
    """New balances after `posting` (checked first), each in its account's normal orientation; the input is not changed.

    This is what the database's `apply_entry` trigger does, for tests and for folding a journal in memory.
    """
    check_balanced(posting)
    result = dict(balances)
    for entry in posting.entries:
        delta = entry.amount if entry.side == entry.account.normal_side else -entry.amount
        result[entry.account] = result.get(entry.account, 0) + delta
    return result


def _posting(kind: str, entries: list[Entry], memo: str) -> Posting:
    posting = Posting(kind=kind, entries=tuple(entries), memo=memo)
    check_balanced(posting)
    return posting


def _merchant(kind: str, merchant_id: str, asset: str) -> AccountRef:
    return AccountRef(kind=kind, merchant_id=merchant_id, asset=asset)


def _platform(kind: str, asset: str) -> AccountRef:
    return AccountRef(kind=kind, merchant_id=None, asset=asset)


def payment_seen(merchant_id: str, asset: str, amount: int) -> Posting:
    """A credited payment was seen: Dr chain_clearing / Cr merchant_pending."""
    return _posting(
        PAYMENT_SEEN,
        [
            Entry(_platform("chain_clearing", asset), "D", amount),
            Entry(_merchant("merchant_pending", merchant_id, asset), "C", amount),
        ],
        "payment seen on chain, pending finality",
    )


def payment_final(merchant_id: str, asset: str, amount: int, fee: int = 0) -> Posting:
    """A seen payment became final: Dr merchant_pending / Cr merchant_available (net), Cr platform_fees (fee).

    `fee` (0 ≤ fee ≤ amount) is the platform's charge for this payment (`ledger.domain.fees`); a line whose
    amount would be 0 is left out, so a free plan posts exactly what it posted before fees existed.
    """
    _check_fee(amount, fee)
    entries = [Entry(_merchant("merchant_pending", merchant_id, asset), "D", amount)]
    if amount - fee:
        entries.append(Entry(_merchant("merchant_available", merchant_id, asset), "C", amount - fee))
    if fee:
        entries.append(Entry(_platform("platform_fees", asset), "C", fee))
    memo = "payment final, credited to the merchant"
    if fee:
        memo += f"; platform fee {fee} base units"
    return _posting(PAYMENT_FINAL, entries, memo)


def _check_fee(amount: int, fee: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer, got {amount!r}")
    if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= amount:
        raise ValueError(f"fee must be an integer between 0 and the amount {amount}, got {fee!r}")


def seen_payment_reorged(merchant_id: str, asset: str, amount: int) -> Posting:
    """A reorg dropped a payment that was seen but not final: Dr merchant_pending / Cr chain_clearing."""
    return _posting(
        SEEN_PAYMENT_REORGED,
        [
            Entry(_merchant("merchant_pending", merchant_id, asset), "D", amount),
            Entry(_platform("chain_clearing", asset), "C", amount),
        ],
        "seen payment dropped by a reorg",
    )


def credited_payment_reversed(
    merchant_id: str, asset: str, amount: int, available_balance: int, fee: int = 0
) -> Posting:
    """A reorg dropped a final (credited) payment: reverse it in full, never failing.

    Dr platform_fees for the fee the payment paid (the platform gives its charge back), Dr merchant_available for
    what the available balance covers of the net (amount - fee), Dr merchant_receivable for the shortfall, Cr
    chain_clearing for the whole amount. `available_balance` is the merchant's available balance in this asset
    just before the reversal (read under the same lock the posting is written with).
    """
    _check_fee(amount, fee)
    if isinstance(available_balance, bool) or not isinstance(available_balance, int) or available_balance < 0:
        raise ValueError(f"available_balance must be a non-negative integer, got {available_balance!r}")
    net = amount - fee
    covered = min(net, available_balance)
    shortfall = net - covered
    entries: list[Entry] = []
    if fee > 0:
        entries.append(Entry(_platform("platform_fees", asset), "D", fee))
    if covered > 0:
        entries.append(Entry(_merchant("merchant_available", merchant_id, asset), "D", covered))
    if shortfall > 0:
        entries.append(Entry(_merchant("merchant_receivable", merchant_id, asset), "D", shortfall))
    entries.append(Entry(_platform("chain_clearing", asset), "C", amount))
    memo = "credited payment reversed by a reorg"
    if shortfall > 0:
        memo += f"; {shortfall} base units not covered by the available balance, owed by the merchant"
    return _posting(CREDITED_PAYMENT_REVERSED, entries, memo)


def unallocated_payment(asset: str, amount: int) -> Posting:
    """A payment no invoice takes (after the monitoring window) is held: Dr chain_clearing / Cr unallocated."""
    return _posting(
        UNALLOCATED_PAYMENT,
        [
            Entry(_platform("chain_clearing", asset), "D", amount),
            Entry(_platform("unallocated", asset), "C", amount),
        ],
        "payment held as unallocated, to be reported",
    )


def unallocated_payment_reversed(asset: str, amount: int) -> Posting:
    """A reorg dropped a payment held as unallocated: Dr unallocated / Cr chain_clearing."""
    return _posting(
        UNALLOCATED_PAYMENT_REVERSED,
        [
            Entry(_platform("unallocated", asset), "D", amount),
            Entry(_platform("chain_clearing", asset), "C", amount),
        ],
        "unallocated payment dropped by a reorg",
    )


def unallocated_payment_allocated(merchant_id: str, asset: str, amount: int, fee: int = 0) -> Posting:
    """An admin allocated an unallocated payment to an invoice: Dr unallocated / Cr available (net), Cr fees.

    A final payment's credit (`payment_final`, fee included), taken from `unallocated` instead of `merchant_pending`.
    """
    _check_fee(amount, fee)
    entries = [Entry(_platform("unallocated", asset), "D", amount)]
    if amount - fee:
        entries.append(Entry(_merchant("merchant_available", merchant_id, asset), "C", amount - fee))
    if fee:
        entries.append(Entry(_platform("platform_fees", asset), "C", fee))
    return _posting(UNALLOCATED_PAYMENT_ALLOCATED, entries, "unallocated payment allocated to an invoice by an admin")


_HELD = {
    "STRAY_REFUND": ("unallocated", "unallocated_reserved"),
    "REVENUE": ("platform_fees", "platform_fees_reserved"),
}
_PLATFORM_KINDS = {
    "STRAY_REFUND": (STRAY_REFUND_RESERVED, STRAY_REFUND_RELEASED, STRAY_REFUND_CONFIRMED),
    "REVENUE": (REVENUE_RESERVED, REVENUE_RELEASED, REVENUE_CONFIRMED),
}


def platform_transfer(kind: str, step: str, asset: str, amount: int) -> Posting:
    """A platform transfer out (`kind` STRAY_REFUND or REVENUE) at one `step`: reserved, released or confirmed.

    | kind | reserved | released | confirmed |
    |---|---|---|---|
    | STRAY_REFUND | Dr unallocated / Cr unallocated_reserved | the reverse | Dr unallocated_reserved / Cr treasury |
    | REVENUE | Dr platform_fees / Cr platform_fees_reserved | the reverse | Dr platform_fees_reserved / Cr treasury |
    """
    source, reserve = _HELD[kind]
    reserved_kind, released_kind, confirmed_kind = _PLATFORM_KINDS[kind]
    if step == "reserved":
        debit, credit, posting_kind = source, reserve, reserved_kind
    elif step == "released":
        debit, credit, posting_kind = reserve, source, released_kind
    elif step == "confirmed":
        debit, credit, posting_kind = reserve, "treasury", confirmed_kind
    else:
        raise ValueError(f"unknown step {step!r}")
    return _posting(
        posting_kind,
        [Entry(_platform(debit, asset), "D", amount), Entry(_platform(credit, asset), "C", amount)],
        f"{kind.lower().replace('_', ' ')} {step}",
    )


def sweep(asset: str, amount: int, gas_wei: int) -> Posting:
    """A final sweep: Dr treasury / Cr chain_clearing (`amount` of `asset`), Dr gas_expense / Cr gas_float (BNB).

    `amount` is what the sweep moved (> 0); `gas_wei` its gas cost (gas used * effective gas price, ≥ 0; no gas
    lines when it is 0, since entries are positive).
    """
    if isinstance(gas_wei, bool) or not isinstance(gas_wei, int) or gas_wei < 0:
        raise ValueError(f"gas_wei must be a non-negative integer, got {gas_wei!r}")
    entries = [
        Entry(_platform("treasury", asset), "D", amount),
        Entry(_platform("chain_clearing", asset), "C", amount),
    ]
    if gas_wei:
        entries += [
            Entry(_platform("gas_expense", GAS_ASSET), "D", gas_wei),
            Entry(_platform("gas_float", GAS_ASSET), "C", gas_wei),
        ]
    return _posting(SWEEP, entries, "sweep final: deposit forwarders flushed into the treasury; gas paid in BNB")


def payout_reserved(merchant_id: str, asset: str, amount: int, fee: int, *, refund: bool = False) -> Posting:
    """A payout (or refund) was accepted: Dr merchant_available / Cr merchant_reserved, for amount + fee."""
    _check_fee(amount + fee, fee)
    return _posting(
        REFUND_RESERVED if refund else PAYOUT_RESERVED,
        [
            Entry(_merchant("merchant_available", merchant_id, asset), "D", amount + fee),
            Entry(_merchant("merchant_reserved", merchant_id, asset), "C", amount + fee),
        ],
        "payout accepted: amount and fee reserved",
    )


def payout_released(merchant_id: str, asset: str, amount: int, fee: int, *, refund: bool = False) -> Posting:
    """A payout (or refund) will not be sent (canceled, rejected, failed): Dr merchant_reserved / Cr available."""
    _check_fee(amount + fee, fee)
    return _posting(
        REFUND_RELEASED if refund else PAYOUT_RELEASED,
        [
            Entry(_merchant("merchant_reserved", merchant_id, asset), "D", amount + fee),
            Entry(_merchant("merchant_available", merchant_id, asset), "C", amount + fee),
        ],
        "payout not sent: reservation released",
    )


def payout_confirmed(merchant_id: str, asset: str, amount: int, fee: int, *, refund: bool = False) -> Posting:
    """A payout is final on chain: Dr merchant_reserved (amount + fee) / Cr treasury (amount), Cr platform_fees (fee).

    The gas is the platform's (settlement books it against gas_float); the merchant pays only the payout fee.
    """
    _check_fee(amount + fee, fee)
    entries = [
        Entry(_merchant("merchant_reserved", merchant_id, asset), "D", amount + fee),
        Entry(_platform("treasury", asset), "C", amount),
    ]
    if fee:
        entries.append(Entry(_platform("platform_fees", asset), "C", fee))
    kind, memo = (REFUND_CONFIRMED, "refund") if refund else (PAYOUT_CONFIRMED, "payout")
    return _posting(kind, entries, f"{memo} final on chain: paid from the treasury")


def _gas(gas_wei: int) -> list[Entry]:
    if isinstance(gas_wei, bool) or not isinstance(gas_wei, int) or gas_wei < 0:
        raise ValueError(f"gas_wei must be a non-negative integer, got {gas_wei!r}")
    if not gas_wei:
        return []
    return [
        Entry(_platform("gas_expense", GAS_ASSET), "D", gas_wei),
        Entry(_platform("gas_float", GAS_ASSET), "C", gas_wei),
    ]


def cold_move(asset: str, amount: int, gas_wei: int, *, into_cold: bool) -> Posting:
    """A final hot/cold move: Dr cold_storage / Cr treasury into cold (the reverse out of it), gas in BNB."""
    debit, credit = ("cold_storage", "treasury") if into_cold else ("treasury", "cold_storage")
    entries = [
        Entry(_platform(debit, asset), "D", amount),
        Entry(_platform(credit, asset), "C", amount),
        *_gas(gas_wei),
    ]
    if into_cold:
        return _posting(COLD_MOVE_IN, entries, "move into cold final: treasury excess moved to the cold Safe")
    return _posting(COLD_MOVE_OUT, entries, "move out of cold final: the cold Safe paid the treasury")


def gas_top_up(amount_wei: int) -> Posting:
    """A final BNB top-up of a signing key: Dr gas_float / Cr platform_capital."""
    return _posting(
        GAS_TOP_UP,
        [
            Entry(_platform("gas_float", GAS_ASSET), "D", amount_wei),
            Entry(_platform("platform_capital", GAS_ASSET), "C", amount_wei),
        ],
        "BNB top-up of a signing key",
    )
