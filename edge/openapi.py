"""The OpenAPI 3 document and reference page of the public REST surface, generated from the descriptor set.

No generator for descriptor sets installs from the registries here (DECISIONS.md, "OpenAPI"), so this is a
small one of ours. It reads the descriptor set (with source info: proto comments become summaries and
descriptions) and the `google.api.http` rules, and describes the *built* public methods only: an RPC whose issue
has not landed answers UNIMPLEMENTED and stays out of the document (DECISIONS.md, "Not built yet").

What it follows, so the document says what the edge really does:

- proto3 JSON mapping with `preserve_proto_field_names` (snake_case), as the transcoder prints and parses it;
  64-bit integers are strings, enums are value names, Timestamps RFC 3339 strings, Durations `"1.5s"` strings.
- the edge returns the `response_body` field by itself (Lua unwrapping in `envoy_config`), else the whole
  response message; fields at their default value are omitted, so response schemas require nothing.
- path parameters from `{field}`, a custom verb (`:cancel`) stays a literal suffix of the path; GET and DELETE
  take the remaining top-level scalar fields as query parameters; `body: "*"` takes every non-path field.

`codegen` writes `gen/openapi.json` and `gen/reference.html` from the freshly written descriptor set, so the
freshness test covers them; the edge serves them at `GET /v1/openapi.json` and `GET /v1/reference`.
"""

from __future__ import annotations

import ast
import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENAPI_NAME = "openapi.json"
REFERENCE_NAME = "reference.html"
ADMIN_OPENAPI_NAME = "admin_openapi.json"
ADMIN_REFERENCE_NAME = "admin_reference.html"
MERCHANT_PACKAGE = "stablegate.merchant.v1."
ADMIN_PACKAGE = "stablegate.admin.v1."
OPENAPI_PATH = "/v1/openapi.json"
ADMIN_OPENAPI_PATH = "/admin/v1/openapi.json"
OPENAPI_VERSION = "3.0.3"
API_TITLE = "stablegate API"
API_VERSION = "v1"

PUBLIC_PACKAGES = ("stablegate.merchant.v1.", "stablegate.admin.v1.")
"""Package prefixes of the services the edge exposes (the same as `envoy_config.PUBLIC_PACKAGES`)."""

BUILT_FROM = (REPO_ROOT / "ledger" / "app.py", REPO_ROOT / "settlement" / "app.py")
"""Service wiring modules whose `SERVED` minus `NOT_BUILT` is built."""

ERROR_STATUSES: Mapping[str, str] = {
    "400": "Invalid argument or failed precondition; the details' ErrorInfo names the field and the reason, e.g. "
    "FIELD_REQUIRED, FIELD_INVALID, FIELD_TOO_LONG, FIELD_UNKNOWN, ENUM_VALUE_INVALID, AMOUNT_INVALID, "
    "PAGE_SIZE_INVALID, INVALID_REQUEST (a body or query the transcoder cannot read), PATH_INVALID (an escaped "
    "slash or backslash, a NUL or a fragment in the path), HOST_MISSING, HTTP_REQUEST_INVALID (not valid HTTP).",
    "401": "No usable key: API_KEY_MISSING, API_KEY_MALFORMED, API_KEY_INVALID, API_KEY_REVOKED, API_KEY_EXPIRED.",
    "403": "The key may not do this: SCOPE_MISSING, ROLE_MISSING, MERCHANT_KEY_REQUIRED, ADMIN_KEY_REQUIRED, "
    "MERCHANT_SUSPENDED, CLIENT_ADDRESS_NOT_ALLOWED (the key's allowed_ip_ranges).",
    "404": "No such resource for this caller (e.g. INVOICE_NOT_FOUND), or NOT_FOUND: no such path.",
    "408": "REQUEST_TIMEOUT: the request was not received in time.",
    "409": "REQUEST_ID_REUSED: a request_id (Idempotency-Key) reused with other content; or a conflicting change.",
    "413": "BODY_TOO_LARGE: the request body is over the size limit.",
    "429": "RATE_LIMITED: too many requests from this address or for this merchant; retry after Retry-After.",
    "503": "UNAVAILABLE: a service, or the key check, is unavailable; retry later.",
    "504": "UPSTREAM_TIMEOUT: a service did not answer in time; retry later.",
}
"""Error statuses every operation may answer, each with the shared `Error` body."""

TOKEN_DECIMALS = 18
"""Decimals of the gateway's token (BEP20 USDT); amounts with more fractional digits are refused."""
TEXT = r"^[^\x00-\x08\x0b-\x1f]*$"
"""Free text: no control characters but tab and newline (ledger/domain/invoices.py `check_text`)."""
_WHOLE = "[1-9][0-9]{0,58}"
"""Whole token units without leading zeros, small enough that the base units fit in uint256."""
_FRACTION = f"[0-9]{{1,{TOKEN_DECIMALS}}}"
POSITIVE_AMOUNT = (
    f"^({_WHOLE}(\\.{_FRACTION})?|0\\.("
    + "|".join(f"{'0' * i}[1-9][0-9]{{0,{TOKEN_DECIMALS - 1 - i}}}" for i in range(TOKEN_DECIMALS))
    + "))$"
)
"""A decimal amount in token units above zero: `10`, `10.50`, `0.000001`; no sign, exponent or leading zeros."""
NON_NEGATIVE_AMOUNT = f"^((0|{_WHOLE})(\\.{_FRACTION})?)?$"
"""A decimal amount in token units, zero allowed; empty means zero."""


ADDRESS = r"^0x[0-9a-fA-F]{40}$"
"""A required address: 0x and 40 hex digits (mixed case must also match its EIP-55 checksum: a business rule)."""


REPORT_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
"""A report's UTC day, "YYYY-MM-DD" (a day that does not exist, e.g. 2026-02-30, is a business-rule refusal)."""


def _int_range(lo: int, hi: int) -> str:
    """A regex alternation matching the decimal integers lo..hi (no sign, no leading zeros)."""
    parts = []
    for length in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (length - 1) if length > 1 else 0)
        b = min(hi, 10**length - 1)
        if a <= b:
            parts.append(_same_length_range(str(a), str(b)))
    return "|".join(parts)


def _same_length_range(lo: str, hi: str) -> str:
    """A regex for the digit strings lo..hi of one length (later digits may be zeros)."""
    n = len(lo)
    if n == 0:
        return ""
    if lo == "0" * n and hi == "9" * n:
        return f"[0-9]{{{n}}}"

    def group(regex: str) -> str:
        return f"(?:{regex})" if regex else ""

    if lo[0] == hi[0]:
        return lo[0] + group(_same_length_range(lo[1:], hi[1:]))
    parts = [lo[0] + group(_same_length_range(lo[1:], "9" * (n - 1)))]
    if int(hi[0]) - int(lo[0]) > 1:
        parts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" + (f"[0-9]{{{n - 1}}}" if n > 1 else ""))
    parts.append(hi[0] + group(_same_length_range("0" * (n - 1), hi[1:])))
    return "|".join(parts)


def _duration_between(lo: int, hi: int) -> dict[str, Any]:
    """A protobuf Duration in JSON (`"900s"`, `"1.5s"`) of lo..hi whole seconds."""
    return {"pattern": f"^({_int_range(lo, hi - 1)})(\\.[0-9]{{1,9}})?s$|^{hi}(\\.0{{1,9}})?s$"}


def _text(limit: int) -> dict[str, Any]:
    return {"maxLength": limit, "pattern": TEXT}


def _required_text(limit: int) -> dict[str, Any]:
    # The server strips whitespace before checking presence: something other than whitespace is required.
    return {
        "minLength": 1,
        "maxLength": limit,
        "pattern": r"^[^\x00-\x08\x0b-\x1f]*[^\s\x00-\x1f][^\x00-\x08\x0b-\x1f]*$",
    }


FIELD_CONSTRAINTS: Mapping[str, Mapping[str, Any]] = {
    # What the server enforces on each input field, stated in the document (the ledger's checks, see each
    # reason in docs/api.md); codegen puts them on the field's schema. Cross-field and time-relative rules
    # cannot be JSON Schema: operations list them in `x-business-rules`.
    "stablegate.merchant.v1.CreateInvoiceRequest.request_id": _text(200),
    "stablegate.merchant.v1.CreateInvoiceRequest.amount": {"pattern": POSITIVE_AMOUNT, "maxLength": 100},
    "stablegate.merchant.v1.CreateInvoiceRequest.asset": {"enum": ["", "USDT"]},
    "stablegate.merchant.v1.CreateInvoiceRequest.description": _text(500),
    "stablegate.merchant.v1.CreateInvoiceRequest.underpayment_tolerance": {"pattern": NON_NEGATIVE_AMOUNT},
    "stablegate.merchant.v1.CreateInvoiceRequest.order_id": _text(200),
    "stablegate.merchant.v1.CreateInvoiceRequest.customer_reference": _text(200),
    "stablegate.merchant.v1.CreateInvoiceRequest.redirect_url": {
        "maxLength": 2000,
        "pattern": r"^(https?://.*)?$",
    },
    "stablegate.merchant.v1.CreateInvoiceRequest.metadata": {
        "maxProperties": 20,
        "additionalProperties": {"type": "string", "maxLength": 500, "pattern": r"^[^\x00]*$"},
    },
    "stablegate.merchant.v1.CreateInvoiceRequest.ttl": _duration_between(60, 7 * 86400),
    "stablegate.merchant.v1.CreateInvoiceRequest.refund_address": {"pattern": r"^(0x[0-9a-fA-F]{40})?$"},
    "stablegate.merchant.v1.CreateInvoiceRequest.monitoring_window": _duration_between(0, 30 * 86400),
    "stablegate.merchant.v1.ListInvoicesRequest.order_id": _text(200),
    "stablegate.merchant.v1.CancelInvoiceRequest.reason": _text(500),
    "stablegate.merchant.v1.GetBalanceRequest.asset": {"enum": ["", "USDT"]},
    "stablegate.merchant.v1.EstimateFeeRequest.operation": {
        "enum": ["FEE_OPERATION_UNSPECIFIED", "FEE_OPERATION_PAYOUT"]
    },
    "stablegate.merchant.v1.EstimateFeeRequest.amount": {"pattern": f"^$|{POSITIVE_AMOUNT}", "maxLength": 100},
    "stablegate.merchant.v1.EstimateFeeRequest.asset": {"enum": ["", "USDT"]},
    "stablegate.merchant.v1.EstimateFeeRequest.destination_address": {"pattern": r"^(0x[0-9a-fA-F]{40})?$"},
    "stablegate.merchant.v1.CreateWebhookEndpointRequest.request_id": _text(200),
    "stablegate.merchant.v1.CreateWebhookEndpointRequest.description": _text(500),
    "stablegate.merchant.v1.CreateWebhookEndpointRequest.url": {
        "minLength": 8,
        "maxLength": 2000,
        "pattern": r"^https?://[^\x00-\x20\x7f]+$",
    },
    "stablegate.merchant.v1.WebhookEndpoint.description": _text(500),
    "stablegate.merchant.v1.WebhookEndpoint.url": {
        "maxLength": 2000,
        "pattern": r"^(https?://[^\x00-\x20\x7f]+)?$",
    },
    "stablegate.merchant.v1.RotateWebhookSecretRequest.request_id": _text(200),
    "stablegate.merchant.v1.RotateWebhookSecretRequest.overlap": _duration_between(0, 7 * 86400),
    "stablegate.merchant.v1.RedeliverWebhookRequest.request_id": _text(200),
    "stablegate.merchant.v1.SendTestWebhookRequest.request_id": _text(200),
    "stablegate.merchant.v1.ListWebhookDeliveriesRequest.event_type": _text(100),
    "stablegate.merchant.v1.CreateSettlementAddressRequest.request_id": _text(200),
    "stablegate.merchant.v1.CreateSettlementAddressRequest.address": {"pattern": ADDRESS},
    "stablegate.merchant.v1.CreateSettlementAddressRequest.label": _text(100),
    "stablegate.merchant.v1.ConfirmSettlementAddressRequest.code": {"pattern": r"^\s*[0-9]{8}\s*$"},
    "stablegate.merchant.v1.GetPayoutQuoteRequest.amount": {"pattern": POSITIVE_AMOUNT, "maxLength": 100},
    "stablegate.merchant.v1.GetPayoutQuoteRequest.asset": {"enum": ["", "USDT"]},
    "stablegate.merchant.v1.CreatePayoutRequest.request_id": _text(200),
    "stablegate.merchant.v1.CreatePayoutRequest.amount": {"pattern": POSITIVE_AMOUNT, "maxLength": 100},
    "stablegate.merchant.v1.CreatePayoutRequest.asset": {"enum": ["", "USDT"]},
    "stablegate.merchant.v1.CreatePayoutRequest.destination_address": {"pattern": ADDRESS},
    "stablegate.merchant.v1.CreatePayoutRequest.max_fee": {"pattern": NON_NEGATIVE_AMOUNT, "maxLength": 100},
    "stablegate.merchant.v1.CreatePayoutRequest.description": _text(500),
    "stablegate.merchant.v1.CreatePayoutRequest.metadata": {
        "maxProperties": 20,
        "additionalProperties": {"type": "string", "maxLength": 500, "pattern": r"^[^\x00]*$"},
    },
    "stablegate.merchant.v1.CancelPayoutRequest.reason": _text(500),
    "stablegate.merchant.v1.CreateRefundRequest.request_id": _text(200),
    "stablegate.merchant.v1.CreateRefundRequest.invoice_id": {"minLength": 1, "maxLength": 200, "pattern": TEXT},
    "stablegate.merchant.v1.CreateRefundRequest.refund_address": {"pattern": ADDRESS},
    "stablegate.merchant.v1.CreateRefundRequest.amount": {"pattern": f"^$|{POSITIVE_AMOUNT}", "maxLength": 100},
    "stablegate.merchant.v1.CreateRefundRequest.reason": _text(500),
    "stablegate.merchant.v1.ListRefundsRequest.invoice_id": _text(200),
    "stablegate.merchant.v1.UpdatePayoutScheduleRequest.weekday": {"minimum": 0, "maximum": 7},
    "stablegate.merchant.v1.UpdatePayoutScheduleRequest.hour_utc": {"minimum": 0, "maximum": 23},
    "stablegate.merchant.v1.UpdatePayoutScheduleRequest.threshold": {
        "pattern": f"^$|{POSITIVE_AMOUNT}",
        "maxLength": 100,
    },
    "stablegate.merchant.v1.UpdatePayoutScheduleRequest.minimum_amount": {
        "pattern": f"^$|{POSITIVE_AMOUNT}",
        "maxLength": 100,
    },
    "stablegate.merchant.v1.UpdatePayoutScheduleRequest.settlement_address_id": _text(200),
    "stablegate.merchant.v1.GetStatementRequest.month": {"pattern": r"^[2-9][0-9]{3}-(0[1-9]|1[0-2])$"},
    "stablegate.admin.v1.OnboardMerchantRequest.request_id": _text(200),
    "stablegate.admin.v1.OnboardMerchantRequest.name": _required_text(200),
    "stablegate.admin.v1.OnboardMerchantRequest.contact_email": {"minLength": 1, "maxLength": 254, "pattern": "@"},
    "stablegate.admin.v1.OnboardMerchantRequest.payout_address": {"pattern": r"^(0x[0-9a-fA-F]{40})?$"},
    "stablegate.admin.v1.OnboardMerchantRequest.default_underpayment_tolerance": {"pattern": NON_NEGATIVE_AMOUNT},
    "stablegate.admin.v1.OnboardMerchantRequest.default_invoice_ttl": _duration_between(60, 7 * 86400),
    "stablegate.admin.v1.SuspendMerchantRequest.reason": _required_text(500),
    "stablegate.admin.v1.SetMerchantFeePlanRequest.bps": {"maximum": 10000},
    "stablegate.admin.v1.SetMerchantFeePlanRequest.fixed": {"pattern": NON_NEGATIVE_AMOUNT, "maxLength": 100},
    "stablegate.admin.v1.SetMerchantFeePlanRequest.minimum": {"pattern": NON_NEGATIVE_AMOUNT, "maxLength": 100},
    "stablegate.admin.v1.SetMerchantFeePlanRequest.reason": _required_text(500),
    "stablegate.admin.v1.ApproveSettlementAddressRequest.reason": _required_text(500),
    "stablegate.admin.v1.IssueApiKeyRequest.name": _text(200),
    "stablegate.admin.v1.IssueApiKeyRequest.request_id": _text(200),
    "stablegate.admin.v1.IssueApiKeyRequest.scopes": {
        "minItems": 1,
        "items": {
            "type": "string",
            "enum": [
                "balance:read",
                "invoices:read",
                "invoices:write",
                "payouts:read",
                "payouts:write",
                "webhooks:read",
                "webhooks:write",
            ],
        },
    },
    "stablegate.admin.v1.IssueApiKeyRequest.allowed_ip_ranges": {"maxItems": 32},
    "stablegate.admin.v1.IssueApiKeyRequest.owner_address": {"pattern": r"^(0x[0-9a-fA-F]{40})?$"},
    "stablegate.admin.v1.RevokeApiKeyRequest.reason": _text(500),
    "stablegate.admin.v1.ListStrayFundsRequest.merchant_id": _text(200),
    "stablegate.admin.v1.AllocateStrayPaymentRequest.invoice_id": {"minLength": 1, "maxLength": 200, "pattern": TEXT},
    "stablegate.admin.v1.AllocateStrayPaymentRequest.reason": _required_text(500),
    "stablegate.admin.v1.RefundStrayPaymentRequest.reason": _required_text(500),
    "stablegate.admin.v1.RequestQuarantineRequest.reason": _required_text(500),
    "stablegate.admin.v1.WithdrawPlatformRevenueRequest.request_id": _text(200),
    "stablegate.admin.v1.GetVolumeReportRequest.merchant_id": _text(200),
    "stablegate.admin.v1.GetVolumeReportRequest.bucket": {
        "enum": ["REPORT_BUCKET_DAY", "REPORT_BUCKET_WEEK", "REPORT_BUCKET_MONTH"]
    },
    "stablegate.admin.v1.GetVolumeReportRequest.start_date": {"pattern": REPORT_DATE},
    "stablegate.admin.v1.GetVolumeReportRequest.end_date": {"pattern": REPORT_DATE},
    "stablegate.admin.v1.GetMerchantPerformanceRequest.merchant_id": _text(200),
    "stablegate.admin.v1.GetMerchantPerformanceRequest.start_date": {"pattern": REPORT_DATE},
    "stablegate.admin.v1.GetMerchantPerformanceRequest.end_date": {"pattern": REPORT_DATE},
    "stablegate.admin.v1.WithdrawPlatformRevenueRequest.amount": {"pattern": POSITIVE_AMOUNT, "maxLength": 100},
    "stablegate.admin.v1.WithdrawPlatformRevenueRequest.reason": _required_text(500),
}
"""Per-field constraints, keyed by `<message full name>.<field>`."""


def _webhook_constraints() -> dict[str, dict[str, Any]]:
    """Event types and payload versions, from the ledger's literal tuples.

    Read from the source, not imported: see `built_public_services`.
    """
    found = _literal_constants(REPO_ROOT / "ledger" / "domain" / "webhooks.py", ("EVENT_TYPES", "API_VERSIONS"))
    types = list(found.get("EVENT_TYPES", ()))
    families = sorted({t.split(".", 1)[0] + ".*" for t in types})
    versions = ["", *found.get("API_VERSIONS", ())]
    filters = {"maxItems": 50, "items": {"type": "string", "enum": ["*", *families, *types]}}
    algorithms = {
        "items": {
            "type": "string",
            "enum": ["WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256", "WEBHOOK_SIGNING_ALGORITHM_ED25519"],
        }
    }
    return {
        "stablegate.merchant.v1.CreateWebhookEndpointRequest.enabled_events": filters,
        "stablegate.merchant.v1.CreateWebhookEndpointRequest.api_version": {"enum": versions},
        "stablegate.merchant.v1.CreateWebhookEndpointRequest.signing_algorithms": algorithms,
        "stablegate.merchant.v1.SendTestWebhookRequest.event_type": {"enum": ["", *types]},
        "stablegate.merchant.v1.WebhookEndpoint.enabled_events": filters,
        "stablegate.merchant.v1.WebhookEndpoint.api_version": {"enum": versions},
        "stablegate.merchant.v1.WebhookEndpoint.signing_algorithms": algorithms,
    }


_PAGE_TOKEN = {"PAGE_TOKEN_INVALID": "page_token is not one this list returned for the same filters"}
_ADDRESS_RULES = {
    "ADDRESS_CHECKSUM_MISMATCH": "an address in mixed case must match its EIP-55 checksum",
    "ADDRESS_ZERO": "the zero address is refused",
}
BUSINESS_RULES: Mapping[str, Mapping[str, str]] = {
    # Refusals (400) no JSON Schema can state: relative to the current time, across fields, about stored
    # state, or about what a name resolves to. Each operation lists its own in `x-business-rules`.
    "InvoiceService_CreateInvoice": {
        **_ADDRESS_RULES,
        "EXPIRY_OUT_OF_RANGE": "expire_time must fall between 1 minute and 7 days from now",
        "TOLERANCE_TOO_LARGE": "underpayment_tolerance must be below amount",
        "METADATA_INVALID": "metadata keys must be 1..40 characters",
        "METADATA_TOO_LARGE": "metadata takes at most 4 KiB as JSON",
    },
    "InvoiceService_ListInvoices": {"RANGE_INVALID": "create_time_start must be before create_time_end", **_PAGE_TOKEN},
    "InvoiceService_CancelInvoice": {"INVOICE_NOT_CANCELABLE": "only an OPEN invoice with no payment seen"},
    "WebhookEndpointService_CreateWebhookEndpoint": {
        "URL_ADDRESS_REFUSED": "url must resolve to public addresses only",
        "URL_INVALID": "url must be an absolute http(s) URL with a host",
    },
    "WebhookEndpointService_UpdateWebhookEndpoint": {
        "URL_ADDRESS_REFUSED": "url must resolve to public addresses only",
        "URL_INVALID": "url must be an absolute http(s) URL with a host",
        "UPDATE_MASK_INVALID": "update_mask names only updatable fields",
    },
    "WebhookEndpointService_ListWebhookEndpoints": _PAGE_TOKEN,
    "WebhookEndpointService_ListWebhookDeliveries": _PAGE_TOKEN,
    "WebhookEndpointService_ReplayFailedWebhooks": {
        "TIME_OUT_OF_RANGE": "start_time must be within the last 30 days",
        "WEBHOOK_ENDPOINT_DISABLED": "the endpoint is disabled",
    },
    "WebhookEndpointService_RedeliverWebhook": {"WEBHOOK_ENDPOINT_DISABLED": "the endpoint is disabled"},
    "WebhookEndpointService_SendTestWebhook": {"WEBHOOK_ENDPOINT_DISABLED": "the endpoint is disabled"},
    "MerchantAdminService_OnboardMerchant": {"ADDRESS_INVALID": "payout_address must have a valid checksum"},
    "FeeService_EstimateFee": {
        "ADDRESS_INVALID": "destination_address in mixed case must match its EIP-55 checksum",
        "OPERATION_UNSUPPORTED": "only a payout (or an unspecified operation) is quoted today",
    },
    "SettlementAddressService_CreateSettlementAddress": {
        **_ADDRESS_RULES,
        "SETTLEMENT_ADDRESS_LIMIT": "a merchant has at most the configured number of live settlement addresses",
        "CONTACT_EMAIL_MISSING": "the merchant needs a contact email to receive the confirmation code",
    },
    "SettlementAddressService_ListSettlementAddresses": _PAGE_TOKEN,
    "SettlementAddressService_ConfirmSettlementAddress": {
        "CONFIRMATION_CODE_WRONG": "code is not the address's code (each wrong code counts as an attempt)",
        "CONFIRMATION_ATTEMPTS_EXHAUSTED": "too many wrong codes; only an admin can approve the address now",
        "CONFIRMATION_CODE_EXPIRED": "the code expired; only an admin can approve the address now",
        "SETTLEMENT_ADDRESS_REVOKED": "the address was revoked",
    },
    "PayoutService_GetPayoutQuote": {"PAYOUT_BELOW_MINIMUM": "amount must be at least the minimum payout"},
    "PayoutService_CreatePayout": {
        **_ADDRESS_RULES,
        "PAYOUT_BELOW_MINIMUM": "amount must be at least the minimum payout",
        "PAYOUT_FEE_ABOVE_MAX": "the payout's fee is above max_fee",
        "SETTLEMENT_ADDRESS_NOT_REGISTERED": "destination_address must be one of the merchant's settlement addresses",
        "SETTLEMENT_ADDRESS_NOT_USABLE": "the settlement address is not ACTIVE (unconfirmed, cooling off, revoked)",
        "INSUFFICIENT_BALANCE": "the available balance must cover amount plus fee",
        "METADATA_INVALID": "metadata keys must be 1..40 characters",
        "METADATA_TOO_LARGE": "metadata takes at most 4 KiB as JSON",
    },
    "PayoutService_ListPayouts": _PAGE_TOKEN,
    "PayoutService_CancelPayout": {"PAYOUT_NOT_CANCELABLE": "only a payout still waiting to be sent"},
    "RefundService_CreateRefund": {
        **_ADDRESS_RULES,
        "REFUND_EXCEEDS_PAID": "amount must be at most what the invoice was paid less earlier refunds",
        "INSUFFICIENT_BALANCE": "the available balance must cover the refund",
    },
    "RefundService_ListRefunds": _PAGE_TOKEN,
    "StatementService_GetStatement": {"MONTH_IN_FUTURE": "month must not be after the current month (UTC)"},
    "PayoutScheduleService_UpdatePayoutSchedule": {
        "FIELD_REQUIRED": "settlement_address_id unless MANUAL; threshold for THRESHOLD",
        "FIELD_NOT_APPLICABLE": "weekday only for WEEKLY, hour_utc only for DAILY and WEEKLY, threshold only for "
        "THRESHOLD",
        "WEEKDAY_OUT_OF_RANGE": "weekday must be 1..7 for WEEKLY",
        "PAYOUT_BELOW_MINIMUM": "minimum_amount must be at least the ledger's minimum payout",
        "SETTLEMENT_ADDRESS_REVOKED": "the settlement address was revoked",
    },
    "RefundService_CancelRefund": {"REFUND_NOT_CANCELABLE": "only a refund still waiting to be sent"},
    "MerchantAdminService_ApproveSettlementAddress": {"SETTLEMENT_ADDRESS_REVOKED": "the address was revoked"},
    "MerchantAdminService_ListMerchants": _PAGE_TOKEN,
    "ApiKeyAdminService_IssueApiKey": {
        "EXPIRE_TIME_PAST": "expire_time must be in the future",
        "IP_RANGE_INVALID": "allowed_ip_ranges must be IP networks in CIDR notation without host bits",
        **_ADDRESS_RULES,
    },
    "ApiKeyAdminService_ListApiKeys": _PAGE_TOKEN,
    "StrayFundsAdminService_ListStrayFunds": _PAGE_TOKEN,
    "StrayFundsAdminService_AllocateStrayPayment": {
        "PAYMENT_ALREADY_ALLOCATED": "the payment was allocated already (to the invoice in metadata invoiceId)",
        "PAYMENT_NOT_UNALLOCATED": "only an unallocated payment (not reversed by a reorg) can be allocated",
        "STRAY_REFUND_EXISTS": "the payment is being refunded to its sender",
        "INVOICE_CANCELED": "a canceled invoice cannot be credited",
        "ASSET_MISMATCH": "the invoice is in another token than the payment",
    },
    "StrayFundsAdminService_RefundStrayPayment": {
        "PAYMENT_ALREADY_ALLOCATED": "the payment was allocated to an invoice",
        "PAYMENT_NOT_UNALLOCATED": "only an unallocated payment (not reversed by a reorg) can be refunded",
        "STRAY_REFUND_EXISTS": "the payment is being refunded (or was refunded) to its sender",
        "SENDER_UNKNOWN": "the payment has no sender address to refund to",
        "INSUFFICIENT_UNALLOCATED": "the unallocated balance does not cover the payment",
    },
    "StrayFundsAdminService_RequestQuarantine": {
        "QUARANTINE_NOT_APPLICABLE": "only another token than the gateway's can be quarantined",
    },
    "StrayFundsAdminService_WithdrawPlatformRevenue": {
        "INSUFFICIENT_PLATFORM_FEES": "amount must be at most the collected fees not yet withdrawn",
        "REVENUE_ADDRESS_NOT_CONFIGURED": "STABLEGATE_LEDGER_PLATFORM_REVENUE_ADDRESS is not set",
    },
    "ReportService_GetVolumeReport": {
        "DATE_INVALID": "start_date and end_date must be days that exist, in 2000 or later",
        "DATE_IN_FUTURE": "end_date must not be after today (UTC)",
        "RANGE_REVERSED": "end_date must not be before start_date",
        "RANGE_TOO_LONG": "the range spans at most 366 buckets",
    },
    "ReportService_GetMerchantPerformance": {
        "DATE_INVALID": "start_date and end_date must be days that exist, in 2000 or later",
        "DATE_IN_FUTURE": "end_date must not be after today (UTC)",
        "RANGE_REVERSED": "end_date must not be before start_date",
        "RANGE_TOO_LONG": "the range spans at most 366 days",
    },
    "AuditLogService_ListAuditEvents": {
        "TIME_RANGE_INVALID": "event_time_end must be after event_time_start",
        **_PAGE_TOKEN,
    },
}
"""Per operation id: the reasons of its business-rule refusals and what each means."""

PATH_SEGMENT = r"^[^/\\]+$"
"""A string path parameter: no slash or backslash, which Envoy refuses escaped (`%2F`, `%5C`) with 400
(`path_with_escaped_slashes_action: REJECT_REQUEST` in `edge/envoy_config.py`)."""

PAGE_SIZE = {"minimum": 0}
"""Every `page_size`: 0 means the default, anything above the cap is capped, negative is refused."""

ERROR_SCHEMA = "Error"
SECURITY_SCHEME = "bearerAuth"
DURATION_PATTERN = r"^-?[0-9]+(\.[0-9]+)?s$"

# FieldDescriptorProto numbers of the descriptor's repeated fields, for source-info paths.
_MESSAGE_TYPE, _ENUM_TYPE, _SERVICE = 4, 5, 6
_FIELD, _NESTED_TYPE, _NESTED_ENUM, _ENUM_VALUE, _METHOD = 2, 3, 4, 2, 2

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS: Mapping[int, dict[str, Any]] = {
    _F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _F.TYPE_FLOAT: {"type": "number", "format": "float"},
    _F.TYPE_INT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _F.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    _F.TYPE_FIXED32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    _F.TYPE_INT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    _F.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    _F.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    _F.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"},
    _F.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"},
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_INT32_RANGE = {"minimum": -(2**31), "maximum": 2**31 - 1}

# Well-known types have their own JSON forms (proto3 JSON mapping); they are inlined, never components.
_WELL_KNOWN: Mapping[str, dict[str, Any]] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "pattern": DURATION_PATTERN},
    ".google.protobuf.FieldMask": {"type": "string"},
    ".google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    ".google.protobuf.Value": {},
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    ".google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    ".google.protobuf.StringValue": {"type": "string", "nullable": True},
    ".google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
    ".google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    ".google.protobuf.Int32Value": {"type": "integer", "format": "int32", "nullable": True},
    ".google.protobuf.UInt32Value": {"type": "integer", "minimum": 0, "nullable": True},
    ".google.protobuf.Int64Value": {"type": "string", "format": "int64", "nullable": True},
    ".google.protobuf.UInt64Value": {"type": "string", "format": "uint64", "nullable": True},
    ".google.protobuf.FloatValue": {"type": "number", "format": "float", "nullable": True},
    ".google.protobuf.DoubleValue": {"type": "number", "format": "double", "nullable": True},
}
# Field types a query parameter can carry (the transcoder parses them from the query string).
_QUERY_MESSAGES = frozenset({".google.protobuf.Timestamp", ".google.protobuf.Duration", ".google.protobuf.FieldMask"})
_PATH_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


def built_public_services(modules: Sequence[Path] = BUILT_FROM) -> tuple[str, ...]:
    """The public services that are built: each module's `SERVED` minus its `NOT_BUILT`, public packages only.

    The constants are read from the modules' source (literal tuples), not imported: codegen calls this, and
    importing a service's wiring would import the generated code codegen is about to replace.
    """
    built: list[str] = []
    for module in modules:
        constants = _literal_constants(module, ("SERVED", "NOT_BUILT"))
        if "SERVED" not in constants:
            raise ValueError(f"{module} has no literal SERVED tuple")
        not_built = set(constants.get("NOT_BUILT", ()))
        built += [s for s in constants["SERVED"] if s not in not_built and s.startswith(PUBLIC_PACKAGES)]
    return tuple(built)


def _literal_constants(module: Path, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.parse(module.read_text(), str(module)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in names:
                value = ast.literal_eval(node.value)
                if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{module}: {name} must be a literal tuple of service names")
                found[name] = value
    return found


# --- reading the descriptor set ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    full_name: str  # with the leading dot, as descriptors refer to types
    proto: descriptor_pb2.DescriptorProto
    comment: str
    field_comments: Mapping[str, str]


@dataclass(frozen=True)
class _Enum:
    values: tuple[str, ...]
    comment: str
    value_comments: Mapping[str, str]


@dataclass(frozen=True)
class _Method:
    service: str
    service_comment: str
    proto: descriptor_pb2.MethodDescriptorProto
    comment: str
    rule: http_pb2.HttpRule


class _Catalog:
    """Every message, enum and method of a descriptor set, with their comments, by full name."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, _Enum] = {}
        self.services: dict[str, list[_Method]] = {}
        for file in fds.file:
            comments = {tuple(loc.path): _clean(loc.leading_comments) for loc in file.source_code_info.location}
            prefix = f".{file.package}" if file.package else ""
            for i, message in enumerate(file.message_type):
                self._add_message(prefix, message, (_MESSAGE_TYPE, i), comments)
            for i, enum in enumerate(file.enum_type):
                self._add_enum(prefix, enum, (_ENUM_TYPE, i), comments)
            for i, service in enumerate(file.service):
                name = f"{file.package}.{service.name}"
                service_comment = comments.get((_SERVICE, i), "")
                self.services[name] = [
                    _Method(
                        name,
                        service_comment,
                        method,
                        comments.get((_SERVICE, i, _METHOD, j), ""),
                        method.options.Extensions[annotations_pb2.http],
                    )
                    for j, method in enumerate(service.method)
                    if method.options.HasExtension(annotations_pb2.http)
                ]

    def _add_message(
        self,
        prefix: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        comments: Mapping[tuple[int, ...], str],
    ) -> None:
        full_name = f"{prefix}.{message.name}"
        field_comments = {f.name: comments.get((*path, _FIELD, i), "") for i, f in enumerate(message.field)}
        self.messages[full_name] = _Message(full_name, message, comments.get(path, ""), field_comments)
        for i, nested in enumerate(message.nested_type):
            self._add_message(full_name, nested, (*path, _NESTED_TYPE, i), comments)
        for i, enum in enumerate(message.enum_type):
            self._add_enum(full_name, enum, (*path, _NESTED_ENUM, i), comments)

    def _add_enum(
        self,
        prefix: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        path: tuple[int, ...],
        comments: Mapping[tuple[int, ...], str],
    ) -> None:
        self.enums[f"{prefix}.{enum.name}"] = _Enum(
            tuple(v.name for v in enum.value),
            comments.get(path, ""),
            {v.name: comments.get((*path, _ENUM_VALUE, i), "") for i, v in enumerate(enum.value)},
        )


def _clean(comment: str) -> str:
    lines = [line.strip() for line in comment.strip().splitlines()]
    return " ".join(line for line in lines if line)


def _summary(comment: str) -> str:
    first, _, _ = comment.partition(". ")
    return first.rstrip(".")


def _behaviors(field: descriptor_pb2.FieldDescriptorProto) -> set[str]:
    return {
        field_behavior_pb2.FieldBehavior.Name(b) for b in field.options.Extensions[field_behavior_pb2.field_behavior]
    }


def _is_map(catalog: _Catalog, field: descriptor_pb2.FieldDescriptorProto) -> bool:
    message = catalog.messages.get(field.type_name)
    return (
        field.label == _F.LABEL_REPEATED
        and field.type == _F.TYPE_MESSAGE
        and message is not None
        and message.proto.options.map_entry
    )


# --- schemas ----------------------------------------------------------------------------------------------


def schema_name(full_name: str) -> str:
    """The component name of a message or enum: its full proto name without the leading dot."""
    return full_name.lstrip(".")


def _ref(full_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(full_name)}"}


class _SchemaBuilder:
    """Component schemas for the messages and enums an operation reaches, following proto3 JSON."""

    def __init__(self, catalog: _Catalog, response_messages: set[str]) -> None:
        self.catalog = catalog
        # Messages some response reaches: proto3 JSON omits fields at their defaults, so these require nothing.
        self.response_messages = response_messages
        self.components: dict[str, dict[str, Any]] = {}

    def message(self, full_name: str, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
        """A schema for the message: a `$ref` to its component, or inline without the `exclude`d fields."""
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        message = self.catalog.messages[full_name]
        if not exclude:
            if schema_name(full_name) not in self.components:
                self.components[schema_name(full_name)] = {}  # placeholder: recursion stops here
                self.components[schema_name(full_name)] = self._object(message, ())
            return _ref(full_name)
        return self._object(message, exclude)

    def _object(self, message: _Message, exclude: Sequence[str]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        oneofs: dict[int, list[str]] = {}
        for field in message.proto.field:
            if field.name in exclude:
                continue
            schema = constrained(message.full_name, field, self.field(field))
            description = message.field_comments.get(field.name, "")
            behaviors = _behaviors(field)
            extra: dict[str, Any] = {}
            if description:
                extra["description"] = description
            if "OUTPUT_ONLY" in behaviors:
                extra["readOnly"] = True
            if "REQUIRED" not in behaviors:
                extra["nullable"] = True  # proto3 JSON reads null as the field's default (no answer has one)
            properties[field.name] = _annotate(_null_in_enum(schema, extra), extra)
            if "REQUIRED" in behaviors and message.full_name not in self.response_messages:
                required.append(field.name)
            if field.HasField("oneof_index") and not field.proto3_optional:
                oneofs.setdefault(field.oneof_index, []).append(field.name)
        result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        description = message.comment
        for index, members in sorted(oneofs.items()):
            if len(members) > 1:
                name = message.proto.oneof_decl[index].name
                description += f" At most one of {', '.join(members)} (oneof {name})."
        if description.strip():
            result["description"] = description.strip()
        if required:
            result["required"] = required
        # Two members of one oneof in one body are refused by the transcoder: say so in the schema.
        exclusive = [
            {"not": {"required": [a, b]}}
            for members in oneofs.values()
            for i, a in enumerate(members)
            for b in members[i + 1 :]
        ]
        if exclusive:
            result["allOf"] = exclusive
        return result

    def field(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The JSON schema of one field's value (repeated as an array, a map as an object)."""
        if _is_map(self.catalog, field):
            entry = self.catalog.messages[field.type_name].proto
            value = next(f for f in entry.field if f.name == "value")
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        if field.label == _F.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type == _F.TYPE_MESSAGE:
            return self.message(field.type_name)
        if field.type == _F.TYPE_ENUM:
            return self.enum(field.type_name)
        schema = dict(_SCALARS[field.type])
        if schema.get("format") == "int32":
            schema.update(_INT32_RANGE)
        return schema

    def enum(self, full_name: str) -> dict[str, Any]:
        """A `$ref` to the enum's component: a string enum of its value names."""
        name = schema_name(full_name)
        if name not in self.components:
            enum = self.catalog.enums[full_name]
            values = "; ".join(f"{v}: {c}" for v, c in enum.value_comments.items() if c)
            description = " ".join(part for part in (enum.comment, values) if part)
            self.components[name] = {"type": "string", "enum": list(enum.values)}
            if description:
                self.components[name]["description"] = description
        return _ref(full_name)


def constrained(message: str, field: descriptor_pb2.FieldDescriptorProto, schema: dict[str, Any]) -> dict[str, Any]:
    """The field's schema with what the server enforces on it (FIELD_CONSTRAINTS, page sizes)."""
    key = f"{message.lstrip('.')}.{field.name}"
    extra = dict(FIELD_CONSTRAINTS.get(key, {}) or _webhook_constraints().get(key, {}))
    if field.name == "page_size" and field.type == _F.TYPE_INT32:
        extra.update(PAGE_SIZE)
    if not extra:
        return schema
    merged = {**schema}
    for key, value in extra.items():
        if key == "items" and "$ref" in merged.get(key, {}):
            merged[key] = value  # a narrower enum than the referenced one
        elif key in ("items", "additionalProperties") and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _null_in_enum(schema: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0: a nullable enum lists null among its values."""
    if extra.get("nullable") and "enum" in schema and None not in schema["enum"]:
        return {**schema, "enum": [*schema["enum"], None]}
    return schema


def _annotate(schema: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    if not extra:
        return schema
    if "$ref" in schema:
        # OpenAPI 3.0 ignores the siblings of a $ref: wrap it so the description and readOnly count.
        return {"allOf": [schema], **extra}
    return {**schema, **extra}


def _reachable(catalog: _Catalog, roots: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in catalog.messages:
            continue
        seen.add(name)
        stack += [f.type_name for f in catalog.messages[name].proto.field if f.type == _F.TYPE_MESSAGE]
    return seen


# --- operations -------------------------------------------------------------------------------------------


def _pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise ValueError("an http rule without a pattern")
    if kind == "custom":
        return rule.custom.kind.lower(), rule.custom.path
    return kind, str(getattr(rule, kind))


def _bindings(method: _Method) -> Iterator[http_pb2.HttpRule]:
    yield method.rule
    yield from method.rule.additional_bindings


def _operation(builder: _SchemaBuilder, method: _Method, rule: http_pb2.HttpRule) -> tuple[str, str, dict[str, Any]]:
    catalog = builder.catalog
    verb, template = _pattern(rule)
    request = catalog.messages[method.proto.input_type]
    path_fields = _PATH_VARIABLE.findall(template)
    path = _PATH_VARIABLE.sub(lambda m: "{" + m.group(1) + "}", template)
    fields = {f.name: f for f in request.proto.field}
    parameters = _path_parameters(builder, request, path_fields)
    top_level_path = {name.split(".")[0] for name in path_fields}
    operation: dict[str, Any] = {
        "operationId": f"{method.service.rsplit('.', 1)[-1]}_{method.proto.name}",
        "tags": [method.service.rsplit(".", 1)[-1]],
        "security": [{SECURITY_SCHEME: []}],
    }
    if method.comment:
        operation["summary"] = _summary(method.comment)
        operation["description"] = method.comment
    if rule.body == "*":
        body_schema = builder.message(request.full_name, exclude=sorted(top_level_path))
        operation["requestBody"] = {
            # No body at all is an empty message: required only when the message has required fields.
            "required": bool(body_schema.get("required")),
            "content": {"application/json": {"schema": body_schema}},
        }
    else:
        if rule.body:
            body_field = fields[rule.body]
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": builder.field(body_field)}},
            }
        for field in request.proto.field:
            if field.name in top_level_path or field.name == rule.body or not _query_field(catalog, field):
                continue
            schema = constrained(request.full_name, field, builder.field(field))
            parameters.append(
                _parameter(field.name, "query", schema, request.field_comments.get(field.name, ""), required=False)
            )
    if "request_id" in fields and verb == "post":
        parameters.append(
            _parameter(
                "Idempotency-Key",
                "header",
                {"type": "string", "maxLength": 200},
                "Becomes the request's request_id when the body sets none: a retry with the same key returns "
                "the first result; the same key with other content is 409.",
                required=False,
            )
        )
    if parameters:
        operation["parameters"] = parameters
    response_message = method.proto.output_type
    if rule.response_body:
        response_field = next(f for f in catalog.messages[response_message].proto.field if f.name == rule.response_body)
        response_schema = builder.field(response_field)
    else:
        response_schema = builder.message(response_message)
    operation["responses"] = _responses(operation["operationId"], response_schema)
    if operation["operationId"] in BUSINESS_RULES:
        operation["x-business-rules"] = sorted(BUSINESS_RULES[operation["operationId"]])
    return path, verb, operation


def _path_parameters(builder: _SchemaBuilder, request: _Message, path_fields: Sequence[str]) -> list[dict[str, Any]]:
    fields = {f.name: f for f in request.proto.field}
    parameters: list[dict[str, Any]] = []
    for name in path_fields:
        top = fields.get(name.split(".")[0])
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": PATH_SEGMENT}
        if top is not None and "." not in name:
            if top.type == _F.TYPE_STRING:
                schema = {"pattern": PATH_SEGMENT, **builder.field(top), "minLength": 1}
            else:
                schema = builder.field(top)
        parameters.append(
            _parameter(name, "path", schema, request.field_comments.get(name, ""), required=True),
        )
    return parameters


def _responses(operation_id: str, response_schema: dict[str, Any]) -> dict[str, Any]:
    """200 with the response schema, and the shared error responses (400 listing the operation's own rules)."""
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": response_schema}}},
        **{status: {"$ref": f"#/components/responses/{_error_response(status)}"} for status in ERROR_STATUSES},
    }
    rules = BUSINESS_RULES.get(operation_id, {})
    if rules:
        listed = "; ".join(f"{reason}: {text}" for reason, text in rules.items())
        responses["400"] = {
            "description": f"{ERROR_STATUSES['400']} Besides the schema's constraints, this operation refuses "
            f"(reason: rule): {listed}.",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
        }
    return responses


def _query_field(catalog: _Catalog, field: descriptor_pb2.FieldDescriptorProto) -> bool:
    if _is_map(catalog, field):
        return False
    if field.type == _F.TYPE_MESSAGE:
        return field.label != _F.LABEL_REPEATED and field.type_name in _QUERY_MESSAGES
    return True


def _parameter(name: str, where: str, schema: dict[str, Any], description: str, *, required: bool) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        parameter["description"] = description
    if schema.get("type") == "array":
        parameter["style"] = "form"
        parameter["explode"] = True
    return parameter


def _link_creates(paths: Mapping[str, dict[str, Any]], builder: _SchemaBuilder) -> None:
    """Link each create (a POST to a collection answering a resource with an `id`) to the operations on it.

    A target is any operation whose path continues the collection's with `/{param}`: the link fills `param`
    with the created resource's `id` (AIP-style resource paths), so clients and stateful testers can follow.
    """
    for path, verbs in paths.items():
        create = verbs.get("post")
        last = path.rsplit("/", 1)[-1]
        if create is None or ":" in last or "{" in last:
            continue
        schema = create["responses"]["200"]["content"]["application/json"]["schema"]
        component = builder.components.get(str(schema.get("$ref", "")).rsplit("/", 1)[-1], {})
        if "id" not in component.get("properties", {}):
            continue
        links: dict[str, Any] = {}
        for target_path, target_verbs in paths.items():
            match = re.match(re.escape(path) + r"/\{([^}]+)\}", target_path)
            if match is None:
                continue
            # The collection's own path parameters (a parent's id) pass through from the create's request.
            parameters = {name: f"$request.path.{name}" for name in _PATH_VARIABLE.findall(path)}
            parameters[match.group(1)] = "$response.body#/id"
            for verb, target in target_verbs.items():
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": parameters,
                    "description": f"The created resource's id as `{match.group(1)}` of {verb.upper()} {target_path}.",
                }
        if links:
            create["responses"]["200"]["links"] = links


def _error_response(status: str) -> str:
    return f"Error{status}"


def _error_components() -> tuple[dict[str, Any], dict[str, Any]]:
    schema = {
        "type": "object",
        "description": "An error: a google.rpc.Status in JSON (code is the gRPC status code).",
        "properties": {
            "code": {"type": "integer", "description": "gRPC status code (e.g. 3 INVALID_ARGUMENT, 5 NOT_FOUND)."},
            "message": {"type": "string", "description": "What went wrong, for developers."},
            "details": {
                "type": "array",
                "description": "Typed details, e.g. google.rpc.ErrorInfo with a reason and metadata.",
                "items": {"type": "object", "additionalProperties": True},
            },
        },
        "required": ["code", "message"],
    }
    responses: dict[str, Any] = {}
    for status, description in ERROR_STATUSES.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
        }
        if status == "429":
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
            }
        responses[_error_response(status)] = response
    return schema, responses


def build_document(
    descriptor_path: Path, services: Sequence[str] | None = None, *, admin: bool = False
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document (as a dict) for the given services' HTTP-bound methods.

    `services` defaults to the built public services of the surface: the merchant API, or with `admin` the
    admin API (served on its own listener). Raises ValueError for a service the set lacks, a non-public
    service, or two methods bound to one path and verb.
    """
    if services is None:
        package = ADMIN_PACKAGE if admin else MERCHANT_PACKAGE
        services = tuple(s for s in built_public_services() if s.startswith(package))
    else:
        services = tuple(services)
    catalog = _Catalog(descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes()))
    missing = [s for s in services if s not in catalog.services]
    if missing:
        raise ValueError(f"{descriptor_path} has no service {missing}; regenerate it with gateway.codegen")
    private = [s for s in services if not s.startswith(PUBLIC_PACKAGES)]
    if private:
        raise ValueError(f"{private} are not public services")
    methods = [m for s in services for m in catalog.services[s]]
    responses = _reachable(catalog, [m.proto.output_type for m in methods])
    builder = _SchemaBuilder(catalog, responses)
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    for method in methods:
        tags[method.service.rsplit(".", 1)[-1]] = method.service_comment
        for rule in _bindings(method):
            path, verb, operation = _operation(builder, method, rule)
            if verb in paths.setdefault(path, {}):
                raise ValueError(f"{verb.upper()} {path} is bound twice (second: {method.service}.{method.proto.name})")
            paths[path][verb] = operation
    _link_creates(paths, builder)
    error_schema, error_responses = _error_components()
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": API_TITLE,
            "version": API_VERSION,
            "description": (
                "REST/JSON surface of the stablegate payment gateway, transcoded to gRPC at the edge. JSON field "
                "names are the proto field names (snake_case); 64-bit integers and amounts are strings. "
                + (
                    "The admin API is served on the edge's admin listener only (a port the operator keeps "
                    "private); every operation takes an admin key (`Authorization: Bearer ak_...`) whose role "
                    "allows it (admin, operator or viewer)."
                    if admin
                    else "Every operation takes a merchant key (`Authorization: Bearer sk_...`)."
                )
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} if text else {"name": name} for name, text in tags.items()],
        "paths": paths,
        "components": {
            "schemas": {**builder.components, ERROR_SCHEMA: error_schema},
            "responses": error_responses,
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer"}},
        },
    }


def render_json(document: Mapping[str, Any]) -> str:
    """The document as deterministic JSON: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the reference page -----------------------------------------------------------------------------------

REFERENCE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.5rem}"
    "section{margin:1.5rem 0}"
    "code{background:#f4f4f4;padding:0 .2rem}"
    ".verb{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}"
)
"""The page's only styling, inline (the edge's CSP for the page allows inline styles and nothing else)."""


def render_html(document: Mapping[str, Any]) -> str:
    """A self-contained reference page of the document's operations.

    Each operation shows its method, path, summary, parameters, and body and response schema names. No scripts,
    no external resources; all text is escaped.
    """
    e = html.escape
    info = document.get("info", {})
    doc_path = ADMIN_OPENAPI_PATH if all(p.startswith("/admin/") for p in document.get("paths", {})) else OPENAPI_PATH
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(str(info.get('title', 'API')))} reference</title>",
        f"<style>{REFERENCE_STYLE}</style>",
        "</head><body>",
        f"<h1>{e(str(info.get('title', 'API')))} <small>{e(str(info.get('version', '')))}</small></h1>",
        f"<p>{e(str(info.get('description', '')))}</p>",
        f'<p>The machine-readable document: <a href="{e(doc_path)}">{e(doc_path)}</a>.</p>',
    ]
    tags = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {name: [] for name in tags}
    for path, verbs in document.get("paths", {}).items():
        for verb, operation in verbs.items():
            tag = (operation.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((path, verb, operation))
    for tag, operations in by_tag.items():
        out.append(f'<h2 id="{e(tag)}">{e(tag)}</h2>')
        if tags.get(tag):
            out.append(f"<p>{e(tags[tag])}</p>")
        for path, verb, operation in operations:
            out.append(_operation_html(path, verb, operation))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _operation_html(path: str, verb: str, operation: Mapping[str, Any]) -> str:
    e = html.escape
    parts = [
        f'<section id="{e(str(operation.get("operationId", "")))}">',
        f'<h3><span class="verb">{e(verb.upper())}</span> <code>{e(path)}</code></h3>',
    ]
    if operation.get("summary"):
        parts.append(f"<p><strong>{e(str(operation['summary']))}</strong></p>")
    if operation.get("description") and operation.get("description") != operation.get("summary"):
        parts.append(f"<p>{e(str(operation['description']))}</p>")
    parameters = operation.get("parameters", [])
    if parameters:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>")
        for p in parameters:
            parts.append(
                f"<tr><td><code>{e(str(p['name']))}</code></td><td>{e(str(p['in']))}</td>"
                f"<td>{e(_type_name(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else 'no'}</td>"
                f"<td>{e(str(p.get('description', '')))}</td></tr>"
            )
        parts.append("</table>")
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        parts.append(f"<p>Request body: <code>{e(_type_name(body))}</code></p>")
    ok = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    if "schema" in ok:
        parts.append(f"<p>Response 200: <code>{e(_type_name(ok['schema']))}</code></p>")
    errors = sorted(status for status in operation.get("responses", {}) if status != "200")
    if errors:
        parts.append(f"<p>Errors: {e(', '.join(errors))} (<code>{ERROR_SCHEMA}</code>)</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _type_name(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type_name(schema["allOf"][0])
    if schema.get("type") == "array":
        return f"array of {_type_name(schema.get('items', {}))}"
    if schema.get("type") == "object" and "properties" in schema:
        return "object {" + ", ".join(schema["properties"]) + "}"
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def write(descriptor_path: Path, out_dir: Path) -> list[Path]:
    """Write the built public services' documents into `out_dir`; return their paths.

    The merchant API's `openapi.json` and `reference.html`, the admin API's `admin_openapi.json` and
    `admin_reference.html`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for admin, json_name, html_name in (
        (False, OPENAPI_NAME, REFERENCE_NAME),
        (True, ADMIN_OPENAPI_NAME, ADMIN_REFERENCE_NAME),
    ):
        document = build_document(descriptor_path, admin=admin)
        json_path, html_path = out_dir / json_name, out_dir / html_name
        json_path.write_text(render_json(document), encoding="utf-8")
        html_path.write_text(render_html(document), encoding="utf-8")
        written += [json_path, html_path]
    return written
