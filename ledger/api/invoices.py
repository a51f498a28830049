"""Merchant API servicers: invoices and the balance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
from stablegate.merchant.v1 import balance_service_pb2 as balance_pb
from stablegate.merchant.v1 import balance_service_pb2_grpc as balance_grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id
from ledger.api.convert import from_duration, from_timestamp, invoice_message, request_hash
from ledger.core import LedgerCore
from ledger.domain import invoices as rules
from ledger.domain.addresses import parse_address
from ledger.domain.ids import looks_like_id, new_id
from ledger.domain.invoices import ChainTerms
from ledger.domain.models import Invoice, Merchant
from ledger.domain.money import format_amount, parse_amount, parse_non_negative_amount
from ledger.store import invoices as invoice_store
from ledger.store import outbox
from service_runtime.errors import AlreadyExists, InvalidArgument, NotFound
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

Context = grpc.aio.ServicerContext[Any, Any]


def idempotency_key(context: Context) -> str:
    """The `idempotency-key` metadata (the REST Idempotency-Key header), or empty."""
    for key, value in context.invocation_metadata() or ():
        if key == "idempotency-key":
            return str(value)
    return ""


def _not_found(invoice_id: str) -> NotFound:
    return NotFound(f"no invoice {invoice_id}", reason="INVOICE_NOT_FOUND", metadata={"field": "id"})


def invoice_event(invoice_message: invoice_pb2.Invoice) -> dict[str, Any]:
    """The data of an invoice.* event: the invoice as its public JSON."""
    from google.protobuf.json_format import MessageToDict  # noqa: PLC0415

    return MessageToDict(invoice_message, preserving_proto_field_name=True)


def _unsaved(new: rules.NewInvoice, terms: ChainTerms, now: dt.datetime) -> Invoice:
    """The invoice as its row will read once inserted (the database sets the times the event then gets)."""
    return Invoice(
        id=new.id,
        merchant_id=new.merchant_id,
        status="OPEN",
        exceptions=(),
        asset=terms.asset,
        chain_id=terms.chain_id,
        token_contract=terms.token_contract,
        token_decimals=terms.token_decimals,
        amount=new.amount,
        amount_paid=0,
        tolerance=new.tolerance,
        deposit_address=new.deposit_address,
        description=new.description,
        metadata=new.metadata,
        order_id=new.order_id,
        customer_reference=new.customer_reference,
        redirect_url=new.redirect_url,
        expire_time=new.expire_time,
        monitor_until=new.monitor_until,
        create_time=now,
        update_time=now,
        paid_time=None,
        cancel_time=None,
        refund_address=new.refund_address,
    )


class Invoices(pb_grpc.InvoiceServiceServicer):
    """Create, read, list and cancel the calling merchant's invoices."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def CreateInvoice(self, request: pb.CreateInvoiceRequest, context: Context) -> pb.CreateInvoiceResponse:
        """A new invoice with its deposit address; idempotent by request_id; `invoice.created` in the outbox."""
        owner = merchant_id()
        terms = self.core.terms
        if request.asset and request.asset != terms.asset:
            raise InvalidArgument(
                f"asset must be {terms.asset}", reason="ASSET_UNSUPPORTED", metadata={"field": "asset"}
            )
        if not request.amount:
            raise InvalidArgument(
                'amount is required, e.g. "10.50"', reason="FIELD_REQUIRED", metadata={"field": "amount"}
            )
        parse_amount(request.amount, terms.token_decimals, field="amount")  # refused before any round trip
        digest = request_hash(request)
        # REST clients send the Idempotency-Key header; Envoy passes it on as gRPC metadata.
        request_id = rules.check_text(
            request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200
        )
        now = self.core.now()
        async with self.core.pool.acquire() as conn:
            merchant = await self.core.merchant(conn, owner)  # cached: no round trip most of the time
            assert merchant is not None
            try:
                new = self._new_invoice(request, merchant, owner, now)
            except InvalidArgument:
                # A retry of a request that was valid when first made (its expire_time since passed, the
                # merchant's defaults since changed) gets the stored invoice, as before validation ran first.
                replay = await invoice_store.find_by_request(conn, owner, request_id)
                if replay is not None:
                    return self._replay(replay, digest)
                raise
            # The invoice and its `invoice.created` event in one statement: one round trip, atomic on its own.
            # A taken request id (a retry) or order id inserts neither, and is sorted out below.
            event_id = new_id("evt")
            message = invoice_message(_unsaved(new, terms, now), self.core.checkout)
            stored = await invoice_store.insert_with_event(
                conn,
                new,
                terms,
                request_id=request_id,
                request_hash=digest,
                event_id=event_id,
                event_type="invoice.created",
                payload={"id": event_id, "type": "invoice.created", "data": invoice_event(message)},
                default_fee_plan=self.core.default_fee_plan,
            )
            if stored is not None:
                return pb.CreateInvoiceResponse(invoice=invoice_message(stored, self.core.checkout))
            # A retry with the same request id, a lost race with one, or the order id is taken.
            replay = await invoice_store.find_by_request(conn, owner, request_id)
            if replay is not None:
                return self._replay(replay, digest)
            if new.order_id is not None and await invoice_store.order_id_taken(conn, owner, new.order_id):
                raise AlreadyExists(
                    f"an invoice with order_id {new.order_id} exists",
                    reason="ORDER_ID_EXISTS",
                    metadata={"field": "order_id"},
                )
            raise AlreadyExists("the invoice conflicts with an existing one", reason="INVOICE_CONFLICT")

    def _new_invoice(
        self, request: pb.CreateInvoiceRequest, merchant: Merchant, owner: str, now: dt.datetime
    ) -> rules.NewInvoice:
        """The validated invoice a request asks for (InvalidArgument naming the field otherwise)."""
        terms = self.core.terms
        amount = parse_amount(request.amount, terms.token_decimals, field="amount")
        tolerance = merchant.default_tolerance
        if request.underpayment_tolerance:
            tolerance = parse_non_negative_amount(
                request.underpayment_tolerance, terms.token_decimals, field="underpayment_tolerance"
            )
        if tolerance >= amount:
            raise InvalidArgument(
                "underpayment_tolerance must be below the amount",
                reason="TOLERANCE_TOO_LARGE",
                metadata={"field": "underpayment_tolerance"},
            )
        expire_time = rules.expiry(
            now,
            expire_time=from_timestamp(request.expire_time, "expire_time") if request.HasField("expire_time") else None,
            ttl=from_duration(request.ttl, "ttl") if request.HasField("ttl") else None,
            default_ttl=dt.timedelta(seconds=merchant.default_expiry_seconds),
        )
        invoice_id = new_id("inv")
        return rules.NewInvoice(
            id=invoice_id,
            merchant_id=owner,
            amount=amount,
            tolerance=tolerance,
            deposit_address=rules.deposit_address(terms, invoice_id),
            description=rules.check_text(request.description, "description", rules.MAX_DESCRIPTION),
            metadata=rules.check_metadata(dict(request.metadata)),
            order_id=rules.check_text(request.order_id, "order_id", rules.MAX_ORDER_ID) or None,
            customer_reference=rules.check_text(request.customer_reference, "customer_reference", 200),
            redirect_url=rules.check_url(request.redirect_url, "redirect_url"),
            refund_address=parse_address(request.refund_address, field="refund_address")
            if request.refund_address
            else "",
            expire_time=expire_time,
            monitor_until=expire_time
            + rules.monitoring_window(
                from_duration(request.monitoring_window, "monitoring_window")
                if request.HasField("monitoring_window")
                else None,
                terms.monitoring_window,
            ),
        )

    def _replay(self, replay: tuple[Any, bytes], digest: bytes) -> pb.CreateInvoiceResponse:
        invoice, stored_digest = replay
        if stored_digest != digest:
            raise AlreadyExists(
                "request_id was already used with a different request",
                reason="REQUEST_ID_REUSED",
                metadata={"field": "request_id"},
            )
        return pb.CreateInvoiceResponse(invoice=invoice_message(invoice, self.core.checkout))

    async def GetInvoice(self, request: pb.GetInvoiceRequest, context: Context) -> pb.GetInvoiceResponse:
        """One of the caller's invoices; another merchant's is NOT_FOUND."""
        owner = merchant_id()
        if not looks_like_id(request.id, "inv"):
            raise _not_found(request.id)
        async with self.core.pool.acquire() as conn:
            invoice = await invoice_store.get(conn, owner, request.id)
        if invoice is None:
            raise _not_found(request.id)
        return pb.GetInvoiceResponse(invoice=invoice_message(invoice, self.core.checkout))

    async def ListInvoices(self, request: pb.ListInvoicesRequest, context: Context) -> pb.ListInvoicesResponse:
        """The caller's invoices, newest first, filtered by status, creation range and order id."""
        owner = merchant_id()
        limit = page_size(request.page_size)
        status = (
            invoice_pb2.InvoiceStatus.Name(request.status).removeprefix("INVOICE_STATUS_") if request.status else None
        )
        start = (
            from_timestamp(request.create_time_start, "create_time_start")
            if request.HasField("create_time_start")
            else None
        )
        end = (
            from_timestamp(request.create_time_end, "create_time_end") if request.HasField("create_time_end") else None
        )
        if start is not None and end is not None and start >= end:
            raise InvalidArgument(
                "create_time_start must be before create_time_end",
                reason="RANGE_INVALID",
                metadata={"field": "create_time_start"},
            )
        rules.check_text(request.order_id, "order_id", rules.MAX_ORDER_ID)
        query = f"{owner}|{status}|{start}|{end}|{request.order_id}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await invoice_store.list_page(
                conn,
                owner,
                status=status,
                created_from=start,
                created_before=end,
                order_id=request.order_id or None,
                after=after,
                limit=limit,
            )
        base = self.core.checkout
        return pb.ListInvoicesResponse(
            invoices=[invoice_message(i, base) for i in rows],
            next_page_token=newest_first_next_token(rows, limit, query),
        )

    async def CancelInvoice(self, request: pb.CancelInvoiceRequest, context: Context) -> pb.CancelInvoiceResponse:
        """Cancel an OPEN invoice; `invoice.canceled` in the outbox. Canceling a canceled invoice is a no-op."""
        owner = merchant_id()
        if not looks_like_id(request.id, "inv"):
            raise _not_found(request.id)
        reason = rules.check_text(request.reason, "reason", 500)
        async with self.core.pool.acquire() as conn, conn.transaction():
            invoice = await invoice_store.get(conn, owner, request.id, for_update=True)
            if invoice is None:
                raise _not_found(request.id)
            if invoice.status == "CANCELED":
                return pb.CancelInvoiceResponse(invoice=invoice_message(invoice, self.core.checkout))
            rules.check_cancelable(invoice.status)
            canceled = await invoice_store.cancel(conn, invoice.id, self.core.now())
            message = invoice_message(canceled, self.core.checkout)
            await outbox.append(
                conn,
                event_type="invoice.canceled",
                merchant_id=owner,
                subject_id=invoice.id,
                data={**invoice_event(message), "cancel_reason": reason},
            )
        return pb.CancelInvoiceResponse(invoice=message)


class Balances(balance_grpc.BalanceServiceServicer):
    """The calling merchant's balance."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def GetBalance(
        self, request: balance_pb.GetBalanceRequest, context: Context
    ) -> balance_pb.GetBalanceResponse:
        """Available (credited on finality) and pending (seen, not yet final) amounts per asset."""
        owner = merchant_id()
        terms = self.core.terms
        if request.asset and request.asset != terms.asset:
            raise InvalidArgument(
                f"asset must be {terms.asset}", reason="ASSET_UNSUPPORTED", metadata={"field": "asset"}
            )
        async with self.core.pool.acquire() as conn:
            balances = await invoice_store.merchant_balances(conn, owner)
        available = balances.get((terms.asset, "merchant_available"), 0)
        pending = balances.get((terms.asset, "merchant_pending"), 0)
        reserved = balances.get((terms.asset, "merchant_reserved"), 0)
        d = terms.token_decimals
        asset = balance_pb.AssetBalance(
            asset=terms.asset,
            token_contract=terms.token_contract,
            chain_id=terms.chain_id,
            available=format_amount(available, d),
            available_base_units=str(available),
            pending=format_amount(pending, d),
            pending_base_units=str(pending),
            reserved=format_amount(reserved, d),
            reserved_base_units=str(reserved),
        )
        balance = balance_pb.Balance(merchant_id=owner, assets=[asset])
        balance.as_of_time.FromDatetime(self.core.now())
        return balance_pb.GetBalanceResponse(balance=balance)
