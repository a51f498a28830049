"""Settlement and fee reports per UTC day and merchant, read from the journal (the system of record).

Both reports are folds of journal entries by account kind, not by the posting kinds other services choose, so a
sweep, a gas top-up or a payout fee posted later is counted without a change here:

- **settlement**: per day, merchant and asset, the final payments credited to the merchant (`merchant_available`
  credits of `payment_final` postings, and of `unallocated_payment_allocated` ones: an admin's allocation of an
  unallocated payment credits like a final payment), what reversals took back, and the invoices paid that day.
- **fees**: per day, merchant and asset, platform fees earned (`platform_fees`, net), gas spent (`gas_expense`,
  net), sweeps (transactions that debit `treasury` and credit `chain_clearing`) and the amount they swept. A
  transaction that touches exactly one merchant's accounts is that merchant's; any other is the platform's
  (merchant empty), as a batched sweep or gas is. Revenue withdrawals (`revenue_*` postings) move fees already
  earned to the platform and are not counted as fees (negative or otherwise).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class SettlementRow:
    """One day, merchant and asset of the settlement report (amounts in base units)."""

    day: dt.date
    merchant_id: str
    asset: str
    invoices_paid: int
    payments_credited: int
    volume: int
    reversed: int


@dataclass(frozen=True)
class FeeRow:
    """One day, merchant (empty: the platform) and asset of the fee report (amounts in base units)."""

    day: dt.date
    merchant_id: str
    asset: str
    fees: int
    gas_spent: int
    sweeps: int
    swept: int


_SETTLEMENT = """
WITH credited AS (
    SELECT (t.create_time AT TIME ZONE 'UTC')::date AS day, a.merchant_id, a.asset,
           count(DISTINCT t.id) FILTER (WHERE t.kind IN ('payment_final', 'unallocated_payment_allocated'))
               AS payments,
           coalesce(sum(e.amount) FILTER (
               WHERE t.kind IN ('payment_final', 'unallocated_payment_allocated') AND a.kind = 'merchant_available'
                 AND e.side = 'C'), 0) AS volume,
           coalesce(sum(e.amount) FILTER (
               WHERE t.kind = 'credited_payment_reversed' AND e.side = 'D'), 0) AS reversed
      FROM ledger.journal_entries e
      JOIN ledger.journal_transactions t ON t.id = e.transaction_id
      JOIN ledger.accounts a ON a.id = e.account_id
     WHERE a.merchant_id IS NOT NULL
       AND t.create_time >= $1 AND t.create_time < $2
       AND ($3::text IS NULL OR a.merchant_id = $3)
     GROUP BY 1, 2, 3
), paid AS (
    SELECT (paid_time AT TIME ZONE 'UTC')::date AS day, merchant_id, asset, count(*) AS invoices
      FROM ledger.invoices
     WHERE paid_time >= $1 AND paid_time < $2 AND ($3::text IS NULL OR merchant_id = $3)
     GROUP BY 1, 2, 3
)
SELECT coalesce(c.day, p.day) AS day, coalesce(c.merchant_id, p.merchant_id) AS merchant_id,
       coalesce(c.asset, p.asset) AS asset, coalesce(p.invoices, 0) AS invoices,
       coalesce(c.payments, 0) AS payments, coalesce(c.volume, 0) AS volume, coalesce(c.reversed, 0) AS reversed
  FROM credited c FULL JOIN paid p ON p.day = c.day AND p.merchant_id = c.merchant_id AND p.asset = c.asset
 ORDER BY 1, 2, 3
"""

_FEES = """
WITH tx AS (
    SELECT t.id, (t.create_time AT TIME ZONE 'UTC')::date AS day,
           CASE WHEN count(DISTINCT a.merchant_id) = 1 THEN min(a.merchant_id) ELSE '' END AS merchant_id,
           bool_or(a.kind = 'treasury' AND e.side = 'D') AND bool_or(a.kind = 'chain_clearing' AND e.side = 'C')
               AS is_sweep
      FROM ledger.journal_transactions t
      JOIN ledger.journal_entries e ON e.transaction_id = t.id
      JOIN ledger.accounts a ON a.id = e.account_id
     WHERE t.create_time >= $1 AND t.create_time < $2
       AND t.kind NOT IN ('revenue_reserved', 'revenue_released', 'revenue_confirmed')
     GROUP BY t.id
)
SELECT tx.day, tx.merchant_id, a.asset,
       coalesce(sum(CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END)
                FILTER (WHERE a.kind = 'platform_fees'), 0) AS fees,
       coalesce(sum(CASE WHEN e.side = 'D' THEN e.amount ELSE -e.amount END)
                FILTER (WHERE a.kind = 'gas_expense'), 0) AS gas,
       count(DISTINCT tx.id) FILTER (WHERE tx.is_sweep AND a.kind = 'chain_clearing') AS sweeps,
       coalesce(sum(e.amount) FILTER (WHERE tx.is_sweep AND a.kind = 'chain_clearing' AND e.side = 'C'), 0) AS swept
  FROM tx
  JOIN ledger.journal_entries e ON e.transaction_id = tx.id
  JOIN ledger.accounts a ON a.id = e.account_id
 WHERE ($3::text IS NULL OR tx.merchant_id = $3)
 GROUP BY 1, 2, 3
HAVING bool_or(a.kind IN ('platform_fees', 'gas_expense') OR (tx.is_sweep AND a.kind = 'chain_clearing'))
 ORDER BY 1, 2, 3
"""


def _bounds(since: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    return start, dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


async def settlement_report(
    conn: asyncpg.Connection, since: dt.date, until: dt.date, merchant_id: str | None = None
) -> list[SettlementRow]:
    """The settlement report for the UTC days `since` to `until`, both included."""
    rows = await conn.fetch(_SETTLEMENT, *_bounds(since, until), merchant_id)
    return [
        SettlementRow(
            r["day"],
            r["merchant_id"],
            r["asset"],
            int(r["invoices"]),
            int(r["payments"]),
            int(r["volume"]),
            int(r["reversed"]),
        )
        for r in rows
    ]


async def fee_report(
    conn: asyncpg.Connection, since: dt.date, until: dt.date, merchant_id: str | None = None
) -> list[FeeRow]:
    """The fee report for the UTC days `since` to `until`, both included."""
    rows = await conn.fetch(_FEES, *_bounds(since, until), merchant_id)
    return [
        FeeRow(r["day"], r["merchant_id"], r["asset"], int(r["fees"]), int(r["gas"]), int(r["sweeps"]), int(r["swept"]))
        for r in rows
    ]
