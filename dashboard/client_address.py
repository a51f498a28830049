"""The client's address as Envoy saw it, and the key the dashboard's per-client limits count it under.

Envoy sets `x-stablegate-client-address` on every dashboard request from its own view of the connection
(`%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`: the TCP peer, or with `trusted_proxy_hops` the address a trusted
proxy appended to X-Forwarded-For), after its `header_mutation` filter removed any copy the client sent
(edge/envoy_config.py, `IDENTITY_HEADERS`). The dashboard answers only Envoy (mutual TLS, the `edge` role), so
the header cannot come from anyone else; a client's own X-Forwarded-For is never read here.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

CLIENT_ADDRESS_HEADER = "x-stablegate-client-address"
"""The header Envoy sets (the same name as edge/envoy_config.py's `CLIENT_ADDRESS_HEADER`; a test keeps them equal)."""
UNKNOWN = "unknown"
"""The key of requests without a readable address (never from Envoy): they share one bucket, so they stay limited."""
IPV6_PREFIX = 64
"""An IPv6 client is counted by its /64: one host is usually given a whole /64 and could rotate within it."""


def client_key(request: web.Request) -> str:
    """The key a per-client limit counts this request under: the IPv4 address, or the IPv6 /64 network."""
    raw = request.headers.get(CLIENT_ADDRESS_HEADER, "").strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
