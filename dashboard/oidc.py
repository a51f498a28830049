"""OpenID Connect sign-in for the dashboard's admins: authorization code flow with PKCE, against any provider.

`OidcClient` speaks plain OIDC over aiohttp: discovery, the provider's JWK Set (cached, refetched when a token
names a key it has not seen, so key rotation needs no restart), the authorization URL, the code exchange and
the ID token's checks. `OidcLogin` is what the dashboard's routes call: `start(session)` returns the URL to
redirect the browser to and keeps state, nonce and PKCE verifier in the session (server-side, never in the
URL); `finish(session, query)` checks the callback and returns the `AdminIdentity`, its roles mapped from a
configurable claim. Every refusal is a specific `OidcError` subclass with a `reason` code; no message, log
line or error carries a token, a code, a verifier or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, TypeGuard

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from dashboard import jws
from dashboard.oidc_errors import (
    AuthorizationDenied,
    CodeExchangeFailed,
    IdTokenInvalid,
    InvalidSignature,
    LoginExpired,
    MalformedToken,
    NonceMismatch,
    NotAnAdmin,
    OidcError,
    ProviderMisconfigured,
    ProviderUnreachable,
    StaleAuthentication,
    StateMismatch,
    TokenBindingMismatch,
    TokenExpired,
    TokenNotYetValid,
    UnknownSigningKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
)
from dashboard.oidc_settings import AdminRole, ClientAuthMethod, OidcSettings, check_url, load_client_key

__all__ = [
    "AdminIdentity",
    "AdminRole",
    "AuthorizationDenied",
    "ClientAuthMethod",
    "CodeExchangeFailed",
    "IdTokenInvalid",
    "InvalidSignature",
    "LoginExpired",
    "MalformedToken",
    "NonceMismatch",
    "NotAnAdmin",
    "OidcClient",
    "OidcError",
    "OidcLogin",
    "OidcSettings",
    "ProviderMetadata",
    "ProviderMisconfigured",
    "ProviderUnreachable",
    "StaleAuthentication",
    "StateMismatch",
    "TokenBindingMismatch",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenResponse",
    "UnknownSigningKey",
    "UnsupportedAlgorithm",
    "WrongAudience",
    "WrongIssuer",
    "claim_value",
    "pkce_challenge",
    "roles_from_claims",
]

log = logging.getLogger("stablegate.dashboard.oidc")


# --- identity ---------------------------------------------------------------------------------------------

_ROLE_RANK = {AdminRole.ADMIN_READONLY: 1, AdminRole.APPROVER: 2, AdminRole.ADMIN: 3}


@dataclass(frozen=True)
class AdminIdentity:
    """An admin who signed in through the provider: who they are and what the role claim grants them."""

    issuer: str
    subject: str
    roles: frozenset[AdminRole]
    email: str | None = None
    name: str | None = None
    auth_time: int | None = None
    """When the user last authenticated at the provider (epoch seconds), if the provider said."""

    @property
    def role(self) -> AdminRole:
        """The strongest of the granted roles."""
        return max(self.roles, key=_ROLE_RANK.__getitem__)

    @property
    def may_change(self) -> bool:
        """True when the admin may take actions that change state (role `admin`)."""
        return AdminRole.ADMIN in self.roles


# --- provider metadata ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the provider's discovery document the flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    iss_parameter_supported: bool

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], expected_issuer: str) -> ProviderMetadata:
        """Check a discovery document against the configured issuer; ProviderMisconfigured when unusable."""
        if doc.get("issuer") != expected_issuer:
            raise ProviderMisconfigured("the provider's discovery document names another issuer than configured")
        urls: dict[str, str | None] = {}
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        ):
            value = doc.get(name)
            if value is None and name in ("userinfo_endpoint", "end_session_endpoint"):
                urls[name] = None
                continue
            if not isinstance(value, str):
                raise ProviderMisconfigured(f"the provider's discovery document has no {name}")
            try:
                urls[name] = check_url(value, name)
            except ValueError as exc:
                raise ProviderMisconfigured(f"the provider's {exc}") from None
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise ProviderMisconfigured("the provider does not support PKCE with S256")
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=str(urls["authorization_endpoint"]),
            token_endpoint=str(urls["token_endpoint"]),
            jwks_uri=str(urls["jwks_uri"]),
            userinfo_endpoint=urls["userinfo_endpoint"],
            end_session_endpoint=urls["end_session_endpoint"],
            iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        )


@dataclass(frozen=True)
class TokenResponse:
    """What the token endpoint returned (kept out of logs and reprs: it holds bearer credentials)."""

    id_token: str
    access_token: str
    expires_in: int | None

    def __repr__(self) -> str:
        return "TokenResponse(<redacted>)"


_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _error_code(value: object) -> str:
    """A provider's OAuth error code if it looks like one (it is echoed into our messages), else `unknown`."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else "unknown"


_FLOW_PARAMETERS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}
)

MAX_RESPONSE_BYTES = 1 << 20
"""Largest provider response read (discovery, JWK Set, tokens, userinfo)."""


# --- the client -------------------------------------------------------------------------------------------


class OidcClient:
    """An OpenID Connect relying party for one provider and client; one per dashboard process."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        http: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._allowed_algs = frozenset(settings.id_token_algorithms)
        self._client_key = (
            load_client_key(settings.private_key_file)
            if settings.client_auth_method == "private_key_jwt" and settings.private_key_file is not None
            else None
        )
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: list[jws.Jwk] = []
        self._keys_at: float | None = None
        self._metadata_lock = asyncio.Lock()
        self._keys_lock = asyncio.Lock()

    async def __aenter__(self) -> OidcClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout_seconds))
        return self._http

    # -- HTTP --

    async def _request(
        self, method: str, url: str, what: str, *, data: Mapping[str, str] | None = None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None) of one call; ProviderUnreachable on network failure or 5xx."""
        try:
            async with self._session().request(
                method,
                url,
                data=data,
                headers={"Accept": "application/json", **headers},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout_seconds),
            ) as resp:
                body = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("oidc: %s unreachable: %s", what, type(exc).__name__)
            raise ProviderUnreachable(f"the identity provider's {what} could not be reached") from None
        if status >= 500:
            log.warning("oidc: %s answered HTTP %d", what, status)
            raise ProviderUnreachable(f"the identity provider's {what} answered HTTP {status}")
        if len(body) > MAX_RESPONSE_BYTES:
            raise ProviderMisconfigured(f"the identity provider's {what} answered more than {MAX_RESPONSE_BYTES} bytes")
        try:  # whatever the content type says: some providers serve JSON as text/plain
            return status, json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return status, None

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        status, doc = await self._request("GET", url, what, headers={})
        if status != 200 or not isinstance(doc, dict):
            raise ProviderMisconfigured(f"the identity provider's {what} answered HTTP {status} without a JSON object")
        return doc

    # -- discovery and keys --

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (cached for `metadata_cache_seconds`)."""
        now = self._clock()
        if self._metadata is not None and now - self._metadata_at < self.settings.metadata_cache_seconds:
            return self._metadata
        async with self._metadata_lock:
            if self._metadata is None or now - self._metadata_at >= self.settings.metadata_cache_seconds:
                url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                doc = await self._get_json(url, "discovery document")
                self._metadata = ProviderMetadata.from_document(doc, self.settings.issuer)
                self._metadata_at = now
            return self._metadata

    async def _fetch_keys(self) -> None:
        meta = await self.metadata()
        doc = await self._get_json(meta.jwks_uri, "JWK Set")
        raw = doc.get("keys")
        if not isinstance(raw, list):
            raise ProviderMisconfigured("the identity provider's JWK Set has no keys list")
        keys = []
        for item in raw:
            if not isinstance(item, dict):
                continue
            try:
                keys.append(jws.parse_jwk(item))
            except jws.UnusableKey as exc:  # encryption keys, unsupported curves: skipped, not fatal
                log.debug("oidc: JWK %r skipped: %s", item.get("kid"), exc)
        self._keys = keys
        self._keys_at = self._clock()

    async def _candidate_keys(self, kid: str | None, alg: str) -> list[jws.Jwk]:
        """Keys that may have signed a token (kid, alg); refetches the JWK Set once when none is known."""

        def matching() -> list[jws.Jwk]:
            return [k for k in self._keys if k.fits(alg) and (kid is None or k.kid == kid)]

        now = self._clock()
        if self._keys_at is None or now - self._keys_at >= self.settings.metadata_cache_seconds:
            async with self._keys_lock:
                await self._fetch_keys()
        found = matching()
        if found:
            return found
        assert self._keys_at is not None
        async with self._keys_lock:
            # The provider may have rotated its keys since the last fetch (unless a concurrent call just did).
            found = matching()
            if not found and self._clock() - self._keys_at >= self.settings.jwks_refetch_min_seconds:
                log.info("oidc: ID token names an unknown key; refetching the JWK Set")
                await self._fetch_keys()
                found = matching()
        if not found:
            raise UnknownSigningKey("the ID token is signed with a key the provider does not publish")
        return found

    # -- the flow --

    async def authorization_url(self, state: str, nonce: str, code_verifier: str, /, **extra: str) -> str:
        """The provider's authorization URL for a code flow with PKCE S256 (extra: prompt, login_hint, ...)."""
        reserved = set(extra) & _FLOW_PARAMETERS
        if reserved:
            raise ValueError(f"{sorted(reserved)} are set by the flow itself and cannot be overridden")
        meta = await self.metadata()
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(code_verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        sep = "&" if urllib.parse.urlsplit(meta.authorization_endpoint).query else "?"
        return meta.authorization_endpoint + sep + urllib.parse.urlencode(params)

    def _client_auth(self, meta: ProviderMetadata) -> tuple[dict[str, str], dict[str, str]]:
        """(form fields, headers) authenticating this client at the token endpoint."""
        cid = self.settings.client_id
        method = self.settings.client_auth_method
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts form-urlencoded before base64 (strict providers insist).
            pair = f"{urllib.parse.quote_plus(cid)}:{urllib.parse.quote_plus(self.settings.secret())}"
            return {}, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}
        if method == "client_secret_post":
            return {"client_id": cid, "client_secret": self.settings.secret()}, {}
        if method == "private_key_jwt":
            assert self._client_key is not None
            now = int(self._clock())
            aud = meta.issuer if self.settings.client_assertion_audience == "issuer" else meta.token_endpoint
            claims = {"iss": cid, "sub": cid, "aud": aud, "jti": secrets.token_urlsafe(24), "iat": now, "exp": now + 60}
            alg = "RS256" if isinstance(self._client_key, rsa.RSAPrivateKey) else "ES256"
            assertion = jws.sign_compact(claims, self._client_key, alg, kid=self.settings.private_key_id)
            return {
                "client_id": cid,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }, {}
        return {"client_id": cid}, {}

    async def exchange_code(self, code: str, code_verifier: str) -> TokenResponse:
        """Trade an authorization code (and its PKCE verifier) for tokens; CodeExchangeFailed when refused."""
        meta = await self.metadata()
        fields, headers = self._client_auth(meta)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "code_verifier": code_verifier,
            **fields,
        }
        status, body = await self._request("POST", meta.token_endpoint, "token endpoint", data=form, headers=headers)
        if status != 200 or not isinstance(body, dict):
            error = _error_code(body.get("error") if isinstance(body, dict) else None)
            log.warning("oidc: token endpoint refused the code: HTTP %d %s", status, error)
            raise CodeExchangeFailed(f"the identity provider refused the authorization code ({error})", error)
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise ProviderMisconfigured("the token endpoint's answer lacks an id_token or access_token")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise ProviderMisconfigured("the token endpoint issued a token type other than Bearer")
        expires_in = body.get("expires_in")
        return TokenResponse(id_token, access_token, expires_in if isinstance(expires_in, int) else None)

    async def validate_id_token(self, token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud/azp, exp/iat/nbf, nonce (and at_hash) check out."""
        try:
            parsed = jws.parse_compact(token)
        except jws.MalformedJws as exc:
            raise MalformedToken(f"the ID token is malformed: {exc}") from None
        alg = parsed.alg
        if alg not in self._allowed_algs:
            raise UnsupportedAlgorithm(f"the ID token is signed with {alg[:20]!r}, which is not accepted")
        keys = await self._candidate_keys(parsed.kid, alg)
        for key in keys:
            try:
                jws.verify(parsed, key, self._allowed_algs)
                break
            except jws.JwsError:
                continue
        else:
            raise InvalidSignature("the ID token's signature does not verify")
        claims = parsed.payload
        self._check_claims(claims, nonce)
        at_hash = claims.get("at_hash")
        if access_token is not None and at_hash is not None:
            digest = hashes.Hash(jws.hash_for(alg))
            digest.update(access_token.encode("ascii"))
            full = digest.finalize()
            expected = jws.b64url_encode(full[: len(full) // 2])
            if not isinstance(at_hash, str) or not hmac.compare_digest(at_hash, expected):
                raise TokenBindingMismatch("the ID token's at_hash does not match the access token")
        return claims

    def _check_claims(self, claims: Mapping[str, Any], nonce: str) -> None:
        s = self.settings
        if claims.get("iss") != s.issuer:
            raise WrongIssuer("the ID token was issued by another issuer than configured")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if s.client_id not in audiences:
            raise WrongAudience("the ID token was not issued for this dashboard (aud)")
        if any(a != s.client_id and a not in s.trusted_audiences for a in audiences):
            raise WrongAudience("the ID token names audiences this dashboard does not trust (aud)")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != s.client_id:
            raise WrongAudience("the ID token's authorized party is not this dashboard (azp)")
        now = self._clock()
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
            raise MalformedToken("the ID token lacks numeric exp and iat claims")
        if now > exp + s.leeway_seconds:
            raise TokenExpired("the ID token has expired")
        not_before = max(iat, nbf if nbf is not None else 0.0)
        if not_before > now + s.leeway_seconds:
            raise TokenNotYetValid("the ID token is dated in the future")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise NonceMismatch("the ID token's nonce is not this sign-in's")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise MalformedToken("the ID token has no valid sub claim")

    async def logout_url(self, post_logout_redirect_uri: str | None = None) -> str | None:
        """The provider's RP-initiated logout URL (None when it has none): ends the admin's provider session too."""
        meta = await self.metadata()
        if meta.end_session_endpoint is None:
            return None
        params = {"client_id": self.settings.client_id}
        if post_logout_redirect_uri is not None:
            params["post_logout_redirect_uri"] = check_url(post_logout_redirect_uri, "post_logout_redirect_uri")
        sep = "&" if urllib.parse.urlsplit(meta.end_session_endpoint).query else "?"
        return meta.end_session_endpoint + sep + urllib.parse.urlencode(params)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo endpoint's claims for an access token (a JSON object)."""
        meta = await self.metadata()
        if meta.userinfo_endpoint is None:
            raise ProviderMisconfigured("the provider has no userinfo endpoint")
        status, body = await self._request(
            "GET", meta.userinfo_endpoint, "userinfo endpoint", headers={"Authorization": f"Bearer {access_token}"}
        )
        if status != 200 or not isinstance(body, dict):
            raise ProviderMisconfigured(f"the userinfo endpoint answered HTTP {status} without a JSON object")
        return body


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 4.2)."""
    return jws.b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


def claim_value(claims: Mapping[str, Any], name: str) -> object:
    """A claim by name; a dotted name that is not itself a claim is a path into nested objects."""
    if name in claims:
        return claims[name]
    node: object = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def roles_from_claims(
    claims: Mapping[str, Any], role_claim: str, mapping: Mapping[str, AdminRole]
) -> frozenset[AdminRole]:
    """The dashboard roles a claim grants: its value (a string or a list of strings) through the mapping."""
    value = claim_value(claims, role_claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(mapping[v] for v in values if isinstance(v, str) and v in mapping)


# --- what the dashboard's routes call ---------------------------------------------------------------------


class OidcLogin:
    """Admin sign-in for the dashboard's routes over any dict-like session store.

    `start` keeps each pending sign-in (state, nonce, PKCE verifier, start time) in the session under
    `SESSION_KEY`, keyed by state, at most `MAX_PENDING` of them (several tabs); `finish` removes the one the
    callback names before checking anything else, so a callback URL works once. The value is one JSON string,
    so a store that holds only strings (a Redis hash, a dataclass field) can keep it.
    """

    SESSION_KEY: ClassVar[str] = "oidc_pending"
    MAX_PENDING: ClassVar[int] = 5

    def __init__(self, client: OidcClient, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self._clock = clock

    @classmethod
    def pending(cls, session: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The session's pending sign-ins by state (empty when none, or when the stored value is not ours)."""
        stored = session.get(cls.SESSION_KEY)
        try:
            decoded = json.loads(stored) if isinstance(stored, str) and stored else {}
        except json.JSONDecodeError:
            return {}
        if not isinstance(decoded, dict):
            return {}
        return {k: v for k, v in decoded.items() if isinstance(k, str) and isinstance(v, dict)}

    @classmethod
    def _store(cls, session: MutableMapping[str, Any], pending: Mapping[str, Mapping[str, Any]]) -> None:
        # Reassigned, never mutated in place: stores that save on assignment see the change.
        session[cls.SESSION_KEY] = json.dumps(pending, separators=(",", ":"))

    async def start(self, session: MutableMapping[str, Any], **extra: str) -> str:
        """Begin a sign-in: remember it in the session and return the provider URL to redirect the browser to."""
        max_age = extra.get("max_age")
        if max_age is not None and not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 9):
            raise ValueError("max_age must be a whole number of seconds")
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        url = await self.client.authorization_url(state, nonce, verifier, **extra)
        pending = self.pending(session)
        now = self._clock()
        timeout = self.client.settings.login_timeout_seconds
        pending = {k: v for k, v in pending.items() if now - float(v.get("created", 0)) <= timeout}
        while len(pending) >= self.MAX_PENDING:
            pending.pop(min(pending, key=lambda k: float(pending[k].get("created", 0))))
        pending[state] = {"nonce": nonce, "verifier": verifier, "created": now}
        if max_age is not None:
            pending[state]["max_age"] = int(max_age)
        self._store(session, pending)
        return url

    async def finish(self, session: MutableMapping[str, Any], query: Mapping[str, str]) -> AdminIdentity:
        """Complete a sign-in from the callback's query parameters; returns the admin or raises an OidcError."""
        try:
            return await self._finish(session, query)
        except OidcError as exc:
            log.warning("oidc: admin sign-in refused: %s", exc.reason)
            raise

    async def _finish(self, session: MutableMapping[str, Any], query: Mapping[str, str]) -> AdminIdentity:
        settings = self.client.settings
        state = query.get("state", "")
        pending = self.pending(session)
        match = next((k for k in pending if hmac.compare_digest(k.encode(), state.encode())), None)
        if not state or match is None:
            raise StateMismatch("this sign-in callback does not belong to a sign-in started in this browser")
        login = pending.pop(match)
        self._store(session, pending)
        if self._clock() - float(login.get("created", 0)) > settings.login_timeout_seconds:
            raise LoginExpired("the sign-in took too long; start again")
        meta = await self.client.metadata()
        iss = query.get("iss")
        if (iss is not None or meta.iss_parameter_supported) and iss != settings.issuer:
            raise WrongIssuer("the sign-in response comes from another issuer than configured (iss)")
        if "error" in query:
            error = _error_code(query.get("error"))
            raise AuthorizationDenied(f"the identity provider did not sign you in ({error})", error)
        code = query.get("code")
        if not code or len(code) > 2048:
            raise AuthorizationDenied("the sign-in response carries no authorization code", "invalid_request")
        tokens = await self.client.exchange_code(code, str(login["verifier"]))
        claims = await self.client.validate_id_token(tokens.id_token, str(login["nonce"]), tokens.access_token)
        if claim_value(claims, settings.role_claim) is None and settings.use_userinfo:
            meta = await self.client.metadata()
            if meta.userinfo_endpoint is not None:
                info = await self.client.userinfo(tokens.access_token)
                if info.get("sub") != claims["sub"]:
                    raise TokenBindingMismatch("the userinfo endpoint answered for another user")
                claims = {**info, **claims}
        auth_time = claims.get("auth_time")
        auth_time = int(auth_time) if _is_number(auth_time) else None
        max_age = login.get("max_age")
        if isinstance(max_age, int) and (
            auth_time is None or self._clock() - auth_time > max_age + settings.leeway_seconds
        ):
            raise StaleAuthentication(f"the provider did not sign you in within the last {max_age} seconds")
        roles = roles_from_claims(claims, settings.role_claim, settings.role_mapping)
        if not roles:
            raise NotAnAdmin(
                f"this account has no dashboard admin role: its {settings.role_claim!r} claim grants none of "
                f"{sorted(set(settings.role_mapping.values()))}"
            )
        email, name = claims.get("email"), claims.get("name")
        identity = AdminIdentity(
            issuer=settings.issuer,
            subject=str(claims["sub"]),
            roles=roles,
            email=email if isinstance(email, str) else None,
            name=name if isinstance(name, str) else None,
            auth_time=auth_time,
        )
        log.info("oidc: admin signed in: sub=%s role=%s", identity.subject, identity.role)
        return identity
