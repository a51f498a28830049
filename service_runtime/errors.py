"""The domain error tree every service builds on.

Domain code raises these (no grpc import needed); the runtime's interceptor turns each into a
`google.rpc.Status` carrying exactly one `google.rpc.ErrorInfo` (reason in UPPER_SNAKE, domain "stablegate",
lowerCamel metadata keys holding every dynamic value).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import ClassVar

ERROR_DOMAIN = "stablegate"
_REASON = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
_META_KEY = re.compile(r"^[a-z][a-zA-Z0-9]*$")


class ErrorKind(enum.Enum):
    """What kind of failure, independent of transport (the interceptor maps it to a gRPC code)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    ABORTED = "ABORTED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class DomainError(Exception):
    """A failure with a stable machine-readable reason; subclasses fix the kind."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL

    def __init__(self, message: str, *, reason: str, metadata: Mapping[str, str] | None = None) -> None:
        if not _REASON.match(reason):
            raise ValueError(f"error reason must be UPPER_SNAKE, got {reason!r}")
        meta = dict(metadata or {})
        bad = [k for k in meta if not _META_KEY.match(k)]
        if bad:
            raise ValueError(f"error metadata keys must be lowerCamel, got {bad}")
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = meta


class InvalidArgument(DomainError):
    """The request is malformed or a field is out of range; nothing was changed."""

    kind = ErrorKind.INVALID_ARGUMENT


class NotFound(DomainError):
    """The resource does not exist (or is not visible to the caller)."""

    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    """The resource exists, or the request id was used with other content."""

    kind = ErrorKind.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """The resource is not in a state that allows the operation."""

    kind = ErrorKind.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    kind = ErrorKind.PERMISSION_DENIED


class Unauthenticated(DomainError):
    """The caller's credentials are missing or invalid."""

    kind = ErrorKind.UNAUTHENTICATED


class ResourceExhausted(DomainError):
    """A limit or quota was hit."""

    kind = ErrorKind.RESOURCE_EXHAUSTED


class Aborted(DomainError):
    """A concurrency conflict (deadlock, serialization); retrying the same request may succeed."""

    kind = ErrorKind.ABORTED


class Unimplemented(DomainError):
    """The operation is part of the API but not built yet."""

    kind = ErrorKind.UNIMPLEMENTED


class Internal(DomainError):
    """A bug or an unexpected failure; the client sees only a fixed message and the request id."""

    kind = ErrorKind.INTERNAL


class Unavailable(DomainError):
    """A dependency is down; retrying later may succeed."""

    kind = ErrorKind.UNAVAILABLE
