"""The ways an admin's OpenID Connect sign-in fails: one exception tree, a stable `reason` code on each.

Messages are safe to show the user and to log: none carries a token, a code, a verifier or a secret.
"""

from __future__ import annotations

from typing import ClassVar


class OidcError(Exception):
    """A sign-in that failed; `reason` is a stable UPPER_SNAKE code, the message is safe to show and log."""

    reason: ClassVar[str] = "OIDC_FAILED"


class ProviderUnreachable(OidcError):
    """The provider did not answer (connection refused, timeout, 5xx)."""

    reason = "PROVIDER_UNREACHABLE"


class ProviderMisconfigured(OidcError):
    """The provider answered with something unusable: bad discovery document, issuer mismatch, bad JSON."""

    reason = "PROVIDER_MISCONFIGURED"


class StateMismatch(OidcError):
    """The callback's `state` names no login this session started (forged, tampered, replayed or lost)."""

    reason = "STATE_MISMATCH"


class LoginExpired(OidcError):
    """The login this callback finishes was started too long ago."""

    reason = "LOGIN_EXPIRED"


class AuthorizationDenied(OidcError):
    """The provider sent the browser back with an error instead of a code (user cancelled, access denied)."""

    reason = "AUTHORIZATION_DENIED"

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


class CodeExchangeFailed(OidcError):
    """The token endpoint refused the code (invalid, replayed, expired, or the PKCE verifier did not match)."""

    reason = "CODE_EXCHANGE_FAILED"

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


class IdTokenInvalid(OidcError):
    """The ID token failed a check; subclasses say which."""

    reason = "ID_TOKEN_INVALID"


class MalformedToken(IdTokenInvalid):
    """Not a signed JWT with the required claims."""

    reason = "MALFORMED_TOKEN"


class UnsupportedAlgorithm(IdTokenInvalid):
    """Signed with an algorithm not in `id_token_algorithms` (`none` and HMAC are never accepted)."""

    reason = "UNSUPPORTED_ALGORITHM"


class UnknownSigningKey(IdTokenInvalid):
    """Signed with a key the provider's JWK Set does not hold, even after refetching it."""

    reason = "UNKNOWN_KEY"


class InvalidSignature(IdTokenInvalid):
    """The signature does not verify with the provider's key."""

    reason = "INVALID_SIGNATURE"


class WrongIssuer(IdTokenInvalid):
    """Issued by (or the callback names) another issuer than the configured one."""

    reason = "WRONG_ISSUER"


class WrongAudience(IdTokenInvalid):
    """Not issued for this client (`aud` lacks the client id, names untrusted audiences, or `azp` differs)."""

    reason = "WRONG_AUDIENCE"


class TokenExpired(IdTokenInvalid):
    """Its `exp` has passed (beyond the leeway)."""

    reason = "TOKEN_EXPIRED"


class TokenNotYetValid(IdTokenInvalid):
    """Its `iat` or `nbf` lies in the future (beyond the leeway)."""

    reason = "TOKEN_NOT_YET_VALID"


class NonceMismatch(IdTokenInvalid):
    """Its `nonce` is not the one this login sent (a token from another login, replayed or injected)."""

    reason = "NONCE_MISMATCH"


class TokenBindingMismatch(IdTokenInvalid):
    """Its `at_hash` does not match the access token, or the userinfo `sub` is another user's."""

    reason = "TOKEN_BINDING_MISMATCH"


class StaleAuthentication(IdTokenInvalid):
    """A sign-in that asked for a fresh login (`max_age`) got an older one, or no `auth_time` to tell."""

    reason = "STALE_AUTHENTICATION"


class NotAnAdmin(OidcError):
    """The user signed in, but the role claim grants no dashboard admin role."""

    reason = "NOT_AN_ADMIN"
