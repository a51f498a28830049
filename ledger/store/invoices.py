"""Invoice rows (with their payments)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg

from ledger.domain.fees import FeePlan
from ledger.domain.invoices import ChainTerms, NewInvoice
from ledger.domain.models import Invoice, PaymentRecord

_COLUMNS = (
    "id, merchant_id, status, exceptions, asset, chain_id, token_contract, token_decimals, amount, amount_paid, "
    "tolerance, deposit_address, description, metadata, order_id, customer_reference, redirect_url, expire_time, "
    "monitor_until, create_time, update_time, paid_time, cancel_time, fee_bps, fee_fixed, fee_minimum, fee_charged, "
    "refund_address"
)


def _invoice(row: asyncpg.Record, payments: tuple[PaymentRecord, ...] = ()) -> Invoice:
    return Invoice(
        id=row["id"],
        merchant_id=row["merchant_id"],
        status=row["status"],
        exceptions=tuple(row["exceptions"]),
        asset=row["asset"],
        chain_id=int(row["chain_id"]),
        token_contract=row["token_contract"],
        token_decimals=row["token_decimals"],
        amount=int(row["amount"]),
        amount_paid=int(row["amount_paid"]),
        tolerance=int(row["tolerance"]),
        deposit_address=row["deposit_address"],
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        order_id=row["order_id"],
        customer_reference=row["customer_reference"],
        redirect_url=row["redirect_url"],
        expire_time=row["expire_time"],
        monitor_until=row["monitor_until"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        paid_time=row["paid_time"],
        cancel_time=row["cancel_time"],
        payments=payments,
        fee_bps=int(row["fee_bps"]),
        fee_fixed=int(row["fee_fixed"]),
        fee_minimum=int(row["fee_minimum"]),
        fee_charged=int(row["fee_charged"]),
        refund_address=row["refund_address"] or "",
    )


def _row_values(new: NewInvoice, terms: ChainTerms, request_id: str, request_hash: bytes) -> tuple[object, ...]:
    """The new row's values for placeholders $1 to $18, numbered alike in both INSERTs below."""
    return (
        new.id,
        new.merchant_id,
        request_id,
        request_hash,
        new.order_id,
        new.customer_reference,
        terms.asset,
        terms.chain_id,
        terms.token_contract,
        terms.token_decimals,
        new.amount,
        new.tolerance,
        new.deposit_address,
        new.description,
        json.dumps(new.metadata),
        new.redirect_url,
        new.expire_time,
        new.monitor_until,
    )


async def insert(
    conn: asyncpg.Connection,
    new: NewInvoice,
    terms: ChainTerms,
    *,
    request_id: str,
    request_hash: bytes,
    fee_plan: FeePlan | None = None,
) -> Invoice | None:
    """Insert an invoice under `fee_plan` (free when None); None when a unique key (request id, order id) is taken."""
    plan = fee_plan or FeePlan()
    row = await conn.fetchrow(
        f"INSERT INTO ledger.invoices (id, merchant_id, request_id, request_hash, order_id, customer_reference, "
        f"status, asset, chain_id, token_contract, token_decimals, amount, tolerance, deposit_address, description, "
        f"metadata, redirect_url, expire_time, monitor_until, fee_bps, fee_fixed, fee_minimum, refund_address) VALUES "
        f"($1, $2, $3, $4, $5, $6, 'OPEN', $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18, $19, $20, "
        f"$21, NULLIF($22, '')) "
        f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        *_row_values(new, terms, request_id, request_hash),
        plan.bps,
        plan.fixed,
        plan.minimum,
        new.refund_address,
    )
    return _invoice(row) if row is not None else None


def rfc3339_sql(column: str) -> str:
    """SQL for a timestamptz column as protobuf's JSON prints a Timestamp: UTC, with 0, 3 or 6 fraction digits."""
    micros = f"(extract(microseconds FROM {column})::bigint % 1000000)"
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f'CASE WHEN {micros} = 0 THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') '
        f'WHEN {micros} % 1000 = 0 THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\') '
        f'ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
    )


_CREATE_WITH_EVENT = (
    "WITH created AS ("
    "INSERT INTO ledger.invoices (id, merchant_id, request_id, request_hash, order_id, customer_reference, "
    "status, asset, chain_id, token_contract, token_decimals, amount, tolerance, deposit_address, description, "
    "metadata, redirect_url, expire_time, monitor_until, fee_bps, fee_fixed, fee_minimum, refund_address) VALUES ($1, "
    "$2, $3, $4, $5, $6, 'OPEN', $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18, "
    # The merchant's fee plan, else the default: read in the same statement (still one round trip).
    "COALESCE((SELECT bps FROM ledger.fee_plans WHERE merchant_id = $2), $22), "
    "COALESCE((SELECT fixed FROM ledger.fee_plans WHERE merchant_id = $2), $23), "
    "COALESCE((SELECT minimum FROM ledger.fee_plans WHERE merchant_id = $2), $24), NULLIF($25, '')) "
    f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}"
    "), event AS ("
    "INSERT INTO ledger.outbox (event_id, event_type, merchant_id, subject_id, payload) "
    "SELECT $19, $20, created.merchant_id, created.id, "
    "jsonb_set(jsonb_set($21::jsonb, '{data,create_time}', "
    f"to_jsonb({rfc3339_sql('created.create_time')})), '{{data,update_time}}', "
    f"to_jsonb({rfc3339_sql('created.update_time')})) FROM created"
    f") SELECT {_COLUMNS} FROM created"
)


async def insert_with_event(
    conn: asyncpg.Connection,
    new: NewInvoice,
    terms: ChainTerms,
    *,
    request_id: str,
    request_hash: bytes,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    default_fee_plan: FeePlan | None = None,
) -> Invoice | None:
    """Insert an invoice and its outbox event in one statement (one round trip, atomic on its own).

    The invoice takes the merchant's fee plan, or `default_fee_plan` (free when None) when it has none.

    `payload` is the event as the outbox stores it (`{"id", "type", "data"}`); the database sets `data`'s
    `create_time` and `update_time` from the row it wrote, printed as protobuf's JSON prints them. None, and no
    event, when a unique key (request id, order id) is already taken.
    """
    default = default_fee_plan or FeePlan()
    row = await conn.fetchrow(
        _CREATE_WITH_EVENT,
        *_row_values(new, terms, request_id, request_hash),
        event_id,
        event_type,
        json.dumps(payload),
        default.bps,
        default.fixed,
        default.minimum,
        new.refund_address,
    )
    return _invoice(row) if row is not None else None


async def find_by_request(conn: asyncpg.Connection, merchant_id: str, request_id: str) -> tuple[Invoice, bytes] | None:
    """The invoice created earlier under this request id, with its request hash."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, request_hash FROM ledger.invoices WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    if row is None:
        return None
    return await _with_payments(conn, row), bytes(row["request_hash"])


async def order_id_taken(conn: asyncpg.Connection, merchant_id: str, order_id: str) -> bool:
    """True when the merchant already has an invoice with this order id."""
    found = await conn.fetchval(
        "SELECT 1 FROM ledger.invoices WHERE merchant_id = $1 AND order_id = $2", merchant_id, order_id
    )
    return found is not None


_PAYMENT_COLUMNS = (
    "invoice_id, id, tx_hash, log_index, block_number, block_hash, from_address, amount, status, observe_time, "
    "final_time"
)


def _payment(p: asyncpg.Record) -> PaymentRecord:
    return PaymentRecord(
        id=p["id"],
        tx_hash=p["tx_hash"],
        log_index=p["log_index"],
        block_number=int(p["block_number"]),
        block_hash=p["block_hash"],
        from_address=p["from_address"],
        amount=int(p["amount"]),
        status=p["status"],
        observe_time=p["observe_time"],
        final_time=p["final_time"],
    )


async def _with_payments(conn: asyncpg.Connection, row: asyncpg.Record) -> Invoice:
    payments = await conn.fetch(
        f"SELECT {_PAYMENT_COLUMNS} FROM ledger.payments WHERE invoice_id = $1 ORDER BY observe_time, id",
        row["id"],
    )
    return _invoice(row, tuple(_payment(p) for p in payments))


async def _many_with_payments(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Invoice]:
    """Invoices with their payments, in one query for the whole page (not one per invoice)."""
    if not rows:
        return []
    payments = await conn.fetch(
        f"SELECT {_PAYMENT_COLUMNS} FROM ledger.payments WHERE invoice_id = ANY($1::text[]) ORDER BY observe_time, id",
        [r["id"] for r in rows],
    )
    by_invoice: dict[str, list[PaymentRecord]] = {}
    for p in payments:
        by_invoice.setdefault(p["invoice_id"], []).append(_payment(p))
    return [_invoice(r, tuple(by_invoice.get(r["id"], ()))) for r in rows]


async def get(
    conn: asyncpg.Connection, merchant_id: str, invoice_id: str, *, for_update: bool = False
) -> Invoice | None:
    """One of a merchant's invoices (another merchant's invoice is simply not found)."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.invoices WHERE merchant_id = $1 AND id = $2{lock}", merchant_id, invoice_id
    )
    return await _with_payments(conn, row) if row is not None else None


async def get_any(conn: asyncpg.Connection, invoice_id: str) -> Invoice | None:
    """One invoice by id whoever its merchant (for a caller that proved it may see it, e.g. a checkout link)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger.invoices WHERE id = $1", invoice_id)
    return await _with_payments(conn, row) if row is not None else None


async def list_page(
    conn: asyncpg.Connection,
    merchant_id: str,
    *,
    status: str | None,
    created_from: dt.datetime | None,
    created_before: dt.datetime | None,
    order_id: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Invoice]:
    """A merchant's invoices, newest first, filtered, after a (create_time, id) position."""
    args: list[Any] = [merchant_id, limit]
    where = ["merchant_id = $1"]

    def add(condition: str, *values: Any) -> None:
        args.extend(values)
        where.append(condition.format(*(f"${len(args) - len(values) + i + 1}" for i in range(len(values)))))

    if status is not None:
        add("status = {0}", status)
    if created_from is not None:
        add("create_time >= {0}", created_from)
    if created_before is not None:
        add("create_time < {0}", created_before)
    if order_id is not None:
        add("order_id = {0}", order_id)
    if after is not None:
        add("(create_time, id) < ({0}, {1})", *after)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.invoices WHERE {' AND '.join(where)} "
        "ORDER BY create_time DESC, id DESC LIMIT $2",
        *args,
    )
    return await _many_with_payments(conn, list(rows))


async def cancel(conn: asyncpg.Connection, invoice_id: str, cancel_time: dt.datetime) -> Invoice:
    """Mark an invoice canceled (the caller has checked it may be)."""
    row = await conn.fetchrow(
        f"UPDATE ledger.invoices SET status = 'CANCELED', cancel_time = $2, update_time = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        invoice_id,
        cancel_time,
    )
    assert row is not None
    return await _with_payments(conn, row)


async def set_refund_address(conn: asyncpg.Connection, invoice_id: str, address: str) -> Invoice | None:
    """Set the invoice's refund address unless it has one; None when it already had one (nothing changed)."""
    row = await conn.fetchrow(
        f"UPDATE ledger.invoices SET refund_address = $2, update_time = now() "
        f"WHERE id = $1 AND (refund_address IS NULL OR refund_address = '') RETURNING {_COLUMNS}",
        invoice_id,
        address,
    )
    return await _with_payments(conn, row) if row is not None else None


async def merchant_balances(conn: asyncpg.Connection, merchant_id: str) -> dict[tuple[str, str], int]:
    """(asset, kind) → balance of the merchant's accounts."""
    rows = await conn.fetch("SELECT asset, kind, balance FROM ledger.accounts WHERE merchant_id = $1", merchant_id)
    return {(r["asset"], r["kind"]): int(r["balance"]) for r in rows}


async def get_by_address(conn: asyncpg.Connection, deposit_address: str) -> Invoice | None:
    """The invoice owning a deposit address, locked for this transaction, without its payments.

    Recording a payment reads them as lifecycle facts; loading them here too would read every payment twice.
    """
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.invoices WHERE deposit_address = $1 FOR UPDATE", deposit_address
    )
    return _invoice(row) if row is not None else None


async def lock(conn: asyncpg.Connection, invoice_id: str) -> Invoice | None:
    """An invoice by id (any merchant), locked for this transaction, without its payments."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger.invoices WHERE id = $1 FOR UPDATE", invoice_id)
    return _invoice(row) if row is not None else None


async def save_evaluation(
    conn: asyncpg.Connection,
    invoice_id: str,
    *,
    status: str,
    exceptions: list[str],
    amount_paid: int,
    amount_pending: int,
    paid_time: dt.datetime | None,
) -> Invoice:
    """Store the invoice's re-evaluated status, flags and amounts; returns it without its payments."""
    row = await conn.fetchrow(
        f"UPDATE ledger.invoices SET status = $2, exceptions = $3, amount_paid = $4, amount_pending = $5, "
        f"paid_time = $6, update_time = now() WHERE id = $1 RETURNING {_COLUMNS}",
        invoice_id,
        status,
        exceptions,
        amount_paid,
        amount_pending,
        paid_time,
    )
    assert row is not None
    return _invoice(row)


async def due_for_expiry(conn: asyncpg.Connection, now: dt.datetime, limit: int) -> list[str]:
    """Ids of OPEN or PROCESSING invoices past their expiry with no payment still pending finality.

    Rows are claimed (SKIP LOCKED) so parallel runs on several replicas share the work.
    """
    rows = await conn.fetch(
        "SELECT id FROM ledger.invoices i WHERE status IN ('OPEN', 'PROCESSING') AND expire_time <= $1 "
        "AND NOT EXISTS (SELECT 1 FROM ledger.payments p WHERE p.invoice_id = i.id AND p.status = 'SEEN') "
        "ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [r["id"] for r in rows]


async def active_addresses(
    conn: asyncpg.Connection, now: dt.datetime, *, after: str | None, limit: int
) -> list[tuple[str, str, dt.datetime]]:
    """(deposit address, invoice id, monitor until) of invoices still watched, ordered by address."""
    rows = await conn.fetch(
        "SELECT deposit_address, id, monitor_until FROM ledger.invoices WHERE monitor_until > $1 "
        "AND ($2::text IS NULL OR deposit_address > $2) ORDER BY deposit_address LIMIT $3",
        now,
        after,
        limit,
    )
    return [(r["deposit_address"], r["id"], r["monitor_until"]) for r in rows]


async def retired_addresses(
    conn: asyncpg.Connection, now: dt.datetime, *, after: str | None, limit: int
) -> list[tuple[str, str, dt.datetime]]:
    """(deposit address, invoice id, monitor until) of invoices past their monitoring window, ordered by address."""
    rows = await conn.fetch(
        "SELECT deposit_address, id, monitor_until FROM ledger.invoices WHERE monitor_until <= $1 "
        "AND ($2::text IS NULL OR deposit_address > $2) ORDER BY deposit_address LIMIT $3",
        now,
        after,
        limit,
    )
    return [(r["deposit_address"], r["id"], r["monitor_until"]) for r in rows]


async def addresses_created_after(
    conn: asyncpg.Connection, txid: str, event_id: int, limit: int
) -> list[tuple[str, int, str, str, dt.datetime]]:
    """(txid, outbox id, deposit address, invoice id, monitor until) of invoices created after a feed cursor.

    Read from the `invoice.created` outbox events in commit-safe (transaction id, id) order, like every outbox
    consumer: only transactions older than every one still running are returned, so none is skipped.
    """
    rows = await conn.fetch(
        "SELECT o.txid::text AS txid_text, o.id, i.deposit_address, i.id AS invoice_id, i.monitor_until "
        "FROM ledger.outbox o JOIN ledger.invoices i ON i.id = o.subject_id "
        "WHERE o.event_type = 'invoice.created' AND (o.txid, o.id) > (($1::text)::xid8, $2) "
        "AND o.txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY o.txid, o.id LIMIT $3",
        txid,
        event_id,
        limit,
    )
    return [(r["txid_text"], r["id"], r["deposit_address"], r["invoice_id"], r["monitor_until"]) for r in rows]


async def lock_by_addresses(conn: asyncpg.Connection, deposit_addresses: list[str]) -> int:
    """Lock the invoices owning these deposit addresses, in id order (no deadlock between two such calls).

    Returns how many were locked (an address no invoice owns locks nothing).
    """
    rows = await conn.fetch(
        "SELECT id FROM ledger.invoices WHERE deposit_address = ANY($1::text[]) ORDER BY id FOR UPDATE",
        deposit_addresses,
    )
    return len(rows)


async def lock_ids(conn: asyncpg.Connection, invoice_ids: list[str]) -> int:
    """Lock these invoices, in id order (no deadlock between two such calls); how many were locked."""
    rows = await conn.fetch(
        "SELECT id FROM ledger.invoices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", invoice_ids
    )
    return len(rows)
