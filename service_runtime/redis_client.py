"""Redis clients from one URL: a plain endpoint (`redis://`, `rediss://`) or a Sentinel-watched master.

Every service that uses Redis (the ledger, the edge, the checkout page, the dashboard) takes one `REDIS_URL`
setting. Besides redis-py's own `redis://` and `rediss://` forms it may name Redis Sentinels:

    redis+sentinel://[[user]:password@]host:port[,host:port…]/<master name>[/<db>][?sentinel_auth=same]
    rediss+sentinel://…   (TLS to the sentinels and the data nodes)

The client asks the sentinels where the master is (redis-py's `Sentinel.master_for`), and asks again when a
connection fails or the node it reaches has become a replica, so a failover (Sentinel promoting a replica)
is followed without a restart; commands are retried with a short backoff for up to about
FAILOVER_RETRY_SECONDS so that one in flight during the failover succeeds once the new master is known. The
user and password are those of the data nodes; `sentinel_auth=same` sends them to the sentinels too (default:
sentinels without authentication). The whole URL is a secret setting (`_FILE`, `_AWS_SECRET`), and its password
is masked wherever a URL is shown (`service_runtime.config.redact_url_secrets`).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelManagedConnection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import Sentinel

REDIS_URL_PATTERN = r"^(rediss?|rediss?\+sentinel)://"
"""What a `REDIS_URL` setting may start with (each service's settings check it)."""
REDIS_URL_DESCRIPTION = (
    "redis://, rediss:// or redis+sentinel://[user:password@]host:port[,host:port…]/<master>[/<db>] "
    "(Sentinel: the master is looked up and followed across failovers; service_runtime/redis_client.py)"
)
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
"""Sentinel schemes and whether they use TLS."""
FAILOVER_RETRY_SECONDS = 10.0
"""About how long a command keeps retrying while the master is unreachable (a Sentinel failover takes a few s)."""
_RETRIES = 14
_BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)  # 0.05, 0.1, … 0.8, then 1 s: about 10 s over 14 retries
CONNECT_TIMEOUT_SECONDS = 2.0


class MasterFollowingConnection(SentinelManagedConnection):
    """A Sentinel-managed connection that asks where the master is on every (re)connect.

    redis-py 8's `SentinelManagedConnection` asks the sentinels only in `connect()`; a command that finds its
    connection dropped reconnects through `connect_check_health()`, to the address it had, so a command in
    flight during a failover retried against the dead master until it gave up. Looking the master up in
    `_connect` makes every reconnect, retried or not, go to the master the sentinels name now.
    """

    async def _connect(self) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()  # type: ignore[no-untyped-call]


class MasterFollowingSSLConnection(MasterFollowingConnection, SSLConnection):
    """The same over TLS (`rediss+sentinel://`)."""


class RedisUrlError(ValueError):
    """A Redis URL that cannot be used; the message names what is wrong, never the password."""


@dataclass(frozen=True)
class SentinelTarget:
    """A parsed Sentinel URL: where the sentinels are and which master (and database) to use."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    sentinel_auth: bool = False


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The Sentinel target a URL names, or None for a plain `redis://` / `rediss://` URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RedisUrlError("a Redis URL starts with redis://, rediss:// or redis+sentinel://")
    if scheme not in SENTINEL_SCHEMES:
        return None
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) if colon else None
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisUrlError(f"a Sentinel address must be host:port, not {item.strip()!r}")
        sentinels.append((host.strip("[]"), int(port)))
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise RedisUrlError("a Sentinel URL names the master after the addresses: …/<master name>[/<db>]")
    if len(parts) == 2 and not parts[1].isdigit():
        raise RedisUrlError(f"the database after the master name must be a number, not {parts[1]!r}")
    options = urllib.parse.parse_qs(query)
    unknown = set(options) - {"sentinel_auth"}
    if unknown:
        raise RedisUrlError(f"unknown Sentinel URL option(s): {', '.join(sorted(unknown))} (known: sentinel_auth)")
    auth = options.get("sentinel_auth", ["none"])[-1]
    if auth not in ("none", "same"):
        raise RedisUrlError(f"sentinel_auth is none or same, not {auth!r}")
    return SentinelTarget(
        sentinels=tuple(sentinels),
        master=urllib.parse.unquote(parts[0]),
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
        tls=SENTINEL_SCHEMES[scheme],
        sentinel_auth=auth == "same",
    )


def _node_kwargs(target: SentinelTarget) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_SECONDS}
    if target.tls:
        kwargs["ssl"] = True
    return kwargs


def _sentinel_kwargs(target: SentinelTarget) -> dict[str, Any]:
    kwargs = _node_kwargs(target)
    kwargs["socket_timeout"] = CONNECT_TIMEOUT_SECONDS
    if target.sentinel_auth:
        kwargs |= {"username": target.username, "password": target.password}
    return kwargs


def _retry_kwargs() -> dict[str, Any]:
    return {
        "retry": AsyncRetry(_BACKOFF, _RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
    }


def async_redis(url: str, **kwargs: Any) -> redis.asyncio.Redis:
    """An asyncio Redis client for the URL (bind it to the loop it is used in: make it there)."""
    target = parse_sentinel_url(url)
    if target is None:
        return redis.asyncio.from_url(url, **kwargs)
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]  # redis-py's Sentinel has no annotations
        list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target), **_node_kwargs(target)
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        target.master,
        connection_class=MasterFollowingSSLConnection if target.tls else MasterFollowingConnection,
        db=target.db,
        username=target.username,
        password=target.password,
        **_retry_kwargs(),
        **kwargs,
    )
    return client


def sync_redis(url: str, **kwargs: Any) -> redis.Redis:
    """A blocking Redis client for the URL (tools: `stablegate doctor`)."""
    target = parse_sentinel_url(url)
    if target is None:
        return redis.Redis.from_url(url, **kwargs)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py's Sentinel has no annotations
        list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target), **_node_kwargs(target)
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master, db=target.db, username=target.username, password=target.password, **kwargs
    )
    return client
