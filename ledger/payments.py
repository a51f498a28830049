"""Recording what the chain says: transfer observations, finality, reorgs and expiry.

Each observation is one Postgres transaction that locks the invoice, stores or moves the payment, posts the
journal transactions it implies (idempotent by a request id derived from the payment and the step), re-evaluates
the invoice with the lifecycle rules, and writes the outbox events of every change, so a crash anywhere loses
nothing and a repeated report changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from ledger.domain import lifecycle, postings
from ledger.domain.ids import new_id
from ledger.domain.models import Invoice
from ledger.store import invoices as invoice_store
from ledger.store import journal, outbox
from ledger.store import payments as payment_store
from service_runtime.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger("stablegate.ledger.payments")

Finality = Literal["SEEN", "FINAL", "REORGED"]
Outcome = Literal["MATCHED", "DUPLICATE", "UNKNOWN_ADDRESS", "WRONG_ASSET", "REVERSED"]


@dataclass(frozen=True)
class Observation:
    """A validated token transfer to a deposit address, as the watcher reports it."""

    chain_id: int
    token_contract: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    amount: int
    finality: Finality
    block_time: dt.datetime | None


@dataclass(frozen=True)
class Recorded:
    """What recording an observation did."""

    outcome: Outcome
    invoice_id: str = ""
    payment_id: str = ""
    transaction_id: str = ""


def _terms(invoice: Invoice) -> lifecycle.InvoiceTerms:
    return lifecycle.InvoiceTerms(
        amount=invoice.amount,
        tolerance=invoice.tolerance,
        expire_time=invoice.expire_time,
        monitor_until=invoice.monitor_until,
        canceled=invoice.status == "CANCELED",
        cancel_time=invoice.cancel_time,
    )


def _event_id(*parts: object) -> str:
    """A deterministic event id, so a repeated step writes its event once."""
    return "evt_" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


async def _post(conn: asyncpg.Connection, posting: postings.Posting, payment_id: str, invoice_id: str | None) -> str:
    tx = await journal.post(
        conn, posting, request_id=f"{payment_id}:{posting.kind}", invoice_id=invoice_id, payment_id=payment_id
    )
    return str(tx) if tx is not None else ""


async def _reevaluate(conn: asyncpg.Connection, invoice: Invoice, now: dt.datetime) -> Invoice:
    """Apply the lifecycle rules to the invoice's payments; store and announce any change."""
    facts = await payment_store.facts_for(conn, invoice.id)
    result = lifecycle.evaluate(_terms(invoice), facts, now)
    flags = sorted(result.exceptions)
    unchanged = (
        result.status == invoice.status
        and flags == sorted(invoice.exceptions)
        and result.amount_paid == invoice.amount_paid
    )
    updated = await invoice_store.save_evaluation(
        conn,
        invoice.id,
        status=result.status,
        exceptions=flags,
        amount_paid=result.amount_paid,
        amount_pending=result.amount_pending,
        paid_time=result.paid_time,
    )
    if unchanged:
        return updated
    if result.status == invoice.status:
        # Same status, new flags or amounts (a top-up, a late payment to a canceled invoice): still news.
        await outbox.append(
            conn,
            event_type="invoice.updated",
            merchant_id=invoice.merchant_id,
            subject_id=invoice.id,
            data=_invoice_data(updated),
            event_id=_event_id(invoice.id, "updated", result.status, flags, result.amount_paid, len(facts)),
        )
        return updated
    event = {
        "PAID": "invoice.paid",
        "EXPIRED": "invoice.expired",
        "PROCESSING": "invoice.processing",
        "OPEN": "invoice.reopened",
        "CANCELED": "invoice.canceled",
    }[result.status]
    await outbox.append(
        conn,
        event_type=event,
        merchant_id=invoice.merchant_id,
        subject_id=invoice.id,
        data=_invoice_data(updated),
        event_id=_event_id(invoice.id, event, result.status, result.amount_paid, len(facts)),
    )
    return updated


def _invoice_data(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "status": invoice.status,
        "exceptions": list(invoice.exceptions),
        "amount_base_units": str(invoice.amount),
        "amount_paid_base_units": str(invoice.amount_paid),
        "deposit_address": invoice.deposit_address,
    }


def _payment_data(p: payment_store.PaymentRow) -> dict[str, Any]:
    return {
        "payment_id": p.id,
        "invoice_id": p.invoice_id,
        "tx_hash": p.tx_hash,
        "log_index": p.log_index,
        "block_number": p.block_number,
        "from_address": p.from_address,
        "to_address": p.to_address,
        "amount_base_units": str(p.amount),
        "status": p.status,
    }


class PaymentRecorder:
    """Records observations for one configured chain and token."""

    def __init__(self, pool: asyncpg.Pool, *, chain_id: int, token_contract: str, asset: str) -> None:
        self.pool = pool
        self.chain_id = chain_id
        self.token_contract = token_contract
        self.asset = asset

    async def record(self, obs: Observation, now: dt.datetime) -> Recorded:
        """Record one observation (idempotent on chain id, tx hash and log index)."""
        if obs.chain_id != self.chain_id:
            raise InvalidArgument(
                f"chain_id {obs.chain_id} is not this ledger's chain ({self.chain_id})",
                reason="CHAIN_MISMATCH",
                metadata={"field": "observation.chain_id"},
            )
        async with self.pool.acquire() as conn, conn.transaction():
            invoice = await invoice_store.get_by_address(conn, obs.to_address)
            if invoice is None:
                return Recorded("UNKNOWN_ADDRESS")
            if obs.token_contract != self.token_contract:
                # Lookalike tokens and other assets at a deposit address: recorded as an event, never credited.
                await outbox.append(
                    conn,
                    event_type="deposit.unexpected_asset",
                    merchant_id=invoice.merchant_id,
                    subject_id=invoice.id,
                    data={
                        "token_contract": obs.token_contract,
                        "tx_hash": obs.tx_hash,
                        "log_index": obs.log_index,
                        "amount_base_units": str(obs.amount),
                        "to_address": obs.to_address,
                    },
                    event_id=_event_id("unexpected", obs.chain_id, obs.tx_hash, obs.log_index),
                )
                return Recorded("WRONG_ASSET", invoice.id)
            existing = await payment_store.get(conn, obs.chain_id, obs.tx_hash, obs.log_index)
            if existing is None:
                return await self._first_sight(conn, invoice, obs, now)
            if (existing.amount, existing.to_address, existing.token_contract) != (
                obs.amount,
                obs.to_address,
                obs.token_contract,
            ):
                raise FailedPrecondition(
                    "this transfer log was recorded with other content; the report contradicts the chain",
                    reason="OBSERVATION_CONFLICT",
                    metadata={"paymentId": existing.id},
                )
            return await self._transition(conn, invoice, existing, obs.finality, now)

    async def _first_sight(
        self, conn: asyncpg.Connection, invoice: Invoice, obs: Observation, now: dt.datetime
    ) -> Recorded:
        if obs.finality == "REORGED":
            return Recorded("DUPLICATE", invoice.id)  # never seen, already gone: nothing to undo
        observed_at = obs.block_time or now
        terms = _terms(invoice)
        admitted = lifecycle.admit_payment(terms, observed_at)
        status = "UNALLOCATED" if admitted == "UNALLOCATED" else "SEEN"
        row = payment_store.PaymentRow(
            id=new_id("pay"),
            chain_id=obs.chain_id,
            tx_hash=obs.tx_hash,
            log_index=obs.log_index,
            invoice_id=invoice.id,
            token_contract=obs.token_contract,
            block_number=obs.block_number,
            block_hash=obs.block_hash,
            from_address=obs.from_address,
            to_address=obs.to_address,
            amount=obs.amount,
            status=status,
            observe_time=observed_at,
        )
        stored = await payment_store.insert(conn, row, late=lifecycle.is_late(terms, observed_at))
        assert stored is not None, "the invoice row lock serialises reports for one deposit address"
        if status == "UNALLOCATED":
            tx = await _post(conn, postings.unallocated_payment(self.asset, obs.amount), stored.id, invoice.id)
            await outbox.append(
                conn,
                event_type="payment.unallocated",
                merchant_id=invoice.merchant_id,
                subject_id=invoice.id,
                data=_payment_data(stored),
                event_id=_event_id(stored.id, "unallocated"),
            )
            return Recorded("MATCHED", invoice.id, stored.id, tx)
        tx = await _post(
            conn, postings.payment_seen(invoice.merchant_id, self.asset, obs.amount), stored.id, invoice.id
        )
        await outbox.append(
            conn,
            event_type="invoice.payment_detected",
            merchant_id=invoice.merchant_id,
            subject_id=invoice.id,
            data={**_invoice_data(invoice), "payment": _payment_data(stored)},
            event_id=_event_id(stored.id, "detected"),
        )
        if obs.finality == "FINAL":
            return await self._transition(conn, invoice, stored, "FINAL", now)
        await _reevaluate(conn, invoice, now)
        return Recorded("MATCHED", invoice.id, stored.id, tx)

    async def _transition(
        self,
        conn: asyncpg.Connection,
        invoice: Invoice,
        payment: payment_store.PaymentRow,
        finality: Finality,
        now: dt.datetime,
    ) -> Recorded:
        merchant, asset, amount = invoice.merchant_id, self.asset, payment.amount
        if finality == "SEEN" or (finality == "FINAL" and payment.status != "SEEN"):
            return Recorded("DUPLICATE", invoice.id, payment.id)  # finality never regresses; FINAL once
        if finality == "FINAL":
            tx = await _post(conn, postings.payment_final(merchant, asset, amount), payment.id, invoice.id)
            await payment_store.set_status(conn, payment.id, "FINAL")
            await _reevaluate(conn, invoice, now)
            return Recorded("MATCHED", invoice.id, payment.id, tx)
        # REORGED: undo what this payment did, in full.
        if payment.status == "REVERSED":
            return Recorded("DUPLICATE", invoice.id, payment.id)
        if payment.status == "SEEN":
            posting = postings.seen_payment_reorged(merchant, asset, amount)
        elif payment.status == "UNALLOCATED":
            posting = postings.unallocated_payment_reversed(asset, amount)
        else:
            available_ref = postings.AccountRef("merchant_available", merchant, asset)
            available = await journal.balance(conn, available_ref, for_update=True)
            posting = postings.credited_payment_reversed(merchant, asset, amount, available)
            shortfall = amount - min(amount, available)
            if shortfall:
                await outbox.append(
                    conn,
                    event_type="merchant.balance_shortfall",
                    merchant_id=merchant,
                    subject_id=merchant,
                    data={"payment_id": payment.id, "shortfall_base_units": str(shortfall), "asset": asset},
                    event_id=_event_id(payment.id, "shortfall"),
                )
                log.warning("reversal exceeds available balance", extra={"paymentId": payment.id})
        tx = await _post(conn, posting, payment.id, invoice.id)
        await payment_store.set_status(conn, payment.id, "REVERSED")
        reversed_row = payment_store.PaymentRow(**{**payment.__dict__, "status": "REVERSED"})
        await outbox.append(
            conn,
            event_type="invoice.payment_reversed",
            merchant_id=merchant,
            subject_id=invoice.id,
            data={**_invoice_data(invoice), "payment": _payment_data(reversed_row)},
            event_id=_event_id(payment.id, "reversed"),
        )
        await _reevaluate(conn, invoice, now)
        return Recorded("REVERSED", invoice.id, payment.id, tx)

    async def record_finality(self, chain_id: int, finalized_block: int, now: dt.datetime) -> int:
        """Mark every SEEN payment at or below the finalized block FINAL; returns how many."""
        if chain_id != self.chain_id:
            raise InvalidArgument(
                f"chain_id {chain_id} is not this ledger's chain ({self.chain_id})",
                reason="CHAIN_MISMATCH",
                metadata={"field": "chain_id"},
            )
        async with self.pool.acquire() as conn:
            keys = await payment_store.seen_at_or_below(conn, chain_id, finalized_block)
        credited = 0
        for tx_hash, log_index in keys:
            async with self.pool.acquire() as conn, conn.transaction():
                payment = await payment_store.get(conn, chain_id, tx_hash, log_index)
                if payment is None or payment.status != "SEEN" or payment.invoice_id is None:
                    continue
                invoice = await invoice_store.lock(conn, payment.invoice_id)
                assert invoice is not None
                await self._transition(conn, invoice, payment, "FINAL", now)
                credited += 1
        return credited

    async def expire_due(self, now: dt.datetime, batch: int = 100) -> int:
        """Re-evaluate invoices past their expiry (OPEN → EXPIRED with `invoice.expired`); returns how many moved."""
        moved = 0
        while True:
            this_pass = 0
            async with self.pool.acquire() as conn, conn.transaction():
                due = await invoice_store.due_for_expiry(conn, now, batch)
                for invoice_id in due:
                    invoice = await invoice_store.lock(conn, invoice_id)
                    assert invoice is not None
                    after = await _reevaluate(conn, invoice, now)
                    this_pass += after.status != invoice.status
            moved += this_pass
            if len(due) < batch or not this_pass:
                return moved
