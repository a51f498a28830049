"""The ledger's exception tree, built on the shared `service_runtime.errors` kinds.

The base kinds are re-exported so ledger code imports its errors from one place. The leaves below exist for
bad request fields: each carries the request field's name in its metadata (`field`), so the API can tell the
caller which field to fix.
"""

from __future__ import annotations

from collections.abc import Mapping

from service_runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

__all__ = [
    "AlreadyExists",
    "DomainError",
    "FailedPrecondition",
    "InvalidAddress",
    "InvalidAmount",
    "InvalidArgument",
    "InvalidField",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]


class InvalidField(InvalidArgument):
    """One request field is malformed or out of range; `field` names it, in metadata too."""

    def __init__(self, message: str, *, reason: str, field: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, reason=reason, metadata={**(metadata or {}), "field": field})
        self.field = field


class InvalidAmount(InvalidField):
    """An amount is not a positive, exact, in-range decimal (reasons `AMOUNT_*`)."""


class InvalidAddress(InvalidField):
    """An address is malformed, fails its EIP-55 checksum, or is the zero address (reasons `ADDRESS_*`)."""
