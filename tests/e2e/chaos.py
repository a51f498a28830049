"""Chaos: SIGKILL every process of `stablegate up` in turn, on a schedule, while payments flow (issue 24).

Shared by tests/e2e/test_chaos.py and `bench/chaos.py` (as `e2e_harness` is by the suite and `bench/e2e.py`).
`up` runs every process under supervisord (gateway/localrun.py); `Chaos` reads each program's pid from
`supervisorctl status`, SIGKILLs the program's whole process group (supervisord starts each program in its own
group: Postgres' postmaster and its backends die together, as in an OOM kill), notes when, and waits until
supervisord has it RUNNING again under a new pid before the next fault.

The chain is SIGKILLed too: under `up`, anvil *is* the chain, and its supervised command (gateway/anvil_launch.py)
loads the newest whole dump and mines by itself at every start, so supervisord brings back the same chain, less the
blocks mined since its last dump (at most `CHAIN_DUMP_SECONDS` of them): the watcher and settlement see a reorg,
settlement sends again what the lost blocks held, and the customers' wallets (`receipts_through_faults`) send again
a payment the lost blocks held, as after any dropped transaction. The fault of anvil records its head before the
kill and after the restart (docs/e2e.md, "Chaos").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chain.rpc import JsonRpc, RpcUnavailable
from gateway import parts
from tests.e2e.e2e_harness import Gateway, Transfer, program_env

FRONT = ("edge", "envoy", "checkout", "dashboard")
"""Killed while the merchant creates invoices over REST (the request path)."""
BACK = ("anvil", "ledger", "postgres", "redis", "watcher", "settlement", "signer")
"""Killed once the payments are sent, while they are detected, credited, notified and swept; the chain first, a
second after the payments were sent, so that its restart loses blocks holding payments (sent again by the wallets)."""
KILL_ORDER = FRONT + BACK
"""Every program of `up` (gateway/localrun.py), in the order the runner kills them."""


def with_replicas(order: Sequence[str], programs: Collection[str]) -> tuple[str, ...]:
    """`order` with each program's replicas (`ledger-2`, … under `up --replicas`) right after it, as they run."""
    return tuple(
        name
        for first in order
        for name in (first, *sorted(p for p in programs if p.startswith(f"{first}-") and p[len(first) + 1 :].isdigit()))
    )


RESTART_TIMEOUT = 120.0


def supervisorctl(state: Path, *args: str) -> str:
    """Run `supervisorctl -c <state>/supervisord.conf …`; its output (it exits non-zero when a program is down)."""
    binary = Path(sys.executable).parent / "supervisorctl"
    ran = subprocess.run(
        [str(binary), "-c", str(state / "supervisord.conf"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return ran.stdout


def statuses(state: Path) -> dict[str, tuple[str, int | None]]:
    """Each program's supervisord state and pid, from `supervisorctl status` (pid None unless RUNNING)."""
    found: dict[str, tuple[str, int | None]] = {}
    for line in supervisorctl(state, "status").splitlines():
        words = line.split()
        if len(words) < 2:
            continue
        pid = int(words[3].rstrip(",")) if len(words) > 3 and words[2] == "pid" else None
        found[words[0]] = (words[1], pid)
    return found


def wait_restarted(state: Path, program: str, old: int) -> int:
    """Until supervisord reports `program` RUNNING under a pid other than `old`; that pid."""
    deadline = time.monotonic() + RESTART_TIMEOUT
    while True:
        status, pid = statuses(state).get(program, ("MISSING", None))
        if status == "RUNNING" and pid is not None and pid != old:
            return pid
        assert status != "FATAL", f"supervisord gave up restarting {program} (FATAL)"
        assert time.monotonic() < deadline, f"{program} not RUNNING {RESTART_TIMEOUT:.0f} s after SIGKILL: {status}"
        time.sleep(0.2)


@dataclass(frozen=True)
class Kill:
    """One fault the runner caused: which program, how, its pid before and after, and when (wall clock)."""

    program: str
    how: str
    pid: int
    at: float
    back: float
    new_pid: int

    @property
    def down_seconds(self) -> float:
        """From the signal to supervisord reporting it RUNNING again."""
        return self.back - self.at


@dataclass
class Chaos:
    """Kills `up`'s programs one after another in a thread, `interval` seconds apart, for `rounds` rounds.

    Between faults it waits until every program is RUNNING again, so one fault at a time. `kills` records them;
    `error` holds why it stopped early (a program that did not come back), which the caller must check.
    """

    state: Path
    interval: float = 3.0
    rounds: int = 1
    order: Sequence[str] = KILL_ORDER
    rpc: JsonRpc | None = None
    """The chain's RPC, to record its head before anvil is killed and after it is back."""
    kills: list[Kill] = field(default_factory=list)
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin killing (in a daemon thread)."""
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the schedule to finish; raise if a program did not come back."""
        assert self._thread is not None, "not started"
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the chaos schedule still running after {timeout} s"
        assert self.error is None, self.error

    def killed(self) -> set[str]:
        """The programs faulted at least once."""
        return {k.program for k in self.kills}

    def _run(self) -> None:
        try:
            for _ in range(self.rounds):
                for program in self.order:
                    if self.stop.wait(self.interval):
                        return
                    self.kills.append(self.fault(program))
        except (AssertionError, OSError, subprocess.SubprocessError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def fault(self, program: str) -> Kill:
        """SIGKILL `program`'s process group and wait until it is back (for the chain: its head before and after)."""
        self.wait_all_running()
        state, pid = statuses(self.state)[program]
        assert state == "RUNNING" and pid is not None, (program, state)
        chain = self.rpc if program == "anvil" else None
        head = int(chain.request("eth_blockNumber"), 16) if chain is not None else None
        at = time.time()
        os.killpg(pid, signal.SIGKILL)
        new_pid = self._wait_restarted(program, pid)
        back = time.time()
        how = "SIGKILL"
        if chain is not None:
            how += f", head {head} → {self._head_answered(chain)}"
        return Kill(program, how, pid, at, back, new_pid)

    @staticmethod
    def _head_answered(chain: JsonRpc) -> int:
        """The restarted chain's first head (it answers once it has loaded its dump)."""
        deadline = time.monotonic() + RESTART_TIMEOUT
        while True:
            try:
                return int(chain.request("eth_blockNumber"), 16)
            except RpcUnavailable:
                assert time.monotonic() < deadline, "the restarted chain does not answer"
                time.sleep(0.1)

    def _wait_restarted(self, program: str, old: int) -> int:
        return wait_restarted(self.state, program, old)

    def wait_all_running(self, timeout: float = RESTART_TIMEOUT) -> None:
        """Until supervisord reports every program RUNNING."""
        deadline = time.monotonic() + timeout
        while True:
            now = statuses(self.state)
            down = {name: s for name, (s, _) in now.items() if s != "RUNNING"}
            if now and not down:
                return
            assert time.monotonic() < deadline, f"not RUNNING after {timeout:.0f} s: {down}"
            time.sleep(0.2)


def receipts_through_faults(g: Gateway, transfers: Sequence[Transfer], timeout: float) -> list[dict[str, Any]]:
    """`Gateway.receipts` (each transfer mined, one the chain lost sent again), asked again while anvil is down.

    The customers' mints (`Gateway.funding`) are checked first the same way: a restart that loses a mint's block
    would otherwise leave every later payment of that sender queued behind the missing nonce.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            funded = [*g.funding, *transfers]
            return g.receipts(funded, timeout=max(1.0, deadline - time.monotonic()))[len(g.funding) :]
        except RpcUnavailable:
            assert time.monotonic() < deadline, f"the chain unreachable for {timeout:.0f} s"
            time.sleep(0.5)


# --- a load that tolerates the faults --------------------------------------------------------------------------


def call(
    port: int, method: str, path: str, key: str, body: object = None, *, idempotency_key: str | None = None
) -> Any:
    """One JSON call to Envoy, retried (same body, same Idempotency-Key) through 429, 5xx and refused connections.

    A shop's client under an outage does the same: the Idempotency-Key makes a retried create return the first
    one's result instead of a second invoice.
    """
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    deadline = time.monotonic() + 300
    last: object = None
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # nosec B310 - loopback
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            last = (exc.code, exc.read()[:300])
            if exc.code != 429 and exc.code < 500:
                raise AssertionError(f"{method} {path}: {last}") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, a cut-off body
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{method} {path} failed for 300 s; last: {last!r}")


def create_invoices(port: int, key: str, count: int, tag: str, workers: int = 8) -> list[dict[str, Any]]:
    """`count` invoices created through the faults (each with its own Idempotency-Key), in order."""

    def one(n: int) -> dict[str, Any]:
        body = {"amount": f"{n % 7 + 1}.25", "order_id": f"chaos-{tag}-{n}"}
        created: dict[str, Any] = call(port, "POST", "/v1/invoices", key, body, idempotency_key=f"chaos-{tag}-{n}")
        return created

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


# --- the checks ------------------------------------------------------------------------------------------------


def psql(dsn: str, sql: str) -> list[list[str]]:
    """Rows of a query (text), through Postgres' own psql."""
    ran = parts.run_checked([str(parts.postgres_bin_dir() / "psql"), dsn, "-tAF", "\t", "-c", sql])
    return [line.split("\t") for line in ran.strip().splitlines() if line]


TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def topic_address(address: str) -> str:
    """An address as a 32-byte log topic."""
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


@dataclass(frozen=True)
class Checked:
    """What the checks counted (every figure must be as the assertions say; kept for the report)."""

    invoices: int
    credited_once: int
    webhooks_paid: int
    paid_deliveries: int
    swept_once: int
    sweep_rows: int
    journal_transactions: int
    unbalanced: int
    seen_reorged: int = 0
    """Payments SEEN in blocks the chain's restart lost, reorged (then credited once when mined again)."""
    payments_resent: int = 0
    """Payments the customers' wallets sent again: lost by the chain's restart (or dropped from anvil's pool)."""


def check_books(
    dsn: str,
    invoices: Sequence[dict[str, Any]],
    sweeps_on_chain: Callable[[], dict[str, int]],
) -> Checked:
    """Credited exactly once (journal), swept exactly once (chain and ledger), the journal balanced; the counts."""
    ids = [str(i["id"]) for i in invoices]
    listed = ",".join(f"'{i}'" for i in ids if i.replace("_", "").isalnum())
    assert len(listed.split(",")) == len(ids), "unexpected invoice id format"
    credits = dict(
        (row[0], int(row[1]))
        for row in psql(
            dsn,
            "SELECT invoice_id, count(*) FROM ledger.journal_transactions WHERE kind = 'payment_final' "
            f"AND invoice_id IN ({listed}) GROUP BY invoice_id",
        )
    )
    twice = {i: n for i, n in credits.items() if n != 1}
    assert not twice, f"invoices credited more than once: {twice}"
    missing = set(ids) - set(credits)
    assert not missing, f"{len(missing)} invoices never credited, e.g. {sorted(missing)[:3]}"
    # A payment SEEN in blocks the chain lost is reorged (`seen_payment_reorged`); a credit is never reversed.
    reversed_ = psql(
        dsn,
        "SELECT count(*) FROM ledger.journal_transactions "
        f"WHERE kind = 'credited_payment_reversed' AND invoice_id IN ({listed})",
    )
    assert reversed_ == [["0"]], f"credits reversed: {reversed_}"
    unbalanced = psql(
        dsn,
        "SELECT count(*) FROM (SELECT transaction_id FROM ledger.journal_entries GROUP BY transaction_id "
        "HAVING sum(CASE side WHEN 'D' THEN amount ELSE -amount END) <> 0) t",
    )
    assert unbalanced == [["0"]], f"unbalanced journal transactions: {unbalanced}"
    journal = int(psql(dsn, "SELECT count(*) FROM ledger.journal_transactions")[0][0])
    reorged = psql(
        dsn,
        "SELECT count(*) FROM ledger.journal_transactions "
        f"WHERE kind = 'seen_payment_reorged' AND invoice_id IN ({listed})",
    )
    addresses = {str(i["deposit_address"]).lower() for i in invoices}
    rows = psql(dsn, "SELECT lower(deposit_address), count(*) FROM ledger.sweep_deposits GROUP BY 1")
    booked = {row[0]: int(row[1]) for row in rows if row[0] in addresses}
    assert all(n == 1 for n in booked.values()), {a: n for a, n in booked.items() if n != 1}
    assert set(booked) == addresses, f"{len(addresses - set(booked))} deposits with no sweep booked"
    on_chain = sweeps_on_chain()
    assert {a: on_chain.get(a, 0) for a in addresses} == dict.fromkeys(addresses, 1), {
        a: on_chain.get(a, 0) for a in addresses if on_chain.get(a, 0) != 1
    }
    return Checked(
        invoices=len(ids),
        credited_once=len(credits),
        webhooks_paid=0,
        paid_deliveries=0,
        swept_once=len(addresses),
        sweep_rows=len(booked),
        journal_transactions=journal,
        unbalanced=0,
        seen_reorged=int(reorged[0][0]),
    )


def sweeps_from_chain(rpc: JsonRpc, token: str, treasury: str, from_block: int) -> dict[str, int]:
    """How many token transfers each address sent to the treasury since `from_block` (each is one flush)."""
    logs = rpc.request(
        "eth_getLogs",
        {
            "fromBlock": hex(from_block),
            "toBlock": "latest",
            "address": token,
            "topics": [TRANSFER_TOPIC, None, topic_address(treasury)],
        },
    )
    counted: dict[str, int] = {}
    for log in logs:
        sender = "0x" + str(log["topics"][1])[-40:]
        counted[sender.lower()] = counted.get(sender.lower(), 0) + 1
    return counted


def run_chaos(
    g: Gateway, count: int, *, interval: float = 3.0, rounds: int = 1
) -> tuple[list[Kill], Checked, dict[str, float]]:
    """Fault every program (`Chaos`) while `count` invoices are created and paid at once; then check everything.

    Under `up --replicas N` each replica is a program of its own, faulted right after the first one (`with_replicas`).
    The `FRONT` programs are faulted while the invoices are created; the payments are sent once they exist and those
    faults are over, and the `BACK` programs are faulted from then on, while the payments are processed.
    After the schedule: one `invoice.paid` event per invoice (`wait_all_paid`); each invoice PAID with exactly its
    amount paid (REST); the balance grown by the sum, every deposit swept, reconciliation MATCHED
    (`assert_books_balance`); and `check_books`. Returns the faults, the counts and the times (seconds from the
    load's start: each fault's `at` and `back`, invoices created, payments sent, all paid, the last `invoice.paid`
    received, all checked).
    """
    timings: dict[str, float] = {}
    before = g.available()
    first_block = int(g.rpc.request("eth_blockNumber"), 16)
    load, origin = time.monotonic(), time.time()
    programs = statuses(g.state)
    front_order, back_order = with_replicas(FRONT, programs), with_replicas(BACK, programs)
    front = Chaos(g.state, interval=interval, rounds=rounds, order=front_order)
    back = Chaos(g.state, interval=interval, rounds=rounds, order=back_order, rpc=g.rpc)
    budget = RESTART_TIMEOUT * ((len(front_order) + len(back_order)) * rounds + 1)
    front.start()
    try:
        invoices = create_invoices(g.ports["envoy"], g.api_key, count, tag=str(first_block))
        assert len({i["deposit_address"] for i in invoices}) == count
        timings["created"] = time.monotonic() - load
        front.join(timeout=budget)
        senders = [g.chain.accounts()[n] for n in (5, 6, 7, 8)]
        # Sent straight to the chain before it is faulted; sent again (same nonce, same hash) only if it is lost.
        transfers = g.pay_at_once(invoices, senders)
        timings["sent"] = time.monotonic() - load
        back.start()
        receipts_through_faults(g, transfers, timeout=600)
        back.join(timeout=budget)
        # After the chain's kill: every payment still mined (one in the blocks it lost is sent again).
        receipts_through_faults(g, transfers, timeout=600)
    finally:
        front.stop.set()
        back.stop.set()
    kills = front.kills + back.kills
    paid = g.wait_all_paid(invoices, timeout=600)
    timings["paid"] = time.monotonic() - load
    with ThreadPoolExecutor(4) as pool:  # as the merchant reads them (honouring 429): PAID, the amount paid once
        read = list(pool.map(lambda i: call(g.ports["envoy"], "GET", f"/v1/invoices/{i['id']}", g.api_key), invoices))
    wrong = [
        (r["id"], r["status"], r.get("amount_paid_base_units"))
        for r, i in zip(read, invoices, strict=True)
        if (r["status"], r.get("amount_paid_base_units")) != ("INVOICE_STATUS_PAID", i["amount_base_units"])
    ]
    assert not wrong, f"{len(wrong)} invoices not PAID their amount exactly: {wrong[:5]}"
    g.assert_books_balance(invoices, before, timeout=600)
    dsn = program_env(g.state, "ledger")["STABLEGATE_LEDGER_DATABASE_URL"]
    checked = check_books(
        dsn, invoices, lambda: sweeps_from_chain(g.rpc, g.token.address, g.deployed["treasury"], first_block)
    )
    paid_ids = {e["id"] for e in paid}
    with g.receiver.lock:
        deliveries = sum(1 for d in g.receiver.deliveries if d.headers["webhook-id"] in paid_ids)
    with g.receiver.lock:
        notified = [d.received for d in g.receiver.deliveries if d.headers["webhook-id"] in paid_ids]
    timings["last_notified"] = max(notified) - origin
    timings["checked"] = time.monotonic() - load
    return (
        [replace(k, at=k.at - origin, back=k.back - origin) for k in kills],
        replace(
            checked,
            webhooks_paid=len(paid),
            paid_deliveries=deliveries,
            payments_resent=sum(1 for t in transfers if t.resent),
        ),
        timings,
    )
