"""Translate between ledger records and protobuf messages."""

from __future__ import annotations

import datetime as dt
import hashlib

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.merchant.v1 import invoice_pb2, payout_pb2, refund_service_pb2

from ledger.domain.checkout import CheckoutLinks
from ledger.domain.models import ApiKeyRecord, Invoice, Merchant
from ledger.domain.money import format_amount
from ledger.domain.payment_uri import erc20_transfer_uri
from ledger.domain.payouts import PayoutRecord
from service_runtime.errors import InvalidArgument


def timestamp(value: dt.datetime | None) -> Timestamp | None:
    """A protobuf Timestamp (None stays None)."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


def from_timestamp(stamp: Timestamp, field: str = "time") -> dt.datetime:
    """An aware UTC datetime from a protobuf Timestamp; INVALID_ARGUMENT naming the field if out of range."""
    try:
        return stamp.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"{field} is not a valid time", reason="TIME_INVALID", metadata={"field": field}
        ) from None


def from_duration(duration: Duration, field: str) -> dt.timedelta:
    """A timedelta from a protobuf Duration; INVALID_ARGUMENT naming the field if out of range."""
    try:
        return duration.ToTimedelta()
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"{field} is not a valid duration", reason="DURATION_INVALID", metadata={"field": field}
        ) from None


def request_hash(request: Message) -> bytes:
    """SHA-256 of the request's deterministic encoding without its request_id: what idempotency compares."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def merchant_message(merchant: Merchant, decimals: int) -> merchants_pb.Merchant:
    """The admin API's Merchant."""
    message = merchants_pb.Merchant(
        id=merchant.id,
        name=merchant.name,
        status=merchants_pb.MerchantStatus.Value(f"MERCHANT_STATUS_{merchant.status}"),
        contact_email=merchant.contact_email,
        payout_address=merchant.payout_address,
        default_underpayment_tolerance=format_amount(merchant.default_tolerance, decimals),
        suspend_reason=merchant.suspend_reason,
        create_time=timestamp(merchant.create_time),
        update_time=timestamp(merchant.update_time),
        suspend_time=timestamp(merchant.suspend_time),
    )
    message.default_invoice_ttl.FromSeconds(merchant.default_expiry_seconds)
    return message


def api_key_message(key: ApiKeyRecord, now: dt.datetime, plaintext: str = "") -> keys_pb.ApiKey:
    """The admin API's ApiKey (the plaintext only right after issuing)."""
    return keys_pb.ApiKey(
        id=key.id,
        merchant_id=key.merchant_id,
        name=key.name,
        prefix=key.prefix,
        plaintext_key=plaintext,
        scopes=list(key.scopes),
        status=keys_pb.ApiKeyStatus.Value(f"API_KEY_STATUS_{key.status(now)}"),
        create_time=timestamp(key.create_time),
        expire_time=timestamp(key.expire_time),
        last_use_time=timestamp(key.last_used_time),
        revoke_time=timestamp(key.revoke_time),
        allowed_ip_ranges=list(key.allowed_ip_ranges),
        owner_address=key.owner_address,
    )


def invoice_message(invoice: Invoice, checkout: CheckoutLinks) -> invoice_pb2.Invoice:
    """The merchant API's Invoice: amounts in token units and base units, the payment URI and checkout URL."""
    d = invoice.token_decimals
    return invoice_pb2.Invoice(
        id=invoice.id,
        merchant_id=invoice.merchant_id,
        status=invoice_pb2.InvoiceStatus.Value(f"INVOICE_STATUS_{invoice.status}"),
        exceptions=[invoice_pb2.InvoiceException.Value(f"INVOICE_EXCEPTION_{e}") for e in invoice.exceptions],
        amount=format_amount(invoice.amount, d),
        amount_base_units=str(invoice.amount),
        amount_paid=format_amount(invoice.amount_paid, d),
        amount_paid_base_units=str(invoice.amount_paid),
        asset=invoice.asset,
        token_contract=invoice.token_contract,
        token_decimals=d,
        chain_id=invoice.chain_id,
        deposit_address=invoice.deposit_address,
        payment_uri=erc20_transfer_uri(
            invoice.token_contract, invoice.chain_id, invoice.deposit_address, invoice.amount
        ),
        checkout_url=checkout.url(invoice.id),
        underpayment_tolerance=format_amount(invoice.tolerance, d),
        underpayment_tolerance_base_units=str(invoice.tolerance),
        description=invoice.description,
        metadata=invoice.metadata,
        order_id=invoice.order_id or "",
        customer_reference=invoice.customer_reference,
        redirect_url=invoice.redirect_url,
        payments=[
            invoice_pb2.Payment(
                id=p.id,
                tx_hash=p.tx_hash,
                log_index=p.log_index,
                block_number=p.block_number,
                block_hash=p.block_hash,
                from_address=p.from_address,
                amount=format_amount(p.amount, d),
                amount_base_units=str(p.amount),
                status=invoice_pb2.PaymentStatus.Value(f"PAYMENT_STATUS_{p.status}"),
                detect_time=timestamp(p.observe_time),
                final_time=timestamp(p.final_time),
            )
            for p in invoice.payments
        ],
        create_time=timestamp(invoice.create_time),
        update_time=timestamp(invoice.update_time),
        expire_time=timestamp(invoice.expire_time),
        paid_time=timestamp(invoice.paid_time),
        cancel_time=timestamp(invoice.cancel_time),
        monitor_until_time=timestamp(invoice.monitor_until),
        fee=format_amount(invoice.fee_charged, d),
        fee_base_units=str(invoice.fee_charged),
        net_amount=format_amount(invoice.amount_paid - invoice.fee_charged, d),
        net_amount_base_units=str(invoice.amount_paid - invoice.fee_charged),
        refund_address=invoice.refund_address,
    )


def payout_message(payout: PayoutRecord, decimals: int) -> payout_pb2.Payout:
    """The API's Payout: amounts in token units and base units."""
    return payout_pb2.Payout(
        id=payout.id,
        merchant_id=payout.merchant_id,
        status=payout_pb2.PayoutStatus.Value(f"PAYOUT_STATUS_{payout.status}"),
        destination_address=payout.destination_address,
        settlement_address_id=payout.settlement_address_id or "",
        asset=payout.asset,
        token_contract=payout.token_contract,
        chain_id=payout.chain_id,
        amount=format_amount(payout.amount, decimals),
        amount_base_units=str(payout.amount),
        fee=format_amount(payout.fee, decimals),
        fee_base_units=str(payout.fee),
        total=format_amount(payout.total, decimals),
        total_base_units=str(payout.total),
        description=payout.description,
        metadata=payout.metadata,
        tx_hash=payout.tx_hash or "",
        block_number=payout.block_number or 0,
        failure_reason=payout.failure_reason,
        create_time=timestamp(payout.create_time),
        update_time=timestamp(payout.update_time),
        broadcast_time=timestamp(payout.broadcast_time),
        confirm_time=timestamp(payout.confirm_time),
        cancel_time=timestamp(payout.cancel_time),
        invoice_id=payout.invoice_id or "",
        approval_id=payout.approval_id,
        trigger=payout_pb2.PayoutTrigger.Value(f"PAYOUT_TRIGGER_{payout.trigger}"),
    )


def refund_message(refund: PayoutRecord, decimals: int) -> refund_service_pb2.Refund:
    """The API's Refund (a refund is kept as a transfer of kind REFUND)."""
    return refund_service_pb2.Refund(
        id=refund.id,
        merchant_id=refund.merchant_id,
        invoice_id=refund.invoice_id or "",
        status=refund_service_pb2.RefundStatus.Value(f"REFUND_STATUS_{refund.status}"),
        refund_address=refund.destination_address,
        asset=refund.asset,
        amount=format_amount(refund.amount, decimals),
        amount_base_units=str(refund.amount),
        reason=refund.reason,
        tx_hash=refund.tx_hash or "",
        block_number=refund.block_number or 0,
        failure_reason=refund.failure_reason,
        create_time=timestamp(refund.create_time),
        update_time=timestamp(refund.update_time),
        broadcast_time=timestamp(refund.broadcast_time),
        confirm_time=timestamp(refund.confirm_time),
        cancel_time=timestamp(refund.cancel_time),
    )
