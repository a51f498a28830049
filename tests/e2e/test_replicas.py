"""Scale-out on one machine (issue 24): `stablegate up --replicas 2`, every replica reached, a killed one routed around.

One real `up` with two of each service but the signer (gateway/localrun.py, `REPLICATED_SERVICES`): Envoy's
clusters list both replicas of the ledger, settlement, the edge (ext_authz), checkout and dashboard; the ledger's
own clients round-robin over its two (service_runtime/mesh.py, `balanced_target`). The test shows

- requests through Envoy reach both replicas of every stateless service (Envoy's per-host counters, and the
  ledger replicas' own gRPC metrics);
- a ledger replica SIGKILLed during a burst of invoice creations with Idempotency-Keys: every request succeeds,
  directly or after retries of retriable failures only, and no invoice is created twice;
- the watcher's scanner and settlement's loops run on the lease holder only; the watcher leader SIGKILLed, the
  standby takes the lease and a payment is credited exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from gateway import localrun
from tests.e2e.chaos import psql, statuses, supervisorctl
from tests.e2e.e2e_harness import UNIT, Gateway, program_env, running_gateway, wait_until

pytestmark = pytest.mark.timeout(600)

REPLICAS = 2
STATELESS_CLUSTERS = ("ledger", "settlement", "ext_authz", "checkout", "dashboard")
"""Envoy's clusters of replicated services (the edge's ext_authz included)."""
RETRIABLE = frozenset({429, 502, 503, 504})
FEES = "/v1/fees:estimate?amount=250.00&destination_address=0x" + "a" * 40


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`up --replicas 2` with the suite's merchant, webhook receiver and customer."""
    with running_gateway(tmp_path_factory.mktemp("replicas"), replicas=REPLICAS) as g:
        yield g


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET; (status, body), HTTP errors as their status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec B310 - loopback
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def envoy_hosts(g: Gateway) -> dict[str, dict[int, dict[str, str]]]:
    """Envoy's view of each cluster's hosts (admin `/clusters`): {cluster: {port: {stat or flag: value}}}."""
    status, body = get(f"http://127.0.0.1:{g.ports['envoy_admin']}/clusters")
    assert status == 200, body
    found: dict[str, dict[int, dict[str, str]]] = {}
    for line in body.decode().splitlines():
        fields = line.split("::")
        if len(fields) == 4 and re.fullmatch(r"127\.0\.0\.1:\d+", fields[1]):
            port = int(fields[1].rsplit(":", 1)[1])
            found.setdefault(fields[0], {}).setdefault(port, {})[fields[2]] = fields[3]
    return found


def replica_port(g: Gateway, service: str, k: int, name: str | None = None) -> int:
    """Replica `k`'s port (gRPC by default, or `name`: `ledger_metrics`, `checkout_http`)."""
    return localrun.replica_ports(service, k, g.ports)[name or service]


def metric(port: int, name: str, contains: str = "") -> float:
    """The sum of a Prometheus metric's samples on a /metrics port (those whose labels contain `contains`)."""
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and contains in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def rest(g: Gateway, method: str, path: str, body: object = None, key: str | None = None) -> tuple[int, Any]:
    """One merchant call through Envoy, no retry: (status, body); a failed connection is status 0."""
    headers = {"authorization": f"Bearer {g.api_key}", "content-type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key
    request = urllib.request.Request(
        f"http://127.0.0.1:{g.ports['envoy']}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # nosec B310 - loopback
            return int(resp.status), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()[:300]
    except OSError as exc:
        return 0, repr(exc)


def test_every_replica_runs_and_envoy_lists_each_as_an_endpoint(world: Gateway) -> None:
    programs = statuses(world.state)
    for service in localrun.REPLICATED_SERVICES:
        assert programs[service][0] == programs[f"{service}-2"][0] == "RUNNING", programs
    assert programs["signer"][0] == "RUNNING" and "signer-2" not in programs
    hosts = envoy_hosts(world)
    expected = {
        "ledger": ("ledger", "ledger"),
        "settlement": ("settlement", "settlement"),
        "ext_authz": ("edge", "edge"),
        "checkout": ("checkout", "checkout_http"),
        "dashboard": ("dashboard", "dashboard_http"),
    }
    for cluster, (service, port_name) in expected.items():
        ports = {replica_port(world, service, k, port_name) for k in (1, 2)}
        assert set(hosts[cluster]) == ports, (cluster, hosts[cluster])
    # The ledger's clients are given both replicas (round-robin in the client).
    ledger = ",".join(f"127.0.0.1:{replica_port(world, 'ledger', k)}" for k in (1, 2))
    for service in ("edge", "watcher", "settlement", "checkout", "dashboard"):
        for program in (service, f"{service}-2"):
            assert program_env(world.state, program)[f"STABLEGATE_{service.upper()}_LEDGER_TARGET"] == ledger


def test_requests_through_envoy_reach_both_replicas_of_every_stateless_service(world: Gateway) -> None:
    before = envoy_hosts(world)
    created = [world.invoice("1.50", order_id=f"spread-{n}") for n in range(12)]
    for invoice in created[:6]:
        assert get(str(invoice["checkout_url"]))[0] == 200
        assert get(f"http://127.0.0.1:{world.ports['envoy']}/dashboard/login")[0] == 200
        assert rest(world, "GET", FEES)[0] == 200
    after = envoy_hosts(world)
    for cluster in STATELESS_CLUSTERS:
        served = {
            port: int(after[cluster][port]["rq_total"]) - int(before[cluster].get(port, {}).get("rq_total", "0"))
            for port in after[cluster]
        }
        assert len(served) == REPLICAS and all(n > 0 for n in served.values()), (cluster, served)
    # And by the ledger replicas' own count of the calls they handled: both created invoices.
    counts = [
        metric(replica_port(world, "ledger", k, "ledger_metrics"), "grpc_server_handled_total", "CreateInvoice")
        for k in (1, 2)
    ]
    assert all(n > 0 for n in counts) and sum(counts) >= len(created), counts


def test_a_ledger_replica_killed_during_a_burst_of_creations_loses_and_doubles_nothing(world: Gateway) -> None:
    count, tag = 80, f"burst-{time.time_ns()}"
    attempts: dict[int, list[object]] = {n: [] for n in range(count)}
    under_way = threading.Semaphore(0)
    """Released once per invoice created: the replica is killed when the first few are in."""

    def create(n: int) -> dict[str, Any]:
        body = {"amount": f"{n % 5 + 1}.75", "order_id": f"{tag}-{n}"}
        deadline = time.monotonic() + 120
        while True:
            status, reply = rest(world, "POST", "/v1/invoices", body, key=f"{tag}-{n}")
            attempts[n].append(status)
            if status == 200:
                assert isinstance(reply, dict)
                under_way.release()
                return reply
            # Only an outage may fail a call, and the same call with the same key is then made again.
            assert status == 0 or status in RETRIABLE, (n, status, reply)
            assert time.monotonic() < deadline, (n, attempts[n])
            time.sleep(0.2)

    victim = "ledger-2"
    pid = statuses(world.state)[victim][1]
    port = replica_port(world, "ledger", 2)
    assert pid is not None
    served_before = int(envoy_hosts(world)["ledger"][port]["rq_total"])
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(create, n) for n in range(count)]
        for _ in range(8):  # the burst is under way: the first 8 created
            assert under_way.acquire(timeout=60)
        os.killpg(pid, signal.SIGKILL)
        pending_at_kill = sum(1 for f in futures if not f.done())
        made = [f.result() for f in futures]
    # The replica took part in the burst, and was killed with most of it still to come.
    assert int(envoy_hosts(world)["ledger"][port]["rq_total"]) > served_before
    assert pending_at_kill > count // 2, pending_at_kill
    # Every request succeeded, and the merchant got one invoice per Idempotency-Key.
    assert len({m["id"] for m in made}) == count
    dsn = program_env(world.state, "ledger")["STABLEGATE_LEDGER_DATABASE_URL"]
    rows = psql(dsn, f"SELECT count(*), count(DISTINCT order_id) FROM ledger.invoices WHERE order_id LIKE '{tag}-%'")
    assert rows == [[str(count), str(count)]], rows
    # supervisord restarted the killed replica, and Envoy sends to it again.
    wait_until("ledger-2 running again", lambda: (s := statuses(world.state)[victim])[0] == "RUNNING" and s[1] != pid)

    # Envoy's active health check marks it healthy again, then reads (not creations: the burst has used much of
    # the merchant's rate limit, and a 429 is honoured as a shop would) reach it again.
    wait_until(
        "Envoy's health check passing on the restarted ledger replica",
        lambda: envoy_hosts(world)["ledger"][port].get("health_flags") == "healthy",
        timeout=60,
    )

    def back_in_rotation() -> bool:
        before = int(envoy_hosts(world)["ledger"][port].get("rq_total", "0"))
        for m in made[:4]:
            status, reply = rest(world, "GET", f"/v1/invoices/{m['id']}")
            assert status in (200, 429), (status, reply)
            if status == 429:
                time.sleep(1)
        return int(envoy_hosts(world)["ledger"][port].get("rq_total", "0")) > before

    wait_until("Envoy routing to the restarted ledger replica", back_in_rotation, timeout=90, every=2)


def leaders(g: Gateway) -> dict[str, float]:
    """`watcher_leader` of each watcher replica, by program name."""
    return {
        name: metric(replica_port(g, "watcher", k, "watcher_metrics"), "watcher_leader")
        for k, name in ((1, "watcher"), (2, "watcher-2"))
    }


def one_leader(g: Gateway) -> dict[str, float] | None:
    """`leaders` when exactly one watcher replica leads, else None."""
    now = leaders(g)
    return now if sorted(now.values()) == [0, 1] else None


def lease_holders(g: Gateway, lease: str) -> set[str]:
    """The settlement replicas whose `settlement_leader{lease="<lease>"}` is 1."""
    return {
        name
        for k, name in ((1, "settlement"), (2, "settlement-2"))
        if metric(replica_port(g, "settlement", k, "settlement_metrics"), "settlement_leader", f'lease="{lease}"') == 1
    }


def test_only_the_lease_holders_work_and_the_watcher_standby_takes_over_a_killed_leader(world: Gateway) -> None:
    # One watcher leads and scans; the standby scans nothing.
    now: dict[str, float] = wait_until("one watcher leader", lambda: one_leader(world))
    leader = next(name for name, value in now.items() if value == 1)
    standby = next(name for name in now if name != leader)
    port = {"watcher": replica_port(world, "watcher", 1, "watcher_metrics")}
    port["watcher-2"] = replica_port(world, "watcher", 2, "watcher_metrics")
    assert metric(port[leader], "watcher_scanned_blocks_total") > 0
    assert metric(port[standby], "watcher_scanned_blocks_total") == 0
    # Each of settlement's leases is held by one replica.
    for lease in ("sweeper", "hot_key"):
        holders: set[str] = wait_until(f"a holder of {lease}", partial(lease_holders, world, lease))
        assert len(holders) == 1, (lease, holders)

    # SIGKILL the leader, and keep it down (supervisord would restart it) until the standby has taken over.
    pid = statuses(world.state)[leader][1]
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    supervisorctl(world.state, "stop", leader)
    wait_until(f"{standby} leading", lambda: metric(port[standby], "watcher_leader") == 1, timeout=60)
    invoice = world.invoice("3")
    world.pay(invoice["deposit_address"], 3 * UNIT)
    world.wait_status(invoice["id"], "PAID", timeout=120)
    assert metric(port[standby], "watcher_scanned_blocks_total") > 0
    dsn = program_env(world.state, "ledger")["STABLEGATE_LEDGER_DATABASE_URL"]
    credits = psql(
        dsn,
        "SELECT count(*) FROM ledger.journal_transactions WHERE kind = 'payment_final' "
        f"AND invoice_id = '{invoice['id']}'",
    )
    assert credits == [["1"]], credits
    # The old leader comes back as the standby.
    supervisorctl(world.state, "start", leader)
    wait_until(f"{leader} running", lambda: statuses(world.state)[leader][0] == "RUNNING")
    time.sleep(3)
    assert leaders(world) == {leader: 0, standby: 1}
