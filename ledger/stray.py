"""Stray funds and platform revenue, ledger side: allocate, refund to the sender, withdraw collected fees.

An admin allocates an unallocated payment to an invoice, refunds one to its sender, or withdraws collected fees.

Each is one step of an admin's transaction (the caller opens it, calls one of these, records the admin audit event
and commits), deciding under row locks: the payment's deposit-address invoice, then the payment, then the target
invoice, then accounts in code order (as `journal.post` locks them), so concurrent admins cannot both win.
Refunds and withdrawals are `ledger.payouts` rows (kinds STRAY_REFUND and REVENUE) that settlement executes like any
payout; `PayoutBook` books their confirmation and failure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from ledger.domain import fees, postings
from ledger.domain.ids import new_id
from ledger.domain.models import Invoice
from ledger.domain.payouts import Kind, PayoutRecord
from ledger.payments import _invoice_data, _reevaluate, posting_request_id
from ledger.payouts import PayoutTerms
from ledger.store import fees as fee_store
from ledger.store import invoices as invoice_store
from ledger.store import journal, outbox
from ledger.store import payments as payment_store
from ledger.store import payouts as payout_store
from ledger.store import stray as store
from service_runtime.errors import AlreadyExists, FailedPrecondition, NotFound

STRAY_QUARANTINED = "stray.quarantined"
"""Operator-level event (no merchant, never a webhook): a requested stray token's move to quarantine is final."""
PAYMENT_ALLOCATED = "payment.allocated"
"""Operator-level event (no merchant, never a webhook): an admin allocated an unallocated payment to an invoice."""


@dataclass(frozen=True)
class Allocation:
    """What an allocation did: the payment as now stored, the invoice it came from, and the credited invoice."""

    payment: payment_store.PaymentRow
    from_invoice_id: str
    invoice: Invoice
    fee: int


def _payment_not_found(payment_id: str) -> NotFound:
    return NotFound(
        f"no unallocated payment {payment_id}", reason="STRAY_PAYMENT_NOT_FOUND", metadata={"field": "payment_id"}
    )


async def _locked_payment(conn: asyncpg.Connection, payment_id: str) -> tuple[Invoice, payment_store.PaymentRow]:
    """The payment and the invoice whose deposit address received it, both locked (the invoice first).

    The invoice is read before its lock is taken; that is safe because the deposit-address invoice of a payment
    never changes: allocating keeps it in `allocated_from_invoice_id`, and undoing an allocation puts it back.
    """
    invoice_id = await conn.fetchval(
        "SELECT coalesce(allocated_from_invoice_id, invoice_id) FROM ledger.payments WHERE id = $1", payment_id
    )
    if invoice_id is None:
        raise _payment_not_found(payment_id)
    invoice = await invoice_store.lock(conn, invoice_id)
    assert invoice is not None
    key = await conn.fetchrow("SELECT chain_id, tx_hash, log_index FROM ledger.payments WHERE id = $1", payment_id)
    payment = await payment_store.get(conn, int(key["chain_id"]), key["tx_hash"], key["log_index"])
    assert payment is not None
    return invoice, payment


async def _check_open(conn: asyncpg.Connection, payment: payment_store.PaymentRow) -> None:
    """Refuse a payment that is not an open unallocated one: allocated, reversed, or with a live refund."""
    if payment.status != "UNALLOCATED":
        allocated_to = await conn.fetchval(
            "SELECT invoice_id FROM ledger.payments WHERE id = $1 AND allocated_from_invoice_id IS NOT NULL",
            payment.id,
        )
        if allocated_to is not None:
            raise FailedPrecondition(
                f"the payment was already allocated to invoice {allocated_to}",
                reason="PAYMENT_ALREADY_ALLOCATED",
                metadata={"field": "payment_id", "invoiceId": str(allocated_to)},
            )
        raise FailedPrecondition(
            f"the payment is {payment.status}, not UNALLOCATED",
            reason="PAYMENT_NOT_UNALLOCATED",
            metadata={"field": "payment_id", "status": payment.status},
        )
    refund = await conn.fetchrow(
        "SELECT id, status FROM ledger.payouts WHERE payment_id = $1 AND kind = 'STRAY_REFUND' "
        "AND status NOT IN ('FAILED', 'CANCELED', 'REJECTED')",
        payment.id,
    )
    if refund is not None:
        raise FailedPrecondition(
            f"the payment is being refunded to its sender ({refund['id']}, {refund['status']})",
            reason="STRAY_REFUND_EXISTS",
            metadata={"field": "payment_id", "refundId": refund["id"], "status": refund["status"]},
        )


async def allocate(
    conn: asyncpg.Connection,
    *,
    asset: str,
    payment_id: str,
    invoice_id: str,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> Allocation:
    """Credit an unallocated payment to an invoice of the same merchant, as a final payment would be; once.

    Eligible invoices: the merchant's whose deposit address received the payment (its own invoice included), in
    any status but CANCELED, on the payment's token. The invoice's fee plan charges it as for any final payment.
    """
    origin, payment = await _locked_payment(conn, payment_id)
    await _check_open(conn, payment)
    target = origin if invoice_id == origin.id else await invoice_store.lock(conn, invoice_id)
    if target is None or target.merchant_id != origin.merchant_id:
        raise NotFound(
            f"no invoice {invoice_id} of merchant {origin.merchant_id} (the payment's)",
            reason="INVOICE_NOT_FOUND",
            metadata={"field": "invoice_id", "merchantId": origin.merchant_id},
        )
    if target.status == "CANCELED":
        raise FailedPrecondition(
            "a canceled invoice cannot be credited by an allocation",
            reason="INVOICE_CANCELED",
            metadata={"field": "invoice_id"},
        )
    if target.token_contract != payment.token_contract:
        raise FailedPrecondition(
            "the invoice is in another token than the payment",
            reason="ASSET_MISMATCH",
            metadata={"field": "invoice_id"},
        )
    plan, charged = await fee_store.invoice_plan_and_charged(conn, target.id)
    credited = await fee_store.credited_total(conn, target.id)
    fee = fees.fee_for(plan, credited + payment.amount) - charged
    posting = postings.unallocated_payment_allocated(target.merchant_id, asset, payment.amount, fee)
    await journal.post(
        conn,
        posting,
        request_id=posting_request_id(payment, posting.kind),
        invoice_id=target.id,
        payment_id=payment.id,
    )
    await store.allocate(conn, payment.id, target.id, actor=actor, reason=reason, now=now)
    await fee_store.record_charge(conn, target.id, payment.id, fee, charged + fee)
    moved = replace(payment, invoice_id=target.id, status="FINAL")
    after = await _reevaluate(conn, target, now)
    data: dict[str, Any] = {
        "payment_id": payment.id,
        "from_invoice_id": origin.id,
        "invoice_id": target.id,
        "merchant_id": target.merchant_id,
        "amount_base_units": str(payment.amount),
        "fee_base_units": str(fee),
        "reason": reason,
        "actor": actor,
        "invoice": _invoice_data(after),
    }
    await outbox.append(conn, event_type=PAYMENT_ALLOCATED, merchant_id=None, subject_id=payment.id, data=data)
    return Allocation(moved, origin.id, after, fee)


async def refund_to_sender(
    conn: asyncpg.Connection, *, terms: PayoutTerms, payment_id: str, reason: str, now: dt.datetime
) -> PayoutRecord:
    """Queue an unallocated payment's return to its sender, reserving it out of `unallocated`."""
    origin, payment = await _locked_payment(conn, payment_id)
    await _check_open(conn, payment)
    if not payment.from_address or payment.from_address == "0x" + "0" * 40:
        raise FailedPrecondition(
            "the payment has no sender address to refund to",
            reason="SENDER_UNKNOWN",
            metadata={"field": "payment_id"},
        )
    source = postings.AccountRef("unallocated", None, terms.asset)
    reserve = postings.AccountRef("unallocated_reserved", None, terms.asset)
    locked = await journal.lock_balances(conn, [source, reserve])
    if locked[source] < payment.amount:
        raise FailedPrecondition(
            "the unallocated balance does not cover the payment (a reorg took it back?)",
            reason="INSUFFICIENT_UNALLOCATED",
            metadata={"field": "payment_id", "availableBaseUnits": str(locked[source])},
        )
    record = _platform_record(
        terms,
        id=new_id("srf"),
        kind="STRAY_REFUND",
        merchant_id=origin.merchant_id,
        destination=payment.from_address,
        amount=payment.amount,
        reason=reason,
        now=now,
        invoice_id=origin.id,
    )
    stored = await payout_store.insert(
        conn, record, request_id=f"stray_refund:{record.id}", request_hash=b"", payment_id=payment.id
    )
    posting = postings.platform_transfer("STRAY_REFUND", "reserved", terms.asset, payment.amount)
    await journal.post(conn, posting, request_id=f"{stored.id}:{posting.kind}", payment_id=payment.id)
    return stored


async def withdraw_revenue(
    conn: asyncpg.Connection,
    *,
    terms: PayoutTerms,
    destination: str,
    amount: int,
    reason: str,
    request_id: str,
    request_hash: bytes,
    now: dt.datetime,
) -> tuple[PayoutRecord, bool]:
    """Queue a withdrawal of collected fees to the platform's address, reserving it; (record, created).

    Never more than the `platform_fees` balance: decided under that account's lock, which also serialises
    withdrawals (and so their request ids).
    """
    source = postings.AccountRef("platform_fees", None, terms.asset)
    reserve = postings.AccountRef("platform_fees_reserved", None, terms.asset)
    locked = await journal.lock_balances(conn, [source, reserve])
    stored_id = f"revenue:{request_id}"
    replay = await conn.fetchrow(
        "SELECT id, request_hash FROM ledger.payouts WHERE kind = 'REVENUE' AND request_id = $1", stored_id
    )
    if replay is not None:
        if bytes(replay["request_hash"]) != request_hash:
            raise AlreadyExists(
                "request_id was already used with a different request",
                reason="REQUEST_ID_REUSED",
                metadata={"field": "request_id"},
            )
        found = await payout_store.get(conn, replay["id"])
        assert found is not None
        return found, False
    if locked[source] < amount:
        raise FailedPrecondition(
            "the collected platform fees do not cover the withdrawal",
            reason="INSUFFICIENT_PLATFORM_FEES",
            metadata={"field": "amount", "availableBaseUnits": str(locked[source]), "requiredBaseUnits": str(amount)},
        )
    record = _platform_record(
        terms,
        id=new_id("rev"),
        kind="REVENUE",
        merchant_id="",
        destination=destination,
        amount=amount,
        reason=reason,
        now=now,
        invoice_id=None,
    )
    stored = await payout_store.insert(conn, record, request_id=stored_id, request_hash=request_hash)
    posting = postings.platform_transfer("REVENUE", "reserved", terms.asset, amount)
    await journal.post(conn, posting, request_id=f"{stored.id}:{posting.kind}")
    return stored, True


async def platform_fees_balance(conn: asyncpg.Connection, asset: str) -> tuple[int, int]:
    """(collected platform fees not withdrawn, fees reserved by withdrawals in flight)."""
    codes = [
        journal.account_code(postings.AccountRef(kind, None, asset))
        for kind in ("platform_fees", "platform_fees_reserved")
    ]
    rows = await conn.fetch("SELECT code, balance FROM ledger.accounts WHERE code = ANY($1::text[])", codes)
    by_code = {r["code"]: int(r["balance"]) for r in rows}
    return by_code.get(codes[0], 0), by_code.get(codes[1], 0)


def _platform_record(
    terms: PayoutTerms,
    *,
    id: str,
    kind: Kind,
    merchant_id: str,
    destination: str,
    amount: int,
    reason: str,
    now: dt.datetime,
    invoice_id: str | None,
) -> PayoutRecord:
    return PayoutRecord(
        id=id,
        merchant_id=merchant_id,
        settlement_address_id=None,
        destination_address=destination,
        asset=terms.asset,
        chain_id=terms.chain_id,
        token_contract=terms.token_contract,
        amount=amount,
        fee=0,
        status="QUEUED",
        description="",
        metadata={},
        tx_hash=None,
        block_number=None,
        failure_reason="",
        create_time=now,
        update_time=now,
        broadcast_time=None,
        confirm_time=None,
        cancel_time=None,
        kind=kind,
        invoice_id=invoice_id,
        reason=reason,
    )


async def mark_quarantined(
    conn: asyncpg.Connection,
    *,
    chain_id: int,
    stray_id: str,
    tx_hash: str,
    block_number: int,
    moved: int,
    now: dt.datetime,
) -> bool:
    """Mark a requested stray token quarantined and write `stray.quarantined`; True when it already was.

    The row is locked first, so two calls cannot both write the event. No journal posting: the ledger never booked
    the stray asset. Refuses a row that is unknown, of another chain, not a token, never requested, or already
    quarantined by another transaction.
    """
    found = await store.lock_for_quarantine(conn, stray_id)
    if found is None or found.chain_id != chain_id:
        raise NotFound(f"no stray deposit {stray_id}", reason="STRAY_FUND_NOT_FOUND", metadata={"field": "stray_id"})
    if found.asset != "TOKEN" or not found.requested:
        raise FailedPrecondition(
            f"stray deposit {stray_id} has no quarantine request",
            reason="QUARANTINE_NOT_REQUESTED",
            metadata={"field": "stray_id", "strayId": stray_id},
        )
    if found.tx_hash is not None:
        if found.tx_hash == tx_hash:
            return True
        raise FailedPrecondition(
            f"stray deposit {stray_id} was quarantined by another transaction",
            reason="ALREADY_QUARANTINED",
            metadata={"field": "tx_hash", "strayId": stray_id, "txHash": found.tx_hash},
        )
    await store.mark_quarantined(conn, stray_id, tx_hash=tx_hash, block_number=block_number, moved=moved, now=now)
    await outbox.append(
        conn,
        event_type=STRAY_QUARANTINED,
        merchant_id=None,
        subject_id=stray_id,
        data={
            "stray_id": stray_id,
            "chain_id": chain_id,
            "deposit_address": found.deposit_address,
            "token_contract": found.token_contract,
            "amount_base_units": str(found.amount),
            "moved_base_units": str(moved),
            "tx_hash": tx_hash,
            "block_number": block_number,
        },
    )
    return False
