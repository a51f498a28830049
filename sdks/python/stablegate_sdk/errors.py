"""Typed errors: every failed call raises an `ApiError` subclass carrying the API's stable `reason` code.

The API answers errors as a `google.rpc.Status` in JSON (docs/api.md, "Errors"): `code` (the gRPC code),
`message` (for humans) and `details[0]`, an `ErrorInfo` whose `reason` (UPPER_SNAKE) is what code should branch
on, with `metadata` (`field` names the request field at fault).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FailedPreconditionError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "StablegateError",
    "TimeoutError",
    "WebhookVerificationError",
]

FAILED_PRECONDITION = 9
"""The gRPC code Envoy's transcoder maps to HTTP 400 when a resource is in the wrong state."""
PLAIN_TEXT_REASONS = {408: "REQUEST_TIMEOUT", 504: "UPSTREAM_TIMEOUT", 503: "UNAVAILABLE", 429: "RATE_LIMITED"}
"""Reasons for the few answers Envoy sends as plain text, without an ErrorInfo (docs/api.md, "Limits")."""
RETRYABLE_STATUSES = frozenset({429, 503, 504})
"""Statuses a retry may change (docs/api.md: "Retry 429, 503 and 504")."""


class StablegateError(Exception):
    """The root of every error this SDK raises."""


class ApiConnectionError(StablegateError):
    """The request did not get an answer: the connection failed, was reset, or timed out."""


class WebhookVerificationError(StablegateError):
    """A webhook failed verification; `reason` says why (`SIGNATURE_INVALID`, `TIMESTAMP_TOO_OLD`, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """Why it failed, UPPER_SNAKE."""


class ApiError(StablegateError):
    """The API answered with an error status."""

    def __init__(  # noqa: PLR0917 - made by error_from_response, not by users
        self,
        status: int,
        code: int | None,
        reason: str,
        message: str,
        metadata: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        """The HTTP status."""
        self.code = code
        """The gRPC status code from the body (`3` INVALID_ARGUMENT, ...), None for a plain-text answer."""
        self.reason = reason
        """The stable UPPER_SNAKE reason (`AMOUNT_INVALID`, `INVOICE_NOT_FOUND`, ...): branch on this."""
        self.message = message
        """The human-readable message; do not parse it."""
        self.metadata = dict(metadata)
        """The ErrorInfo's metadata: `field` names the request field at fault; other keys carry values."""
        self.headers = dict(headers)
        """The response headers (lower-case names)."""
        self.body = body
        """The raw response body."""

    @property
    def field(self) -> str | None:
        """The request field at fault, when the API named one."""
        return self.metadata.get("field")

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (429, 503, 504)."""
        return self.status in RETRYABLE_STATUSES

    @property
    def retry_after(self) -> float | None:
        """Seconds the API asked to wait (`Retry-After`), when it said."""
        value = self.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


class BadRequestError(ApiError):
    """400: a bad field or request (`AMOUNT_INVALID`, `PAGE_TOKEN_INVALID`, `INVALID_REQUEST`, ...)."""


class FailedPreconditionError(BadRequestError):
    """400 with gRPC code 9: the resource is not in a state that allows the call (`INVOICE_NOT_CANCELABLE`)."""


class AuthenticationError(ApiError):
    """401: no usable API key (`API_KEY_MISSING`, `API_KEY_INVALID`, `API_KEY_REVOKED`, ...)."""


class PermissionDeniedError(ApiError):
    """403: the key may not make this call (`SCOPE_MISSING`, `MERCHANT_SUSPENDED`, ...)."""


class NotFoundError(ApiError):
    """404: no such resource for this merchant (`INVOICE_NOT_FOUND`, ...)."""


class ConflictError(ApiError):
    """409: `REQUEST_ID_REUSED` (an Idempotency-Key used with another body) or `ORDER_ID_EXISTS`."""


class RateLimitError(ApiError):
    """429: over a rate limit (`RATE_LIMITED`); `retry_after` says how long to wait."""


class ServiceUnavailableError(ApiError):
    """503: a service is down or keys cannot be verified right now (`UNAVAILABLE`, `AUTH_UNAVAILABLE`)."""


class TimeoutError(ApiError):
    """408 or 504: the edge timed out receiving the request or waiting for the service."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: TimeoutError,
    409: ConflictError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    504: TimeoutError,
}


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The typed error for an error answer.

    Its reason comes from the body's ErrorInfo, or from the status when the body is not the JSON error shape
    (Envoy's own plain-text timeouts).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    code: int | None = None
    reason = PLAIN_TEXT_REASONS.get(status, f"HTTP_{status}")
    message = body.decode("utf-8", "replace").strip()[:500]
    metadata: dict[str, str] = {}
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code = parsed.get("code") if isinstance(parsed.get("code"), int) else None
        message = str(parsed.get("message", message))
        for detail in parsed.get("details") or []:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                reason = str(detail.get("reason") or reason)
                raw = detail.get("metadata") or {}
                metadata = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
                break
    cls = _BY_STATUS.get(status, ApiError)
    if status == 400 and code == FAILED_PRECONDITION:
        cls = FailedPreconditionError
    return cls(status, code, reason, message, metadata, lowered, body)
