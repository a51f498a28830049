"""Monthly statements, read from the journal: what moved a merchant's balance between two instants.

The balance is the merchant's money the platform holds: `merchant_available` + `merchant_reserved` (a payout or
refund not yet confirmed is still the merchant's) - `merchant_receivable` (what a reversal left it owing). Every
entry on those accounts moves it: a credit up, a debit down, whatever the account. A journal transaction that moves
it is one statement line, and so is one that charges or gives back a fee on the merchant's invoice (a payment whose
fee takes all of it moves no balance, but is still a payment); the platform fee on a line is the transaction's net
credit to `platform_fees` (only when no other merchant's account is in it), and the line's gross is net + fee.
Lines are summed into the statement's columns by the transaction's kind, so `closing = opening + payments - fees -
payouts - refunds + adjustments` holds whenever every balance entry is on a line; opening and closing are folds of
the entries up to each bound, read separately, and the tests check the identity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import asyncpg

BALANCE_KINDS = ("merchant_available", "merchant_reserved", "merchant_receivable")
"""The accounts whose sum (receivable negated, by its debit side) is the statement's balance."""


@dataclass(frozen=True)
class Line:
    """One journal transaction that moved the balance (base units; `net` = `gross` - `fee`)."""

    time: dt.datetime
    category: str
    journal_kind: str
    transaction_id: int
    reference: str
    gross: int
    fee: int
    net: int
    balance: int


@dataclass
class Statement:
    """A merchant's month (base units)."""

    merchant_id: str
    asset: str
    start: dt.datetime
    end: dt.datetime
    opening: int = 0
    payments: int = 0
    fees: int = 0
    payouts: int = 0
    refunds: int = 0
    adjustments: int = 0
    closing: int = 0
    lines: list[Line] = field(default_factory=list)

    def movements(self) -> int:
        """What the month's totals add up to: closing - opening."""
        return self.payments - self.fees - self.payouts - self.refunds + self.adjustments


_OPENING = """
SELECT coalesce(sum(CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END), 0)
  FROM ledger.journal_entries e
  JOIN ledger.journal_transactions t ON t.id = e.transaction_id
  JOIN ledger.accounts a ON a.id = e.account_id
 WHERE a.merchant_id = $1 AND a.asset = $2 AND a.kind = ANY($3::text[]) AND t.create_time < $4
"""

_LINES = """
WITH mine AS (
    SELECT DISTINCT t.id
      FROM ledger.journal_transactions t
      JOIN ledger.journal_entries e ON e.transaction_id = t.id
      JOIN ledger.accounts a ON a.id = e.account_id
     WHERE a.merchant_id = $1 AND a.asset = $2 AND t.create_time >= $4 AND t.create_time < $5
    UNION
    SELECT t.id
      FROM ledger.journal_transactions t
      JOIN ledger.invoices i ON i.id = t.invoice_id
     WHERE i.merchant_id = $1 AND t.create_time >= $4 AND t.create_time < $5
), moved AS (
    SELECT m.id,
           coalesce(sum(CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END)
                    FILTER (WHERE a.merchant_id = $1 AND a.asset = $2 AND a.kind = ANY($3::text[])), 0) AS net,
           CASE WHEN count(DISTINCT a.merchant_id) <= 1
                THEN coalesce(sum(CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END)
                              FILTER (WHERE a.kind = 'platform_fees' AND a.asset = $2), 0)
                ELSE 0 END AS fee
      FROM mine m
      JOIN ledger.journal_entries e ON e.transaction_id = m.id
      JOIN ledger.accounts a ON a.id = e.account_id
     GROUP BY m.id
)
SELECT t.id, t.create_time, t.kind, t.request_id, coalesce(t.invoice_id, '') AS invoice_id, m.net, m.fee
  FROM moved m
  JOIN ledger.journal_transactions t ON t.id = m.id
 WHERE m.net <> 0 OR m.fee <> 0
 ORDER BY t.create_time, t.id
"""


def category(journal_kind: str) -> str:
    """The statement column a journal transaction's kind counts in."""
    if journal_kind == "payment_final":
        return "PAYMENT"
    if journal_kind.startswith("payout_"):
        return "PAYOUT"
    if journal_kind.startswith("refund_"):
        return "REFUND"
    return "ADJUSTMENT"


def _reference(journal_kind: str, request_id: str, invoice_id: str) -> str:
    if journal_kind.startswith(("payout_", "refund_")):
        return request_id.split(":", 1)[0]
    return invoice_id


async def statement(
    conn: asyncpg.Connection, merchant_id: str, asset: str, start: dt.datetime, end: dt.datetime
) -> Statement:
    """The merchant's statement for [start, end); run it in a REPEATABLE READ transaction for one snapshot."""
    kinds = list(BALANCE_KINDS)
    result = Statement(merchant_id, asset, start, end)
    result.opening = int(await conn.fetchval(_OPENING, merchant_id, asset, kinds, start))
    balance = result.opening
    for r in await conn.fetch(_LINES, merchant_id, asset, kinds, start, end):
        net, fee = int(r["net"]), int(r["fee"])
        gross = net + fee
        balance += net
        kind = category(r["kind"])
        result.fees += fee
        if kind == "PAYMENT":
            result.payments += gross
        elif kind == "PAYOUT":
            result.payouts -= gross
        elif kind == "REFUND":
            result.refunds -= gross
        else:
            result.adjustments += gross
        result.lines.append(
            Line(
                time=r["create_time"],
                category=kind,
                journal_kind=r["kind"],
                transaction_id=int(r["id"]),
                reference=_reference(r["kind"], r["request_id"], r["invoice_id"]),
                gross=gross,
                fee=fee,
                net=net,
                balance=balance,
            )
        )
    # The closing balance is read from the journal on its own, not carried from the lines: the API and the tests
    # check that the lines account for it (`closing == opening + movements()`).
    result.closing = int(await conn.fetchval(_OPENING, merchant_id, asset, kinds, end))
    return result
