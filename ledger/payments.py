"""Recording what the chain says: transfer observations, finality, reorgs and expiry.

Each observation is one Postgres transaction that locks the invoice, stores or moves the payment, posts the
journal transactions it implies (idempotent by a request id derived from the payment, its generation and the
step), re-evaluates the invoice with the lifecycle rules, and writes the outbox events of every change, so a
crash anywhere loses nothing and a repeated report changes nothing. A transfer re-mined in another block after a
reorg is a new generation of the same payment: undone for the old block, credited again for the new one. Every
move to another block starts a generation, so a transfer that comes back to a block it left (A → B → A) is
credited again too, never mistaken for its first appearance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import asyncpg

from ledger.domain import fees, lifecycle, postings
from ledger.domain.finality import CanonicalChain
from ledger.domain.ids import new_id
from ledger.domain.models import Invoice
from ledger.metrics import LedgerMetrics
from ledger.store import fees as fee_store
from ledger.store import invoices as invoice_store
from ledger.store import journal, outbox
from ledger.store import payments as payment_store
from ledger.store import stray as stray_store
from service_runtime.errors import Aborted, DomainError, FailedPrecondition, InvalidArgument

T = TypeVar("T")

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


RETRIES = 5
FINALITY_GROUP = 50
"""Payments credited together in one transaction at finality; a group that fails is retried one by one."""


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    """Run a one-transaction, idempotent step, again when Postgres aborted it for a deadlock or serialization."""
    for attempt in range(RETRIES):
        try:
            return await step()
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == RETRIES - 1:
                raise Aborted(
                    "the ledger was too busy to record this; retry", reason="CONTENTION", metadata={}
                ) from None
            await asyncio.sleep(0.01 * (attempt + 1) * random.random())  # noqa: S311 - jitter, not security  # nosec B311
    raise AssertionError("unreachable")


def _event_id(*parts: object) -> str:
    """A deterministic event id, so a repeated step writes its event once."""
    return "evt_" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def posting_request_id(payment: payment_store.PaymentRow, kind: str) -> str:
    """The journal request id of a payment's posting: `<payment id>:g<generation>:<block hash>:<posting kind>`."""
    return f"{payment.id}:g{payment.generation}:{payment.block_hash}:{kind}"


def _payment_event_id(payment: payment_store.PaymentRow, step: str) -> str:
    """A per-payment event's id: written once per generation, so every (re)appearance announces itself once."""
    return _event_id(payment.id, payment.generation, payment.block_hash, step)


async def _post(
    conn: asyncpg.Connection, posting: postings.Posting, payment: payment_store.PaymentRow, invoice_id: str | None
) -> str:
    # Keyed by the generation: a transfer re-mined in another block after a reorg, or back in a block it sat in
    # before (A → B → A), is a new appearance whose postings must not be mistaken for an earlier one's.
    request_id = posting_request_id(payment, posting.kind)
    tx = await journal.post(conn, posting, request_id=request_id, invoice_id=invoice_id, payment_id=payment.id)
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
            event_id=new_id("evt"),
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
        event_id=new_id("evt"),
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


@dataclass(frozen=True)
class FinalityResult:
    """What recording a finalized block did: payments credited, invoices paid by them, payments that failed."""

    credited: int = 0
    paid_invoices: int = 0
    failed: int = 0
    not_canonical: int = 0
    """SEEN payments at or below the finalized block left uncredited: their block is not shown canonical."""


class PaymentRecorder:
    """Records observations for one configured chain and token."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        chain_id: int,
        token_contract: str,
        asset: str,
        metrics: LedgerMetrics | None = None,
    ) -> None:
        """Record for this chain and token on `pool`, counting failures in `metrics`."""
        self.pool = pool
        self.chain_id = chain_id
        self.token_contract = token_contract
        self.asset = asset
        self.metrics = metrics or LedgerMetrics()
        self.finality_group = FINALITY_GROUP
        """Payments credited per transaction at finality (a group that fails is credited one by one)."""
        self.after_credit: Callable[[asyncpg.Connection, Invoice, dt.datetime], Awaitable[object]] | None = None
        """Called in the crediting transaction after a payment is credited at finality (the automatic
        overpayment refund, `PayoutBook.auto_refund`), with the invoice locked and re-evaluated."""

    async def record(self, obs: Observation, now: dt.datetime) -> Recorded:
        """Record one observation (idempotent on chain id, tx hash, log index and block hash).

        A transaction that loses a deadlock or serialization race is retried: the step is one transaction and
        idempotent, so a retry either does it or finds it done.
        """
        if obs.chain_id != self.chain_id:
            raise InvalidArgument(
                f"chain_id {obs.chain_id} is not this ledger's chain ({self.chain_id})",
                reason="CHAIN_MISMATCH",
                metadata={"field": "observation.chain_id"},
            )
        return await retrying(lambda: self._record_once(obs, now))

    async def record_many(self, observations: Sequence[Observation], now: dt.datetime) -> list[Recorded]:
        """Record observations in order, all or none, in one transaction; what each did, in order.

        Each observation has exactly the outcome it would have had recorded alone, in this order (the same
        steps run on one connection, the invoice re-read before each). The invoices of the whole batch are
        locked first, in id order, so the batch waits for no invoice while it holds account balances. If one
        observation is refused (another chain, content contradicting an earlier report), the transaction rolls
        back, nothing is recorded, and the error names it: its message starts `observations[i]`, and its
        metadata carries `index`. A deadlock or serialization failure retries the whole batch (idempotent).
        """
        for index, obs in enumerate(observations):
            if obs.chain_id != self.chain_id:
                raise InvalidArgument(
                    f"observations[{index}].chain_id {obs.chain_id} is not this ledger's chain ({self.chain_id})",
                    reason="CHAIN_MISMATCH",
                    metadata={"field": f"observations[{index}].chain_id", "index": str(index)},
                )
        return await retrying(lambda: self._record_many_once(observations, now))

    async def _record_many_once(self, observations: Sequence[Observation], now: dt.datetime) -> list[Recorded]:
        async with self.pool.acquire() as conn, conn.transaction():
            await invoice_store.lock_by_addresses(conn, sorted({o.to_address for o in observations}))
            done: list[Recorded] = []
            for index, obs in enumerate(observations):
                try:
                    done.append(await self._record_in(conn, obs, now))
                except DomainError as exc:
                    raise type(exc)(
                        f"observations[{index}]: {exc.message}; nothing in this batch was recorded",
                        reason=exc.reason,
                        metadata={**exc.metadata, "index": str(index)},
                    ) from exc
            return done

    async def _record_once(self, obs: Observation, now: dt.datetime) -> Recorded:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._record_in(conn, obs, now)

    async def _record_in(self, conn: asyncpg.Connection, obs: Observation, now: dt.datetime) -> Recorded:
        """Record one observation in the caller's transaction."""
        # Lock order everywhere: the invoice, then its payment, then accounts (sorted by code, in journal.post).
        invoice = await invoice_store.get_by_address(conn, obs.to_address)
        if invoice is None:
            return Recorded("UNKNOWN_ADDRESS")
        if obs.token_contract != self.token_contract:
            # Lookalike tokens and native BNB at a deposit address: recorded as an event, never credited.
            await outbox.append(
                conn,
                event_type="deposit.unexpected_asset",
                merchant_id=invoice.merchant_id,
                subject_id=invoice.id,
                data={
                    "asset": "NATIVE" if not obs.token_contract else "TOKEN",
                    "token_contract": obs.token_contract,
                    "tx_hash": obs.tx_hash,
                    "log_index": obs.log_index,
                    "amount_base_units": str(obs.amount),
                    "to_address": obs.to_address,
                },
                event_id=_event_id("unexpected", obs.chain_id, obs.tx_hash, obs.log_index),
            )
            if obs.finality != "REORGED":
                # Kept as a row too, for the admins' stray funds list (docs/payouts.md, "Stray funds").
                await stray_store.record_unexpected(
                    conn,
                    chain_id=obs.chain_id,
                    tx_hash=obs.tx_hash,
                    log_index=obs.log_index,
                    invoice_id=invoice.id,
                    merchant_id=invoice.merchant_id,
                    token_contract=obs.token_contract,
                    from_address=obs.from_address,
                    to_address=obs.to_address,
                    amount=obs.amount,
                    block_number=obs.block_number,
                    observe_time=obs.block_time or now,
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
        return await self._again(conn, invoice, existing, obs, now)

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
            tx = await _post(conn, postings.unallocated_payment(self.asset, obs.amount), stored, invoice.id)
            await outbox.append(
                conn,
                event_type="payment.unallocated",
                merchant_id=invoice.merchant_id,
                subject_id=invoice.id,
                data=_payment_data(stored),
                event_id=_payment_event_id(stored, "unallocated"),
            )
            return Recorded("MATCHED", invoice.id, stored.id, tx)
        return await self._credit_seen(conn, invoice, stored, obs.finality, now)

    async def _credit_seen(
        self,
        conn: asyncpg.Connection,
        invoice: Invoice,
        payment: payment_store.PaymentRow,
        finality: Finality,
        now: dt.datetime,
    ) -> Recorded:
        """Post a (re)seen payment as pending, announce it, and go on to FINAL if the report says so."""
        tx = await _post(
            conn, postings.payment_seen(invoice.merchant_id, self.asset, payment.amount), payment, invoice.id
        )
        await outbox.append(
            conn,
            event_type="invoice.payment_detected",
            merchant_id=invoice.merchant_id,
            subject_id=invoice.id,
            data={**_invoice_data(invoice), "payment": _payment_data(payment)},
            event_id=_payment_event_id(payment, "detected"),
        )
        if finality == "FINAL":
            return await self._finalize(conn, invoice, payment, now)
        await _reevaluate(conn, invoice, now)
        return Recorded("MATCHED", invoice.id, payment.id, tx)

    async def _again(  # noqa: PLR0911 - one return per case of the transfer state machine
        self,
        conn: asyncpg.Connection,
        invoice: Invoice,
        payment: payment_store.PaymentRow,
        obs: Observation,
        now: dt.datetime,
    ) -> Recorded:
        """A report about a transfer already recorded: finality moves forward, a reorg undoes, a re-mine redoes."""
        moved = obs.block_hash != payment.block_hash
        if obs.finality == "REORGED":
            if moved or payment.status == "REVERSED":
                # A reorg of a block this payment is no longer in (it was re-mined elsewhere), or already undone.
                return Recorded("DUPLICATE", invoice.id, payment.id)
            return await self._reverse(conn, invoice, payment, now)
        if payment.status == "REVERSED":
            if not moved:
                return Recorded("DUPLICATE", invoice.id, payment.id)  # a stale report of the dropped block
            # Re-mined in another block after a reorg: a new generation, admitted again by its first observation
            # time (so a transfer that came after the monitoring window stays unallocated), then credited.
            if lifecycle.admit_payment(_terms(invoice), payment.observe_time) == "UNALLOCATED":
                held = await payment_store.move_to_block(conn, payment, obs.block_number, obs.block_hash, "UNALLOCATED")
                tx = await _post(conn, postings.unallocated_payment(self.asset, held.amount), held, invoice.id)
                await outbox.append(
                    conn,
                    event_type="payment.unallocated",
                    merchant_id=invoice.merchant_id,
                    subject_id=invoice.id,
                    data=_payment_data(held),
                    event_id=_payment_event_id(held, "unallocated"),
                )
                return Recorded("MATCHED", invoice.id, held.id, tx)
            revived = await payment_store.move_to_block(conn, payment, obs.block_number, obs.block_hash, "SEEN")
            return await self._credit_seen(conn, invoice, revived, obs.finality, now)
        if payment.status == "SEEN":
            if moved:
                # Seen in another block before the old one's reorg was reported: follow the transfer.
                payment = await payment_store.move_to_block(conn, payment, obs.block_number, obs.block_hash, "SEEN")
            if obs.finality == "FINAL":
                return await self._finalize(conn, invoice, payment, now)
            return Recorded("DUPLICATE", invoice.id, payment.id)
        if moved:
            log.warning("a final payment was reported in another block", extra={"paymentId": payment.id})
        return Recorded("DUPLICATE", invoice.id, payment.id)  # FINAL or UNALLOCATED: finality never regresses

    async def _finalize(
        self, conn: asyncpg.Connection, invoice: Invoice, payment: payment_store.PaymentRow, now: dt.datetime
    ) -> Recorded:
        recorded, _after = await self._finalize_payment(conn, invoice, payment, now)
        return recorded

    async def _finalize_payment(
        self, conn: asyncpg.Connection, invoice: Invoice, payment: payment_store.PaymentRow, now: dt.datetime
    ) -> tuple[Recorded, Invoice]:
        """Credit a SEEN payment as final; what was done, and the invoice after re-evaluation."""
        # The invoice is locked: its credited total and charged fee cannot move under us. The invoice's fee is
        # always fee(credited total) under the plan it was made with; this payment pays the increase.
        plan, charged = await fee_store.invoice_plan_and_charged(conn, invoice.id)
        credited = await fee_store.credited_total(conn, invoice.id)
        fee = fees.fee_for(plan, credited + payment.amount) - charged
        posting = postings.payment_final(invoice.merchant_id, self.asset, payment.amount, fee)
        tx = await _post(conn, posting, payment, invoice.id)
        await payment_store.set_status(conn, payment.id, "FINAL")
        await fee_store.record_charge(conn, invoice.id, payment.id, fee, charged + fee)
        after = await _reevaluate(conn, invoice, now)
        if self.after_credit is not None:
            await self.after_credit(conn, after, now)
        return Recorded("MATCHED", invoice.id, payment.id, tx), after

    async def _reverse(
        self, conn: asyncpg.Connection, invoice: Invoice, payment: payment_store.PaymentRow, now: dt.datetime
    ) -> Recorded:
        """Undo what this payment did, in full."""
        if payment.invoice_id is not None and payment.invoice_id != invoice.id:
            # An unallocated payment an admin allocated to another invoice (`ledger.stray`): undone on the invoice
            # it was credited to, then back on its own invoice's row, no longer allocated (a re-mine holds it as
            # unallocated again). The target is locked after the payment, as the allocation locked it.
            target = await invoice_store.lock(conn, payment.invoice_id)
            assert target is not None
            recorded = await self._reverse(conn, target, replace(payment, invoice_id=target.id), now)
            await stray_store.unallocate(conn, payment.id, invoice.id)
            return recorded
        merchant, asset, amount = invoice.merchant_id, self.asset, payment.amount
        if payment.status == "SEEN":
            posting = postings.seen_payment_reorged(merchant, asset, amount)
        elif payment.status == "UNALLOCATED":
            posting = postings.unallocated_payment_reversed(asset, amount)
        else:
            # Lock the balance (with chain clearing, in account-code order, as `journal.post` locks) before deciding
            # how much it covers: a concurrent reversal for this merchant could otherwise spend it in between,
            # and the posting would overdraw it and fail (DECISIONS.md: reversals never fail).
            available_ref = postings.AccountRef("merchant_available", merchant, asset)
            clearing_ref = postings.AccountRef("chain_clearing", None, asset)
            locked = await journal.lock_balances(conn, [clearing_ref, available_ref])
            available = locked[available_ref]
            # The platform gives back what its fee falls by: the invoice's fee becomes fee(what stays credited).
            plan, charged = await fee_store.invoice_plan_and_charged(conn, invoice.id)
            credited = await fee_store.credited_total(conn, invoice.id)
            fee = charged - fees.fee_for(plan, credited - amount)
            await fee_store.record_charge(conn, invoice.id, payment.id, 0, charged - fee)
            posting = postings.credited_payment_reversed(merchant, asset, amount, available, fee)
            shortfall = (amount - fee) - min(amount - fee, available)
            if shortfall:
                await outbox.append(
                    conn,
                    event_type="merchant.balance_shortfall",
                    merchant_id=merchant,
                    subject_id=merchant,
                    data={"payment_id": payment.id, "shortfall_base_units": str(shortfall), "asset": asset},
                    event_id=_payment_event_id(payment, "shortfall"),
                )
                log.warning("reversal exceeds available balance", extra={"paymentId": payment.id})
        tx = await _post(conn, posting, payment, invoice.id)
        await payment_store.set_status(conn, payment.id, "REVERSED")
        await outbox.append(
            conn,
            event_type="invoice.payment_reversed",
            merchant_id=merchant,
            subject_id=invoice.id,
            data={**_invoice_data(invoice), "payment": _payment_data(replace(payment, status="REVERSED"))},
            event_id=_payment_event_id(payment, "reversed"),
        )
        await _reevaluate(conn, invoice, now)
        return Recorded("REVERSED", invoice.id, payment.id, tx)

    async def record_finality(self, chain_id: int, chain: CanonicalChain, now: dt.datetime) -> FinalityResult:
        """Mark FINAL every SEEN payment whose block is canonical under the finalized block.

        Payments are credited in groups of `finality_group`, each group one transaction (its invoices locked
        first, in id order); a group whose transaction fails is credited again one payment per transaction, so
        one payment that fails does not hold back the others. A SEEN payment at or below the finalized height
        in a block not shown canonical (`ledger.domain.finality`) is left SEEN, for the watcher's reorg report
        or a later call. A payment whose own transaction fails (after the contention retries) is logged and
        counted in `ledger_finality_payment_failures_total`, stays SEEN for the next call, and does not stop
        the others.
        """
        if chain_id != self.chain_id:
            raise InvalidArgument(
                f"chain_id {chain_id} is not this ledger's chain ({self.chain_id})",
                reason="CHAIN_MISMATCH",
                metadata={"field": "chain_id"},
            )
        async with self.pool.acquire() as conn:
            listed = await payment_store.seen_at_or_below(conn, chain_id, chain.finalized_number)
        canonical = [seen for seen in listed if chain.is_canonical(seen.block_number, seen.block_hash)]
        not_canonical = len(listed) - len(canonical)
        credited = paid = failed = 0
        for start in range(0, len(canonical), self.finality_group):
            group = canonical[start : start + self.finality_group]
            outcomes: list[str]
            try:
                outcomes = list(await retrying(functools.partial(self._finalize_group, chain_id, group, chain, now)))
            except Exception as exc:
                log.warning(
                    "a group of payments could not be credited together; crediting them one by one",
                    extra={"chainId": chain_id, "count": len(group), "error": type(exc).__name__},
                )
                outcomes = []
                for seen in group:
                    outcome = await self._finalize_alone(chain_id, seen, chain, now)
                    failed += outcome == "FAILED"
                    outcomes.append(outcome)
            credited += sum(o in ("CREDITED", "PAID") for o in outcomes)
            paid += outcomes.count("PAID")
        if not_canonical:
            log.info(
                "payments left uncredited at finality: their blocks are not shown canonical",
                extra={"chainId": chain_id, "finalizedBlock": chain.finalized_number, "count": not_canonical},
            )
        return FinalityResult(credited=credited, paid_invoices=paid, failed=failed, not_canonical=not_canonical)

    async def _finalize_alone(
        self, chain_id: int, seen: payment_store.SeenPayment, chain: CanonicalChain, now: dt.datetime
    ) -> Literal["CREDITED", "PAID", "SKIPPED", "FAILED"]:
        """Credit one payment in a transaction of its own; a failure is logged, counted and reported FAILED."""
        tx_hash, log_index = seen.tx_hash, seen.log_index
        try:
            return await retrying(functools.partial(self._finalize_one, chain_id, tx_hash, log_index, chain, now))
        except Exception as exc:
            # Whatever went wrong with this payment, its transaction rolled back: one bad payment must not
            # stall crediting for the whole chain.
            self.metrics.finality_payment_failures.labels(type(exc).__name__).inc()
            log.exception(
                "a payment could not be credited at finality; it stays SEEN, the others go on",
                extra={"chainId": chain_id, "txHash": tx_hash, "logIndex": log_index, "error": type(exc).__name__},
            )
            return "FAILED"

    async def _finalize_group(
        self, chain_id: int, group: list[payment_store.SeenPayment], chain: CanonicalChain, now: dt.datetime
    ) -> list[Literal["CREDITED", "PAID", "SKIPPED"]]:
        """Credit a group of payments in one transaction, their invoices locked first in id order."""
        async with self.pool.acquire() as conn, conn.transaction():
            await invoice_store.lock_ids(conn, sorted({s.invoice_id for s in group if s.invoice_id is not None}))
            return [await self._finalize_in(conn, chain_id, (s.tx_hash, s.log_index), chain, now) for s in group]

    async def _finalize_one(
        self, chain_id: int, tx_hash: str, log_index: int, chain: CanonicalChain, now: dt.datetime
    ) -> Literal["CREDITED", "PAID", "SKIPPED"]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._finalize_in(conn, chain_id, (tx_hash, log_index), chain, now)

    async def _finalize_in(
        self,
        conn: asyncpg.Connection,
        chain_id: int,
        key: tuple[str, int],
        chain: CanonicalChain,
        now: dt.datetime,
    ) -> Literal["CREDITED", "PAID", "SKIPPED"]:
        """Credit one SEEN payment (by tx hash and log index) in the caller's transaction, if still due."""
        tx_hash, log_index = key
        invoice_id = await payment_store.invoice_of(conn, chain_id, tx_hash, log_index)
        if invoice_id is None:
            return "SKIPPED"
        invoice = await invoice_store.lock(conn, invoice_id)  # the invoice first, as record() does
        payment = await payment_store.get(conn, chain_id, tx_hash, log_index)
        if (
            invoice is None
            or payment is None
            or payment.status != "SEEN"
            or not chain.is_canonical(payment.block_number, payment.block_hash)
        ):
            return "SKIPPED"  # moved, reversed or credited since it was listed
        _recorded, after = await self._finalize_payment(conn, invoice, payment, now)
        return "PAID" if after.status == "PAID" and invoice.status != "PAID" else "CREDITED"

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
