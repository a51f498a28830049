"""The acceptance journey on the whole mesh, in headless Chromium: a new merchant signs up, verifies the email from
a real SMTP server, gives business details, enrols TOTP, creates an API key and a webhook endpoint, creates an
invoice from the dashboard, the customer pays it on the local chain, and the invoice page shows it PAID with its
payment, events and webhook delivery. Then the merchant pages (balances, webhooks, keys, notifications) and the
server's refusal of a read-only member's actions.

The gateway runs as `./dev up` runs it (tests/e2e/e2e_harness.py: anvil, watcher, ledger, dispatcher, settlement,
signer, Envoy, the dashboard), with the dashboard's email going to an aiosmtpd server on loopback. The merchant's
webhook receiver is a local HTTP server verifying every delivery with the `standardwebhooks` library.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pyotp
import pytest
from eth_account import Account
from playwright.sync_api import BrowserContext, Page, expect

from dashboard.merchant_exports import ADDRESSES, INVOICES, PAYOUTS, REFUNDS
from tests.dashboard.conftest import DESKTOP, PHONE, Mailbox
from tests.dashboard.flows import (
    PASSWORD,
    SHOTS,
    assert_accessible,
    assert_readable,
    download_csv,
    open_page,
    refused_csv,
)
from tests.e2e.e2e_harness import (
    SUITE_SETTINGS,
    UNIT,
    Gateway,
    WebhookReceiver,
    receiving,
    rest,
    running_gateway,
    wait_until,
)

pytestmark = pytest.mark.timeout(900)

VERIFY_LINK = re.compile(r"(http://\S+/dashboard/verify/[A-Za-z0-9_-]+)")
INVITE_LINK = re.compile(r"(http://\S+/dashboard/invite/[A-Za-z0-9_-]+)")
WAIT_MS = 5_000


@dataclass
class World:
    """The running gateway, its dashboard's URL, the SMTP mailbox and the new merchant's webhook receiver."""

    gateway: Gateway
    mailbox: Mailbox
    receiver: WebhookReceiver

    @property
    def url(self) -> str:
        """The dashboard's root through Envoy."""
        return f"http://127.0.0.1:{self.gateway.ports['envoy']}/dashboard/"

    @property
    def origin(self) -> str:
        """The dashboard's origin (what a form posted from its pages carries)."""
        return f"http://127.0.0.1:{self.gateway.ports['envoy']}"


@pytest.fixture(scope="module")
def world(mailbox: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """`stablegate up` (as the e2e suite runs it) whose dashboard sends email to the test's SMTP server."""
    box, smtp_port = mailbox
    settings = {
        **SUITE_SETTINGS,
        "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
        "STABLEGATE_DASHBOARD_SMTP_PORT": str(smtp_port),
    }
    with running_gateway(tmp_path_factory.mktemp("merchant-journey"), settings) as gateway, receiving() as receiver:
        yield World(gateway, box, receiver)
        assert not receiver.unverified(), "a delivery to the dashboard merchant failed verification"


def link_in(box: Mailbox, to: str, pattern: re.Pattern[str]) -> str:
    """The link matching `pattern` in the newest email to `to` (waiting for it)."""
    body = box.wait_for(to, timeout=30).get_payload(decode=True)
    assert isinstance(body, bytes)
    found = pattern.search(body.decode())
    assert found is not None, body
    return found.group(1)


def new_email(kind: str = "owner") -> str:
    return f"{kind}-{secrets.token_hex(4)}@journey.example"


def sign_in(page: Page, w: World, email: str) -> None:
    page.goto(w.url + "login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#submit")


def enrol(page: Page) -> pyotp.TOTP:
    """The TOTP enrolment after a first password login; ends on the home page."""
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    totp = pyotp.TOTP((page.locator("#totp-secret").text_content() or "").replace(" ", ""))
    page.fill("#code", totp.now())
    page.click("#submit")
    # Enrolment shows the recovery codes once (dashboard/recovery.py), then goes on to the home page.
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    return totp


def sign_up(page: Page, w: World, business: str) -> str:
    """Sign-up, the emailed link, business details, first login with TOTP enrolment; the email."""
    email = new_email()
    page.goto(w.url + "signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#sent")).to_contain_text(email)
    page.goto(link_in(w.mailbox, email, VERIFY_LINK))
    expect(page.locator("#verified-email")).to_have_text(email)
    page.fill("#name", business)
    page.click("#submit")
    expect(page.locator("#notice")).to_contain_text("merchant is created")
    sign_in(page, w, email)
    enrol(page)
    expect(page.locator("#merchant-name")).to_have_text(business)
    return email


def reload_until(page: Page, selector: str, text: str | re.Pattern[str], tries: int = 36) -> None:
    """Reload the page until `selector` has `text` (the page has no script: it shows what the server had)."""
    for _ in range(tries):
        try:
            expect(page.locator(selector)).to_contain_text(text, timeout=WAIT_MS)
            return
        except AssertionError:
            page.reload()
    expect(page.locator(selector)).to_contain_text(text, timeout=WAIT_MS)


def check_page(page: Page, name: str, selectors: tuple[str, ...]) -> None:
    """axe-core clean, and readable with a screenshot at desktop and phone sizes (then back to desktop)."""
    assert_accessible(page)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        assert_readable(page, selectors, size)
        page.screenshot(path=str(SHOTS / f"dashboard-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def make_key(page: Page, w: World, name: str, scopes: tuple[str, ...]) -> str:
    """Create an API key with these scopes on the keys page; its plaintext (shown once)."""
    page.goto(w.url + "api-keys")
    page.fill("#key-name", name)
    for box in page.locator("input[name=scopes]").all():
        box.set_checked((box.get_attribute("value") or "") in scopes)
    page.click("#create-key")
    key = page.locator("#api-key").text_content() or ""
    assert key.startswith("sk_"), key
    return key


def test_a_new_merchant_signs_up_creates_an_invoice_in_the_dashboard_and_sees_it_paid_with_its_webhook(  # noqa: PLR0915 - the journey
    world: World, context: BrowserContext
) -> None:
    w, g = world, world.gateway
    page, errors = open_page(context)
    sign_up(page, w, "Journey Coffee")

    # An API key with the scopes chosen, shown once; it works on the merchant API.
    key = make_key(page, w, "shop backend", ("invoices:read", "webhooks:read"))
    check_page(page, "api-keys", ("h1", "#nav-api-keys", "#api-key"))
    expect(page.locator("#keys")).to_contain_text("shop backend")
    expect(page.locator("#keys")).to_contain_text("invoices:read webhooks:read")
    # The keys as CSV: names, prefixes, scopes and states, never a key's secret.
    expect(page.locator("#keys-csv")).to_have_attribute("href", "/dashboard/api-keys.csv")
    keys = download_csv(page, w.url + "api-keys.csv")
    made = [r for r in keys if r[1] == "shop backend"]
    assert len(made) == 1 and made[0][3:5] == ["invoices:read webhooks:read", "ACTIVE"], keys
    assert key.startswith(made[0][2]) and not any(key in cell for row in keys for cell in row)

    # A webhook endpoint: a bad URL is refused with the reason; the receiver's URL is kept, its secret shown once.
    page.goto(w.url + "webhooks")
    page.fill("#url", "ftp://hooks.example/in")
    page.click("#add-endpoint")
    expect(page.locator("#url-error")).to_have_text("The URL must start with https:// (events are posted over HTTPS).")
    expect(page.locator("#no-endpoints")).to_be_visible()
    page.fill("#url", "https://user:pw@hooks.example/in")  # pragma: allowlist secret
    page.click("#add-endpoint")
    expect(page.locator("#url-error")).to_contain_text("user name or password")
    page.fill("#url", w.receiver.url)
    page.click("#add-endpoint")
    secret = page.locator("#webhook-secret").text_content() or ""
    assert secret.startswith("whsec_"), secret
    w.receiver.secret = secret
    expect(page.locator("#endpoints")).to_contain_text(w.receiver.url)
    check_page(page, "webhooks", ("h1", "#nav-webhooks", "#webhook-secret"))

    # An invoice from the dashboard's form: bad amounts are refused, then the detail page shows where to pay.
    page.goto(w.url + "invoices")
    page.fill("#amount", "-3")
    page.click("#create-invoice")
    expect(page.locator("#amount-error")).to_contain_text("Enter an amount above zero")
    page.fill("#amount", "12.5")
    page.fill("#description", "Two flat whites")
    page.click("#create-invoice")
    expect(page.locator("h1")).to_have_text("Invoice")
    expect(page.locator("#invoice-status")).to_have_text("OPEN")
    invoice_id = page.locator("#invoice-id").text_content() or ""
    address = page.locator("#deposit-address").text_content() or ""
    assert invoice_id.startswith("inv_") and re.fullmatch(r"0x[0-9a-fA-F]{40}", address), (invoice_id, address)
    expect(page.locator("#invoice-amount")).to_have_text("12.5 USDT")
    expect(page.locator("#invoice-description")).to_have_text("Two flat whites")
    expect(page.locator("#no-payments")).to_be_visible()
    # The merchant API (the key made above) sees the same invoice: the dashboard made it in the ledger.
    status, read = rest(g.ports["envoy"], "GET", f"/v1/invoices/{invoice_id}", key)
    assert status == 200 and read["deposit_address"] == address and read["amount"] == "12.5", read

    # The customer pays it on the local chain, as a wallet would.
    tx_hash = g.pay(address, int(Decimal("12.5") * UNIT))
    reload_until(page, "#invoice-status", "PAID")
    expect(page.locator("#payments")).to_contain_text(tx_hash)
    expect(page.locator("#payments")).to_contain_text("12.5 USDT")
    expect(page.locator("#payments")).to_contain_text("FINAL")
    expect(page.locator("#invoice-paid")).to_have_text("12.5 USDT")
    expect(page.locator("#events")).to_contain_text("Created for 12.5 USDT")
    expect(page.locator("#events")).to_contain_text("final and credited")
    expect(page.locator("#events li", has_text=re.compile(r"\d Paid$"))).to_have_count(1)
    # Its webhook delivery, as the ledger's dispatcher recorded it: succeeded at the first attempt.
    reload_until(page, "#invoice-deliveries", re.compile(r"invoice\.paid\s*SUCCEEDED\s*1\s*200"))
    paid = w.receiver.wait_for("invoice.paid", invoice_id)
    assert paid["data"]["id"] == invoice_id or paid["data"].get("invoice", {}).get("id") == invoice_id
    assert not w.receiver.unverified()
    check_page(page, "invoice", ("h1", "#invoice-status", "#deposit-address"))

    # The list, filtered: PAID shows it, OPEN does not; a date range around today shows it.
    page.goto(w.url + "invoices?status=PAID")
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    page.goto(w.url + "invoices?status=OPEN")
    expect(page.locator(f"a[href$='{invoice_id}']")).to_have_count(0)
    page.goto(w.url + "invoices")
    page.select_option("#status", "PAID")
    page.click("#filter")
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    page.fill("#from", "2001-01-01")
    page.fill("#to", "2001-01-02")
    page.click("#filter")
    expect(page.locator("#no-invoices")).to_be_visible()
    page.goto(w.url + "invoices?from=2001-02-01&to=2001-01-01")
    expect(page.locator("#filter-error")).to_have_text("The range ends before it starts.")
    # The list as CSV with the page's filters: the rows the page shows, amounts as exact decimal strings.
    page.goto(w.url + "invoices?status=PAID")
    expect(page.locator("#invoices-csv")).to_have_attribute("href", "/dashboard/invoices.csv?status=PAID")
    created = page.locator("#invoices tbody tr").first.locator("td").nth(4).text_content()
    paid_rows = [list(INVOICES), [invoice_id, "PAID", "12.5", "USDT", "Two flat whites", created]]
    assert download_csv(page, w.url + "invoices.csv?status=PAID") == paid_rows
    assert download_csv(page, w.url + "invoices.csv?status=OPEN") == [list(INVOICES)]
    assert download_csv(page, w.url + "invoices.csv?from=2001-01-01&to=2001-01-02") == [list(INVOICES)]
    refused_csv(context, w.url + "invoices.csv")
    page.goto(w.url + "invoices")
    check_page(page, "invoices", ("h1", "#nav-invoices", "#amount", "#create-invoice"))

    # Balances: the payment is available (the default fee plan is free).
    page.goto(w.url + "balances")
    expect(page.locator("#balance-USDT .available")).to_have_text(re.compile(r"^12\.50*$"))
    check_page(page, "balances", ("h1", "#balances caption", "#balance-USDT"))

    # The endpoint's deliveries; one redelivered (same webhook-id, verified again); a replay of failed ones.
    page.goto(w.url + "webhooks")
    page.click(f"#endpoints a:text('{w.receiver.url}')")
    expect(page.locator("#endpoint-url")).to_have_text(w.receiver.url)
    endpoint_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    row = page.locator("#deliveries tr", has_text="invoice.paid").first
    delivery_id = (row.get_attribute("id") or "").removeprefix("delivery-")
    before = len([d for d in w.receiver.deliveries if d.headers["webhook-id"] == paid["id"]])
    page.click(f"#redeliver-{delivery_id}")
    expect(page.locator("#done")).to_contain_text("Sent again as delivery wd_")
    wait_until(
        "the redelivery",
        lambda: len([d for d in w.receiver.deliveries if d.headers["webhook-id"] == paid["id"]]) > before,
    )
    page.click("#replay")
    expect(page.locator("#done")).to_have_text("0 failed deliveries sent again.")
    # The deliveries as CSV: the first one as recorded, the redelivery listed too.
    deliveries = download_csv(page, w.url + f"webhooks/{endpoint_id}/deliveries.csv")
    first = [r for r in deliveries if r[0] == delivery_id]
    assert len(first) == 1 and first[0][2:8] == ["invoice.paid", "SUCCEEDED", "1", "200", "", w.receiver.url], (
        deliveries
    )
    assert len([r for r in deliveries[1:] if r[2] == "invoice.paid"]) == 2, deliveries
    check_page(page, "webhook-deliveries", ("h1", "#endpoint-url", "#deliveries"))

    # Notification preferences, stored by the dashboard.
    page.goto(w.url + "notifications")
    expect(page.locator("#pref-weekly_summary")).to_be_checked()
    page.uncheck("#pref-weekly_summary")
    page.click("#save")
    expect(page.locator("#saved")).to_have_text("Saved.")
    expect(page.locator("#pref-weekly_summary")).not_to_be_checked()
    expect(page.locator("#pref-invoice_paid")).to_be_checked()
    check_page(page, "notifications", ("h1", "#pref-invoice_paid", "#save"))
    # No console error but the refused forms' own 400 answers above (a CSP refusal would show here).
    assert not [m for m in errors if "status of 400" not in m], errors


def test_a_read_only_member_cannot_add_a_webhook_revoke_a_key_or_create_an_invoice(  # noqa: PLR0915 - one story
    world: World, context: BrowserContext
) -> None:
    w = world
    owner, _ = open_page(context)
    sign_up(owner, w, "Read Only Roasters")
    make_key(owner, w, "kept key", ("invoices:read",))
    key_row = owner.locator("#keys tr", has_text="kept key")
    key_id = (key_row.get_attribute("id") or "").removeprefix("key-")
    assert key_id.startswith("key_"), key_id
    # The owner invites a read-only member (email from the SMTP server).
    email = new_email("viewer")
    owner.goto(w.url + "home")
    owner.fill("#invite-email", email)
    owner.select_option("#invite-role", "read_only")
    owner.click("#invite")
    expect(owner.locator("#invited")).to_have_text(f"Invitation sent to {email}.")

    member_context = context.browser.new_context(viewport=DESKTOP) if context.browser else None
    assert member_context is not None
    try:
        page, _ = open_page(member_context)
        page.goto(link_in(w.mailbox, email, INVITE_LINK))
        page.fill("#password", PASSWORD)
        page.click("#submit")
        expect(page.locator("#notice")).to_contain_text("Your account is ready")
        sign_in(page, w, email)
        enrol(page)
        # The pages show what the role may see, and no forms for what it may not do.
        page.goto(w.url + "webhooks")
        expect(page.locator("#no-endpoints")).to_be_visible()
        expect(page.locator("#add-endpoint")).to_have_count(0)
        page.goto(w.url + "api-keys")
        expect(page.locator(f"#key-{key_id}")).to_contain_text("ACTIVE")
        expect(page.locator(f"#revoke-{key_id}")).to_have_count(0)
        expect(page.locator("#create-key")).to_have_count(0)
        page.goto(w.url + "invoices")
        expect(page.locator("#create-invoice")).to_have_count(0)
        expect(page.locator("#nav-balances")).to_be_visible()
        assert_accessible(page)
        # The server refuses the actions themselves, with a valid session, CSRF token and Origin.
        token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        headers = {"origin": w.origin}
        posts = {
            "webhooks": {"url": w.receiver.url, "events": "*", "request_id": secrets.token_urlsafe(16)},
            f"api-keys/{key_id}/revoke": {},
            "api-keys/new": {"name": "sneaky", "scopes": "invoices:read"},
            "invoices": {"amount": "5", "description": "sneaky"},
            "payouts": {"amount": "1", "destination": "0x" + "11" * 20},
            "settlement-addresses": {"address": "0x" + "11" * 20, "label": "sneaky"},
            "invoices/inv_x/refunds": {"address": "0x" + "11" * 20, "amount": "1"},
        }
        for path, form in posts.items():
            reply = page.request.post(w.url + path, form={**form, "csrf_token": token}, headers=headers)
            assert reply.status == 403, (path, reply.status)
            assert "Read-only" in reply.text() and "ask an owner" in reply.text()
        # Nothing changed: no endpoint, the key still active, no invoice.
        page.goto(w.url + "webhooks")
        expect(page.locator("#no-endpoints")).to_be_visible()
        page.goto(w.url + "api-keys")
        expect(page.locator(f"#key-{key_id}")).to_contain_text("ACTIVE")
        expect(page.locator("#keys tr", has_text="sneaky")).to_have_count(0)
        page.goto(w.url + "invoices")
        expect(page.locator("#no-invoices")).to_be_visible()
    finally:
        member_context.close()
    # A finance member sees payouts but not webhooks, and cannot add an endpoint either.
    finance_email = new_email("finance")
    owner.goto(w.url + "home")
    owner.fill("#invite-email", finance_email)
    owner.select_option("#invite-role", "finance")
    owner.click("#invite")
    expect(owner.locator("#invited")).to_have_text(f"Invitation sent to {finance_email}.")
    finance_context = context.browser.new_context(viewport=DESKTOP) if context.browser else None
    assert finance_context is not None
    try:
        page, _ = open_page(finance_context)
        page.goto(link_in(w.mailbox, finance_email, INVITE_LINK))
        page.fill("#password", PASSWORD)
        page.click("#submit")
        sign_in(page, w, finance_email)
        enrol(page)
        page.goto(w.url + "payouts")
        expect(page.locator("#no-payouts")).to_be_visible()
        expect(page.locator("#nav-webhooks")).to_have_count(0)
        reply = page.request.get(w.url + "webhooks")
        assert reply.status == 403 and "Your role (Finance) cannot see webhooks" in reply.text()
        # Its CSV too: a role that cannot see a page cannot download its table.
        for table in ("api-keys.csv", "webhooks/we_x/deliveries.csv"):
            reply = page.request.get(w.url + table, max_redirects=0)
            assert reply.status == 403 and "Your role (Finance)" in reply.text(), table
            assert "text/csv" not in reply.headers["content-type"]
        token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        reply = page.request.post(
            w.url + "webhooks",
            form={"url": w.receiver.url, "events": "*", "csrf_token": token},
            headers={"origin": w.origin},
        )
        assert reply.status == 403
    finally:
        finance_context.close()
    # The owner's own form posted without its CSRF token (or from another origin) is refused too.
    reply = owner.request.post(
        w.url + "webhooks", form={"url": w.receiver.url, "events": "*"}, headers={"origin": w.origin}
    )
    assert reply.status == 403 and "Form refused" in reply.text()
    owner_token = owner.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    reply = owner.request.post(
        w.url + "webhooks",
        form={"url": w.receiver.url, "events": "*", "csrf_token": owner_token},
        headers={"origin": "http://127.0.0.1:1"},
    )
    assert reply.status == 403 and "Form refused" in reply.text()
    owner.goto(w.url + "webhooks")
    expect(owner.locator("#no-endpoints")).to_be_visible()
    # The owner may revoke it (the same POST, their role).
    owner.goto(w.url + "api-keys")
    owner.click(f"#revoke-{key_id}")
    expect(owner.locator("#done")).to_have_text("Key kept key revoked.")
    expect(owner.locator(f"#key-{key_id}")).to_contain_text("REVOKED")


def test_a_payout_is_quoted_and_made_from_the_dashboard_to_an_active_settlement_address(  # noqa: PLR0915 - one story
    world: World, context: BrowserContext
) -> None:
    w, g = world, world.gateway
    page, errors = open_page(context)
    sign_up(page, w, "Payout Bakery")
    merchant_id = page.locator("#merchant-id").text_content() or ""
    scopes = ("invoices:read", "invoices:write", "balance:read", "payouts:read", "payouts:write")
    key = make_key(page, w, "treasury", scopes)
    port = g.ports["envoy"]
    # Money in: an invoice paid on chain (through the API this time), credited.
    status, made = rest(port, "POST", "/v1/invoices", key, {"amount": "30"})
    assert status == 200, made
    g.pay(made["deposit_address"], 30 * UNIT)

    def available() -> bool:
        reply = rest(port, "GET", "/v1/balance", key)[1]
        return any(a.get("available_base_units") == str(30 * UNIT) for a in reply.get("assets", []))

    wait_until("the payment credited", available)
    page.goto(w.url + "settlement-addresses")
    expect(page.locator("#no-addresses")).to_be_visible()
    # A settlement address registered in the dashboard (a malformed one refused first), confirmed by the
    # operator, cooling off, then active.
    destination = Account.create().address
    page.fill("#address", destination[:-1])
    page.click("#add-address")
    expect(page.locator("#address-error")).to_contain_text("0x followed by 40 hexadecimal characters")
    page.fill("#address", destination)
    page.fill("#label", "bank")
    page.click("#add-address")
    row = page.locator("#addresses tr", has_text=destination)
    expect(row).to_contain_text("PENDING_CONFIRMATION")
    address = {"id": (row.get_attribute("id") or "").removeprefix("address-")}
    status, listed = rest(port, "GET", f"/v1/settlement_addresses/{address['id']}", key)
    assert status == 200 and listed["address"] == destination and listed["label"] == "bank", listed
    status, approved = g.admin(
        "POST",
        f"/admin/v1/merchants/{merchant_id}/settlement_addresses/{address['id']}:approve",
        {"reason": "confirmed by phone"},
    )
    assert status == 200, approved
    reload_until(page, f"#address-{address['id']}", "ACTIVE")
    expect(page.locator(f"#address-{address['id']}")).to_contain_text(destination)
    check_page(page, "settlement-addresses", ("h1", "#nav-settlement-addresses", "#addresses caption"))

    # The fee quote: what a payout would cost and whether the balance covers it; bad amounts refused.
    page.goto(w.url + "payouts")
    expect(page.locator("#no-payouts")).to_be_visible()
    page.fill("#quote-amount", "10")
    page.click("#get-quote")
    expect(page.locator("#quote-covered")).to_have_text("yes")
    fee = Decimal((page.locator("#quote-fee").text_content() or "").split()[0])
    expect(page.locator("#quote-total")).to_have_text(f"{Decimal(10) + fee} USDT")
    page.fill("#quote-amount", "1000")
    page.click("#get-quote")
    expect(page.locator("#quote-covered")).to_contain_text("no")
    page.fill("#quote-amount", "1e3")
    page.click("#get-quote")
    expect(page.locator("#quote-error")).to_contain_text("Enter an amount above zero")
    expect(page.locator("#quote")).to_have_count(0)

    # A payout from the dashboard's form to the ACTIVE address: a bad amount is refused, then it is listed with
    # its fee and state, and lands on chain.
    page.goto(w.url + "payouts")
    expect(page.locator("#destination")).to_contain_text(destination)
    page.fill("#payout-amount", "0")
    page.click("#pay-out")
    expect(page.locator("#payout-error")).to_contain_text("Enter an amount above zero")
    expect(page.locator("#no-payouts")).to_be_visible()
    page.fill("#payout-amount", "10")
    page.click("#pay-out")
    expect(page.locator("#done")).to_contain_text("Payout po_")
    payout_id = (page.locator("#done").text_content() or "").split()[1]
    row = page.locator(f"#payout-{payout_id}")
    expect(row).to_contain_text("10")
    expect(row.locator(".fee")).to_have_text(str(fee))
    expect(page.locator("#no-refunds")).to_be_visible()
    reload_until(page, f"#payout-{payout_id}", "CONFIRMED")
    status, read = rest(port, "GET", f"/v1/payouts/{payout_id}", key)
    assert status == 200 and read["status"] == "PAYOUT_STATUS_CONFIRMED" and read["destination_address"] == destination
    assert g.balance_of(destination) == 10 * UNIT

    # A refund of part of the paid invoice, from its page, to the customer's address (a bad address refused).
    customer = Account.create().address
    page.goto(w.url + f"invoices/{made['id']}")
    page.fill("#refund-address", "0x1234")
    page.click("#refund")
    expect(page.locator("#refund-error")).to_contain_text("0x followed by 40 hexadecimal characters")
    page.fill("#refund-address", customer)
    page.fill("#refund-amount", "5")
    page.fill("#refund-reason", "one cake was missing")
    page.click("#refund")
    expect(page.locator("#done")).to_contain_text("Refund ")
    refund_id = (page.locator("#done").text_content() or "").split()[1]
    expect(page.locator(f"#refund-{refund_id}")).to_contain_text(made["id"])
    reload_until(page, f"#refund-{refund_id}", "CONFIRMED")
    assert g.balance_of(customer) == 5 * UNIT
    check_page(page, "payouts", ("h1", "#nav-payouts", "#quote-amount", "#get-quote"))

    # The payouts, refunds and addresses as CSV: the page's rows, exact decimal amounts.
    page.goto(w.url + "payouts")
    row = page.locator(f"#payout-{payout_id}")
    trigger = row.locator(".hint").first.text_content() or ""
    total = (row.locator("td.num").nth(2).text_content() or "").removesuffix(" USDT")
    status, read = rest(port, "GET", f"/v1/payouts/{payout_id}", key)
    created = read["create_time"][:19].replace("T", " ")
    expected = [payout_id, trigger, "CONFIRMED", "", "", "10", str(fee), total, "USDT", destination, read["tx_hash"]]
    assert download_csv(page, w.url + "payouts.csv") == [list(PAYOUTS), [*expected, created]]
    refunds = download_csv(page, w.url + "refunds.csv")
    assert refunds[0] == list(REFUNDS) and len(refunds) == 2, refunds
    assert refunds[1][:6] == [refund_id, made["id"], "CONFIRMED", "5", "USDT", customer], refunds
    assert re.fullmatch(r"0x[0-9a-f]{64}", refunds[1][6]) and re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", refunds[1][7]
    )
    addresses = download_csv(page, w.url + "settlement-addresses.csv")
    assert addresses[0] == list(ADDRESSES) and len(addresses) == 2, addresses
    assert addresses[1][:4] == [address["id"], destination, "bank", "ACTIVE"], addresses
    # A cell a spreadsheet would run as a formula is written as text.
    status, formula = rest(port, "POST", "/v1/invoices", key, {"amount": "7.25", "description": "=1+2"})
    assert status == 200, formula
    page.goto(w.url + "invoices?status=OPEN")
    created = page.locator("#invoices tbody tr").first.locator("td").nth(4).text_content()
    assert download_csv(page, w.url + "invoices.csv?status=OPEN") == [
        list(INVOICES),
        [formula["id"], "OPEN", "7.25", "USDT", "'=1+2", created],
    ]
    assert not [m for m in errors if "status of 400" not in m], errors
