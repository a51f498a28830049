"""The worked integrations: each SDK's minimal shop (sdks/python/examples/shop.py, sdks/typescript/examples/shop.mjs,
sdks/php/examples/shop.php) completes a paid order on the local chain.

The gateway runs as `./dev up` runs it (`stablegate up`: anvil with the contracts, the watcher, every service), one
for the module. For each shop: the merchant registers the shop's webhook URL with the SDK; a customer buys through
the shop and is redirected to the hosted checkout page; a forged `invoice.paid` is refused by the shop; the
customer pays on chain; the watcher takes the invoice to PAID at finality, the dispatcher sends `invoice.paid`, and
the shop, having verified it, fulfils the order.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from stablegate_sdk import Stablegate

from chain.contracts import Chain, Contract, load_artifact
from chain.rpc import JsonRpc
from gateway import localrun, parts, sdkgen
from tests.e2e.e2e_harness import CUSTOMER_ACCOUNT, UP_TIMEOUT, printed, rest, start_up, stop_up, wait_until

pytestmark = pytest.mark.timeout(600)  # `up` itself may take minutes on a loaded machine (UP_TIMEOUT)

SCOPES = ["invoices:read", "invoices:write", "balance:read", "webhooks:read", "webhooks:write"]


@dataclass
class LocalGateway:
    """`stablegate up` with a merchant key, and a customer with tokens on anvil."""

    url: str
    api_key: str
    token: Contract
    customer: str

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """The merchant reads an invoice over REST."""
        status, found = rest(int(urlsplit(self.url).port or 0), "GET", f"/v1/invoices/{invoice_id}", self.api_key)
        assert status == 200, found
        return found

    def pay(self, address: str, units: int) -> None:
        """The customer transfers `units` of the token to `address` (minting them first: the test token is open)."""
        self.token.transact("mint", self.customer, units, sender=self.customer)
        self.token.transact("transfer", address, units, sender=self.customer)


@pytest.fixture(scope="module")
def local_gateway() -> Iterator[LocalGateway]:
    # A directory Postgres (run as `postgres` under root) can enter by its mode bits alone: an ACL on pytest's own
    # 0700 base dir is undone when a concurrent pytest run chmods that dir (which resets the ACL mask).
    tmp = parts.make_shared_dir("stablegate-shops-")
    state = tmp / "state"
    base = parts.free_port_block(len(localrun.assign_ports(20000)))
    ports = localrun.assign_ports(base)
    out = tmp / "up.out"
    proc = start_up(state, base, out)
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while b"gateway is up" not in out.read_bytes():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.25)
        admin_key = printed(out.read_text(), "admin key: ")
        status, merchant = rest(
            ports["envoy_admin_api"], "POST", "/admin/v1/merchants", admin_key,
            {"name": "Coffee shop", "contact_email": "shop@coffee.example"},
        )  # fmt: skip
        assert status == 200, merchant
        status, key = rest(
            ports["envoy_admin_api"], "POST", f"/admin/v1/merchants/{merchant['id']}/api_keys", admin_key,
            {"scopes": SCOPES, "name": "shop"},
        )  # fmt: skip
        assert status == 200, key
        deployed = json.loads((state / "chain.json").read_text())
        chain = Chain(JsonRpc(f"http://127.0.0.1:{ports['anvil']}"))
        token = Contract(chain, deployed["token"], load_artifact("StablegateTestToken"))
        yield LocalGateway(
            f"http://127.0.0.1:{ports['envoy']}", str(key["plaintext_key"]), token, chain.accounts()[CUSTOMER_ACCOUNT]
        )
    finally:
        stop_up(proc, state)
        shutil.rmtree(localrun.postgres_base_for(state), ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """One GET without following redirects."""
    parts_ = urlsplit(url)
    conn = http.client.HTTPConnection(parts_.hostname or "127.0.0.1", parts_.port or 80, timeout=30)
    try:
        conn.request("GET", parts_.path or "/")
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts_ = urlsplit(url)
    conn = http.client.HTTPConnection(parts_.hostname or "127.0.0.1", parts_.port or 80, timeout=30)
    try:
        conn.request("POST", parts_.path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def start_shop(args: list[str], cwd: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start a shop and wait until it accepts connections on `port`."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(
        "the shop listening",
        lambda: parts.port_is_open(port) or (proc.poll() is not None and pytest.fail(log.read_text())),
        timeout=30,
        every=0.1,
    )
    return proc


def complete_a_paid_order(
    gateway: LocalGateway, args: list[str], cwd: Path, extra_env: dict[str, str], *, port: int, log: Path
) -> None:
    """Register the shop's webhook, buy through it, refuse a forgery, pay on chain, see the order fulfilled."""
    with Stablegate(gateway.api_key, base_url=gateway.url) as merchant:
        endpoint = merchant.webhook_endpoints.create(
            f"http://127.0.0.1:{port}/webhooks/stablegate", enabled_events=["invoice.paid"]
        )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "STABLEGATE_URL": gateway.url,
        "STABLEGATE_KEY": gateway.api_key,
        "STABLEGATE_WEBHOOK_SECRET": str(endpoint.secret),
        "SHOP_PORT": str(port),
        **extra_env,
    }
    shop = start_shop(args, cwd, env, port, log)
    shop_url = f"http://127.0.0.1:{port}"
    try:
        status, headers, body = get(f"{shop_url}/buy/coffee")
        assert status == 303, body
        order_id = json.loads(body)["order_id"]
        checkout_url = headers["location"]
        assert "/checkout/inv_" in checkout_url
        page_status, _, page = get(checkout_url)  # the customer lands on the hosted checkout page
        assert page_status == 200 and b"4.5" in page

        order: dict[str, Any] = json.loads(get(f"{shop_url}/orders/{order_id}")[2])
        assert (order["status"], order["amount"]) == ("awaiting_payment", "4.50")
        invoice = rest(
            int(urlsplit(gateway.url).port or 0), "GET", f"/v1/invoices/{order['invoice_id']}", gateway.api_key
        )[1]

        forged = json.dumps({"id": "evt_forged", "type": "invoice.paid", "data": {"id": order["invoice_id"]}}).encode()
        forged_headers = {
            "webhook-id": "evt_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiAzMiBieXRlcyEhISE=",
            "content-type": "application/json",
        }
        assert post(f"{shop_url}/webhooks/stablegate", forged, forged_headers) == 400
        assert json.loads(get(f"{shop_url}/orders/{order_id}")[2])["status"] == "awaiting_payment"

        gateway.pay(invoice["deposit_address"], int(invoice["amount_base_units"]))
        fulfilled = wait_until(
            f"order {order_id} fulfilled",
            lambda: (o := json.loads(get(f"{shop_url}/orders/{order_id}")[2]))["status"] == "fulfilled" and o,
            timeout=120,
            every=0.5,
        )
        assert fulfilled["invoice_id"] == invoice["id"]
        paid = gateway.invoice(invoice["id"])
        assert paid["status"] == "INVOICE_STATUS_PAID"
    finally:
        shop.terminate()
        shop.wait(timeout=10)
    assert "Traceback" not in log.read_text() and "Fatal" not in log.read_text(), log.read_text()


def test_the_python_shop_completes_a_paid_order_on_the_local_chain(local_gateway: LocalGateway, tmp_path: Path) -> None:
    python_sdk = sdkgen.SDK_ROOT / "python"
    complete_a_paid_order(
        local_gateway,
        [sys.executable, str(python_sdk / "examples" / "shop.py")],
        python_sdk,
        {"PYTHONPATH": str(python_sdk)},
        port=parts.free_port(),
        log=tmp_path / "shop.log",
    )


def test_the_typescript_shop_completes_a_paid_order_on_the_local_chain(
    local_gateway: LocalGateway, tmp_path: Path
) -> None:
    package = tmp_path / "sdk"
    shutil.copytree(sdkgen.SDK_ROOT / "typescript", package, ignore=shutil.ignore_patterns("dist", "node_modules"))
    (package / "node_modules").symlink_to(parts.REPO_ROOT / "node_modules")
    tsc = parts.which("tsc", "run ./dev setup (npm install typescript)")
    subprocess.run([tsc, "-p", str(package / "tsconfig.json")], check=True, capture_output=True, timeout=180)
    # The example imports "@stablegate/sdk" by name: the package's own `exports` resolve it (self-reference).
    home = {"HOME": os.environ.get("HOME", "/tmp")}
    complete_a_paid_order(
        local_gateway, ["node", "examples/shop.mjs"], package, home, port=parts.free_port(), log=tmp_path / "shop.log"
    )


def test_the_php_shop_completes_a_paid_order_on_the_local_chain(local_gateway: LocalGateway, tmp_path: Path) -> None:
    php_sdk = sdkgen.SDK_ROOT / "php"
    port = parts.free_port()
    data = tmp_path / "data"
    data.mkdir()
    complete_a_paid_order(
        local_gateway,
        ["php", "-S", f"127.0.0.1:{port}", str(php_sdk / "examples" / "shop.php")],
        php_sdk,
        {"SHOP_DATA_DIR": str(data)},
        port=port,
        log=tmp_path / "shop.log",
    )
