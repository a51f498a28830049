"""Reading account balances, now or as of a chain block (settlement's reconciliation compares them with the chain)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class BalanceRow:
    """One account's balance in its normal orientation, with its debit and credit totals (base units)."""

    code: str
    kind: str
    merchant_id: str | None
    asset: str
    balance: int
    debit_total: int
    credit_total: int
    last_transaction_id: int | None
    update_time: dt.datetime | None


# Per account: the stored balance, less (when a block is given) the entries of transactions that book a chain
# payment observed above that block. A payment's postings all carry its id, and its row holds the block it sits in
# now, so a payment moved by a reorg is counted (or not) with every one of its postings together: they net to its
# current state. Postings without a payment (sweeps, payouts) are booked at their own finality and always counted.
_QUERY = """
SELECT a.code, a.kind, a.merchant_id, a.asset,
       a.balance - coalesce(later.delta, 0) AS balance,
       coalesce(totals.debits, 0) AS debits, coalesce(totals.credits, 0) AS credits,
       totals.last_tx, totals.last_time
  FROM ledger.accounts a
  LEFT JOIN LATERAL (
        SELECT sum(e.amount) FILTER (WHERE e.side = 'D') AS debits,
               sum(e.amount) FILTER (WHERE e.side = 'C') AS credits,
               max(t.id) AS last_tx, max(t.create_time) AS last_time
          FROM ledger.journal_entries e
          JOIN ledger.journal_transactions t ON t.id = e.transaction_id
          LEFT JOIN ledger.payments p ON p.id = t.payment_id
         WHERE e.account_id = a.id AND ($5::bigint IS NULL OR p.block_number IS NULL OR p.block_number <= $5)
       ) totals ON true
  LEFT JOIN LATERAL (
        SELECT sum(CASE WHEN e.side = a.normal_side THEN e.amount ELSE -e.amount END) AS delta
          FROM ledger.journal_entries e
          JOIN ledger.journal_transactions t ON t.id = e.transaction_id
          JOIN ledger.payments p ON p.id = t.payment_id
         WHERE $5::bigint IS NOT NULL AND e.account_id = a.id AND p.block_number > $5
       ) later ON true
 WHERE ($1::text IS NULL OR a.code LIKE $1 || '%')
   AND ($2::text IS NULL OR a.asset = $2)
   AND ($3::text IS NULL OR a.kind = $3)
   AND ($4::text IS NULL OR a.code > $4)
   AND ($7::text IS NULL OR a.code = $7)
 ORDER BY a.code
 LIMIT $6
"""


async def list_balances(
    conn: asyncpg.Connection,
    *,
    prefix: str | None = None,
    asset: str | None = None,
    kind: str | None = None,
    after: str | None = None,
    block: int | None = None,
    code: str | None = None,
    limit: int,
) -> list[BalanceRow]:
    """Balances of the accounts matching the filters, by account code, after `after`; as of `block` if given."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if prefix else None
    rows = await conn.fetch(_QUERY, escaped, asset, kind, after, block, limit, code)
    return [
        BalanceRow(
            code=r["code"],
            kind=r["kind"],
            merchant_id=r["merchant_id"],
            asset=r["asset"],
            balance=int(r["balance"]),
            debit_total=int(r["debits"]),
            credit_total=int(r["credits"]),
            last_transaction_id=r["last_tx"],
            update_time=r["last_time"],
        )
        for r in rows
    ]
