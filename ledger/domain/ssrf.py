"""The SSRF guard for webhook URLs: which URLs and which resolved addresses a delivery may go to.

Checked at creation and again at every send, on the addresses the send will connect to (DNS may change between
the two: rebinding). The resolver is injectable (`Resolver`), so tests serve any answer without a DNS server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from ledger.errors import InvalidField

MAX_URL = 2000

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
"""Cloud metadata services: refused like private addresses (most are link-local or private anyway)."""


class Resolver(Protocol):
    """Turns a host name into the addresses a connection would use."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of the host (IPv4 and IPv6, as text); raises OSError when it has none."""
        ...


@dataclass(frozen=True)
class UrlPolicy:
    """What the profile allows: https only (prod), and loopback receivers (dev and test, when asked for)."""

    require_https: bool
    allow_loopback: bool = False


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: where to connect."""

    scheme: str
    host: str
    port: int


class AddressRefused(Exception):
    """A resolved address is not one a webhook may reach; the message says which and why (no secret in it)."""


def check_url(value: str, policy: UrlPolicy, field: str = "url") -> Target:
    """A well-formed absolute http(s) URL, https under prod, no credentials; INVALID_ARGUMENT naming the field."""
    if not value:
        raise InvalidField(f"{field} is required", reason="FIELD_REQUIRED", field=field)
    if len(value) > MAX_URL or any(ord(c) <= 32 or ord(c) == 127 for c in value):
        raise InvalidField(
            f"{field} must be a URL of at most {MAX_URL} characters without spaces or control characters",
            reason="URL_INVALID",
            field=field,
        )
    try:
        parts: SplitResult = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidField(f"{field} is not a valid URL", reason="URL_INVALID", field=field) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidField(f"{field} must be an absolute https:// URL", reason="URL_INVALID", field=field)
    if parts.scheme != "https" and policy.require_https:
        raise InvalidField(f"{field} must use https", reason="URL_NOT_HTTPS", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidField(f"{field} must not carry credentials", reason="URL_INVALID", field=field)
    if parts.fragment:
        raise InvalidField(f"{field} must not have a #fragment", reason="URL_INVALID", field=field)
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def literal_address(host: str) -> IpAddress | None:
    """The address when the host is an IP literal (brackets already removed), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def refusal(address: IpAddress, policy: UrlPolicy) -> str | None:
    """Why a webhook may not connect to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback and policy.allow_loopback:
        return None
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified or address.is_reserved, "a reserved address"),
        (address.is_private or not address.is_global, "a private address"),
    )
    return next((why for refused, why in checks if refused), None)


def check_addresses(host: str, addresses: Sequence[str], policy: UrlPolicy) -> list[str]:
    """The addresses, when every one may be reached; AddressRefused names the first that may not.

    All must pass: a host with one public and one private address could be steered to the private one.
    """
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = refusal(address, policy)
        if why is not None:
            raise AddressRefused(f"{host} resolves to {address}, {why}")
    return list(addresses)


async def resolve_checked(target: Target, policy: UrlPolicy, resolver: Resolver) -> list[str]:
    """The addresses a send to the target may connect to, all checked; AddressRefused otherwise."""
    literal = literal_address(target.host)
    if literal is not None:
        return check_addresses(target.host, [str(literal)], policy)
    try:
        found = await resolver.resolve(target.host, target.port)
    except OSError as exc:
        raise AddressRefused(f"{target.host} does not resolve ({exc.strerror or exc})") from None
    except UnicodeError:
        # Not a DNS name at all (a label over 63 characters, say): the IDNA codec refuses it before any lookup.
        raise AddressRefused(f"{target.host[:100]} is not a valid host name") from None
    return check_addresses(target.host, found, policy)
