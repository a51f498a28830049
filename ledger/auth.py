"""Verifying API keys: one function with two callers (the ledger's gRPC interceptor and the edge's ext_authz).

Lookup by prefix, constant-time hash comparison, revocation and expiry, the merchant's status, and a short
in-process cache whose lifetime bounds how long a revoked key keeps working (`credential_cache_seconds`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ledger.domain.credentials import Principal, credential_prefix, hash_key
from ledger.store import credentials as store
from service_runtime.errors import PermissionDenied, Unauthenticated

TOUCH_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class Requirement:
    """What a method demands of its caller: a merchant scope, an admin role, or nothing (internal)."""

    scope: str | None = None
    roles: frozenset[str] = frozenset()
    internal: bool = False


def requirement_for(method: str) -> Requirement:
    """The requirement of a full gRPC method name; unknown public methods are denied by default."""
    if method in METHOD_SCOPES:
        return Requirement(scope=METHOD_SCOPES[method])
    service, _, name = method.lstrip("/").partition("/")
    if service.startswith("stablegate.admin."):
        is_read = name.startswith(("Get", "List"))
        roles = READ_ROLES if is_read else ADMIN_METHOD_ROLES.get(method, frozenset({"admin"}))
        if method in DASHBOARD_KEY_METHODS:
            roles = roles | {"dashboard"}
        return Requirement(roles=roles)
    if service.startswith(("stablegate.ledger.", "stablegate.runtime.", "grpc.health.", "grpc.reflection.")):
        # Internal services are reached only inside the mesh (network policy, mutual TLS in production); the
        # runtime's config view (service_runtime/config_view.py) is limited to operator and dashboard by role.
        return Requirement(internal=True)
    return Requirement(scope="__undefined__")


READ_ROLES = frozenset({"admin", "operator", "viewer"})
"""Every admin role may read (Get…, List…, the audit log)."""
ADMIN_METHOD_ROLES: dict[str, frozenset[str]] = {
    "/stablegate.admin.v1.MerchantAdminService/SuspendMerchant": frozenset({"admin", "operator"}),
    "/stablegate.admin.v1.MerchantAdminService/ReactivateMerchant": frozenset({"admin", "operator"}),
    "/stablegate.admin.v1.ApiKeyAdminService/RevokeApiKey": frozenset({"admin", "operator"}),
}
"""Admin writes an `operator` may make too (incident response); every other write takes `admin`."""
DASHBOARD_KEY_METHODS = frozenset(
    f"/stablegate.admin.v1.{method}"
    for method in (
        "MerchantAdminService/OnboardMerchant",
        "MerchantAdminService/GetMerchant",
        "MerchantAdminService/ListMerchants",
        "MerchantAdminService/SuspendMerchant",
        "MerchantAdminService/ReactivateMerchant",
        "ApiKeyAdminService/IssueApiKey",
        "ApiKeyAdminService/ListApiKeys",
        "ApiKeyAdminService/RevokeApiKey",
        "AuditLogService/ListAuditEvents",
        "ReportService/GetVolumeReport",
        "ReportService/GetMerchantPerformance",
    )
)
"""The admin methods an admin key with the role `dashboard` may call: exactly the ones the dashboard calls with its
admin key (its certificate's admin methods, `ledger/app.py` `DASHBOARD_ADMIN_METHODS`, are this list; the calls in
dashboard/ are compared with it by tests/ledger/test_ledger_dashboard_scope.py), wherever the key is presented (the
dashboard's mesh channel or Envoy's admin listener). Every other admin method refuses it with ROLE_MISSING."""

METHOD_SCOPES: dict[str, str] = {
    "/stablegate.merchant.v1.InvoiceService/CreateInvoice": "invoices:write",
    "/stablegate.merchant.v1.InvoiceService/CancelInvoice": "invoices:write",
    "/stablegate.merchant.v1.InvoiceService/GetInvoice": "invoices:read",
    "/stablegate.merchant.v1.InvoiceService/ListInvoices": "invoices:read",
    "/stablegate.merchant.v1.BalanceService/GetBalance": "balance:read",
    "/stablegate.merchant.v1.StatementService/GetStatement": "balance:read",
    **{
        f"/stablegate.merchant.v1.SettlementAddressService/{m}": "payouts:write"
        for m in ("CreateSettlementAddress", "ConfirmSettlementAddress", "RevokeSettlementAddress")
    },
    **{f"/stablegate.merchant.v1.PayoutService/{m}": "payouts:write" for m in ("CreatePayout", "CancelPayout")},
    **{f"/stablegate.merchant.v1.RefundService/{m}": "payouts:write" for m in ("CreateRefund", "CancelRefund")},
    "/stablegate.merchant.v1.PayoutScheduleService/UpdatePayoutSchedule": "payouts:write",
    "/stablegate.merchant.v1.PayoutScheduleService/GetPayoutSchedule": "payouts:read",
    **{f"/stablegate.merchant.v1.RefundService/{m}": "payouts:read" for m in ("GetRefund", "ListRefunds")},
    **{
        f"/stablegate.merchant.v1.PayoutService/{m}": "payouts:read"
        for m in ("GetPayoutQuote", "GetPayout", "ListPayouts")
    },
    **{
        f"/stablegate.merchant.v1.SettlementAddressService/{m}": "payouts:read"
        for m in ("GetSettlementAddress", "ListSettlementAddresses")
    },
    **{
        f"/stablegate.merchant.v1.WebhookEndpointService/{m}": "webhooks:write"
        for m in (
            "CreateWebhookEndpoint",
            "UpdateWebhookEndpoint",
            "DeleteWebhookEndpoint",
            "RotateWebhookSecret",
            "RedeliverWebhook",
            "ReplayFailedWebhooks",
            "SendTestWebhook",
        )
    },
    **{
        f"/stablegate.merchant.v1.WebhookEndpointService/{m}": "webhooks:read"
        for m in ("GetWebhookEndpoint", "ListWebhookEndpoints", "ListWebhookDeliveries")
    },
}


def authorize(principal: Principal, requirement: Requirement) -> None:
    """PermissionDenied unless the principal meets the requirement."""
    if requirement.internal:
        return
    if requirement.roles:
        if principal.kind != "admin":
            raise PermissionDenied("merchant keys cannot call the admin API", reason="ADMIN_KEY_REQUIRED")
        if not principal.roles & requirement.roles:
            raise PermissionDenied(
                f"this admin key lacks a role among {', '.join(sorted(requirement.roles))}",
                reason="ROLE_MISSING",
                metadata={"requiredRoles": ",".join(sorted(requirement.roles))},
            )
        return
    if principal.kind != "merchant":
        raise PermissionDenied("this API takes a merchant key (sk_…), not an admin key", reason="MERCHANT_KEY_REQUIRED")
    if requirement.scope not in principal.scopes:
        raise PermissionDenied(
            f"the API key lacks the scope {requirement.scope}",
            reason="SCOPE_MISSING",
            metadata={"requiredScope": str(requirement.scope)},
        )


class CredentialVerifier:
    """Turns a presented key into a Principal, or raises Unauthenticated / PermissionDenied."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        cache_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._now = now
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._touched: dict[str, float] = {}

    async def verify(self, credential: str, client_address: str | None = None) -> Principal:
        """The principal behind a key used from `client_address`; lookups are cached for `cache_seconds`.

        The cache bounds how long a revoked key keeps working. A key with an allow-list is refused from an
        address outside it (or an unknown one), cached or not: this is the one place allow-lists are enforced.
        """
        kind, prefix = credential_prefix(credential)
        digest = hash_key(credential)
        cached = self._cache.get(digest)
        clock = self._monotonic()
        if cached is not None and cached[0] > clock:
            return _allowed_from(cached[1], client_address)
        async with self._pool.acquire() as conn:
            match = await store.find_by_prefix(conn, kind, prefix)
            if match is None or not hmac.compare_digest(match.secret_hash, digest):
                raise Unauthenticated("the API key is not valid", reason="API_KEY_INVALID")
            if match.revoke_time is not None:
                raise Unauthenticated("the API key was revoked", reason="API_KEY_REVOKED")
            if match.expire_time is not None and match.expire_time <= self._now():
                raise Unauthenticated("the API key has expired", reason="API_KEY_EXPIRED")
            if match.merchant_status == "SUSPENDED":
                raise PermissionDenied("the merchant account is suspended", reason="MERCHANT_SUSPENDED")
            if self._touched.get(match.key_id, -1e18) + TOUCH_INTERVAL_SECONDS <= clock:
                self._touched[match.key_id] = clock
                await store.touch(conn, match.kind, match.key_id)
        principal = Principal(
            kind="merchant" if match.kind == "merchant" else "admin",
            key_id=match.key_id,
            merchant_id=match.merchant_id,
            scopes=frozenset(match.scopes),
            roles=frozenset(match.roles),
            name=match.name,
            allowed_ip_ranges=match.allowed_ip_ranges,
        )
        if self._cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (clock + self._cache_seconds, principal)
        return _allowed_from(principal, client_address)


def _allowed_from(principal: Principal, client_address: str | None) -> Principal:
    if not principal.allows(client_address):
        raise PermissionDenied(
            "this API key may not be used from this address (its allowed_ip_ranges)",
            reason="CLIENT_ADDRESS_NOT_ALLOWED",
            metadata={"clientAddress": client_address or "unknown"},
        )
    return principal
