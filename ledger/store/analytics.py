"""Analytics queries for the admin ReportService: volume per time bucket, and merchant performance.

Both are computed in SQL in exact integers (NUMERIC base units, counts); nothing here is a float.

- **Volume** folds the journal's payment transactions, attributed to a merchant through their invoice: the gross
  volume is what `payment_final` and `unallocated_payment_allocated` credit (merchant available plus platform
  fees, i.e. the payment's amount) less what `credited_payment_reversed` takes back (its chain-clearing credit, the
  payment's amount); fees are the net `platform_fees` movement of those transactions; revenue is volume less fees.
  Payout fees are not here (the statement and `gateway.report_cli`'s fee report count them).
- **Performance** reads the invoices created in the range, as they stand now: counts by status and flag, and the
  seconds from creation to PAID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from ledger.domain.reports import Bucket, DayRange

PERFORMANCE_ROWS = 500
"""At most this many merchants in one performance report."""


@dataclass(frozen=True)
class VolumeRow:
    """One bucket of a volume report (amounts in base units)."""

    start: dt.date
    invoices_paid: int
    payments: int
    reversals: int
    volume: int
    fees: int

    @property
    def revenue(self) -> int:
        """What was credited to the merchants: volume less fees."""
        return self.volume - self.fees


@dataclass(frozen=True)
class PerformanceRow:
    """How one merchant's invoices (or every merchant's: empty id) fared; seconds are whole seconds."""

    merchant_id: str
    merchant_name: str
    invoices: int
    paid: int
    expired: int
    canceled: int
    open: int
    underpaid: int
    late: int
    median_seconds_to_pay: int
    mean_seconds_to_pay: int


_VOLUME = """
WITH tx AS (
    SELECT t.id, t.kind, (t.create_time AT TIME ZONE 'UTC')::date AS day
      FROM ledger.journal_transactions t
      JOIN ledger.invoices i ON i.id = t.invoice_id
     WHERE t.kind IN ('payment_final', 'unallocated_payment_allocated', 'credited_payment_reversed')
       AND t.create_time >= $1 AND t.create_time < $2
       AND ($3::text IS NULL OR i.merchant_id = $3) AND i.asset = $4
), moved AS (
    SELECT date_trunc($5::text, tx.day::timestamp)::date AS bucket,
           count(DISTINCT tx.id) FILTER (WHERE tx.kind <> 'credited_payment_reversed') AS payments,
           count(DISTINCT tx.id) FILTER (WHERE tx.kind = 'credited_payment_reversed') AS reversals,
           coalesce(sum(e.amount) FILTER (WHERE tx.kind <> 'credited_payment_reversed' AND e.side = 'C'), 0)
             - coalesce(sum(e.amount) FILTER (WHERE tx.kind = 'credited_payment_reversed' AND e.side = 'C'), 0)
               AS volume,
           coalesce(sum(CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END)
                    FILTER (WHERE a.kind = 'platform_fees'), 0) AS fees
      FROM tx
      JOIN ledger.journal_entries e ON e.transaction_id = tx.id
      JOIN ledger.accounts a ON a.id = e.account_id
     GROUP BY 1
), paid AS (
    SELECT date_trunc($5::text, paid_time AT TIME ZONE 'UTC')::date AS bucket, count(*) AS invoices
      FROM ledger.invoices
     WHERE paid_time >= $1 AND paid_time < $2 AND ($3::text IS NULL OR merchant_id = $3) AND asset = $4
     GROUP BY 1
)
SELECT coalesce(m.bucket, p.bucket) AS bucket, coalesce(p.invoices, 0) AS invoices_paid,
       coalesce(m.payments, 0) AS payments, coalesce(m.reversals, 0) AS reversals,
       coalesce(m.volume, 0) AS volume, coalesce(m.fees, 0) AS fees
  FROM moved m FULL JOIN paid p ON p.bucket = m.bucket
"""


async def volume_report(
    conn: asyncpg.Connection, days: DayRange, bucket: Bucket, asset: str, merchant_id: str | None
) -> list[VolumeRow]:
    """Every bucket touching `days`, oldest first, empty ones as zeros."""
    rows = await conn.fetch(_VOLUME, days.start, days.end, merchant_id, asset, bucket.value)
    found = {
        r["bucket"]: VolumeRow(
            r["bucket"],
            int(r["invoices_paid"]),
            int(r["payments"]),
            int(r["reversals"]),
            int(r["volume"]),
            int(r["fees"]),
        )
        for r in rows
    }
    return [found.get(start, VolumeRow(start, 0, 0, 0, 0, 0)) for start in bucket.starts(days.first, days.last)]


_PERFORMANCE = """
WITH inv AS (
    SELECT i.merchant_id, i.status, i.exceptions,
           CASE WHEN i.status = 'PAID' AND i.paid_time IS NOT NULL
                THEN floor(extract(epoch FROM i.paid_time - i.create_time))::bigint END AS seconds
      FROM ledger.invoices i
     WHERE i.create_time >= $1 AND i.create_time < $2 AND ($3::text IS NULL OR i.merchant_id = $3)
), per AS (
    SELECT merchant_id,
           count(*) AS invoices,
           count(*) FILTER (WHERE status = 'PAID') AS paid,
           count(*) FILTER (WHERE status = 'EXPIRED') AS expired,
           count(*) FILTER (WHERE status = 'CANCELED') AS canceled,
           count(*) FILTER (WHERE status IN ('OPEN', 'PROCESSING')) AS open,
           count(*) FILTER (WHERE 'UNDERPAID' = ANY (exceptions)) AS underpaid,
           count(*) FILTER (WHERE 'PAID_LATE' = ANY (exceptions)) AS late,
           coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE seconds IS NOT NULL), 0)
               AS median_seconds,
           coalesce(div(sum(seconds), nullif(count(seconds), 0)), 0) AS mean_seconds
      FROM inv
     GROUP BY GROUPING SETS ((merchant_id), ())
)
SELECT coalesce(per.merchant_id, '') AS merchant_id, coalesce(m.name, '') AS merchant_name, per.invoices,
       per.paid, per.expired, per.canceled, per.open, per.underpaid, per.late, per.median_seconds,
       per.mean_seconds
  FROM per LEFT JOIN ledger.merchants m ON m.id = per.merchant_id
 ORDER BY per.merchant_id IS NOT NULL, per.invoices DESC, per.merchant_id
 LIMIT $4
"""


async def merchant_performance(
    conn: asyncpg.Connection, days: DayRange, merchant_id: str | None
) -> tuple[list[PerformanceRow], PerformanceRow]:
    """Per-merchant rows (most invoices first, at most `PERFORMANCE_ROWS`) and the total over all of them."""
    rows = await conn.fetch(_PERFORMANCE, days.start, days.end, merchant_id, PERFORMANCE_ROWS + 1)
    parsed = [
        PerformanceRow(
            merchant_id=r["merchant_id"],
            merchant_name=r["merchant_name"],
            invoices=int(r["invoices"]),
            paid=int(r["paid"]),
            expired=int(r["expired"]),
            canceled=int(r["canceled"]),
            open=int(r["open"]),
            underpaid=int(r["underpaid"]),
            late=int(r["late"]),
            median_seconds_to_pay=int(r["median_seconds"]),
            mean_seconds_to_pay=int(r["mean_seconds"]),
        )
        for r in rows
    ]
    # The grand-total grouping set always yields its row (zeros over no invoice), and it sorts first.
    return parsed[1:], parsed[0]
