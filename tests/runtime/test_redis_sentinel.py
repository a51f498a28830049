"""Redis behind Sentinel: a `redis+sentinel://` URL follows a failover (service_runtime/redis_client.py).

Real processes on loopback: a Redis master, a replica of it and three sentinels (`redis-server --sentinel`,
which is what Debian's `redis-sentinel` runs) watching it with a quorum of two. The master is SIGKILLed; the
sentinels promote the replica; the services' client (the edge's rate limiter and a session-like key) keeps
working without being remade, while a client that named the old master directly cannot reach it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from edge.config import EdgeSettings
from edge.ratelimit import RedisRateLimiter
from gateway import parts
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.redis_client import RedisUrlError, async_redis, parse_sentinel_url, sync_redis

pytestmark = pytest.mark.timeout(120)
MASTER = "stablegate"


@dataclass
class SentinelSet:
    """A master, its replica and three sentinels, each a real redis-server process."""

    master: subprocess.Popen[bytes]
    master_port: int
    replica_port: int
    sentinel_ports: list[int]

    @property
    def url(self) -> str:
        """The services' REDIS_URL for this set."""
        return f"redis+sentinel://{','.join(f'127.0.0.1:{p}' for p in self.sentinel_ports)}/{MASTER}/0"

    def master_address(self) -> tuple[str, int] | None:
        """Where the first sentinel says the master is."""
        sentinel = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        found: Any = sentinel.sentinel_get_master_addr_by_name(MASTER)
        return (str(found[0]), int(found[1])) if found else None


def wait_for(what: str, check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    server = parts.which("redis-server", "run ./dev setup (apt-get install redis-server)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        directory = tmp_path / name
        directory.mkdir()
        log = (directory / "log").open("wb")
        proc = subprocess.Popen([server, *args], cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    master_port, replica_port = parts.free_port(), parts.free_port()
    master = start("master", "--port", str(master_port), *base)
    wait_for("the master", lambda: redis.Redis(port=master_port).ping())
    start("replica", "--port", str(replica_port), "--replicaof", "127.0.0.1", str(master_port), *base)
    wait_for("the replica in sync", lambda: redis.Redis(port=master_port).info("replication")["connected_slaves"])
    ports = [parts.free_port() for _ in range(3)]
    for i, port in enumerate(ports):
        conf = tmp_path / f"sentinel-{i}.conf"  # a sentinel rewrites its own config: a writable file
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 5000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        start(f"sentinel-{i}", str(conf), "--sentinel")

    def knows_all(port: int) -> bool:
        sentinel = redis.Redis(port=port)
        others: Any = sentinel.sentinel_sentinels(MASTER)
        replicas: Any = sentinel.sentinel_slaves(MASTER)
        return len(others) == 2 and len(replicas) == 1

    for port in ports:  # every sentinel knows the replica and the two others (needed to agree on a failover)
        wait_for("the sentinels to know each other and the replica", functools.partial(knows_all, port))
    try:
        yield SentinelSet(master, master_port, replica_port, ports)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in procs:
            proc.wait(timeout=10)


async def test_the_services_client_follows_a_sentinel_failover(sentinels: SentinelSet) -> None:
    client = async_redis(sentinels.url)
    limiter = RedisRateLimiter(client, {"merchant_id": 100})
    direct = redis.asyncio.Redis(port=sentinels.master_port, socket_connect_timeout=1)
    try:
        verdict = await limiter.count("edge", [[("merchant_id", "m_1")]])
        assert verdict is not None and verdict.counted == ((100, 1),)
        await client.set("session:s_1", "merchant m_1", ex=600)
        assert await direct.get("session:s_1") == b"merchant m_1"  # the client wrote to the master
        await direct.wait(1, 5000)  # the replica has it too before the master dies

        sentinels.master.send_signal(signal.SIGKILL)
        sentinels.master.wait(timeout=10)
        # A call in flight during the failover: retried until the sentinels name the promoted replica.
        verdict = await limiter.count("edge", [[("merchant_id", "m_1")]])
        assert verdict is not None, "the rate limiter lost Redis during the failover (it fails open)"
        assert sentinels.master_address() == ("127.0.0.1", sentinels.replica_port)
        # Session data written before the failover is there, and new writes land on the new master.
        assert await client.get("session:s_1") == b"merchant m_1"
        await client.set("session:s_2", "merchant m_2", ex=600)
        promoted = redis.asyncio.Redis(port=sentinels.replica_port)
        assert await promoted.get("session:s_2") == b"merchant m_2"
        assert (await promoted.info("replication"))["role"] == "master"
        await promoted.aclose()
        # Whereas a client that named the old master is left without Redis.
        with pytest.raises(redis.ConnectionError):
            await direct.ping()
        # The blocking client (`stablegate doctor`) finds the new master the same way.
        assert sync_redis(sentinels.url).ping() is True
    finally:
        await client.aclose()
        await direct.aclose()


def test_sentinel_urls_parse_and_bad_ones_are_named_without_the_password() -> None:
    target = parse_sentinel_url("rediss+sentinel://app:s3cr%40t@10.0.0.1:26379,[::1]:26380/main/2?sentinel_auth=same")
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (target.master, target.db, target.username, target.password) == ("main", 2, "app", "s3cr@t")
    assert target.tls and target.sentinel_auth
    assert "s3cr" not in repr(target)
    assert parse_sentinel_url("redis://:pw@127.0.0.1:6379/0") is None  # a plain URL goes to redis-py as it is
    for url, message in [
        ("redis+sentinel://:hunter2@10.0.0.1/main", "host:port"),
        ("redis+sentinel://:hunter2@10.0.0.1:26379", "names the master"),
        ("redis+sentinel://:hunter2@10.0.0.1:26379/main/zero", "must be a number"),
        ("redis+sentinel://:hunter2@10.0.0.1:26379/main?sentinel_auth=maybe", "none or same"),
        ("redis+sentinel://:hunter2@10.0.0.1:26379/main?socket_timeout=1", "unknown Sentinel URL option"),
    ]:
        with pytest.raises(RedisUrlError, match=message) as refused:
            parse_sentinel_url(url)
        assert "hunter2" not in str(refused.value)


def test_settings_take_a_sentinel_url_and_refuse_other_schemes() -> None:
    fields = EdgeSettings.model_fields["redis_url"]
    assert "redis+sentinel://" in str(fields.description)
    (pattern,) = [m.pattern for m in fields.metadata if hasattr(m, "pattern")]
    assert re.match(pattern, "redis+sentinel://10.0.0.1:26379/main")
    assert re.match(pattern, "rediss+sentinel://10.0.0.1:26379/main")
    assert not re.match(pattern, "sentinel://10.0.0.1:26379/main")


def test_a_malformed_sentinel_url_is_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh
) -> None:
    for key, value in mesh_pki.files(Role.EDGE).env("edge").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STABLEGATE_EDGE_REDIS_URL", "redis+sentinel://:hunter2@10.0.0.1:26379")
    with pytest.raises(ConfigError) as refused:
        load_settings(EdgeSettings)
    assert "STABLEGATE_EDGE_REDIS_URL" in str(refused.value)
    assert "names the master" in str(refused.value)
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv("STABLEGATE_EDGE_REDIS_URL", "redis+sentinel://:hunter2@10.0.0.1:26379/main")
    assert load_settings(EdgeSettings).redis_url.endswith("/main")
