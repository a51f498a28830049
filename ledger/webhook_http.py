"""The HTTP adapter that posts one signed delivery: SSRF-checked address, timeouts, bounded read, no redirects."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from ledger.domain.ssrf import AddressRefused, Resolver, UrlPolicy, check_url, resolve_checked

EXCERPT_CHARS = 1024


class SystemResolver:
    """The operating system's resolver (getaddrinfo)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of the host; OSError when it has none."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Response:
    """What one attempt got: a status (0 for none), an error, a bounded excerpt, Retry-After and the duration."""

    status: int
    error: str
    excerpt: str
    retry_after: str | None
    duration_ms: int


class WebhookPoster:
    """Posts deliveries over one aiohttp session; every send resolves and checks its target again."""

    def __init__(
        self,
        *,
        policy: UrlPolicy,
        resolver: Resolver,
        connect_timeout: float,
        total_timeout: float,
        response_limit: int,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._limit = response_limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookies, no proxies from the environment, no DNS of its own: we connect to checked addresses.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, use_dns_cache=False, ttl_dns_cache=None),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, headers: dict[str, str], body: str) -> Response:
        """POST the body; never raises for the receiver's behaviour, which is reported in the Response."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = check_url(url, self.policy)
            addresses = await resolve_checked(target, self.policy, self.resolver)
        except AddressRefused as exc:
            return Response(0, f"refused: {exc}", "", None, took())
        except ValueError as exc:  # InvalidField: the stored URL no longer passes (profile changed)
            return Response(0, f"refused: {exc}", "", None, took())
        parsed = URL(url)
        # Connect to the address that was checked; Host and TLS (SNI, certificate) still name the host.
        pinned = parsed.with_host(addresses[0])
        host_header = parsed.raw_host or target.host
        if parsed.explicit_port:
            host_header = f"{host_header}:{parsed.port}"
        try:
            async with self._client().post(
                pinned,
                data=body.encode(),
                headers={**headers, "host": host_header, "content-type": "application/json"},
                allow_redirects=False,
                timeout=self._timeout,
                server_hostname=target.host if target.scheme == "https" else None,
            ) as reply:
                content = await _read_at_most(reply.content, self._limit)
                return Response(
                    reply.status,
                    "",
                    content[: EXCERPT_CHARS * 4].decode(errors="replace")[:EXCERPT_CHARS],
                    reply.headers.get("retry-after"),
                    took(),
                )
        except TimeoutError:
            return Response(0, "timeout", "", None, took())
        except aiohttp.ClientConnectorError as exc:
            return Response(0, f"connection failed: {exc.os_error.strerror or exc.os_error}", "", None, took())
        except aiohttp.ClientError as exc:
            return Response(0, f"{type(exc).__name__}: {str(exc)[:200]}", "", None, took())


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """At most `limit` bytes of the body; the rest is never read (the connection is then dropped)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
