"""The merchant pages' calls to the ledger's merchant APIs over the mesh, with the dashboard's per-merchant key.

Each merchant onboarded through the dashboard gets, the first time a page needs it, one key of the dashboard's own
(`DASHBOARD_KEY_SCOPES`, named `dashboard (merchant pages)`), sealed in `dashboard.merchants.ops_key_sealed`. The
dashboard decides a user's team role on its own pages first (dashboard/domain/rbac.py); the ledger then decides
what the key may do, exactly as for any API client. API keys themselves are listed, issued and revoked with the
dashboard's admin key (the admin API), as the home page already issues the first one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.merchant.v1 import balance_service_pb2 as balance_pb
from stablegate.merchant.v1 import balance_service_pb2_grpc as balance_grpc
from stablegate.merchant.v1 import invoice_pb2, payout_pb2, webhook_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as invoices_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as invoices_grpc
from stablegate.merchant.v1 import payout_service_pb2 as payouts_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as payouts_grpc
from stablegate.merchant.v1 import refund_service_pb2 as refunds_pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as refunds_grpc
from stablegate.merchant.v1 import settlement_address_service_pb2 as addresses_pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as addresses_grpc
from stablegate.merchant.v1 import webhook_service_pb2 as webhooks_pb
from stablegate.merchant.v1 import webhook_service_pb2_grpc as webhooks_grpc

from dashboard.ledger_client import LedgerRefused, LedgerUnavailable

TIMEOUT = 5.0
DASHBOARD_KEY_NAME = "dashboard (merchant pages)"
"""The name of the dashboard's own per-merchant key (listed on the keys page, not revocable there)."""
DASHBOARD_KEY_SCOPES = (
    "invoices:read",
    "invoices:write",
    "balance:read",
    "payouts:read",
    "payouts:write",
    "webhooks:read",
    "webhooks:write",
)
"""What the dashboard's per-merchant key may do at the ledger (the team role narrows it further)."""
KEY_SCOPES: tuple[tuple[str, str], ...] = (
    ("invoices:read", "Read invoices"),
    ("invoices:write", "Create and cancel invoices"),
    ("balance:read", "Read the balance and statements"),
    ("payouts:read", "Read payouts, refunds and settlement addresses"),
    ("payouts:write", "Create payouts and refunds, manage settlement addresses"),
    ("webhooks:read", "Read webhook endpoints and deliveries"),
    ("webhooks:write", "Manage webhook endpoints, redeliver and replay"),
)
"""The scopes a merchant user may give a key they create, with what each allows."""


def _auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def _refusal(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    ):
        return LedgerRefused(str(exc.details() or exc.code().name))
    return LedgerUnavailable(f"ledger answered {exc.code().name}")


Request = TypeVar("Request")
Reply = TypeVar("Reply")


async def _call(rpc: grpc.aio.UnaryUnaryMultiCallable[Request, Reply], request: Request, key: str) -> Reply:
    """One call with `key` as the bearer and the timeout; a ledger error as LedgerRefused or LedgerUnavailable."""
    try:
        return await rpc(request, metadata=_auth(key), timeout=TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        raise _refusal(exc) from exc


def _time(message: object, name: str) -> dt.datetime | None:
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=dt.UTC)


@dataclass(frozen=True)
class PaymentView:
    """One on-chain payment of an invoice."""

    tx_hash: str
    amount: str
    block_number: int
    status: str
    """SEEN (not final yet), FINAL, REVERSED or UNALLOCATED."""
    detect_time: dt.datetime | None
    final_time: dt.datetime | None


@dataclass(frozen=True)
class InvoiceView:
    """An invoice as its detail page shows it."""

    id: str
    status: str
    amount: str
    amount_paid: str
    fee: str
    net_amount: str
    asset: str
    description: str
    order_id: str
    deposit_address: str
    payment_uri: str
    exceptions: tuple[str, ...]
    payments: tuple[PaymentView, ...]
    create_time: dt.datetime | None
    expire_time: dt.datetime | None
    paid_time: dt.datetime | None
    cancel_time: dt.datetime | None


def _invoice(inv: invoice_pb2.Invoice) -> InvoiceView:
    return InvoiceView(
        id=inv.id,
        status=invoice_pb2.InvoiceStatus.Name(inv.status).removeprefix("INVOICE_STATUS_"),
        amount=inv.amount,
        amount_paid=inv.amount_paid or "0",
        fee=inv.fee or "0",
        net_amount=inv.net_amount or "0",
        asset=inv.asset,
        description=inv.description,
        order_id=inv.order_id,
        deposit_address=inv.deposit_address,
        payment_uri=inv.payment_uri,
        exceptions=tuple(
            name
            for flag in inv.exceptions
            if (name := invoice_pb2.InvoiceException.Name(flag).removeprefix("INVOICE_EXCEPTION_")) != "NONE"
        ),
        payments=tuple(
            PaymentView(
                tx_hash=p.tx_hash,
                amount=p.amount,
                block_number=p.block_number,
                status=invoice_pb2.PaymentStatus.Name(p.status).removeprefix("PAYMENT_STATUS_"),
                detect_time=_time(p, "detect_time"),
                final_time=_time(p, "final_time"),
            )
            for p in inv.payments
        ),
        create_time=_time(inv, "create_time"),
        expire_time=_time(inv, "expire_time"),
        paid_time=_time(inv, "paid_time"),
        cancel_time=_time(inv, "cancel_time"),
    )


@dataclass(frozen=True)
class EndpointView:
    """A webhook endpoint (its secret is shown only once, right after creation)."""

    id: str
    url: str
    description: str
    enabled_events: tuple[str, ...]
    disabled: bool
    disabled_reason: str
    secret: str
    create_time: dt.datetime | None


def _endpoint(ep: webhook_pb2.WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=ep.id,
        url=ep.url,
        description=ep.description,
        enabled_events=tuple(ep.enabled_events),
        disabled=ep.disabled,
        disabled_reason=ep.disabled_reason,
        secret=ep.secret,
        create_time=_time(ep, "create_time"),
    )


@dataclass(frozen=True)
class DeliveryView:
    """One event sent (or to be sent) to an endpoint."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    """PENDING, RETRYING, SUCCEEDED or FAILED."""
    attempt_count: int
    last_response_status: int
    last_error: str
    redelivery_of: str
    create_time: dt.datetime | None
    last_attempt_time: dt.datetime | None


def _delivery(d: webhook_pb2.WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=webhook_pb2.WebhookDeliveryStatus.Name(d.status).removeprefix("WEBHOOK_DELIVERY_STATUS_"),
        attempt_count=d.attempt_count,
        last_response_status=d.last_response_status,
        last_error=d.last_error,
        redelivery_of=d.redelivery_of,
        create_time=_time(d, "create_time"),
        last_attempt_time=_time(d, "last_attempt_time"),
    )


@dataclass(frozen=True)
class AssetBalanceView:
    """The balance in one asset (decimal strings in token units)."""

    asset: str
    available: str
    pending: str
    reserved: str


@dataclass(frozen=True)
class KeyView:
    """An API key as listed (never its plaintext)."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    status: str
    create_time: dt.datetime | None
    last_use_time: dt.datetime | None


INVOICE_STATUSES = ("OPEN", "PROCESSING", "PAID", "EXPIRED", "CANCELED")
"""The invoice statuses the list can be filtered by."""


class MerchantApi:
    """Stubs for the merchant pages over the dashboard's mesh channel to the ledger."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._invoices = invoices_grpc.InvoiceServiceStub(channel)
        self._webhooks = webhooks_grpc.WebhookEndpointServiceStub(channel)
        self._balance = balance_grpc.BalanceServiceStub(channel)
        self._keys = keys_grpc.ApiKeyAdminServiceStub(channel)

    async def create_invoice(self, key: str, request_id: str, amount: str, description: str) -> InvoiceView:
        """Create an invoice (idempotent by request_id: a form posted twice makes one invoice)."""
        reply = await _call(
            self._invoices.CreateInvoice,
            invoices_pb.CreateInvoiceRequest(request_id=request_id, amount=amount, description=description),
            key,
        )
        return _invoice(reply.invoice)

    async def invoice(self, key: str, invoice_id: str) -> InvoiceView:
        """One invoice with its payments."""
        reply = await _call(self._invoices.GetInvoice, invoices_pb.GetInvoiceRequest(id=invoice_id), key)
        return _invoice(reply.invoice)

    async def invoices(
        self,
        key: str,
        *,
        status: str = "",
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        page_size: int = 100,
    ) -> list[InvoiceView]:
        """The merchant's invoices, newest first, filtered by status and creation time [start, end)."""
        request = invoices_pb.ListInvoicesRequest(page_size=page_size)
        if status:
            request.status = invoice_pb2.InvoiceStatus.Value(f"INVOICE_STATUS_{status}")
        if start is not None:
            request.create_time_start.FromDatetime(start)
        if end is not None:
            request.create_time_end.FromDatetime(end)
        reply = await _call(self._invoices.ListInvoices, request, key)
        return [_invoice(inv) for inv in reply.invoices]

    async def endpoints(self, key: str) -> list[EndpointView]:
        """The merchant's webhook endpoints."""
        reply = await _call(
            self._webhooks.ListWebhookEndpoints, webhooks_pb.ListWebhookEndpointsRequest(page_size=200), key
        )
        return [_endpoint(ep) for ep in reply.webhook_endpoints]

    async def endpoint(self, key: str, endpoint_id: str) -> EndpointView:
        """One webhook endpoint."""
        reply = await _call(
            self._webhooks.GetWebhookEndpoint, webhooks_pb.GetWebhookEndpointRequest(id=endpoint_id), key
        )
        return _endpoint(reply.webhook_endpoint)

    async def create_endpoint(
        self, key: str, request_id: str, url: str, description: str, events: tuple[str, ...]
    ) -> EndpointView:
        """Register a webhook endpoint; its secret is in the answer, once."""
        reply = await _call(
            self._webhooks.CreateWebhookEndpoint,
            webhooks_pb.CreateWebhookEndpointRequest(
                request_id=request_id, url=url, description=description, enabled_events=events
            ),
            key,
        )
        return _endpoint(reply.webhook_endpoint)

    async def deliveries(self, key: str, endpoint_id: str, *, invoice_id: str = "") -> list[DeliveryView]:
        """An endpoint's deliveries, newest first (only those about `invoice_id` when given)."""
        reply = await _call(
            self._webhooks.ListWebhookDeliveries,
            webhooks_pb.ListWebhookDeliveriesRequest(id=endpoint_id, page_size=100, invoice_id=invoice_id),
            key,
        )
        return [_delivery(d) for d in reply.deliveries]

    async def redeliver(self, key: str, endpoint_id: str, delivery_id: str, request_id: str) -> DeliveryView:
        """Send a delivery's event again (a new delivery, same event id)."""
        reply = await _call(
            self._webhooks.RedeliverWebhook,
            webhooks_pb.RedeliverWebhookRequest(id=endpoint_id, delivery_id=delivery_id, request_id=request_id),
            key,
        )
        return _delivery(reply.delivery)

    async def replay_failed(self, key: str, endpoint_id: str, since: dt.datetime) -> int:
        """Redeliver the endpoint's failed deliveries created since `since`; how many."""
        request = webhooks_pb.ReplayFailedWebhooksRequest(id=endpoint_id)
        request.start_time.FromDatetime(since)
        reply = await _call(self._webhooks.ReplayFailedWebhooks, request, key)
        count: int = reply.replayed_count
        return count

    async def balance(self, key: str) -> list[AssetBalanceView]:
        """The merchant's balance per asset."""
        reply = await _call(self._balance.GetBalance, balance_pb.GetBalanceRequest(), key)
        return [
            AssetBalanceView(a.asset, a.available or "0", a.pending or "0", a.reserved or "0")
            for a in reply.balance.assets
        ]

    async def keys(self, admin_key: str, merchant_id: str) -> list[KeyView]:
        """The merchant's API keys (admin API), newest first."""
        reply = await _call(
            self._keys.ListApiKeys, keys_pb.ListApiKeysRequest(merchant_id=merchant_id, page_size=200), admin_key
        )
        return [
            KeyView(
                id=k.id,
                name=k.name,
                prefix=k.prefix,
                scopes=tuple(k.scopes),
                status=keys_pb.ApiKeyStatus.Name(k.status).removeprefix("API_KEY_STATUS_"),
                create_time=_time(k, "create_time"),
                last_use_time=_time(k, "last_use_time"),
            )
            for k in reply.api_keys
        ]

    async def revoke_key(self, admin_key: str, merchant_id: str, key_id: str, reason: str) -> None:
        """Revoke one of the merchant's keys (admin API; the reason goes to the audit log)."""
        await _call(
            self._keys.RevokeApiKey,
            keys_pb.RevokeApiKeyRequest(merchant_id=merchant_id, id=key_id, reason=reason),
            admin_key,
        )


@dataclass(frozen=True)
class PayoutView:
    """A payout as the payouts page lists it (decimal strings in token units)."""

    id: str
    status: str
    """PENDING_APPROVAL, QUEUED, BROADCAST, CONFIRMED, FAILED, CANCELED or REJECTED."""
    amount: str
    fee: str
    total: str
    asset: str
    destination_address: str
    approval_id: str
    tx_hash: str
    failure_reason: str
    trigger: str
    create_time: dt.datetime | None


def _payout(p: payout_pb2.Payout) -> PayoutView:
    return PayoutView(
        id=p.id,
        status=payout_pb2.PayoutStatus.Name(p.status).removeprefix("PAYOUT_STATUS_"),
        amount=p.amount,
        fee=p.fee or "0",
        total=p.total or p.amount,
        asset=p.asset,
        destination_address=p.destination_address,
        approval_id=p.approval_id,
        tx_hash=p.tx_hash,
        failure_reason=p.failure_reason,
        trigger=payout_pb2.PayoutTrigger.Name(p.trigger).removeprefix("PAYOUT_TRIGGER_"),
        create_time=_time(p, "create_time"),
    )


@dataclass(frozen=True)
class RefundView:
    """A refund as the payouts page lists it."""

    id: str
    invoice_id: str
    status: str
    amount: str
    asset: str
    refund_address: str
    tx_hash: str
    create_time: dt.datetime | None


def _refund(r: refunds_pb.Refund) -> RefundView:
    return RefundView(
        id=r.id,
        invoice_id=r.invoice_id,
        status=refunds_pb.RefundStatus.Name(r.status).removeprefix("REFUND_STATUS_"),
        amount=r.amount,
        asset=r.asset,
        refund_address=r.refund_address,
        tx_hash=r.tx_hash,
        create_time=_time(r, "create_time"),
    )


@dataclass(frozen=True)
class AddressView:
    """A settlement address."""

    id: str
    address: str
    label: str
    status: str
    """PENDING_CONFIRMATION, COOLING_OFF, ACTIVE or REVOKED."""
    cooling_off_end_time: dt.datetime | None
    create_time: dt.datetime | None


def _address(a: addresses_pb.SettlementAddress) -> AddressView:
    return AddressView(
        id=a.id,
        address=a.address,
        label=a.label,
        status=addresses_pb.SettlementAddressStatus.Name(a.status).removeprefix("SETTLEMENT_ADDRESS_STATUS_"),
        cooling_off_end_time=_time(a, "cooling_off_end_time"),
        create_time=_time(a, "create_time"),
    )


@dataclass(frozen=True)
class QuoteView:
    """What a payout of an amount would cost, and whether the balance covers it."""

    amount: str
    fee: str
    total: str
    available: str
    covered: bool
    asset: str


class PayoutApi(MerchantApi):
    """The merchant pages' read-only calls about money going out: payouts, refunds, settlement addresses, quotes."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        super().__init__(channel)
        self._payouts = payouts_grpc.PayoutServiceStub(channel)
        self._refunds = refunds_grpc.RefundServiceStub(channel)
        self._addresses = addresses_grpc.SettlementAddressServiceStub(channel)

    async def payouts(self, key: str) -> list[PayoutView]:
        """The merchant's newest payouts."""
        reply = await _call(self._payouts.ListPayouts, payouts_pb.ListPayoutsRequest(page_size=100), key)
        return [_payout(p) for p in reply.payouts]

    async def create_payout(self, key: str, request_id: str, destination: str, amount: str) -> PayoutView:
        """Pay `amount` out to one of the merchant's ACTIVE settlement addresses (idempotent by request_id)."""
        reply = await _call(
            self._payouts.CreatePayout,
            payouts_pb.CreatePayoutRequest(request_id=request_id, destination_address=destination, amount=amount),
            key,
        )
        return _payout(reply.payout)

    async def refunds(self, key: str) -> list[RefundView]:
        """The merchant's newest refunds."""
        reply = await _call(self._refunds.ListRefunds, refunds_pb.ListRefundsRequest(page_size=100), key)
        return [_refund(r) for r in reply.refunds]

    async def addresses(self, key: str) -> list[AddressView]:
        """The merchant's settlement addresses."""
        reply = await _call(
            self._addresses.ListSettlementAddresses, addresses_pb.ListSettlementAddressesRequest(page_size=100), key
        )
        return [_address(a) for a in reply.settlement_addresses]

    async def quote(self, key: str, amount: str) -> QuoteView:
        """The fee and total of a payout of `amount`, and whether the available balance covers it."""
        reply = await _call(self._payouts.GetPayoutQuote, payouts_pb.GetPayoutQuoteRequest(amount=amount), key)
        q = reply.payout_quote
        return QuoteView(q.amount, q.fee or "0", q.total, q.available or "0", q.covered, q.asset)


class SettlementApi(PayoutApi):
    """Adds registering a settlement address (it then waits for confirmation and cools off at the ledger)."""

    async def add_address(self, key: str, request_id: str, address: str, label: str) -> AddressView:
        """Register a settlement address; as the ledger now has it (PENDING_CONFIRMATION)."""
        reply = await _call(
            self._addresses.CreateSettlementAddress,
            addresses_pb.CreateSettlementAddressRequest(request_id=request_id, address=address, label=label),
            key,
        )
        return _address(reply.settlement_address)

    async def create_refund(
        self, key: str, request_id: str, invoice_id: str, *, amount: str, address: str, reason: str
    ) -> RefundView:
        """Refund (part of) a paid invoice to an address (idempotent by request_id)."""
        reply = await _call(
            self._refunds.CreateRefund,
            refunds_pb.CreateRefundRequest(
                request_id=request_id, invoice_id=invoice_id, amount=amount, refund_address=address, reason=reason
            ),
            key,
        )
        return _refund(reply.refund)
