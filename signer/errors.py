"""The signer's exception tree (the runtime turns each into a gRPC status with one ErrorInfo)."""

from __future__ import annotations

from service_runtime.errors import FailedPrecondition, Internal, InvalidArgument, NotFound, Unavailable


class KeyStoreError(Unavailable):
    """The HSM could not be reached or refused an operation (no secret is ever in the message)."""


class KeyNotFound(NotFound):
    """No key with this id in the HSM."""


class SignatureFailed(Internal):
    """The HSM returned a signature that does not verify; the signer fails closed."""


class BadRequest(InvalidArgument):
    """A malformed intent or fee; nothing was signed."""


class PolicyError(FailedPrecondition):
    """The policy file is missing or invalid; the signer refuses to start."""
