"""Admin API: stray funds (list, allocate to an invoice, refund to the sender) and platform revenue withdrawal."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
from stablegate.admin.v1 import stray_funds_admin_service_pb2 as pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2_grpc as pb_grpc

from ledger import stray
from ledger.api.audit import record
from ledger.api.auth import principal
from ledger.api.convert import payout_message, request_hash, timestamp
from ledger.api.invoices import idempotency_key
from ledger.core import LedgerCore
from ledger.domain.addresses import parse_address
from ledger.domain.ids import new_id
from ledger.domain.invoices import check_text
from ledger.domain.money import format_amount, parse_amount
from ledger.payments import retrying
from ledger.payouts import announce_platform
from ledger.store import stray as store
from service_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

Context = grpc.aio.ServicerContext[Any, Any]


def _required(value: str, field: str, limit: int = 500) -> str:
    text = check_text(value.strip(), field, limit)
    if not text:
        raise InvalidArgument(f"{field} is required", reason="FIELD_REQUIRED", metadata={"field": field})
    return text


def stray_message(row: store.StrayRow) -> pb.StrayFund:
    """The API's StrayFund."""
    return pb.StrayFund(
        id=row.id,
        kind=pb.StrayFundKind.Value(f"STRAY_FUND_KIND_{row.kind}"),
        status=pb.StrayFundStatus.Value(f"STRAY_FUND_STATUS_{row.status}"),
        merchant_id=row.merchant_id,
        invoice_id=row.invoice_id,
        allocated_invoice_id=row.allocated_invoice_id,
        chain_id=row.chain_id,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
        token_contract=row.token_contract,
        from_address=row.from_address,
        to_address=row.to_address,
        amount_base_units=str(row.amount),
        block_number=row.block_number,
        observe_time=timestamp(row.create_time),
        refund_id=row.refund_id,
        allocated_by=row.allocated_by,
        allocate_reason=row.allocate_reason,
    )


async def _stray(conn: asyncpg.Connection, payment_id: str) -> store.StrayRow:
    row = await store.get(conn, payment_id)
    assert row is not None
    return row


def _payment_id(value: str) -> str:
    if not value:
        raise InvalidArgument("payment_id is required", reason="FIELD_REQUIRED", metadata={"field": "payment_id"})
    return value


class StrayFundsAdmin(pb_grpc.StrayFundsAdminServiceServicer):
    """Stray funds and platform revenue for admins (writes: role admin; reads: every admin role)."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def ListStrayFunds(self, request: pb.ListStrayFundsRequest, context: Context) -> pb.ListStrayFundsResponse:
        """Stray funds, newest observed first, filtered by kind, status and merchant."""
        limit = page_size(request.page_size)
        kind = pb.StrayFundKind.Name(request.kind).removeprefix("STRAY_FUND_KIND_") if request.kind else None
        status = pb.StrayFundStatus.Name(request.status).removeprefix("STRAY_FUND_STATUS_") if request.status else None
        merchant = check_text(request.merchant_id, "merchant_id", 200) or None
        query = f"kind={kind}&status={status}&merchant={merchant}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await store.list_page(conn, kind=kind, status=status, merchant_id=merchant, after=after, limit=limit)
        return pb.ListStrayFundsResponse(
            stray_funds=[stray_message(r) for r in rows], next_page_token=newest_first_next_token(rows, limit, query)
        )

    async def AllocateStrayPayment(
        self, request: pb.AllocateStrayPaymentRequest, context: Context
    ) -> pb.AllocateStrayPaymentResponse:
        """Credit an unallocated payment to an invoice of its merchant, once."""
        payment_id = _payment_id(request.payment_id)
        if not request.invoice_id:
            raise InvalidArgument("invoice_id is required", reason="FIELD_REQUIRED", metadata={"field": "invoice_id"})
        reason = _required(request.reason, "reason")
        actor = principal().key_id

        async def step() -> pb.AllocateStrayPaymentResponse:
            async with self.core.pool.acquire() as conn, conn.transaction():
                done = await stray.allocate(
                    conn,
                    asset=self.core.settings.asset,
                    payment_id=payment_id,
                    invoice_id=request.invoice_id,
                    actor=actor,
                    reason=reason,
                    now=self.core.now(),
                )
                await record(
                    conn,
                    self.core,
                    context,
                    action="stray.allocate",
                    subject=f"stray_funds/{payment_id}",
                    details={
                        "invoiceId": done.invoice.id,
                        "fromInvoiceId": done.from_invoice_id,
                        "amountBaseUnits": str(done.payment.amount),
                        "reason": reason,
                    },
                )
                row = await _stray(conn, payment_id)
            return pb.AllocateStrayPaymentResponse(
                stray_fund=stray_message(row),
                invoice_status=done.invoice.status,
                invoice_amount_paid_base_units=str(done.invoice.amount_paid),
                fee_base_units=str(done.fee),
            )

        return await retrying(step)

    async def RefundStrayPayment(
        self, request: pb.RefundStrayPaymentRequest, context: Context
    ) -> pb.RefundStrayPaymentResponse:
        """Queue an unallocated payment's return to its sender."""
        payment_id = _payment_id(request.payment_id)
        reason = _required(request.reason, "reason")

        async def step() -> pb.RefundStrayPaymentResponse:
            async with self.core.pool.acquire() as conn, conn.transaction():
                refund = await stray.refund_to_sender(
                    conn, terms=self.core.payouts.terms, payment_id=payment_id, reason=reason, now=self.core.now()
                )
                await announce_platform(conn, refund, "created", self.core.settings.token_decimals)
                await record(
                    conn,
                    self.core,
                    context,
                    action="stray.refund",
                    subject=f"stray_funds/{payment_id}",
                    details={
                        "refundId": refund.id,
                        "destinationAddress": refund.destination_address,
                        "amountBaseUnits": str(refund.amount),
                        "reason": reason,
                    },
                )
                row = await _stray(conn, payment_id)
            return pb.RefundStrayPaymentResponse(
                stray_fund=stray_message(row), refund=payout_message(refund, self.core.settings.token_decimals)
            )

        return await retrying(step)

    async def RequestQuarantine(
        self, request: pb.RequestQuarantineRequest, context: Context
    ) -> pb.RequestQuarantineResponse:
        """Record the request to quarantine a stray token; a second request changes and records nothing."""
        if not request.id:
            raise InvalidArgument("id is required", reason="FIELD_REQUIRED", metadata={"field": "id"})
        reason = _required(request.reason, "reason")
        actor = principal().key_id
        async with self.core.pool.acquire() as conn, conn.transaction():
            found = await store.get(conn, request.id)
            if found is None:
                raise NotFound(f"no stray fund {request.id}", reason="STRAY_FUND_NOT_FOUND", metadata={"field": "id"})
            if found.kind != "UNEXPECTED_TOKEN":
                raise FailedPrecondition(
                    "only another token can be quarantined: allocate or refund an unallocated payment; native BNB "
                    "leaves with the address's next flush, to the treasury",
                    reason="QUARANTINE_NOT_APPLICABLE",
                    metadata={"field": "id", "kind": found.kind},
                )
            if await store.request_quarantine(conn, found.id, actor=actor, reason=reason, now=self.core.now()):
                await record(
                    conn,
                    self.core,
                    context,
                    action="stray.quarantine",
                    subject=f"stray_funds/{found.id}",
                    details={
                        "tokenContract": found.token_contract,
                        "depositAddress": found.to_address,
                        "amountBaseUnits": str(found.amount),
                        "reason": reason,
                    },
                )
            row = await _stray(conn, found.id)
        return pb.RequestQuarantineResponse(stray_fund=stray_message(row))

    async def GetPlatformRevenue(
        self, request: pb.GetPlatformRevenueRequest, context: Context
    ) -> pb.GetPlatformRevenueResponse:
        """The collected fees: available, reserved by withdrawals in flight, and the configured address."""
        async with self.core.pool.acquire() as conn:
            available, reserved = await stray.platform_fees_balance(conn, self.core.settings.asset)
        d = self.core.settings.token_decimals
        return pb.GetPlatformRevenueResponse(
            available=format_amount(available, d),
            available_base_units=str(available),
            reserved=format_amount(reserved, d),
            reserved_base_units=str(reserved),
            revenue_address=self.core.settings.platform_revenue_address,
        )

    async def WithdrawPlatformRevenue(
        self, request: pb.WithdrawPlatformRevenueRequest, context: Context
    ) -> pb.WithdrawPlatformRevenueResponse:
        """Queue a withdrawal of collected fees to the platform revenue address (idempotent by request_id)."""
        decimals = self.core.settings.token_decimals
        if not request.amount:
            raise InvalidArgument("amount is required", reason="FIELD_REQUIRED", metadata={"field": "amount"})
        amount = parse_amount(request.amount, decimals, field="amount")
        reason = _required(request.reason, "reason")
        configured = self.core.settings.platform_revenue_address
        if not configured:
            raise FailedPrecondition(
                "no platform revenue address is configured (STABLEGATE_LEDGER_PLATFORM_REVENUE_ADDRESS)",
                reason="REVENUE_ADDRESS_NOT_CONFIGURED",
                metadata={"field": "amount"},
            )
        destination = parse_address(configured, field="platform_revenue_address")
        request_id = check_text(request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200)
        digest = request_hash(request)

        async def step() -> pb.WithdrawPlatformRevenueResponse:
            async with self.core.pool.acquire() as conn, conn.transaction():
                withdrawal, created = await stray.withdraw_revenue(
                    conn,
                    terms=self.core.payouts.terms,
                    destination=destination,
                    amount=amount,
                    reason=reason,
                    request_id=request_id,
                    request_hash=digest,
                    now=self.core.now(),
                )
                if created:
                    await announce_platform(conn, withdrawal, "created", decimals)
                    await record(
                        conn,
                        self.core,
                        context,
                        action="platform_revenue.withdraw",
                        subject=f"platform_revenue/{withdrawal.id}",
                        details={
                            "destinationAddress": destination,
                            "amountBaseUnits": str(amount),
                            "reason": reason,
                        },
                    )
            return pb.WithdrawPlatformRevenueResponse(withdrawal=payout_message(withdrawal, decimals))

        return await retrying(step)
