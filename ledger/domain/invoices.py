"""Rules for creating and canceling invoices (validation, defaults, the deposit address)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from ledger.domain.addresses import create2_address, invoice_salt
from service_runtime.errors import FailedPrecondition, InvalidArgument

MAX_DESCRIPTION = 500
MAX_ORDER_ID = 200
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_METADATA_BYTES = 4096
MAX_URL = 2000
MIN_TTL = dt.timedelta(minutes=1)
MAX_TTL = dt.timedelta(days=7)


@dataclass(frozen=True)
class ChainTerms:
    """What every invoice is denominated in and how its deposit address is derived."""

    chain_id: int
    asset: str
    token_contract: str
    token_decimals: int
    forwarder_factory: str
    forwarder_init_code_hash: bytes
    monitoring_window: dt.timedelta


@dataclass(frozen=True)
class NewInvoice:
    """A validated invoice about to be stored."""

    id: str
    merchant_id: str
    amount: int
    tolerance: int
    deposit_address: str
    description: str
    metadata: dict[str, str]
    order_id: str | None
    customer_reference: str
    redirect_url: str
    expire_time: dt.datetime
    monitor_until: dt.datetime
    refund_address: str = ""
    """The payer's address for an automatic overpayment refund; empty: none."""


def deposit_address(terms: ChainTerms, invoice_id: str) -> str:
    """The invoice's counterfactual forwarder address: CREATE2(factory, salt(invoice id), init-code hash)."""
    return create2_address(terms.forwarder_factory, invoice_salt(invoice_id), terms.forwarder_init_code_hash)


def _invalid(field: str, message: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}", reason=reason, metadata={"field": field})


def check_text(value: str, field: str, limit: int) -> str:
    """A free-text field within its length limit and without control characters."""
    if len(value) > limit:
        raise _invalid(field, f"at most {limit} characters", "FIELD_TOO_LONG")
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise _invalid(field, "must not contain control characters", "FIELD_INVALID")
    return value


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Merchant metadata: up to 20 keys, keys ≤ 40 and values ≤ 500 characters, 4 KiB as JSON."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise _invalid("metadata", f"at most {MAX_METADATA_KEYS} keys", "METADATA_TOO_LARGE")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY:
            raise _invalid("metadata", f"keys must be 1..{MAX_METADATA_KEY} characters", "METADATA_INVALID")
        if len(value) > MAX_METADATA_VALUE:
            raise _invalid("metadata", f"values must be at most {MAX_METADATA_VALUE} characters", "METADATA_TOO_LARGE")
        if "\x00" in key or "\x00" in value:
            # Postgres text cannot hold NUL; other control characters are the merchant's own data.
            raise _invalid("metadata", "keys and values must not contain NUL characters", "METADATA_INVALID")
    if len(json.dumps(metadata).encode()) > MAX_METADATA_BYTES:
        raise _invalid("metadata", f"at most {MAX_METADATA_BYTES} bytes as JSON", "METADATA_TOO_LARGE")
    return dict(metadata)


def check_url(value: str, field: str) -> str:
    """An optional http(s) URL."""
    if value and (len(value) > MAX_URL or not value.startswith(("https://", "http://"))):
        raise _invalid(field, "must be an http(s) URL of at most 2000 characters", "URL_INVALID")
    return value


def expiry(
    now: dt.datetime, *, expire_time: dt.datetime | None, ttl: dt.timedelta | None, default_ttl: dt.timedelta
) -> dt.datetime:
    """When the invoice expires: an explicit time, a TTL, or the default; within 1 minute .. 7 days."""
    if expire_time is not None:
        delta, field = expire_time - now, "expire_time"
    else:
        delta, field = (ttl if ttl is not None else default_ttl), "ttl"
    if not MIN_TTL <= delta <= MAX_TTL:
        raise _invalid(field, "the invoice must expire between 1 minute and 7 days from now", "EXPIRY_OUT_OF_RANGE")
    return now + delta


def check_cancelable(status: str) -> None:
    """Only an OPEN invoice (nothing paid yet) can be canceled."""
    if status != "OPEN":
        raise FailedPrecondition(
            f"an invoice in status {status} cannot be canceled; only OPEN invoices can",
            reason="INVOICE_NOT_CANCELABLE",
            metadata={"status": status},
        )


MAX_MONITORING_WINDOW = dt.timedelta(days=30)


def monitoring_window(requested: dt.timedelta | None, default: dt.timedelta) -> dt.timedelta:
    """How long after expiry late payments are credited: the request's window or the default, 0 .. 30 days."""
    window = default if requested is None else requested
    if not dt.timedelta(0) <= window <= MAX_MONITORING_WINDOW:
        raise _invalid("monitoring_window", "must be between 0 and 30 days", "MONITORING_WINDOW_OUT_OF_RANGE")
    return window
