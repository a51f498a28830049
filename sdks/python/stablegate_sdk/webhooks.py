"""Verify webhooks the gateway signs, per Standard Webhooks.

`v1` (HMAC-SHA256 with the endpoint's `whsec_` secret) and `v1a` (ed25519 with its `whpk_` public key), with replay
protection by timestamp tolerance.

Each delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
list of `version,base64-signature` over `<webhook-id>.<webhook-timestamp>.<raw body>` (docs/webhooks.md,
"Deliveries"). Verify the raw body exactly as received, before parsing it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE_SECONDS", "WebhookEvent", "WebhookVerifier", "verify_webhook"]

DEFAULT_TOLERANCE_SECONDS = 300
"""How far `webhook-timestamp` may be from the receiver's clock, either way (the specification's 5 minutes)."""
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
PUBLIC_KEY_PREFIX = "whpk_"


@dataclass(frozen=True)
class WebhookEvent:
    """A verified event: the envelope's fields and the raw JSON."""

    id: str
    """`evt_...`, also the `webhook-id` header: deduplicate on it (delivery is at least once)."""
    type: str
    """The event type, e.g. `invoice.paid`."""
    api_version: str
    """The payload version: the endpoint's pinned `api_version`."""
    created: str
    """When the event was committed (RFC 3339)."""
    data: dict[str, Any]
    """The event's data, as documented for its type and `api_version`."""
    raw: dict[str, Any]
    """The whole parsed body."""


def _decode_key(value: str, prefix: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not {prefix} followed by base64") from exc


class WebhookVerifier:
    """Verifies deliveries for one endpoint.

    Give it the endpoint's secret(s) for `v1`, public key(s) for `v1a` (during a rotation, give both the old and the
    new), or both; a delivery passes when any signature it carries verifies with any of them and its timestamp is within
    `tolerance_seconds` of `clock()`.
    """

    def __init__(
        self,
        secrets: str | Sequence[str] = (),
        public_keys: str | Sequence[str] = (),
        *,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
        key_list = [public_keys] if isinstance(public_keys, str) else list(public_keys)
        if not secret_list and not key_list:
            raise ValueError("give at least one endpoint secret (whsec_...) or public key (whpk_...)")
        if tolerance_seconds <= 0:
            raise ValueError("tolerance_seconds must be positive")
        self._secrets = [_decode_key(s, SECRET_PREFIX, "a webhook secret") for s in secret_list]
        self._public_keys = [_decode_key(k, PUBLIC_KEY_PREFIX, "a webhook public key") for k in key_list]
        if self._public_keys:
            self._ed25519 = _ed25519_verify()
        self._tolerance = tolerance_seconds
        self._clock = clock

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> WebhookEvent:
        """The event, if the delivery is genuine and fresh.

        Otherwise `WebhookVerificationError` with a `reason`: `HEADERS_MISSING`, `TIMESTAMP_INVALID`,
        `TIMESTAMP_TOO_OLD`, `TIMESTAMP_TOO_NEW`, `SIGNATURE_INVALID` or `PAYLOAD_INVALID`.
        """
        raw = body.encode() if isinstance(body, str) else bytes(body)
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not msg_id or not stamp or not signatures:
            raise WebhookVerificationError(
                "HEADERS_MISSING", "webhook-id, webhook-timestamp and webhook-signature are all required"
            )
        try:
            sent = int(stamp)
        except ValueError as exc:
            raise WebhookVerificationError("TIMESTAMP_INVALID", "webhook-timestamp is not Unix seconds") from exc
        now = self._clock()
        if sent < now - self._tolerance:
            raise WebhookVerificationError(
                "TIMESTAMP_TOO_OLD", "webhook-timestamp is too old: a replay, or a slow clock"
            )
        if sent > now + self._tolerance:
            raise WebhookVerificationError("TIMESTAMP_TOO_NEW", "webhook-timestamp is in the future: check the clock")
        signed = f"{msg_id}.{stamp}.".encode() + raw
        if not self._any_signature_valid(signed, signatures):
            raise WebhookVerificationError("SIGNATURE_INVALID", "no signature verified with the given keys")
        try:
            parsed = json.loads(raw)
            return WebhookEvent(
                id=str(parsed["id"]),
                type=str(parsed["type"]),
                api_version=str(parsed.get("api_version", "")),
                created=str(parsed.get("created", "")),
                data=dict(parsed.get("data") or {}),
                raw=parsed,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookVerificationError("PAYLOAD_INVALID", "the signed body is not an event envelope") from exc

    def _any_signature_valid(self, signed: bytes, header: str) -> bool:
        expected_v1 = [hmac.new(secret, signed, hashlib.sha256).digest() for secret in self._secrets]
        for part in header.split():
            version, _, encoded = part.partition(",")
            try:
                signature = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if version == "v1" and any(hmac.compare_digest(signature, mac) for mac in expected_v1):
                return True
            if version == "v1a" and any(self._ed25519(key, signature, signed) for key in self._public_keys):
                return True
        return False


def _ed25519_verify() -> Callable[[bytes, bytes, bytes], bool]:
    """An ed25519 check from `cryptography` (the SDK's `ed25519` extra), imported only when `v1a` is used."""
    try:
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("v1a (ed25519) verification needs `pip install 'stablegate-sdk[ed25519]'`") from exc

    def check(key: bytes, signature: bytes, signed: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, signed)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: str | Sequence[str] = (),
    public_key: str | Sequence[str] = (),
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> WebhookEvent:
    """Verify one delivery in one call (see `WebhookVerifier`)."""
    verifier = WebhookVerifier(secret, public_key, tolerance_seconds=tolerance_seconds)
    return verifier.verify(body, headers)
