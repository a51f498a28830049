"""Admin API servicers: merchants and their API keys."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as pb_grpc

from ledger.api import settlement_addresses as address_api
from ledger.api.audit import record
from ledger.api.auth import principal
from ledger.api.convert import api_key_message, from_timestamp, merchant_message, request_hash, timestamp
from ledger.api.invoices import idempotency_key
from ledger.core import LedgerCore
from ledger.domain import credentials
from ledger.domain.addresses import parse_address
from ledger.domain.fees import BPS_DENOMINATOR, FeePlan
from ledger.domain.ids import new_id
from ledger.domain.invoices import check_text
from ledger.domain.models import Merchant
from ledger.domain.money import format_amount, parse_non_negative_amount
from ledger.store import credentials as key_store
from ledger.store import fees as fee_store
from ledger.store import merchants as merchant_store
from ledger.store import outbox
from ledger.store import settlement_addresses as address_store
from service_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

Context = grpc.aio.ServicerContext[Any, Any]

FEE_PLAN_CHANGED = "fee_plan.changed"
"""Operator-level outbox event (no merchant, so never a webhook): an admin set a merchant's fee plan."""


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{field} is required", reason="FIELD_REQUIRED", metadata={"field": field})
    return value.strip()


class MerchantAdmin(pb_grpc.MerchantAdminServiceServicer):
    """Onboard, read, list, suspend and reactivate merchants."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def OnboardMerchant(self, request: pb.OnboardMerchantRequest, context: Context) -> pb.OnboardMerchantResponse:
        """Create a merchant (idempotent by request_id)."""
        decimals = self.core.settings.token_decimals
        name = check_text(_required(request.name, "name"), "name", 200)
        email = _required(request.contact_email, "contact_email")
        if "@" not in email or len(email) > 254:
            raise InvalidArgument(
                "contact_email is not an email address", reason="EMAIL_INVALID", metadata={"field": "contact_email"}
            )
        payout = parse_address(request.payout_address, field="payout_address") if request.payout_address else ""
        tolerance = 0
        if request.default_underpayment_tolerance:
            tolerance = parse_non_negative_amount(
                request.default_underpayment_tolerance, decimals, field="default_underpayment_tolerance"
            )
        ttl = self.core.settings.default_invoice_ttl_seconds
        if request.HasField("default_invoice_ttl"):
            ttl = request.default_invoice_ttl.seconds
            if not 60 <= ttl <= 604800:
                raise InvalidArgument(
                    "default_invoice_ttl must be between 60 s and 7 days",
                    reason="TTL_OUT_OF_RANGE",
                    metadata={"field": "default_invoice_ttl"},
                )
        now = self.core.now()
        merchant = Merchant(new_id("mer"), name, "ACTIVE", email, payout, ttl, tolerance, "", now, now, None)
        # The REST Idempotency-Key header stands in for request_id, as on the merchant API.
        request_id = check_text(request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200)
        digest = request_hash(request)
        async with self.core.pool.acquire() as conn, conn.transaction():
            stored, created = await merchant_store.insert(
                conn, merchant=merchant, request_id=request_id, request_hash=digest
            )
            if not created and await merchant_store.request_hash_of(conn, stored.id) != digest:
                raise AlreadyExists(
                    "request_id was already used with a different request",
                    reason="REQUEST_ID_REUSED",
                    metadata={"field": "request_id"},
                )
            if created:
                await record(
                    conn,
                    self.core,
                    context,
                    action="merchant.onboard",
                    subject=f"merchants/{stored.id}",
                    details={"name": stored.name},
                )
        return pb.OnboardMerchantResponse(merchant=merchant_message(stored, decimals))

    async def GetMerchant(self, request: pb.GetMerchantRequest, context: Context) -> pb.GetMerchantResponse:
        """One merchant."""
        async with self.core.pool.acquire() as conn:
            merchant = await merchant_store.get(conn, request.id)
        if merchant is None:
            raise NotFound(f"no merchant {request.id}", reason="MERCHANT_NOT_FOUND", metadata={"field": "id"})
        return pb.GetMerchantResponse(merchant=merchant_message(merchant, self.core.settings.token_decimals))

    async def ListMerchants(self, request: pb.ListMerchantsRequest, context: Context) -> pb.ListMerchantsResponse:
        """Merchants, newest first."""
        limit = page_size(request.page_size)
        status = None
        if request.status:
            status = pb.MerchantStatus.Name(request.status).removeprefix("MERCHANT_STATUS_")
        query = f"status={status}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await merchant_store.list_page(conn, status=status, after=after, limit=limit)
        decimals = self.core.settings.token_decimals
        return pb.ListMerchantsResponse(
            merchants=[merchant_message(m, decimals) for m in rows],
            next_page_token=newest_first_next_token(rows, limit, query),
        )

    async def SuspendMerchant(self, request: pb.SuspendMerchantRequest, context: Context) -> pb.SuspendMerchantResponse:
        """Suspend a merchant: its keys stop working within the credential cache bound."""
        reason = check_text(_required(request.reason, "reason"), "reason", 500)
        return pb.SuspendMerchantResponse(merchant=await self._set_status(request.id, "SUSPENDED", reason, context))

    async def ReactivateMerchant(
        self, request: pb.ReactivateMerchantRequest, context: Context
    ) -> pb.ReactivateMerchantResponse:
        """Reactivate a suspended merchant."""
        return pb.ReactivateMerchantResponse(merchant=await self._set_status(request.id, "ACTIVE", "", context))

    async def _set_status(self, merchant_id: str, status: str, reason: str, context: Context) -> pb.Merchant:
        async with self.core.pool.acquire() as conn, conn.transaction():
            merchant = await merchant_store.set_status(conn, merchant_id, status, reason)
            if merchant is None:
                raise NotFound(f"no merchant {merchant_id}", reason="MERCHANT_NOT_FOUND", metadata={"field": "id"})
            action = "merchant.suspend" if status == "SUSPENDED" else "merchant.reactivate"
            details = {"reason": reason} if reason else {}
            await record(conn, self.core, context, action=action, subject=f"merchants/{merchant_id}", details=details)
        return merchant_message(merchant, self.core.settings.token_decimals)

    async def GetMerchantFeePlan(
        self, request: pb.GetMerchantFeePlanRequest, context: Context
    ) -> pb.GetMerchantFeePlanResponse:
        """The merchant's fee plan, or the default when it has none."""
        async with self.core.pool.acquire() as conn:
            await self._existing(conn, request.merchant_id)
            stored = await fee_store.plan_of(conn, request.merchant_id, self.core.default_fee_plan)
        return pb.GetMerchantFeePlanResponse(fee_plan=self._plan_message(stored))

    async def SetMerchantFeePlan(
        self, request: pb.SetMerchantFeePlanRequest, context: Context
    ) -> pb.SetMerchantFeePlanResponse:
        """Set the merchant's plan for invoices created from now on; the change is kept with its admin and reason."""
        decimals = self.core.settings.token_decimals
        reason = check_text(_required(request.reason, "reason"), "reason", 500)
        if request.bps > BPS_DENOMINATOR:
            raise InvalidArgument(
                f"bps must be between 0 and {BPS_DENOMINATOR}", reason="FEE_BPS_OUT_OF_RANGE", metadata={"field": "bps"}
            )
        fixed = parse_non_negative_amount(request.fixed or "0", decimals, field="fixed")
        minimum = parse_non_negative_amount(request.minimum or "0", decimals, field="minimum")
        plan = FeePlan(bps=request.bps, fixed=fixed, minimum=minimum)
        actor = principal().key_id
        async with self.core.pool.acquire() as conn, conn.transaction():
            await self._existing(conn, request.merchant_id, lock=True)
            stored = await fee_store.set_plan(
                conn, request.merchant_id, plan, actor=actor, reason=reason, now=self.core.now()
            )
            await outbox.append(
                conn,
                event_type=FEE_PLAN_CHANGED,
                merchant_id=None,  # operator-level: an audit record, never a webhook
                subject_id=request.merchant_id,
                data={
                    "merchant_id": request.merchant_id,
                    "bps": plan.bps,
                    "fixed_base_units": str(plan.fixed),
                    "minimum_base_units": str(plan.minimum),
                    "reason": reason,
                    "actor": actor,
                },
            )
            await record(
                conn,
                self.core,
                context,
                action="merchant.set_fee_plan",
                subject=f"merchants/{request.merchant_id}/fee_plan",
                details={
                    "bps": plan.bps,
                    "fixedBaseUnits": str(plan.fixed),
                    "minimumBaseUnits": str(plan.minimum),
                    "reason": reason,
                },
            )
        return pb.SetMerchantFeePlanResponse(fee_plan=self._plan_message(stored))

    async def ApproveSettlementAddress(
        self, request: pb.ApproveSettlementAddressRequest, context: Context
    ) -> pb.ApproveSettlementAddressResponse:
        """Confirm a merchant's pending address in place of its code; the cooling-off still applies."""
        reason = check_text(_required(request.reason, "reason"), "reason", 500)
        actor = principal().key_id
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            found = await address_store.get(conn, request.merchant_id, request.id, lock=True)
            if found is None:
                raise address_api.not_found(request.id)
            address = found[0]
            if address.state == "REVOKED":
                raise FailedPrecondition(
                    "the address was revoked", reason="SETTLEMENT_ADDRESS_REVOKED", metadata={"field": "id"}
                )
            if address.state == "PENDING":
                address = await address_store.confirm(
                    conn, address.id, by="ADMIN", now=now, approver=actor, reason=reason
                )
                await address_api.announce(conn, address, now, event_type="settlement_address.confirmed")
                await record(
                    conn,
                    self.core,
                    context,
                    action="settlement_address.approve",
                    subject=f"merchants/{request.merchant_id}/settlement_addresses/{address.id}",
                    details={"address": address.address, "reason": reason},
                )
        return pb.ApproveSettlementAddressResponse(settlement_address=address_api.address_message(address, now))

    @staticmethod
    async def _existing(conn: asyncpg.Connection, merchant_id: str, *, lock: bool = False) -> Merchant:
        merchant = await merchant_store.get(conn, merchant_id, for_update=lock)
        if merchant is None:
            raise NotFound(f"no merchant {merchant_id}", reason="MERCHANT_NOT_FOUND", metadata={"field": "merchant_id"})
        return merchant

    def _plan_message(self, stored: fee_store.StoredPlan) -> pb.FeePlan:
        d = self.core.settings.token_decimals
        return pb.FeePlan(
            merchant_id=stored.merchant_id,
            bps=stored.plan.bps,
            fixed=format_amount(stored.plan.fixed, d),
            fixed_base_units=str(stored.plan.fixed),
            minimum=format_amount(stored.plan.minimum, d),
            minimum_base_units=str(stored.plan.minimum),
            default=not stored.custom,
            update_time=timestamp(stored.update_time),
            updated_by=stored.updated_by,
        )


class ApiKeyAdmin(keys_grpc.ApiKeyAdminServiceServicer):
    """Issue, list and revoke merchants' API keys."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def IssueApiKey(self, request: keys_pb.IssueApiKeyRequest, context: Context) -> keys_pb.IssueApiKeyResponse:
        """A new key; its plaintext is in this response only and is stored as a hash."""
        scopes = credentials.validate_scopes(list(request.scopes))
        networks = credentials.parse_ip_ranges(list(request.allowed_ip_ranges))
        name = check_text(request.name, "name", 200)
        owner = parse_address(request.owner_address, field="owner_address") if request.owner_address else ""
        now = self.core.now()
        expire = from_timestamp(request.expire_time, "expire_time") if request.HasField("expire_time") else None
        if expire is not None and expire <= now:
            raise InvalidArgument(
                "expire_time must be in the future", reason="EXPIRE_TIME_PAST", metadata={"field": "expire_time"}
            )
        request_id = check_text(request.request_id or idempotency_key(context), "request_id", 200)
        mode: credentials.Mode = "live" if self.core.settings.profile.value == "prod" else "test"
        issued = credentials.new_merchant_key(mode)
        digest = request_hash(request)
        async with self.core.pool.acquire() as conn, conn.transaction():
            if await merchant_store.get(conn, request.merchant_id) is None:
                raise NotFound(
                    f"no merchant {request.merchant_id}", reason="MERCHANT_NOT_FOUND", metadata={"field": "merchant_id"}
                )
            stored = await key_store.insert_api_key(
                conn,
                key_id=new_id("key"),
                merchant_id=request.merchant_id,
                name=name,
                prefix=issued.prefix,
                secret_hash=issued.secret_hash,
                mode=mode,
                scopes=sorted(scopes),
                expire_time=expire,
                request_id=request_id or None,
                request_hash=digest,
                allowed_ip_ranges=networks,
                owner_address=owner,
            )
            if stored is None:
                found = await key_store.find_by_request(conn, request.merchant_id, request_id)
                assert found is not None
                if found[1] != digest:
                    raise AlreadyExists(
                        "request_id was already used with a different request",
                        reason="REQUEST_ID_REUSED",
                        metadata={"field": "request_id"},
                    )
                # A replay never shows the secret again: it was shown once.
                return keys_pb.IssueApiKeyResponse(api_key=api_key_message(found[0], now))
            await record(
                conn,
                self.core,
                context,
                action="api_key.issue",
                subject=f"merchants/{request.merchant_id}/api_keys/{stored.id}",
                details={
                    "prefix": stored.prefix,
                    "scopes": ",".join(stored.scopes),
                    "allowedIpRanges": ",".join(stored.allowed_ip_ranges),
                    "ownerAddress": stored.owner_address,
                },
            )
        return keys_pb.IssueApiKeyResponse(api_key=api_key_message(stored, now, issued.plaintext))

    async def ListApiKeys(self, request: keys_pb.ListApiKeysRequest, context: Context) -> keys_pb.ListApiKeysResponse:
        """A merchant's keys (never their secrets), newest first."""
        limit = page_size(request.page_size)
        query = f"merchant={request.merchant_id}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await key_store.list_api_keys(conn, request.merchant_id, after=after, limit=limit)
        now = self.core.now()
        return keys_pb.ListApiKeysResponse(
            api_keys=[api_key_message(k, now) for k in rows],
            next_page_token=newest_first_next_token(rows, limit, query),
        )

    async def RevokeApiKey(
        self, request: keys_pb.RevokeApiKeyRequest, context: Context
    ) -> keys_pb.RevokeApiKeyResponse:
        """Revoke a key; it stops working within the credential cache bound."""
        reason = check_text(request.reason, "reason", 500)
        async with self.core.pool.acquire() as conn, conn.transaction():
            key = await key_store.revoke_api_key(conn, request.merchant_id, request.id)
            if key is None:
                raise NotFound(
                    f"no API key {request.id} for merchant {request.merchant_id}",
                    reason="API_KEY_NOT_FOUND",
                    metadata={"field": "id"},
                )
            await record(
                conn,
                self.core,
                context,
                action="api_key.revoke",
                subject=f"merchants/{request.merchant_id}/api_keys/{key.id}",
                details={"prefix": key.prefix, **({"reason": reason} if reason else {})},
            )
        return keys_pb.RevokeApiKeyResponse(api_key=api_key_message(key, self.core.now()))
