"""The dashboard's calls to the ledger over the mesh (role `dashboard`), each with the API key that may make it.

Merchant onboarding and key issue take the dashboard's admin key (`ledger_admin_key`); a merchant's invoices are
read with the dashboard's own `invoices:read` key for that merchant, so the ledger decides what each call may see
exactly as it does for any API client. The dashboard never opens the ledger's database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import audit_log_service_pb2 as audit_pb
from stablegate.admin.v1 import audit_log_service_pb2_grpc as audit_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as invoices_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as invoices_grpc

TIMEOUT = 5.0
READ_SCOPES = ("invoices:read",)
"""What the dashboard's own per-merchant key may do: read invoices (the home page), nothing else."""
MERCHANT_KEY_SCOPES = ("invoices:read", "invoices:write", "balance:read")
"""Scopes of a key a merchant user creates from the home page (scope choice is a later slice)."""


class LedgerUnavailable(RuntimeError):
    """The ledger could not be reached or failed; the user is told to try again (nothing was changed here)."""


class LedgerRefused(RuntimeError):
    """The ledger refused the call (the message is the ledger's, safe to show: it names no secret)."""


@dataclass(frozen=True)
class IssuedKey:
    """An API key just issued: the plaintext is shown once and never stored by the dashboard."""

    id: str
    prefix: str
    plaintext: str


@dataclass(frozen=True)
class InvoiceRow:
    """What the home page lists of an invoice."""

    id: str
    status: str
    amount: str
    asset: str
    description: str
    create_time: dt.datetime | None


@dataclass(frozen=True)
class PaidInvoice:
    """A paid invoice, as a notification email names it."""

    id: str
    amount: str
    asset: str
    description: str
    paid_time: dt.datetime


@dataclass(frozen=True)
class MerchantRow:
    """What the admin merchants page lists of a merchant."""

    id: str
    name: str
    contact_email: str
    status: str
    """ACTIVE or SUSPENDED."""
    suspend_reason: str
    create_time: dt.datetime | None


def _merchant_row(m: merchants_pb.Merchant) -> MerchantRow:
    return MerchantRow(
        id=m.id,
        name=m.name,
        contact_email=m.contact_email,
        status=merchants_pb.MerchantStatus.Name(m.status).removeprefix("MERCHANT_STATUS_"),
        suspend_reason=m.suspend_reason,
        create_time=m.create_time.ToDatetime(tzinfo=dt.UTC) if m.HasField("create_time") else None,
    )


def _auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def _translate(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
    ):
        return LedgerRefused(str(exc.details() or exc.code().name))
    return LedgerUnavailable(f"ledger answered {exc.code().name}")


class LedgerClient:
    """Stubs over one mesh channel to the ledger."""

    def __init__(self, channel: grpc.aio.Channel, admin_key: Callable[[], str]) -> None:
        self.channel = channel
        """The mesh channel (other clients of the ledger share it: dashboard/merchant_client.py, report_data.py)."""
        self._merchants = merchants_grpc.MerchantAdminServiceStub(channel)
        self._keys = keys_grpc.ApiKeyAdminServiceStub(channel)
        self._invoices = invoices_grpc.InvoiceServiceStub(channel)
        self._audit = audit_grpc.AuditLogServiceStub(channel)
        self._admin_key = admin_key
        self.admin_key = admin_key
        """The dashboard's admin key, read at each call."""

    @property
    def can_onboard(self) -> bool:
        """False when no admin key is configured (sign-up then stops at business details)."""
        return bool(self._admin_key())

    async def onboard(self, request_id: str, name: str, contact_email: str) -> str:
        """Create the merchant in the ledger (idempotent by request_id); its id."""
        try:
            reply = await self._merchants.OnboardMerchant(
                merchants_pb.OnboardMerchantRequest(request_id=request_id, name=name, contact_email=contact_email),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        merchant_id: str = reply.merchant.id
        return merchant_id

    async def issue_key(self, merchant_id: str, name: str, scopes: tuple[str, ...], request_id: str = "") -> IssuedKey:
        """Issue a merchant API key (idempotent by request_id when given)."""
        try:
            reply = await self._keys.IssueApiKey(
                keys_pb.IssueApiKeyRequest(merchant_id=merchant_id, name=name, scopes=scopes, request_id=request_id),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        key = reply.api_key
        return IssuedKey(key.id, key.prefix, key.plaintext_key)

    async def list_invoices(self, read_key: str, page_size: int = 50) -> list[InvoiceRow]:
        """The merchant's newest invoices, read with the merchant's own read key."""
        try:
            reply = await self._invoices.ListInvoices(
                invoices_pb.ListInvoicesRequest(page_size=page_size), metadata=_auth(read_key), timeout=TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return [
            InvoiceRow(
                id=inv.id,
                status=invoice_pb2.InvoiceStatus.Name(inv.status).removeprefix("INVOICE_STATUS_"),
                amount=inv.amount,
                asset=inv.asset,
                description=inv.description,
                create_time=inv.create_time.ToDatetime(tzinfo=dt.UTC) if inv.HasField("create_time") else None,
            )
            for inv in reply.invoices
        ]

    async def paid_invoices(
        self, read_key: str, created_after: dt.datetime, page_token: str = ""
    ) -> tuple[list[PaidInvoice], str]:
        """A page of the merchant's PAID invoices created at or after a time (newest first), and the next token."""
        request = invoices_pb.ListInvoicesRequest(
            page_size=200, page_token=page_token, status=invoice_pb2.INVOICE_STATUS_PAID
        )
        request.create_time_start.FromDatetime(created_after)
        try:
            reply = await self._invoices.ListInvoices(request, metadata=_auth(read_key), timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        paid = [
            PaidInvoice(inv.id, inv.amount, inv.asset, inv.description, inv.paid_time.ToDatetime(tzinfo=dt.UTC))
            for inv in reply.invoices
            if inv.HasField("paid_time")
        ]
        return paid, reply.next_page_token

    async def list_merchants(self, page_size: int = 100) -> list[MerchantRow]:
        """The ledger's merchants (first page, newest first as the ledger orders them), with the admin key."""
        try:
            reply = await self._merchants.ListMerchants(
                merchants_pb.ListMerchantsRequest(page_size=page_size),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return [_merchant_row(m) for m in reply.merchants]

    async def suspend_merchant(self, merchant_id: str, reason: str) -> MerchantRow:
        """Suspend a merchant (the ledger refuses one already suspended); the merchant as it is now."""
        try:
            reply = await self._merchants.SuspendMerchant(
                merchants_pb.SuspendMerchantRequest(id=merchant_id, reason=reason),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return _merchant_row(reply.merchant)

    async def reactivate_merchant(self, merchant_id: str, reason: str) -> MerchantRow:
        """Reactivate a suspended merchant; the merchant as it is now."""
        try:
            reply = await self._merchants.ReactivateMerchant(
                merchants_pb.ReactivateMerchantRequest(id=merchant_id, reason=reason),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return _merchant_row(reply.merchant)

    async def list_audit_events(
        self, page_token: str = "", page_size: int = 1000
    ) -> tuple[list[audit_pb.AuditEvent], str]:
        """A page of the ledger's admin audit (newest first) with the admin key, and the next page's token."""
        try:
            reply = await self._audit.ListAuditEvents(
                audit_pb.ListAuditEventsRequest(page_size=page_size, page_token=page_token),
                metadata=_auth(self._admin_key()),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return list(reply.audit_events), reply.next_page_token
