"""The hosted checkout page through Envoy, on a real ledger, Redis and the checkout service, in headless Chromium.

What a customer must see is asserted on the rendered page (visible, inside the viewport, not overlapping) at
desktop and phone sizes; the status is driven as the watcher would drive it (ChainObservationService) and must
change on the open page without a reload. Screenshots go to docs/img/ (not compared: the browser changes often).
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis
from jsonschema import Draft202012Validator
from playwright.sync_api import Browser, FloatRect, Page, ViewportSize, expect, sync_playwright
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc
from stablegate.ledger.v1 import checkout_service_pb2 as co_pb
from stablegate.ledger.v1 import checkout_service_pb2_grpc as co_grpc

from checkout.live import channel, encode
from checkout.page import LiveStatus as PageStatus
from edge.envoy_config import CHECKOUT_CSP
from gateway import parts
from ledger.config import DEV_TOKEN
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.checkout.conftest import REQUEST_TIMEOUT
from tests.conftest import RedisServer, mesh_sync_channel
from tests.edge.conftest import Stack

CHROMIUM = "/usr/bin/chromium"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = parts.REPO_ROOT / "docs" / "img"
ENVOY_DEFAULT_ROUTE_TIMEOUT = 15.0
CUSTOMER_SEES = ("#amount", "#address", "#qr svg", "#status", "#countdown", "#copy")


@dataclass(frozen=True)
class Invoice:
    """The parts of a created invoice the tests use."""

    id: str
    amount: str
    address: str
    url: str
    """The checkout URL as the ledger made it (Envoy's public listener)."""

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path


@pytest.fixture(scope="module")
def merchant(checkout_stack: Stack) -> str:
    """A merchant's API key."""
    return checkout_stack.merchant_key()[1]


def create_invoice(stack: Stack, key: str, amount: str = "12.5") -> Invoice:
    made = stack.call("POST", "/v1/invoices", {"amount": amount, "description": "Order 1042"}, key)
    assert made.status == 200, made.body
    body = made.json()
    return Invoice(body["id"], body["amount"], body["deposit_address"], body["checkout_url"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no downloaded browser)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield launched
        finally:
            launched.close()


def observe(pki: DevMesh, ledger_port: int, address: str, amount: int, *, finality: str, tx: str) -> None:
    """Report a token transfer to the invoice's address, as the watcher would."""

    # Blocking gRPC: Playwright's sync API runs its own event loop in this thread.
    with mesh_sync_channel(pki, Role.WATCHER, ledger_port) as channel:
        obs_grpc.ChainObservationServiceStub(channel).RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(
                observation=obs_pb.TransferObservation(
                    chain_id=97,
                    token_contract=DEV_TOKEN,
                    tx_hash=tx,
                    log_index=0,
                    block_number=100,
                    block_hash="0x" + "b" * 64,
                    from_address="0x" + "c" * 40,
                    to_address=address,
                    amount_base_units=str(amount),
                    finality=obs_pb.ObservationFinality.Value(f"OBSERVATION_FINALITY_{finality}"),
                )
            ),
            timeout=10,
        )


def boxes(page: Page) -> dict[str, FloatRect]:
    """The bounding box of each element a customer must see (each must exist)."""
    found: dict[str, FloatRect] = {}
    for selector in CUSTOMER_SEES:
        box = page.locator(selector).bounding_box()
        assert box is not None, f"{selector} is not rendered"
        found[selector] = box
    return found


def assert_readable(page: Page, size: ViewportSize) -> None:
    """Every element a customer must see is visible, inside the viewport and overlaps no other."""
    for selector in CUSTOMER_SEES:
        expect(page.locator(selector)).to_be_visible()
    found = boxes(page)
    for selector, b in found.items():
        assert b["width"] > 0 and b["height"] > 0, selector
        assert b["x"] >= 0 and b["y"] >= 0, (selector, b)
        assert b["x"] + b["width"] <= size["width"] + 0.5, (selector, b, size)
        assert b["y"] + b["height"] <= size["height"] + 0.5, (selector, b, size)
    qr = found["#qr svg"]
    assert qr["width"] >= 150 and abs(qr["width"] - qr["height"]) < 1, qr  # square and large enough to scan
    names = list(found)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = found[first], found[second]
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, f"{first} overlaps {second}: {a} {b}"


def open_page(browser: Browser, stack: Stack, invoice: Invoice, size: ViewportSize) -> tuple[Page, Any]:
    context = browser.new_context(viewport=size, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    response = page.goto(f"http://127.0.0.1:{stack.port}{invoice.path}")
    assert response is not None and response.status == 200
    return page, (context, errors)


@pytest.mark.parametrize(("name", "size"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_customer_sees_amount_address_qr_and_countdown(
    checkout_stack: Stack, merchant: str, browser: Browser, name: str, size: ViewportSize
) -> None:
    invoice = create_invoice(checkout_stack, merchant)
    page, (context, errors) = open_page(browser, checkout_stack, invoice, size)
    try:
        expect(page.locator("#amount-value")).to_have_text("12.5")
        expect(page.locator("#address")).to_have_text(invoice.address)
        expect(page.locator("#status-title")).to_have_text("Awaiting payment")
        # The countdown runs from the invoice's expiry (15 minutes by default): m:ss, under 15:01.
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^1[0-5]:\d\d$|^\d:\d\d$"))
        # The QR code holds the invoice's EIP-681 URI (the same one the wallet link opens).
        uri = page.locator("#wallet").get_attribute("href")
        assert uri is not None and uri.startswith("ethereum:") and invoice.address in uri
        assert_readable(page, size)
        page.screenshot(path=str(SHOTS / f"checkout-{name}.png"))
        # Nothing the CSP refused (an inline script or a foreign asset would show up here).
        assert not errors, errors
    finally:
        context.close()


def test_status_turns_paid_on_the_open_page_without_reload(
    checkout_stack: Stack, merchant: str, browser: Browser, mesh_pki: DevMesh
) -> None:
    invoice = create_invoice(checkout_stack, merchant, "3")
    page, (context, errors) = open_page(browser, checkout_stack, invoice, PHONE)
    try:
        expect(page.locator("#status-title")).to_have_text("Awaiting payment")
        page.evaluate("window.notReloaded = true")
        tx = "0x" + secrets.token_hex(32)
        observe(mesh_pki, checkout_stack.ledger_port, invoice.address, 3 * 10**18, finality="SEEN", tx=tx)
        expect(page.locator("#status-title")).to_have_text("Payment seen, confirming", timeout=10_000)
        observe(mesh_pki, checkout_stack.ledger_port, invoice.address, 3 * 10**18, finality="FINAL", tx=tx)
        expect(page.locator("#status-title")).to_have_text("Paid", timeout=10_000)
        expect(page.locator("#checkout")).to_have_attribute("data-state", "paid")
        # Nothing is left to pay: the address and QR code are hidden.
        expect(page.locator("#pay")).to_be_hidden()
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=str(SHOTS / "checkout-paid.png"))
        assert not errors, errors
    finally:
        context.close()


def test_overpaid_invoice_shows_overpaid_live(
    checkout_stack: Stack, merchant: str, browser: Browser, mesh_pki: DevMesh
) -> None:
    invoice = create_invoice(checkout_stack, merchant, "2")
    page, (context, _) = open_page(browser, checkout_stack, invoice, DESKTOP)
    try:
        tx = "0x" + secrets.token_hex(32)
        observe(mesh_pki, checkout_stack.ledger_port, invoice.address, 5 * 10**18, finality="FINAL", tx=tx)
        expect(page.locator("#status-title")).to_have_text("Paid (overpaid)", timeout=10_000)
        expect(page.locator("#status-detail")).to_contain_text("Received 5 USDT for 2 USDT")
    finally:
        context.close()


def test_a_status_published_on_redis_reaches_every_open_page(
    checkout_stack: Stack, merchant: str, browser: Browser, redis_server: RedisServer
) -> None:
    """The live status is fanned out through Redis: one message on the invoice's channel updates every stream."""
    invoice = create_invoice(checkout_stack, merchant, "6")
    first, (first_context, _) = open_page(browser, checkout_stack, invoice, PHONE)
    second, (second_context, _) = open_page(browser, checkout_stack, invoice, DESKTOP)
    try:
        for page in (first, second):
            expect(page.locator("#status-title")).to_have_text("Awaiting payment")
        published = PageStatus("PAID", "paid", "Paid", "Received 6 USDT. Thank you.", "6", final=True)
        client = redis.Redis.from_url(redis_server.url)
        try:
            # The poller has published the invoice's real status once (so it will not publish it again while
            # nothing changes), and both streams have subscribed to the channel (a page may show its first status
            # from the HTML before its stream subscribes, so Redis is asked).
            deadline = time.monotonic() + 10
            while client.get(f"checkout:last:{invoice.id}") is None:
                assert time.monotonic() < deadline, "the poller never published the invoice's status"
                time.sleep(0.05)
            while dict(client.pubsub_numsub(channel(invoice.id))).get(channel(invoice.id).encode(), 0) < 2:
                assert time.monotonic() < deadline, "the two pages' streams never subscribed"
                time.sleep(0.05)
            assert client.publish(channel(invoice.id), encode(published)) >= 2
        finally:
            client.close()
        for page in (first, second):
            expect(page.locator("#status-title")).to_have_text("Paid", timeout=10_000)
            expect(page.locator("#pay")).to_be_hidden()
    finally:
        first_context.close()
        second_context.close()


def read_event(response: http.client.HTTPResponse) -> str:
    """The data of the next `status` event on a server-sent event stream (comment lines skipped)."""
    event, data = "", ""
    while True:
        line = response.readline().decode()
        assert line, "the stream ended"
        if line == "\n" and event == "status":
            return data
        if line.startswith("event: "):
            event = line.removeprefix("event: ").strip()
        elif line.startswith("data: "):
            data = line.removeprefix("data: ").strip()


def test_live_stream_outlives_envoys_request_timeout(
    checkout_stack: Stack, merchant: str, redis_server: RedisServer
) -> None:
    invoice = create_invoice(checkout_stack, merchant, "5")
    conn = http.client.HTTPConnection("127.0.0.1", checkout_stack.port, timeout=30)
    client = redis.Redis.from_url(redis_server.url)
    try:
        conn.request("GET", invoice.path + "/events")
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["content-security-policy"] == CHECKOUT_CSP
        assert '"state":"awaiting"' in read_event(response)
        # Past this stack's request timeout and past Envoy's default route timeout (15 s), which the checkout
        # route turns off: either would have cut the stream.
        time.sleep(max(REQUEST_TIMEOUT, ENVOY_DEFAULT_ROUTE_TIMEOUT) + 1)
        published = PageStatus("CANCELED", "canceled", "Canceled", "x", "0", final=True)
        assert client.publish(channel(invoice.id), encode(published)) >= 1
        assert read_event(response) == encode(published)
    finally:
        client.close()
        conn.close()


def test_canceled_invoice_shows_canceled_live_and_hides_the_address(
    checkout_stack: Stack, merchant: str, browser: Browser
) -> None:
    invoice = create_invoice(checkout_stack, merchant, "4")
    page, (context, _) = open_page(browser, checkout_stack, invoice, PHONE)
    try:
        canceled = checkout_stack.call("POST", f"/v1/invoices/{invoice.id}:cancel", {}, merchant)
        assert canceled.status == 200, canceled.body
        expect(page.locator("#status-title")).to_have_text("Canceled", timeout=10_000)
        expect(page.locator("#pay")).to_be_hidden()
        page.screenshot(path=str(SHOTS / "checkout-canceled.png"))
    finally:
        context.close()


def test_wrong_token_is_404_revealing_nothing(checkout_stack: Stack, merchant: str) -> None:
    invoice = create_invoice(checkout_stack, merchant, "7.25")
    other = create_invoice(checkout_stack, merchant, "8")
    ok = checkout_stack.call("GET", invoice.path)
    assert ok.status == 200 and b"7.25" in ok.body
    token = invoice.path.rsplit("/", 1)[1]
    assert len(token) == 22 and token not in invoice.id
    wrong = [
        f"/checkout/{invoice.id}/{'A' * 22}",  # a guessed token
        f"/checkout/{invoice.id}/{other.path.rsplit('/', 1)[1]}",  # another invoice's token
        f"/checkout/inv_{'x' * 24}/{token}",  # a real token on an unknown id
        f"/checkout/{invoice.id}",  # the id alone
        f"/checkout/{invoice.id}/{'A' * 22}/events",  # the live stream of a wrong link
        f"/checkout/{invoice.id}/{token}/extra",  # a path under a good link
        "/checkout/static/nothing.js",  # an asset that does not exist
    ]
    bodies = set()
    for path in wrong:
        reply = checkout_stack.call("GET", path)
        assert reply.status == 404, (path, reply.status)
        for secret in (invoice.id.encode(), b"7.25", invoice.address.encode(), invoice.address.lower().encode()):
            assert secret not in reply.body, path
        assert reply.headers["content-security-policy"] == CHECKOUT_CSP
        bodies.add(reply.body)
    assert len(bodies) == 1  # the same page whatever was wrong


def test_page_carries_strict_csp_and_security_headers(checkout_stack: Stack, merchant: str) -> None:
    invoice = create_invoice(checkout_stack, merchant)
    reply = checkout_stack.call("GET", invoice.path)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.headers["content-security-policy"] == CHECKOUT_CSP
    assert "'unsafe-inline'" not in CHECKOUT_CSP and "http" not in CHECKOUT_CSP
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"  # the token never leaves in a Referer
    assert "server" not in reply.headers
    # No inline script or style, and every asset from the page's own origin.
    html = reply.body.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html and " style=" not in html
    assert re.findall(r'(?:src|href)="(?!/checkout/static/|ethereum:)', html) == []
    script = checkout_stack.call("GET", "/checkout/static/checkout.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert checkout_stack.call("POST", invoice.path).status == 405


def fetch_once(conn: http.client.HTTPSConnection) -> int:
    """One GET of the page's script on a connection; its status."""
    conn.request("GET", "/checkout/static/checkout.js")
    return conn.getresponse().status


def test_page_listener_answers_only_the_edge(checkout_stack: Stack, mesh_pki: DevMesh) -> None:
    files = mesh_pki.files(Role.LEDGER)
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.check_hostname = False
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    conn = http.client.HTTPSConnection("127.0.0.1", checkout_stack.checkout_port, context=context, timeout=5)
    try:
        conn.request("GET", "/checkout/static/checkout.js")
        assert conn.getresponse().status == 403
    finally:
        conn.close()
    anonymous = ssl.create_default_context(cafile=str(files.ca_file))
    anonymous.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", checkout_stack.checkout_port, context=anonymous, timeout=5)
    # Without a client certificate the TLS handshake itself fails (the request never reaches the page).
    with pytest.raises((ssl.SSLError, ConnectionError)):
        fetch_once(conn)
    conn.close()


def test_only_the_checkout_role_reads_checkout_invoices(
    checkout_stack: Stack, merchant: str, mesh_pki: DevMesh
) -> None:
    invoice = create_invoice(checkout_stack, merchant)
    token = invoice.path.rsplit("/", 1)[1]

    def read(role: str, token: str) -> co_pb.GetCheckoutInvoiceResponse:
        with mesh_sync_channel(mesh_pki, role, checkout_stack.ledger_port) as channel:
            stub = co_grpc.CheckoutServiceStub(channel)
            reply: co_pb.GetCheckoutInvoiceResponse = stub.GetCheckoutInvoice(
                co_pb.GetCheckoutInvoiceRequest(invoice_id=invoice.id, token=token), timeout=5
            )
            return reply

    assert read(Role.CHECKOUT, token).invoice.deposit_address == invoice.address
    with pytest.raises(grpc.RpcError) as refused:
        read(Role.EDGE, token)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as wrong:
        read(Role.CHECKOUT, token[:-1] + ("B" if token[-1] != "B" else "C"))
    assert wrong.value.code() == grpc.StatusCode.NOT_FOUND


def outbox_payloads(stack: Stack, invoice_id: str, event_type: str) -> list[dict[str, Any]]:
    """The payloads of the events of a type the ledger's outbox holds for an invoice."""
    psql = str(parts.postgres_bin_dir() / "psql")
    query = f"SELECT payload FROM ledger.outbox WHERE subject_id = '{invoice_id}' AND event_type = '{event_type}'"
    out = parts.run_checked([psql, stack.database_url, "-tAc", query])
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def outbox_events(stack: Stack, invoice_id: str, event_type: str) -> int:
    """How many events of a type the ledger's outbox holds for an invoice."""
    return len(outbox_payloads(stack, invoice_id, event_type))


def test_customer_sets_the_refund_address_once_and_cannot_change_it(
    checkout_stack: Stack, merchant: str, browser: Browser
) -> None:
    invoice = create_invoice(checkout_stack, merchant, "9")
    page, (context, errors) = open_page(browser, checkout_stack, invoice, PHONE)
    mine = "0x" + "5a" * 20
    try:
        # A typo is refused with the reason, and nothing is set.
        page.fill("#refund-input", "0x1234")
        page.click("#refund-save")
        expect(page.locator("#refund-error")).to_contain_text("must be an address")
        assert outbox_events(checkout_stack, invoice.id, "invoice.updated") == 0
        page.fill("#refund-input", mine)
        page.click("#refund-save")
        # Back on the page (post/redirect/get): the address is shown, checksummed, and the form is gone.
        expect(page.locator("#refund-address")).to_have_text(re.compile(f"^{mine}$", re.IGNORECASE))
        expect(page.locator("#refund-input")).to_have_count(0)
        assert page.url.endswith(invoice.path)
        page.screenshot(path=str(SHOTS / "checkout-refund-address.png"))
        assert not [e for e in errors if "400" not in e], errors  # the refused typo's 400 is expected
    finally:
        context.close()
    read = checkout_stack.call("GET", f"/v1/invoices/{invoice.id}", key=merchant).json()
    assert read["refund_address"].lower() == mine
    (event,) = outbox_payloads(checkout_stack, invoice.id, "invoice.updated")
    # The event's data is the invoice summary the webhook catalogue documents for invoice.updated.
    schema = json.loads((parts.REPO_ROOT / "docs" / "webhook-events.schema.json").read_text())
    Draft202012Validator({"$ref": "#/$defs/invoice_summary", "$defs": schema["$defs"]}).validate(event["data"])
    assert event["data"]["id"] == invoice.id
    # Once set, the page cannot change it: 409, the address kept, no new event.
    other = "0x" + "6b" * 20
    again = checkout_stack.call(
        "POST",
        invoice.path + "/refund-address",
        raw=f"refund_address={other}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert again.status == 409 and b"cannot be changed" in again.body
    assert (
        checkout_stack.call("GET", f"/v1/invoices/{invoice.id}", key=merchant).json()["refund_address"]
        == (read["refund_address"])
    )
    assert outbox_events(checkout_stack, invoice.id, "invoice.updated") == 1
    # A wrong link sets nothing either.
    wrong = checkout_stack.call(
        "POST",
        f"/checkout/{invoice.id}/{'A' * 22}/refund-address",
        raw=f"refund_address={other}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert wrong.status == 404


def test_a_refund_address_the_merchant_gave_is_shown_and_not_editable(checkout_stack: Stack, merchant: str) -> None:
    given = "0x" + "7c" * 20
    made = checkout_stack.call("POST", "/v1/invoices", {"amount": "1", "refund_address": given}, merchant)
    assert made.status == 200, made.body
    path = urllib.parse.urlsplit(made.json()["checkout_url"]).path
    page = checkout_stack.call("GET", path)
    assert page.status == 200
    assert b'id="refund-address"' in page.body and b'id="refund-input"' not in page.body
    refused = checkout_stack.call(
        "POST",
        path + "/refund-address",
        raw=f"refund_address={'0x' + '8d' * 20}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert refused.status == 409
