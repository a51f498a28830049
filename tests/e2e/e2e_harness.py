"""The end-to-end suite's world: the gateway as shipped (`stablegate up`), a merchant, a customer, a webhook receiver.

The gateway runs the way `./dev up` runs it: `python -m gateway up` on a free block of ports with a temporary
state dir, everything under supervisord. The suite then acts only as its users would:

- the **merchant** through REST on Envoy with its API key (and its own webhook receiver, a local HTTP server
  that verifies every delivery with the `standardwebhooks` library from PyPI);
- the **customer** through the chain: token transfers from one of anvil's dev accounts to deposit addresses;
- the **operator** through the admin REST API (its own listener) and `stablegate reconcile`.

Three settings differ from `up`'s defaults, passed in the environment as an operator would set them: a settlement
address cools off for 3 seconds instead of 24 hours, and the expiry job and the payout scheduler run every second.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from chain.contracts import Chain, Contract, load_artifact
from chain.rpc import JsonRpc
from gateway import localrun, parts
from gateway.up_options import REPLICAS_VAR

UNIT = 10**18
"""One USDT in base units (the local test token has 18 decimals, as BSC's USDT)."""
COOLING_OFF_SECONDS = 3
UP_TIMEOUT = 240.0
MERCHANT_SCOPES = [
    "invoices:read",
    "invoices:write",
    "balance:read",
    "payouts:read",
    "payouts:write",
    "webhooks:read",
    "webhooks:write",
]
CUSTOMER_ACCOUNT = 7
"""Which of anvil's dev accounts the customer pays from (`demo pay` uses 5; the first few hold contract roles)."""


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; that value. Fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(every)


# --- the merchant's webhook receiver ------------------------------------------------------------------------


@dataclass
class Delivery:
    """One webhook request the merchant's receiver got, and whether its signature verified."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    received: float = field(default_factory=time.time)
    """When the request's body had been read (wall clock, seconds since the epoch)."""

    @property
    def event(self) -> dict[str, Any]:
        """The parsed event envelope."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class WebhookReceiver:
    """The merchant's webhook endpoint: a real HTTP server on loopback that verifies with `standardwebhooks`."""

    secret: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        """Where the gateway posts."""
        return f"http://127.0.0.1:{self.port}/hooks"

    def record(self, headers: dict[str, str], body: bytes) -> None:
        """Verify a delivery with the standardwebhooks library (the receiver's only check) and keep it."""
        received = time.time()
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            self.deliveries.append(Delivery(headers, body, verified, received))

    def events(self, type_: str | None = None, object_id: str | None = None) -> list[dict[str, Any]]:
        """The distinct events received (deduplicated on `webhook-id`), optionally of one type and object."""
        with self.lock:
            seen: dict[str, dict[str, Any]] = {}
            for delivery in self.deliveries:
                seen.setdefault(delivery.headers["webhook-id"], delivery.event)
        found = list(seen.values())
        if type_ is not None:
            found = [e for e in found if e["type"] == type_]
        if object_id is not None:
            found = [e for e in found if object_id in json.dumps(e["data"])]
        return found

    def wait_for(self, type_: str, object_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first `type_` event about `object_id`, waiting for it to arrive."""
        found = wait_until(f"webhook {type_} about {object_id}", lambda: self.events(type_, object_id), timeout)
        event: dict[str, Any] = found[0]
        return event

    def unverified(self) -> list[Delivery]:
        """Deliveries whose signature did not verify (there must be none)."""
        with self.lock:
            return [d for d in self.deliveries if not d.verified]


@contextlib.contextmanager
def receiving() -> Iterator[WebhookReceiver]:
    """Run a WebhookReceiver on a free loopback port in a thread."""
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


# --- the gateway as `up` runs it -------------------------------------------------------------------------------


def rest(port: int, method: str, path: str, key: str, body: object = None) -> tuple[int, dict[str, Any]]:
    """One JSON call to the gateway's Envoy (bearer key); (status, body), HTTP errors as their status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    parsed = json.loads(raw) if raw else {}
    return status, parsed if isinstance(parsed, dict) else {"value": parsed}


def printed(text: str, label: str) -> str:
    """The value `up` printed after `label` on one of its lines."""
    (line,) = [line for line in text.splitlines() if label in line]
    return line.split(label, 1)[1].split()[0]


def program_env(state: Path, program: str) -> dict[str, str]:
    """The environment supervisord gives one program (its `environment=` line in `up`'s supervisord.conf)."""
    text = (state / "supervisord.conf").read_text()
    section = text.split(f"[program:{program}]", 1)[1].split("\n[", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith("environment=")]
    pairs = re.findall(r"([A-Z0-9_]+)=(\"[^\"]*\"|'[^']*')", line.removeprefix("environment="))
    return {key: value[1:-1].replace("%%", "%") for key, value in pairs}


@dataclass
class Transfer:
    """A token transfer a customer sent (anvil signs it), and the hash it has now."""

    tx: dict[str, str]
    hash: str
    resent: int = 0
    """How often it was sent again after the node dropped it (see `Gateway.receipts`)."""


@dataclass
class Gateway:
    """A running `stablegate up`, its operator's admin key and a merchant set up for the suite."""

    state: Path
    ports: dict[str, int]
    admin_key: str
    merchant_id: str
    api_key: str
    deployed: dict[str, Any]
    receiver: WebhookReceiver
    chain: Chain
    token: Contract
    customer: str
    timed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Invoices with a one-minute expiry made at the start, so that the tests about expiry need not wait long."""
    funding: list[Transfer] = field(default_factory=list)
    """The customers' own mints before their payments (`pay_at_once`): a chain that loses the block of one must
    see it sent again before the payments after it (same sender, later nonces) can be mined."""

    @property
    def rpc(self) -> JsonRpc:
        """The local anvil."""
        return self.chain.rpc

    def api(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
        """The merchant's REST call through Envoy."""
        return rest(self.ports["envoy"], method, path, self.api_key, body)

    def ok(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """A merchant's REST call that must succeed; its body."""
        status, reply = self.api(method, path, body)
        assert status == 200, (method, path, status, reply)
        return reply

    def admin(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
        """The operator's call on the admin listener."""
        return rest(self.ports["envoy_admin_api"], method, path, self.admin_key, body)

    def invoice(self, amount: str, **fields: Any) -> dict[str, Any]:
        """The merchant creates an invoice."""
        return self.ok("POST", "/v1/invoices", {"amount": amount, **fields})

    def status(self, invoice_id: str) -> dict[str, Any]:
        """The merchant reads an invoice."""
        return self.ok("GET", f"/v1/invoices/{invoice_id}")

    def wait_status(self, invoice_id: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the invoice until it is in `status` (e.g. "PAID"); the invoice."""

        def check() -> dict[str, Any] | None:
            read = self.status(invoice_id)
            return read if read["status"] == f"INVOICE_STATUS_{status}" else None

        found: dict[str, Any] = wait_until(f"{invoice_id} {status}", check, timeout)
        return found

    def pay(self, address: str, units: int) -> str:
        """The customer transfers `units` of the token to `address` (minting them first: the test token is open)."""
        self.token.transact("mint", self.customer, units, sender=self.customer)
        return self.token.transact("transfer", address, units, sender=self.customer).tx_hash

    def create_invoice(self, n: int) -> dict[str, Any]:
        """Create bulk invoice `n` as a shop would: honouring 429 `Retry-After`, retrying with the same body."""
        body = {"amount": f"{n % 7 + 1}.25", "order_id": f"bulk-{n}"}
        for _ in range(60):
            status, reply = self.api("POST", "/v1/invoices", body)
            if status == 200:
                return reply
            assert status == 429, (status, reply)
            time.sleep(1)
        raise AssertionError(f"invoice {n} still rate limited after a minute")

    def create_invoices(self, count: int, workers: int = 8) -> list[dict[str, Any]]:
        """`count` bulk invoices created over REST by `workers` clients at once, in order."""
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(self.create_invoice, range(count)))

    def pay_at_once(self, invoices: Sequence[dict[str, Any]], senders: Sequence[str]) -> list[Transfer]:
        """Pay every invoice its exact amount, all transfers sent before any is mined; the transfers, in order.

        The invoices are dealt round-robin to `senders` (anvil dev accounts, each minted its share first), and
        each sender sends its transfers in its own thread, numbering their nonces itself.
        """
        shares = {sender: list(range(i, len(invoices), len(senders))) for i, sender in enumerate(senders)}
        mint = self.token.artifact.function("mint")
        mints: list[Transfer] = []
        for sender, indexes in shares.items():
            owed = sum(int(invoices[i]["amount_base_units"]) for i in indexes)
            tx = {
                "from": sender,
                "to": self.token.address,
                "data": "0x" + mint.calldata((sender, owed)).hex(),
                "gas": hex(200_000),
                "nonce": hex(int(self.rpc.request("eth_getTransactionCount", sender, "pending"), 16)),
            }
            mints.append(Transfer(tx, str(self.rpc.request("eth_sendTransaction", tx))))
        self.receipts(mints)  # each sender holds its share before it pays
        self.funding.extend(mints)
        transfer = self.token.artifact.function("transfer")
        sent: list[Transfer | None] = [None] * len(invoices)

        def send(sender: str) -> None:
            nonce = int(self.rpc.request("eth_getTransactionCount", sender, "pending"), 16)
            for n, i in enumerate(shares[sender]):
                calldata = transfer.calldata((invoices[i]["deposit_address"], int(invoices[i]["amount_base_units"])))
                tx = {
                    "from": sender,
                    "to": self.token.address,
                    "data": "0x" + calldata.hex(),
                    "gas": hex(120_000),
                    "nonce": hex(nonce + n),
                }
                sent[i] = Transfer(tx, str(self.rpc.request("eth_sendTransaction", tx)))

        with ThreadPoolExecutor(len(senders)) as pool:
            list(pool.map(send, senders))
        return [t for t in sent if t is not None]

    def receipts(self, transfers: Sequence[Transfer], timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until every transfer is mined, sending again one the node dropped; their receipts, all successful.

        anvil sometimes drops part of a burst of about 1,000 transactions from its pool (seen at a block that
        filled up; why is not known here) without telling the sender (foundry-rs/foundry#13352), as a busy
        chain's mempool may: a wallet then sends the transaction again, with the same nonce. Each transfer's
        `resent` counts how often that was needed.
        """
        found: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(transfers):
            for index, transfer in enumerate(transfers):
                if index in found:
                    continue
                receipt = self.rpc.request("eth_getTransactionReceipt", transfer.hash)
                if receipt is not None:
                    assert receipt["status"] == "0x1", receipt
                    found[index] = receipt
                elif self.rpc.request("eth_getTransactionByHash", transfer.hash) is None:
                    transfer.hash = str(self.rpc.request("eth_sendTransaction", transfer.tx))
                    transfer.resent += 1
            if len(found) < len(transfers):
                assert time.monotonic() < deadline, f"{len(transfers) - len(found)} transfers not mined in {timeout} s"
                time.sleep(0.25)
        return [found[i] for i in range(len(transfers))]

    def wait_all_paid(self, invoices: Sequence[dict[str, Any]], timeout: float = 180.0) -> list[dict[str, Any]]:
        """Wait for an `invoice.paid` webhook about every invoice; those events, exactly one per invoice.

        Retries and redeliveries of one event share its `webhook-id` and count once; a second event about the
        same invoice fails.
        """
        ids = {i["id"] for i in invoices}

        def paid() -> list[dict[str, Any]]:
            return [e for e in self.receiver.events("invoice.paid") if e["data"]["id"] in ids]

        wait_until(f"{len(ids)} invoice.paid webhooks", lambda: {e["data"]["id"] for e in paid()} >= ids, timeout, 1)
        events = paid()
        assert len(events) == len(ids), f"{len(events) - len(ids)} invoice.paid events more than invoices"
        assert not self.receiver.unverified()
        return events

    def assert_books_balance(
        self, invoices: Sequence[dict[str, Any]], available_before: int, timeout: float = 180.0
    ) -> None:
        """The paid invoices credited in full, every forwarder swept into the treasury, reconciliation MATCHED."""
        total = sum(int(i["amount_base_units"]) for i in invoices)
        assert self.available() == available_before + total
        wait_until(
            "every deposit swept",
            lambda: all(self.balance_of(i["deposit_address"]) == 0 for i in invoices),
            timeout=timeout,
            every=2,
        )
        assert self.reconciled()["mismatch_count"] == 0

    def balance_of(self, address: str) -> int:
        """The token balance of an address on chain."""
        return int(self.token.call1("balanceOf", address))

    def available(self) -> int:
        """The merchant's available balance in base units (GET /v1/balance)."""
        reply = self.ok("GET", "/v1/balance")
        total = 0
        for entry in reply.get("assets", []):
            total += int(entry.get("available_base_units", "0"))
        return total

    def reconcile(self) -> tuple[int, dict[str, Any], str]:
        """`stablegate reconcile --json` as an operator runs it, with settlement's own settings; (code, report, err)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
        env.update(program_env(self.state, "settlement"))
        ran = subprocess.run(
            [sys.executable, "-m", "gateway", "reconcile", "--json"],
            env=env,
            cwd=parts.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        report = json.loads(ran.stdout) if ran.stdout.strip().startswith("{") else {}
        return ran.returncode, report, ran.stderr + ran.stdout[-2000:]

    def reconciled(self, timeout: float = 90.0) -> dict[str, Any]:
        """Reconcile until a run is MATCHED (settlement work in flight may differ for a moment); that report.

        Fails with the last run's lines that did not match.
        """
        last: list[Any] = []

        def matched() -> dict[str, Any] | None:
            code, report, err = self.reconcile()
            last[:] = [code, [line for line in report.get("lines", []) if line["status"] != "MATCHED"], err[-500:]]
            return report if code == 0 and report.get("status") == "MATCHED" else None

        try:
            found: dict[str, Any] = wait_until("a MATCHED reconciliation", matched, timeout, every=2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: exit {last[0]}, lines not matched {last[1]}, {last[2]}") from None
        return found


SUITE_SETTINGS = {
    "STABLEGATE_LEDGER_SETTLEMENT_ADDRESS_COOLING_OFF_SECONDS": str(COOLING_OFF_SECONDS),
    "STABLEGATE_LEDGER_EXPIRY_INTERVAL_SECONDS": "1",
    "STABLEGATE_LEDGER_PAYOUT_SCHEDULE_INTERVAL_SECONDS": "1",
}
"""The suite's three settings that differ from `up`'s defaults (see the module docstring)."""


def start_up(
    state: Path, base: int, out: Path, settings: Mapping[str, str] = SUITE_SETTINGS, replicas: int = 1
) -> subprocess.Popen[bytes]:
    """`stablegate up` in the background, as `./dev up` runs it, with `settings` added to its environment.

    `replicas`: `up --replicas` (how many of each service but the signer).
    """
    env = {**os.environ, "COLUMNS": "200", **settings}
    env.pop(REPLICAS_VAR, None)
    with out.open("wb") as sink:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "gateway", "up", "--state-dir", str(state), "--base-port", str(base)),
                *("--replicas", str(replicas)),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=parts.REPO_ROOT,
            env=env,
        )


def stop_up(proc: subprocess.Popen[bytes], state: Path) -> None:
    """Ctrl-C `up` (it stops everything), or kill what is left if it does not."""
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for process in localrun.leftover_programs(state.resolve()):
        with contextlib.suppress(psutil.Error):
            process.kill()


@contextlib.contextmanager
def running_gateway(tmp: Path, settings: Mapping[str, str] = SUITE_SETTINGS, replicas: int = 1) -> Iterator[Gateway]:
    """`stablegate up` in `tmp` with a merchant onboarded by the operator, a webhook endpoint and a customer.

    `replicas`: how many of each service but the signer `up` runs (`--replicas`).

    The merchant's endpoint receives every event type. On leaving, `up` is stopped with Ctrl-C and every port it
    held must be closed; no delivery may have failed verification. Shared by the suite's fixture and
    `bench/e2e.py`.
    """
    state = tmp / "state"
    base = parts.free_port_block(len(localrun.assign_ports(20000, replicas)))
    ports = localrun.assign_ports(base, replicas)
    out = tmp / "up.out"
    proc = start_up(state, base, out, settings, replicas)
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while b"gateway is up" not in out.read_bytes():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.25)
        text = out.read_text()
        admin_key = printed(text, "admin key: ")
        # The operator onboards the suite's merchant and gives it a key with every merchant scope.
        status, merchant = rest(
            ports["envoy_admin_api"], "POST", "/admin/v1/merchants", admin_key,
            {"name": "E2E shop", "contact_email": "shop@e2e.example"},
        )  # fmt: skip
        assert status == 200, merchant
        status, key = rest(
            ports["envoy_admin_api"], "POST", f"/admin/v1/merchants/{merchant['id']}/api_keys", admin_key,
            {"scopes": MERCHANT_SCOPES, "name": "e2e"},
        )  # fmt: skip
        assert status == 200, key
        deployed = json.loads((state / "chain.json").read_text())
        chain = Chain(JsonRpc(f"http://127.0.0.1:{ports['anvil']}"))
        token = Contract(chain, deployed["token"], load_artifact("StablegateTestToken"))
        with receiving() as receiver:
            world = Gateway(
                state=state,
                ports=ports,
                admin_key=admin_key,
                merchant_id=str(merchant["id"]),
                api_key=str(key["plaintext_key"]),
                deployed=deployed,
                receiver=receiver,
                chain=chain,
                token=token,
                customer=chain.accounts()[CUSTOMER_ACCOUNT],
            )
            # The merchant registers its webhook endpoint for every event; the secret is shown once.
            endpoint = world.ok("POST", "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]})
            assert endpoint["secret"].startswith("whsec_")
            receiver.secret = endpoint["secret"]
            yield world
            assert not receiver.unverified(), "a webhook delivery failed standardwebhooks verification"
    finally:
        stop_up(proc, state)
        shutil.rmtree(localrun.postgres_base_for(state), ignore_errors=True)
    # Ctrl-C stopped everything `up` started.
    assert not [name for name, port in ports.items() if parts.port_is_open(port)]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`stablegate up` with the suite's merchant and customer, and two invoices that take a minute to expire."""
    with running_gateway(tmp_path_factory.mktemp("e2e")) as world:
        # Made first, as they take a minute to expire: one the customer pays only after its monitoring
        # window (0 s after expiry), one the customer pays only in part before it expires.
        world.timed["late"] = world.invoice("4", ttl="60s", monitoring_window="0s", description="late")
        world.timed["short"] = world.invoice("10", ttl="60s", description="short")
        world.pay(world.timed["short"]["deposit_address"], 6 * UNIT)
        short_id = world.timed["short"]["id"]
        wait_until(  # final before the tests start, so that it moves no balance they look at
            "the part payment credited",
            lambda: world.status(short_id).get("amount_paid_base_units") == str(6 * UNIT),
        )
        yield world
