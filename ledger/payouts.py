"""Payouts, ledger side: accept (reserving the amount plus fee), cancel, and record what settlement did.

Each step is one Postgres transaction that locks what it changes, posts its journal transaction (idempotent by a
request id derived from the payout and the step), moves the payout and writes its `payout.*` event, so a crash
anywhere loses nothing and a repeated report changes nothing. The reservation is decided under a row lock on the
merchant (which serialises one merchant's payouts) and on its balance accounts; the schema's
`merchant_balance_not_negative` constraint backs it: a payout can never overdraw.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf.json_format import MessageToDict

from ledger.api.convert import payout_message, refund_message
from ledger.domain import postings
from ledger.domain import settlement_addresses as address_rules
from ledger.domain.ids import new_id
from ledger.domain.lifecycle import OVERPAID
from ledger.domain.models import Invoice
from ledger.domain.payouts import CANCELABLE, PLATFORM_KINDS, PayoutRecord, Trigger, payout_fee, refundable
from ledger.domain.settlement_addresses import SettlementAddressRecord
from ledger.store import invoices as invoice_store
from ledger.store import journal, outbox
from ledger.store import merchants as merchant_store
from ledger.store import payout_schedules as schedule_store
from ledger.store import payouts as store
from ledger.store import settlement_addresses as address_store
from service_runtime.errors import AlreadyExists, FailedPrecondition, NotFound

log = logging.getLogger("stablegate.ledger.payouts")


@dataclass(frozen=True)
class PayoutTerms:
    """What every payout of this ledger uses: the chain and token, the fee and the minimum."""

    asset: str
    chain_id: int
    token_contract: str
    decimals: int
    fixed_fee: int
    minimum: int


@dataclass(frozen=True)
class NewPayout:
    """A validated payout request."""

    merchant_id: str
    destination_address: str
    amount: int
    max_fee: int | None
    description: str
    metadata: dict[str, str]
    request_id: str
    request_hash: bytes
    key_id: str | None = None
    """The API key that asked (its owner address is the payout's initiator at the signer)."""


@dataclass(frozen=True)
class NewRefund:
    """A validated refund request; `amount` None means everything still refundable."""

    merchant_id: str
    invoice_id: str
    refund_address: str
    amount: int | None
    reason: str
    request_id: str
    request_hash: bytes
    key_id: str | None = None
    """The API key that asked."""


@dataclass(frozen=True)
class Quote:
    """A payout's fee and whether the available balance covers it now."""

    amount: int
    fee: int
    available: int

    @property
    def total(self) -> int:
        """Amount plus fee."""
        return self.amount + self.fee


PLATFORM_EVENT_PREFIX: dict[str, str] = {"STRAY_REFUND": "stray_refund", "REVENUE": "revenue_withdrawal"}
"""The operator-level events of the platform's transfers: `stray_refund.*` and `revenue_withdrawal.*` with the steps
`created`, `broadcast`, `confirmed`, `failed` (no merchant, so never a webhook)."""


async def announce_platform(conn: asyncpg.Connection, record: PayoutRecord, step: str, decimals: int) -> None:
    """Write a platform transfer's operator-level event for `step` in the caller's transaction."""
    data = MessageToDict(payout_message(record, decimals), preserving_proto_field_name=True)
    data["kind"] = record.kind
    data["reason"] = record.reason
    await outbox.append(
        conn,
        event_type=f"{PLATFORM_EVENT_PREFIX[record.kind]}.{step}",
        merchant_id=None,  # operator-level: never a merchant's webhook
        subject_id=record.id,
        data=data,
    )


def _not_found(payout_id: str, field: str = "id") -> NotFound:
    return NotFound(f"no payout {payout_id}", reason="PAYOUT_NOT_FOUND", metadata={"field": field})


def _refund_not_found(refund_id: str) -> NotFound:
    return NotFound(f"no refund {refund_id}", reason="REFUND_NOT_FOUND", metadata={"field": "id"})


class PayoutBook:
    """The ledger's payout operations on one pool."""

    def __init__(self, pool: asyncpg.Pool, terms: PayoutTerms) -> None:
        """Operate on `pool` with these terms."""
        self.pool = pool
        self.terms = terms

    def _refs(self, merchant_id: str) -> tuple[postings.AccountRef, postings.AccountRef]:
        return self.accounts(merchant_id)

    def accounts(self, merchant_id: str) -> tuple[postings.AccountRef, postings.AccountRef]:
        """The merchant's `merchant_available` and `merchant_reserved` accounts of this ledger's asset."""
        asset = self.terms.asset
        return (
            postings.AccountRef("merchant_available", merchant_id, asset),
            postings.AccountRef("merchant_reserved", merchant_id, asset),
        )

    def _data(self, payout: PayoutRecord) -> dict[str, Any]:
        return MessageToDict(payout_message(payout, self.terms.decimals), preserving_proto_field_name=True)

    def _check_minimum(self, amount: int) -> None:
        if amount < self.terms.minimum:
            raise FailedPrecondition(
                f"a payout must be at least {self.terms.minimum} base units",
                reason="PAYOUT_BELOW_MINIMUM",
                metadata={"field": "amount", "minimumBaseUnits": str(self.terms.minimum)},
            )

    async def quote(self, merchant_id: str, amount: int) -> Quote:
        """The fee of a payout of `amount` and the available balance now (changes nothing)."""
        self._check_minimum(amount)
        async with self.pool.acquire() as conn:
            value = await conn.fetchval(
                "SELECT balance FROM ledger.accounts WHERE code = $1",
                journal.account_code(self._refs(merchant_id)[0]),
            )
        return Quote(amount, payout_fee(self.terms.fixed_fee, amount), int(value or 0))

    async def create(self, new: NewPayout, now: dt.datetime) -> PayoutRecord:
        """Accept a payout reserving its amount plus fee, or refuse it changing nothing; a replay returns the first."""
        self._check_minimum(new.amount)
        fee = payout_fee(self.terms.fixed_fee, new.amount)
        if new.max_fee is not None and fee > new.max_fee:
            raise FailedPrecondition(
                "the payout fee is above max_fee",
                reason="PAYOUT_FEE_ABOVE_MAX",
                metadata={"field": "max_fee", "feeBaseUnits": str(fee)},
            )
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                # The merchant's row first: one merchant's payouts (and their idempotency keys) go one at a time.
                await merchant_store.get(conn, new.merchant_id, for_update=True)
                replay = await store.find_by_request(conn, new.merchant_id, new.request_id)
                if replay is not None:
                    if replay[1] != new.request_hash:
                        raise AlreadyExists(
                            "request_id was already used with a different request",
                            reason="REQUEST_ID_REUSED",
                            metadata={"field": "request_id"},
                        )
                    return replay[0]
                address = await address_store.live_with_address(conn, new.merchant_id, new.destination_address)
                if address is None:
                    raise FailedPrecondition(
                        "destination_address is not one of your settlement addresses",
                        reason="SETTLEMENT_ADDRESS_NOT_REGISTERED",
                        metadata={"field": "destination_address"},
                    )
                if not address_rules.usable(address, now):
                    raise FailedPrecondition(
                        "the settlement address is not usable yet: it needs a confirmation and its cooling-off to end",
                        reason="SETTLEMENT_ADDRESS_NOT_USABLE",
                        metadata={
                            "field": "destination_address",
                            "settlementAddressId": address.id,
                            "status": address_rules.status(address, now),
                            "coolingOffEndTime": address.cooling_off_end.isoformat(),
                        },
                    )
                available_ref, reserved_ref = self._refs(new.merchant_id)
                locked = await journal.lock_balances(conn, [available_ref, reserved_ref])
                if locked[available_ref] < new.amount + fee:
                    raise self._insufficient(locked[available_ref], new.amount + fee)
                return await self.reserve(
                    conn,
                    merchant_id=new.merchant_id,
                    address=address,
                    amount=new.amount,
                    fee=fee,
                    description=new.description,
                    metadata=new.metadata,
                    request_id=new.request_id,
                    request_hash=new.request_hash,
                    now=now,
                    created_by_key_id=new.key_id,
                )
        except asyncpg.CheckViolationError as exc:
            # The constraint behind the check above: only a bug could get here, and it still refuses.
            raise self._insufficient(0, new.amount + fee) from exc

    async def reserve(
        self,
        conn: asyncpg.Connection,
        *,
        merchant_id: str,
        address: SettlementAddressRecord,
        amount: int,
        fee: int,
        description: str,
        metadata: dict[str, str],
        request_id: str,
        request_hash: bytes,
        now: dt.datetime,
        trigger: Trigger = "MANUAL",
        created_by_key_id: str | None = None,
    ) -> PayoutRecord:
        """Store a checked payout QUEUED, post its reservation and write `payout.created`, in the caller's transaction.

        The one way a payout is made, by the merchant (`create`) or its schedule (`ledger/schedules.py`): the caller
        holds the merchant's row lock and its balance accounts' locks, and has checked the address and the balance.
        """
        payout = PayoutRecord(
            id=new_id("po"),
            merchant_id=merchant_id,
            settlement_address_id=address.id,
            destination_address=address.address,
            asset=self.terms.asset,
            chain_id=self.terms.chain_id,
            token_contract=self.terms.token_contract,
            amount=amount,
            fee=fee,
            status="QUEUED",
            description=description,
            metadata=metadata,
            tx_hash=None,
            block_number=None,
            failure_reason="",
            create_time=now,
            update_time=now,
            broadcast_time=None,
            confirm_time=None,
            cancel_time=None,
            trigger=trigger,
        )
        stored = await store.insert(
            conn, payout, request_id=request_id, request_hash=request_hash, created_by_key_id=created_by_key_id
        )
        await journal.post(
            conn,
            postings.payout_reserved(merchant_id, self.terms.asset, amount, fee),
            request_id=f"{stored.id}:{postings.PAYOUT_RESERVED}",
        )
        await self._announce(conn, stored, "created")
        return stored

    async def create_refund(self, new: NewRefund, now: dt.datetime) -> PayoutRecord:
        """Accept a refund of an invoice's credited money, reserving it; or refuse it changing nothing."""
        request_id = f"refund:{new.request_id}"  # payouts and refunds share the merchant's request ids
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await merchant_store.get(conn, new.merchant_id, for_update=True)
                replay = await store.find_by_request(conn, new.merchant_id, request_id)
                if replay is not None:
                    if replay[1] != new.request_hash:
                        raise AlreadyExists(
                            "request_id was already used with a different request",
                            reason="REQUEST_ID_REUSED",
                            metadata={"field": "request_id"},
                        )
                    return replay[0]
                invoice = await invoice_store.get(conn, new.merchant_id, new.invoice_id, for_update=True)
                if invoice is None:
                    raise NotFound(
                        f"no invoice {new.invoice_id}", reason="INVOICE_NOT_FOUND", metadata={"field": "invoice_id"}
                    )
                left = refundable(invoice.amount_paid, await store.refunds_of(conn, invoice.id))
                amount = left if new.amount is None else new.amount
                if amount <= 0 or amount > left:
                    raise FailedPrecondition(
                        "a refund can be at most what the invoice was paid less its earlier refunds",
                        reason="REFUND_EXCEEDS_PAID",
                        metadata={
                            "field": "amount",
                            "refundableBaseUnits": str(left),
                            "amountPaidBaseUnits": str(invoice.amount_paid),
                        },
                    )
                available_ref, reserved_ref = self._refs(new.merchant_id)
                locked = await journal.lock_balances(conn, [available_ref, reserved_ref])
                if locked[available_ref] < amount:
                    raise self._insufficient(locked[available_ref], amount)
                return await self._reserve_refund(
                    conn,
                    merchant_id=new.merchant_id,
                    invoice_id=invoice.id,
                    address=new.refund_address,
                    amount=amount,
                    reason=new.reason,
                    request_id=request_id,
                    request_hash=new.request_hash,
                    now=now,
                    created_by_key_id=new.key_id,
                )
        except asyncpg.CheckViolationError as exc:
            raise self._insufficient(0, new.amount or 0) from exc

    async def _reserve_refund(
        self,
        conn: asyncpg.Connection,
        *,
        merchant_id: str,
        invoice_id: str,
        address: str,
        amount: int,
        reason: str,
        request_id: str,
        request_hash: bytes,
        now: dt.datetime,
        created_by_key_id: str | None = None,
    ) -> PayoutRecord:
        """Store a checked refund QUEUED, post its reservation and write `refund.created` (caller's transaction)."""
        refund = PayoutRecord(
            id=new_id("rf"),
            merchant_id=merchant_id,
            settlement_address_id=None,
            destination_address=address,
            asset=self.terms.asset,
            chain_id=self.terms.chain_id,
            token_contract=self.terms.token_contract,
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
            kind="REFUND",
            invoice_id=invoice_id,
            reason=reason,
        )
        stored = await store.insert(
            conn, refund, request_id=request_id, request_hash=request_hash, created_by_key_id=created_by_key_id
        )
        posting = postings.payout_reserved(merchant_id, self.terms.asset, amount, 0, refund=True)
        await journal.post(conn, posting, request_id=f"{stored.id}:{posting.kind}")
        await self._announce(conn, stored, "created")
        return stored

    async def auto_refund(self, conn: asyncpg.Connection, invoice: Invoice, now: dt.datetime) -> PayoutRecord | None:
        """Refund an overpaid invoice's excess to its refund address, once, in the crediting transaction.

        Called by the payment recorder after a payment is credited at finality, with the invoice locked. Nothing
        happens unless the invoice is flagged OVERPAID, carries a refund address and its merchant opted in
        (`auto_refund_overpayments`). The refund's request id `auto_refund:<invoice id>` makes it once per invoice.
        The merchant's row is not locked (the invoice is, and the balances are): a concurrent CreateRefund takes
        the merchant before the invoice, so taking them in the other order here could deadlock. A refund the
        available balance does not cover, or any failure, is skipped (logged) in a savepoint: crediting the
        payment never fails because of it.
        """
        request_id = await self._auto_refund_due(conn, invoice)
        if request_id is None:
            return None
        try:
            async with conn.transaction():
                left = refundable(invoice.amount_paid, await store.refunds_of(conn, invoice.id))
                amount = min(invoice.amount_paid - invoice.amount, left)
                if amount <= 0:
                    return None
                available_ref, reserved_ref = self._refs(invoice.merchant_id)
                locked = await journal.lock_balances(conn, [available_ref, reserved_ref])
                if locked[available_ref] < amount:
                    log.warning(
                        "automatic overpayment refund skipped: the available balance does not cover it",
                        extra={"invoice_id": invoice.id},
                    )
                    return None
                return await self._reserve_refund(
                    conn,
                    merchant_id=invoice.merchant_id,
                    invoice_id=invoice.id,
                    address=invoice.refund_address,
                    amount=amount,
                    reason="automatic refund of an overpayment",
                    request_id=request_id,
                    request_hash=hashlib.sha256(request_id.encode()).digest(),
                    now=now,
                )
        except Exception:
            log.exception(
                "automatic overpayment refund failed; the payment stays credited", extra={"invoice_id": invoice.id}
            )
            return None

    @staticmethod
    async def _auto_refund_due(conn: asyncpg.Connection, invoice: Invoice) -> str | None:
        """The automatic refund's request id when one is due for this invoice now, else None."""
        if not invoice.refund_address or OVERPAID not in invoice.exceptions or invoice.amount_paid <= invoice.amount:
            return None
        if not await schedule_store.auto_refunds(conn, invoice.merchant_id):
            return None
        request_id = f"auto_refund:{invoice.id}"
        if await store.find_by_request(conn, invoice.merchant_id, request_id) is not None:
            return None
        return request_id

    async def get_refund(self, merchant_id: str, refund_id: str) -> PayoutRecord:
        """One of the merchant's refunds."""
        async with self.pool.acquire() as conn:
            found = await store.get(conn, refund_id, merchant_id=merchant_id, kind="REFUND")
        if found is None:
            raise _refund_not_found(refund_id)
        return found

    @staticmethod
    def _insufficient(available: int, required: int) -> FailedPrecondition:
        return FailedPrecondition(
            "the available balance does not cover the payout's amount plus fee",
            reason="INSUFFICIENT_BALANCE",
            metadata={"field": "amount", "availableBaseUnits": str(available), "requiredBaseUnits": str(required)},
        )

    async def get(self, merchant_id: str, payout_id: str) -> PayoutRecord:
        """One of the merchant's payouts."""
        async with self.pool.acquire() as conn:
            found = await store.get(conn, payout_id, merchant_id=merchant_id, kind="PAYOUT")
        if found is None:
            raise _not_found(payout_id)
        return found

    async def cancel(
        self, merchant_id: str, payout_id: str, reason: str, now: dt.datetime, *, kind: str = "PAYOUT"
    ) -> PayoutRecord:
        """Cancel a waiting payout (or refund) and release its reservation; canceling a canceled one changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await store.get(conn, payout_id, merchant_id=merchant_id, kind=kind, lock=True)
            if payout is None:
                raise _not_found(payout_id) if kind == "PAYOUT" else _refund_not_found(payout_id)
            if payout.status == "CANCELED":
                return payout
            if payout.status not in CANCELABLE or await store.claimed_by(conn, payout.id) is not None:
                # Claimed: settlement has put it in a batch it is signing; it is being sent.
                raise FailedPrecondition(
                    f"a {payout.status} {kind.lower()} that is being sent cannot be canceled",
                    reason=f"{kind}_NOT_CANCELABLE",
                    metadata={"field": "id", "status": payout.status},
                )
            return await self._release(conn, payout, "CANCELED", now, cancel_reason=reason)

    async def _release(
        self,
        conn: asyncpg.Connection,
        payout: PayoutRecord,
        status: str,
        now: dt.datetime,
        *,
        cancel_reason: str | None = None,
        failure_reason: str | None = None,
    ) -> PayoutRecord:
        if payout.kind in PLATFORM_KINDS:
            posting = postings.platform_transfer(payout.kind, "released", payout.asset, payout.amount)
        else:
            posting = postings.payout_released(
                payout.merchant_id, payout.asset, payout.amount, payout.fee, refund=payout.kind == "REFUND"
            )
        await journal.post(conn, posting, request_id=f"{payout.id}:{posting.kind}")
        moved = await store.update(
            conn, payout.id, status=status, now=now, cancel_reason=cancel_reason, failure_reason=failure_reason
        )
        await self._announce(conn, moved, "canceled" if status == "CANCELED" else "failed")
        return moved

    async def _announce(self, conn: asyncpg.Connection, record: PayoutRecord, step: str) -> None:
        """Write the step's `payout.*` or `refund.*` event in the caller's transaction."""
        if record.kind in PLATFORM_KINDS:
            await announce_platform(conn, record, step, self.terms.decimals)
            return
        if record.kind == "REFUND":
            await self._announce_refund(conn, record, step)
            return
        data = self._data(record)
        m, subject = record.merchant_id, record.id
        if step == "created":
            await outbox.append(conn, event_type="payout.created", merchant_id=m, subject_id=subject, data=data)
        elif step == "canceled":
            await outbox.append(conn, event_type="payout.canceled", merchant_id=m, subject_id=subject, data=data)
        elif step == "broadcast":
            await outbox.append(conn, event_type="payout.broadcast", merchant_id=m, subject_id=subject, data=data)
        elif step == "pending_approval":
            await outbox.append(
                conn, event_type="payout.pending_approval", merchant_id=m, subject_id=subject, data=data
            )
        elif step == "confirmed":
            await outbox.append(conn, event_type="payout.confirmed", merchant_id=m, subject_id=subject, data=data)
        else:
            await outbox.append(conn, event_type="payout.failed", merchant_id=m, subject_id=subject, data=data)

    async def _announce_refund(self, conn: asyncpg.Connection, record: PayoutRecord, step: str) -> None:
        data = MessageToDict(refund_message(record, self.terms.decimals), preserving_proto_field_name=True)
        m, subject = record.merchant_id, record.id
        if step == "created":
            await outbox.append(conn, event_type="refund.created", merchant_id=m, subject_id=subject, data=data)
        elif step == "canceled":
            await outbox.append(conn, event_type="refund.canceled", merchant_id=m, subject_id=subject, data=data)
        elif step == "broadcast":
            await outbox.append(conn, event_type="refund.broadcast", merchant_id=m, subject_id=subject, data=data)
        elif step == "pending_approval":
            await outbox.append(
                conn, event_type="refund.pending_approval", merchant_id=m, subject_id=subject, data=data
            )
        elif step == "confirmed":
            await outbox.append(conn, event_type="refund.confirmed", merchant_id=m, subject_id=subject, data=data)
        else:
            await outbox.append(conn, event_type="refund.failed", merchant_id=m, subject_id=subject, data=data)

    async def claim(self, payout_id: str, batch_id: str, now: dt.datetime) -> PayoutRecord:
        """A QUEUED payout is put in a settlement batch about to be signed: no longer cancelable; idempotent."""
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await self._locked(conn, payout_id)
            if payout.status != "QUEUED":
                raise self._wrong_state(payout, "QUEUED")
            if await store.claimed_by(conn, payout.id) == batch_id:
                return payout
            return await store.claim(conn, payout.id, batch_id, now)

    async def mark_pending_approval(self, payout_id: str, approval_id: str, now: dt.datetime) -> PayoutRecord:
        """QUEUED → PENDING_APPROVAL: the signer holds its batch for the approvers; the same report again is a no-op."""
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await self._locked(conn, payout_id)
            if payout.status == "PENDING_APPROVAL" and payout.approval_id == approval_id:
                return payout
            if payout.status != "QUEUED":
                raise self._wrong_state(payout, "QUEUED")
            moved = await store.set_pending_approval(conn, payout.id, approval_id, now)
            await self._announce(conn, moved, "pending_approval")
            return moved

    async def list_initiators(self, payout_ids: list[str]) -> dict[str, str]:
        """The Ethereum address of whoever asked for each payout (its key's owner address), where known."""
        async with self.pool.acquire() as conn:
            return await store.initiators(conn, payout_ids)

    async def mark_broadcast(self, payout_id: str, tx_hash: str, now: dt.datetime) -> PayoutRecord:
        """QUEUED → BROADCAST with its transaction; the same report again changes nothing.

        A BROADCAST payout reported with another hash (a fee-bump replacement of its transaction) takes that hash.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await self._locked(conn, payout_id)
            if payout.status == "BROADCAST" and payout.tx_hash == tx_hash:
                return payout
            if payout.status == "BROADCAST":
                # A fee-bump replacement (same call, same nonce, higher fees) has its own hash: the payout now names
                # the newest version sent; whichever version lands is reported to mark_confirmed.
                return await store.replace_tx_hash(conn, payout.id, tx_hash, now)
            if payout.status not in ("QUEUED", "PENDING_APPROVAL"):
                raise self._wrong_state(payout, "QUEUED or PENDING_APPROVAL")
            moved = await store.update(conn, payout.id, status="BROADCAST", now=now, tx_hash=tx_hash)
            await self._announce(conn, moved, "broadcast")
            return moved

    async def mark_confirmed(self, payout_id: str, tx_hash: str, block_number: int, now: dt.datetime) -> PayoutRecord:
        """BROADCAST → CONFIRMED with the transaction that landed: the reservation leaves through the treasury."""
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await self._locked(conn, payout_id)
            if payout.status == "CONFIRMED" and payout.tx_hash == tx_hash:
                return payout
            if payout.status != "BROADCAST":
                raise self._wrong_state(payout, "BROADCAST")
            if payout.tx_hash != tx_hash:
                # Any version of the payout's nonce may land (the original or a fee bump): the one that did is kept.
                payout = await store.replace_tx_hash(conn, payout.id, tx_hash, now)
            if payout.kind in PLATFORM_KINDS:
                posting = postings.platform_transfer(payout.kind, "confirmed", payout.asset, payout.amount)
            else:
                posting = postings.payout_confirmed(
                    payout.merchant_id, payout.asset, payout.amount, payout.fee, refund=payout.kind == "REFUND"
                )
            await journal.post(conn, posting, request_id=f"{payout.id}:{posting.kind}")
            moved = await store.update(conn, payout.id, status="CONFIRMED", now=now, block_number=block_number)
            await self._announce(conn, moved, "confirmed")
            return moved

    async def mark_failed(self, payout_id: str, reason: str, now: dt.datetime) -> PayoutRecord:
        """QUEUED or BROADCAST → FAILED, releasing the reservation; a failed payout again changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            payout = await self._locked(conn, payout_id)
            if payout.status == "FAILED":
                return payout
            if payout.status not in ("QUEUED", "PENDING_APPROVAL", "BROADCAST"):
                raise self._wrong_state(payout, "QUEUED, PENDING_APPROVAL or BROADCAST")
            return await self._release(conn, payout, "FAILED", now, failure_reason=reason)

    async def list_queued(self, after: tuple[dt.datetime, str] | None, limit: int) -> list[PayoutRecord]:
        """QUEUED payouts, oldest first."""
        async with self.pool.acquire() as conn:
            return await store.queued(conn, after=after, limit=limit)

    @staticmethod
    async def _locked(conn: asyncpg.Connection, payout_id: str) -> PayoutRecord:
        payout = await store.get(conn, payout_id, lock=True)
        if payout is None:
            raise _not_found(payout_id, "payout_id")
        return payout

    @staticmethod
    def _wrong_state(payout: PayoutRecord, expected: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"the payout is {payout.status}, not {expected}",
            reason="PAYOUT_STATE_CONFLICT",
            metadata={"field": "payout_id", "status": payout.status},
        )
