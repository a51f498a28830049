"""API keys: their format, generation, hashing and scopes; and the principal a verified key stands for.

Merchant keys look like `sk_test_<32 base62>` or `sk_live_<32 base62>`; admin keys like `ak_<32 base62>`.
Only the SHA-256 of the whole key is stored (the key has ~190 bits of entropy, so a fast hash is enough and a
slow one would only cost latency). The first 8 random characters, with the kind, form the lookup prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import string
from dataclasses import dataclass
from typing import Literal

from service_runtime.errors import InvalidArgument, Unauthenticated

ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32
PREFIX_LENGTH = 8
_MERCHANT_KEY = re.compile(r"^sk_(test|live)_[0-9A-Za-z]{32}$")
_ADMIN_KEY = re.compile(r"^ak_[0-9A-Za-z]{32}$")

MERCHANT_SCOPES = frozenset(
    {
        "invoices:read",
        "invoices:write",
        "webhooks:read",
        "webhooks:write",
        "payouts:read",
        "payouts:write",
        "balance:read",
    }
)
ADMIN_ROLES = frozenset({"admin", "operator", "viewer", "dashboard"})
"""`admin` may do everything on the admin API; `operator` may read, suspend and reactivate merchants and revoke
keys (incident response); `viewer` may only read; `dashboard` (the dashboard's own key) may call exactly the admin
methods the dashboard calls (ledger/auth.py `requirement_for` and `DASHBOARD_KEY_METHODS`, docs/security.md)."""
MAX_IP_RANGES = 32
"""At most this many allowed client networks per key."""

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Mode = Literal["test", "live"]


@dataclass(frozen=True)
class IssuedKey:
    """A freshly made key: the plaintext (shown once), its lookup prefix and the hash to store."""

    plaintext: str
    prefix: str
    secret_hash: bytes


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a verified key."""

    kind: Literal["merchant", "admin"]
    key_id: str
    merchant_id: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    name: str = ""
    allowed_ip_ranges: tuple[IpNetwork, ...] = ()
    """Client networks the key may be used from; empty: any."""

    def allows(self, client_address: str | None) -> bool:
        """True when the key has no allow-list or the client address is in one of its networks."""
        if not self.allowed_ip_ranges:
            return True
        if not client_address:
            return False
        try:
            address = ipaddress.ip_address(client_address)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_ip_ranges)


def hash_key(plaintext: str) -> bytes:
    """The stored hash of a key."""
    return hashlib.sha256(plaintext.encode()).digest()


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_merchant_key(mode: Mode) -> IssuedKey:
    """A new merchant key for test or live mode."""
    body = _random(SECRET_LENGTH)
    plaintext = f"sk_{mode}_{body}"
    return IssuedKey(plaintext, f"sk_{mode}_{body[:PREFIX_LENGTH]}", hash_key(plaintext))


def new_admin_key() -> IssuedKey:
    """A new admin key."""
    body = _random(SECRET_LENGTH)
    plaintext = f"ak_{body}"
    return IssuedKey(plaintext, f"ak_{body[:PREFIX_LENGTH]}", hash_key(plaintext))


def credential_prefix(credential: str) -> tuple[Literal["merchant", "admin"], str]:
    """The kind and lookup prefix of a presented key, or Unauthenticated if it is not one of ours."""
    if _MERCHANT_KEY.match(credential):
        mode_end = credential.index("_", 3) + 1
        return "merchant", credential[: mode_end + PREFIX_LENGTH]
    if _ADMIN_KEY.match(credential):
        return "admin", credential[: 3 + PREFIX_LENGTH]
    raise Unauthenticated(
        "the API key is malformed: expected `Authorization: Bearer sk_test_…` (or sk_live_…, ak_… for admin)",
        reason="API_KEY_MALFORMED",
    )


def bearer_token(authorization: str | None) -> str:
    """The key from an `authorization` header value, or Unauthenticated naming what is missing."""
    if not authorization:
        raise Unauthenticated("missing credentials: send `Authorization: Bearer <API key>`", reason="API_KEY_MISSING")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization header must be `Bearer <API key>`", reason="API_KEY_MALFORMED")
    return token.strip()


def validate_scopes(scopes: list[str], *, field: str = "scopes") -> frozenset[str]:
    """The requested merchant scopes, or InvalidArgument naming the unknown ones."""
    if not scopes:
        raise InvalidArgument(
            f"{field} is required: one or more of {', '.join(sorted(MERCHANT_SCOPES))}",
            reason="SCOPES_REQUIRED",
            metadata={"field": field},
        )
    unknown = sorted(set(scopes) - MERCHANT_SCOPES)
    if unknown:
        raise InvalidArgument(
            f"unknown scopes {', '.join(unknown)}; known: {', '.join(sorted(MERCHANT_SCOPES))}",
            reason="SCOPE_UNKNOWN",
            metadata={"field": field, "unknown": ",".join(unknown)},
        )
    return frozenset(scopes)


def parse_ip_ranges(values: list[str], *, field: str = "allowed_ip_ranges") -> tuple[IpNetwork, ...]:
    """Client networks in CIDR notation (a bare address is a /32 or /128), or InvalidArgument naming the bad one.

    A network with host bits set ("10.0.0.1/8") is refused rather than widened: it is most likely a typo.
    """
    if len(values) > MAX_IP_RANGES:
        raise InvalidArgument(
            f"{field} takes at most {MAX_IP_RANGES} networks", reason="IP_RANGES_TOO_MANY", metadata={"field": field}
        )
    networks: list[IpNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError:
            raise InvalidArgument(
                f"{field}: {value[:60]!r} is not an IP network in CIDR notation (e.g. 203.0.113.0/24, 2001:db8::/32)",
                reason="IP_RANGE_INVALID",
                metadata={"field": field, "value": value[:60]},
            ) from None
    return tuple(sorted(set(networks), key=lambda n: (n.version, n.network_address, n.prefixlen)))
