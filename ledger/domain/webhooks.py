"""Webhook rules: event filters, API versions, the retry schedule, payloads and Standard Webhooks signatures.

Plain code: no grpc, no asyncpg. The sender (`ledger/dispatch.py`) and the API (`ledger/api/webhooks.py`) call it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import InvalidField

API_VERSIONS = ("2026-11-25",)
"""Payload versions an endpoint may pin, oldest first; the last is the default for new endpoints."""
LATEST_API_VERSION = API_VERSIONS[-1]

EVENT_TYPES = (
    "invoice.created",
    "invoice.canceled",
    "invoice.payment_detected",
    "invoice.processing",
    "invoice.paid",
    "invoice.expired",
    "invoice.reopened",
    "invoice.updated",
    "invoice.payment_reversed",
    "payment.unallocated",
    "deposit.unexpected_asset",
    "merchant.balance_shortfall",
    "settlement_address.created",
    "settlement_address.confirmed",
    "settlement_address.revoked",
    "payout.created",
    "payout.canceled",
    "payout.pending_approval",
    "payout.broadcast",
    "payout.confirmed",
    "payout.failed",
    "payout_schedule.updated",
    "refund.created",
    "refund.canceled",
    "refund.pending_approval",
    "refund.broadcast",
    "refund.confirmed",
    "refund.failed",
    "webhook_endpoint.disabled",
    "webhook.test",
)
"""Every event type a merchant can receive (docs/webhooks.md has each one's payload and when it fires)."""

MAX_FILTERS = 50
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
HMAC_SHA256 = "v1"
ED25519 = "v1a"
SIGNING_ALGORITHMS = (HMAC_SHA256, ED25519)
"""Signature versions of the `webhook-signature` header an endpoint may sign with."""
DEFAULT_OVERLAP = dt.timedelta(hours=24)
MAX_OVERLAP = dt.timedelta(days=7)

RETRY_DELAYS = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
"""Delay before the 2nd, 3rd, … attempt (DECISIONS, "Retries span three days"); then every 12 h."""
LATER_RETRY_DELAY = dt.timedelta(hours=12)
RETRY_HORIZON = dt.timedelta(hours=72)
"""No attempt is scheduled later than this after the event was created."""
MAX_RETRY_AFTER = dt.timedelta(hours=24)
JITTER = 0.1
"""Each delay is stretched by up to this fraction at random, so receivers coming back are not hit in lockstep."""


def _invalid(field: str, message: str, reason: str) -> InvalidField:
    return InvalidField(f"{field} {message}", reason=reason, field=field)


def check_event_filters(filters: Sequence[str]) -> tuple[str, ...]:
    """Exact known types, a family (`invoice.*`) or `*`; empty means all. Duplicates removed, order kept."""
    if len(filters) > MAX_FILTERS:
        raise _invalid("enabled_events", f"takes at most {MAX_FILTERS} entries", "EVENT_FILTER_INVALID")
    families = {t.split(".", 1)[0] for t in EVENT_TYPES}
    kept: list[str] = []
    for value in filters:
        known = (
            value == "*"
            or value in EVENT_TYPES
            or (value.endswith(".*") and value.count(".") == 1 and value[:-2] in families)
        )
        if not known:
            raise InvalidField(
                f"enabled_events: {value[:100]!r} is no event type; use one of docs/webhooks.md, a family such as "
                '"invoice.*", or "*"',
                reason="EVENT_TYPE_UNKNOWN",
                field="enabled_events",
            )
        if value not in kept:
            kept.append(value)
    return tuple(kept)


def matches(filters: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint with these filters receives an event of this type."""
    if event_type == "webhook.test":
        return True
    if not filters:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return any(f in ("*", event_type, family) for f in filters)


def check_api_version(value: str) -> str:
    """A known payload version; empty means the latest."""
    if not value:
        return LATEST_API_VERSION
    if value not in API_VERSIONS:
        raise _invalid("api_version", f"must be one of {', '.join(API_VERSIONS)}", "API_VERSION_UNKNOWN")
    return value


def new_secret() -> str:
    """A new signing secret: `whsec_` and the base64 of 32 random bytes (the Standard Webhooks format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_overlap(overlap: dt.timedelta | None) -> dt.timedelta:
    """How long a rotated-out secret keeps signing: 24 h by default, 0 .. 7 days."""
    if overlap is None:
        return DEFAULT_OVERLAP
    if not dt.timedelta(0) <= overlap <= MAX_OVERLAP:
        raise _invalid("overlap", "must be between 0 and 7 days", "OVERLAP_OUT_OF_RANGE")
    return overlap


def render_body(*, event_id: str, event_type: str, created: dt.datetime, api_version: str, data: dict[str, Any]) -> str:
    """The JSON body of a delivery: `id`, `type`, `created` (RFC 3339, UTC), `api_version`, `data`."""
    created_text = created.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope = {"id": event_id, "type": event_type, "created": created_text, "api_version": api_version, "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def sign_v1(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """One `v1,<base64 HMAC-SHA256>` signature of `id.timestamp.body` with a `whsec_` secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def new_signing_key() -> tuple[str, str]:
    """A new ed25519 key pair as (`whsk_` + base64 of the 32-byte private key, `whpk_` + base64 of the public key)."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    seed = private.private_bytes_raw()
    return SIGNING_KEY_PREFIX + base64.b64encode(seed).decode(), PUBLIC_KEY_PREFIX + base64.b64encode(public).decode()


def sign_v1a(signing_key: str, webhook_id: str, timestamp: int, body: str) -> str:
    """One `v1a,<base64 ed25519 signature>` of `id.timestamp.body` with a `whsk_` private key."""
    seed = base64.b64decode(signing_key.removeprefix(SIGNING_KEY_PREFIX))
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(f"{webhook_id}.{timestamp}.{body}".encode())
    return "v1a," + base64.b64encode(signature).decode()


def signature_header(
    secrets_in_use: Sequence[str], webhook_id: str, timestamp: int, body: str, signing_keys: Sequence[str] = ()
) -> str:
    """The `webhook-signature` header, space-separated signatures.

    One `v1` per HMAC secret and one `v1a` per ed25519 key in use (two of each during a rotation).
    """
    parts = [sign_v1(s, webhook_id, timestamp, body) for s in secrets_in_use]
    parts += [sign_v1a(k, webhook_id, timestamp, body) for k in signing_keys]
    return " ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What one attempt's result means for its delivery."""

    status: str
    """SUCCEEDED, RETRYING or FAILED."""
    next_attempt_time: dt.datetime | None
    disable_endpoint: str = ""
    """A reason (`GONE_410`) when the endpoint must be disabled, else empty."""


def next_delay(attempts_made: int, jitter: float) -> dt.timedelta:
    """The delay after the `attempts_made`-th failed attempt, stretched by `jitter` (0 .. JITTER)."""
    index = attempts_made - 1
    base = RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else LATER_RETRY_DELAY
    return base * (1 + jitter)


def outcome(
    *,
    response_status: int,
    attempts_made: int,
    now: dt.datetime,
    event_time: dt.datetime,
    retry_after: dt.timedelta | None,
    random: Callable[[], float],
) -> Outcome:
    """Success on 2xx; 410 fails the delivery and disables the endpoint; anything else retries on the schedule.

    A retry is never earlier than the receiver's `Retry-After` (capped at 24 h), and none is scheduled past 72 h
    after the event: then the delivery has exhausted its retries and fails.
    """
    if 200 <= response_status < 300:
        return Outcome("SUCCEEDED", None)
    if response_status == 410:
        return Outcome("FAILED", None, disable_endpoint="GONE_410")
    delay = next_delay(attempts_made, random() * JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    due = now + delay
    if due > event_time + RETRY_HORIZON:
        return Outcome("FAILED", None)
    return Outcome("RETRYING", due)


_DELTA_SECONDS = re.compile(r"^\s*(\d{1,10})\s*$")


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """A `Retry-After` header (delta seconds or an HTTP date) as a delay from now; None if absent or unreadable."""
    if not value:
        return None
    if match := _DELTA_SECONDS.match(value):
        return dt.timedelta(seconds=int(match.group(1)))
    from email.utils import parsedate_to_datetime  # noqa: PLC0415

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - now, dt.timedelta(0))


@dataclass(frozen=True)
class Endpoint:
    """A stored webhook endpoint; its secrets stay sealed here."""

    id: str
    merchant_id: str
    url: str
    description: str
    enabled_events: tuple[str, ...]
    api_version: str
    disabled: bool
    disabled_reason: str
    secret_sealed: bytes
    previous_secret_sealed: bytes | None
    previous_secret_expire_time: dt.datetime | None
    failing_since: dt.datetime | None
    create_time: dt.datetime
    update_time: dt.datetime
    signing_algorithms: tuple[str, ...] = (HMAC_SHA256,)
    """`v1` (HMAC with the secret) and/or `v1a` (ed25519 with the signing key)."""
    signing_key_sealed: bytes | None = None
    signing_public_key: str = ""
    previous_signing_key_sealed: bytes | None = None


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a delivery."""

    attempt_number: int
    attempt_time: dt.datetime
    response_status: int
    duration_ms: int
    error: str
    response_excerpt: str


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint, with its attempts (loaded for the delivery log)."""

    id: str
    endpoint_id: str
    merchant_id: str
    event_id: str
    event_type: str
    body: str
    event_time: dt.datetime
    status: str
    attempt_count: int
    next_attempt_time: dt.datetime | None
    last_attempt_time: dt.datetime | None
    last_response_status: int
    last_error: str
    test: bool
    redelivery_of: str | None
    create_time: dt.datetime
    attempts: tuple[Attempt, ...] = ()
