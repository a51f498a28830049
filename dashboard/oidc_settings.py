"""The dashboard's OpenID Connect settings (nested as `oidc` in its settings) and the admin roles they map to."""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dashboard import jws


class AdminRole(enum.StrEnum):
    """What a signed-in admin may do on the dashboard."""

    ADMIN = "admin"
    """Every admin page and action."""
    ADMIN_READONLY = "admin-readonly"
    """Every admin page; no action that changes anything."""
    APPROVER = "approver"
    """Every admin page, and relaying their own approvals of held signing requests (docs/dashboard.md,
    "Approvals"); no other action. The approval's authority is still the approver's own wallet signature."""


ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
"""How the dashboard authenticates to the token endpoint."""

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """The URL if it is https (or http on a loopback host, for local development and tests); else ValueError."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{what} must be an absolute URL without credentials or fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return url
    raise ValueError(f"{what} must use https (plain http only on a loopback host)")


class OidcSettings(BaseModel):
    """How the dashboard signs admins in through an OpenID Connect provider.

    Nested as `oidc` in the dashboard's settings: each field is read from `STABLEGATE_DASHBOARD_OIDC__<FIELD>`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(
        description="The provider's issuer identifier, exactly as its discovery document states it "
        "(https://login.example.com/realms/ops); discovery is read from <issuer>/.well-known/openid-configuration."
    )
    client_id: str = Field(min_length=1, max_length=255, description="The dashboard's client id at the provider.")
    client_secret: SecretStr = Field(
        default=SecretStr(""), description="Client secret (client_secret_basic/post); prefer CLIENT_SECRET_FILE."
    )
    client_secret_file: Path | None = Field(
        default=None, description="File holding the client secret (read at each use, so it can be rotated in place)."
    )
    client_auth_method: ClientAuthMethod = Field(
        default="client_secret_basic",
        description="Token endpoint authentication: client_secret_basic, client_secret_post, private_key_jwt, none.",
    )
    private_key_file: Path | None = Field(
        default=None, description="PEM private key (RSA or EC P-256) signing the private_key_jwt client assertion."
    )
    private_key_id: str | None = Field(default=None, description="`kid` of that key as registered at the provider.")
    client_assertion_audience: Literal["issuer", "token_endpoint"] = Field(
        default="issuer",
        description="`aud` of the client assertion: the issuer (current best practice) or the token endpoint URL.",
    )
    redirect_uri: str = Field(description="The dashboard's callback URL, registered at the provider.")
    scopes: tuple[str, ...] = Field(
        default=("openid", "email", "profile"),
        description="Scopes requested; must include openid, plus whatever scope makes the provider release the "
        "role claim (e.g. `groups`).",
    )
    role_claim: str = Field(
        default="stablegate_roles",
        min_length=1,
        description="Claim holding the user's roles or groups (a string or a list of strings). A name with dots "
        "that is not itself a claim is read as a path into nested objects (realm_access.roles).",
    )
    role_mapping: dict[str, AdminRole] = Field(
        default_factory=lambda: {
            "stablegate-admin": AdminRole.ADMIN,
            "stablegate-admin-readonly": AdminRole.ADMIN_READONLY,
            "stablegate-approver": AdminRole.APPROVER,
        },
        description="Claim value -> dashboard role (admin, approver or admin-readonly), as JSON. Values not listed "
        "grant nothing; a user whose claim grants nothing is refused.",
    )
    id_token_algorithms: tuple[str, ...] = Field(
        default=("RS256", "ES256"), description="Signature algorithms accepted on ID tokens."
    )
    trusted_audiences: tuple[str, ...] = Field(
        default=(), description="Other audiences an ID token may name beside the client id (normally none)."
    )
    leeway_seconds: int = Field(default=60, ge=0, le=300, description="Clock skew allowed on exp, iat and nbf.")
    login_timeout_seconds: int = Field(
        default=600, ge=30, le=3600, description="How long a started sign-in may take before its callback is refused."
    )
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="Timeout of each call to the provider.")
    metadata_cache_seconds: int = Field(
        default=3600, ge=0, le=86400, description="How long discovery and the JWK Set are cached."
    )
    jwks_refetch_min_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="A token naming an unknown key refetches the JWK Set at most this often (so forged kids "
        "cannot make the dashboard hammer the provider).",
    )
    use_userinfo: bool = Field(
        default=True,
        description="When the ID token lacks the role claim, read it (and email, name) from the userinfo endpoint.",
    )

    @field_validator("issuer", "redirect_uri")
    @classmethod
    def _secure_url(cls, value: str, info: Any) -> str:
        return check_url(value, str(info.field_name))

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include openid")
        if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in value):
            raise ValueError("a scope is empty or has characters RFC 6749 does not allow")
        return value

    @field_validator("id_token_algorithms")
    @classmethod
    def _known_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - jws.SUPPORTED_ALGORITHMS)
        if unknown or not value:
            raise ValueError(f"unsupported algorithms {unknown}; choose from {sorted(jws.SUPPORTED_ALGORITHMS)}")
        return value

    @model_validator(mode="after")
    def _credentials_fit_method(self) -> OidcSettings:
        has_secret = bool(self.client_secret.get_secret_value())
        if has_secret and self.client_secret_file is not None:
            raise ValueError("set CLIENT_SECRET or CLIENT_SECRET_FILE, not both")
        if self.client_auth_method in ("client_secret_basic", "client_secret_post"):
            if self.client_secret_file is not None:
                if not self.client_secret_file.is_file():
                    raise ValueError(f"client_secret_file {self.client_secret_file} is not a readable file")
            elif not has_secret:
                raise ValueError(f"{self.client_auth_method} needs CLIENT_SECRET_FILE (or CLIENT_SECRET)")
        if self.client_auth_method == "private_key_jwt":
            if self.private_key_file is None or not self.private_key_file.is_file():
                raise ValueError("private_key_jwt needs PRIVATE_KEY_FILE, a readable PEM private key")
            load_client_key(self.private_key_file)
        if not self.role_mapping:
            raise ValueError("role_mapping is empty: no user could ever sign in")
        return self

    def secret(self) -> str:
        """The client secret (from the file when one is set)."""
        if self.client_secret_file is not None:
            return self.client_secret_file.read_text().strip()
        return self.client_secret.get_secret_value()


def load_client_key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The private_key_jwt signing key from a PEM file (RSA >= 2048 bits or EC P-256); ValueError otherwise."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from exc
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= jws.MIN_RSA_BITS:
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(f"{path} must hold an RSA key of at least {jws.MIN_RSA_BITS} bits or an EC P-256 key")
