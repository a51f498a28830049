"""A merchant signs up, verifies the email from a real SMTP server, gives business details, enrols TOTP, signs in
again with the second factor, creates an API key and sees the invoice made with it, all in headless Chromium
through Envoy, at desktop and phone sizes. What must be seen is asserted on the page (visible, inside the
viewport, not overlapping); screenshots go to docs/img/ (not compared).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, FloatRect, Page, ViewportSize, expect

from gateway import parts
from tests.dashboard.conftest import DashboardStack

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = parts.REPO_ROOT / "docs" / "img"
PASSWORD = "correct horse battery staple 9"
LINK = re.compile(r"(http://\S+/dashboard/verify/[A-Za-z0-9_-]+)")


@dataclass
class Merchant:
    """A merchant user made through the browser."""

    email: str
    totp: pyotp.TOTP
    merchant_id: str


def new_email() -> str:
    return f"owner-{secrets.token_hex(4)}@shop.example"


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    size: ViewportSize = getattr(request, "param", DESKTOP)
    made = browser.new_context(viewport=size, device_scale_factor=1)
    try:
        yield made
    finally:
        made.close()


def open_page(context: BrowserContext) -> tuple[Page, list[str]]:
    """A page that records console errors (a CSP refusal shows up there)."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page, errors


def sign_up(page: Page, dash: DashboardStack, email: str, password: str = PASSWORD) -> None:
    page.goto(dash.url + "signup")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#submit")


def verification_link(dash: DashboardStack, email: str) -> str:
    message = dash.mailbox.wait_for(email)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = LINK.search(body.decode())
    assert found is not None, body
    return found.group(1)


def sign_in(page: Page, dash: DashboardStack, email: str, password: str = PASSWORD) -> None:
    page.goto(dash.url + "login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#submit")


def onboard(page: Page, dash: DashboardStack, business: str = "Acme Coffee") -> Merchant:
    """Sign-up to TOTP enrolment, through the browser; the page ends on the home page."""
    email = new_email()
    sign_up(page, dash, email)
    expect(page.locator("#sent")).to_contain_text(email)
    page.goto(verification_link(dash, email))
    expect(page.locator("#verified-email")).to_have_text(email)
    page.fill("#name", business)
    page.click("#submit")
    expect(page.locator("#notice")).to_contain_text("merchant is created")
    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Home")
    merchant_id = page.locator("#merchant-id").text_content() or ""
    assert merchant_id.startswith("mer_"), merchant_id
    return Merchant(email, totp, merchant_id)


def assert_readable(page: Page, selectors: tuple[str, ...], size: ViewportSize) -> None:
    """Each element is visible, inside the viewport and overlaps no other."""
    found: dict[str, FloatRect] = {}
    for selector in selectors:
        expect(page.locator(selector)).to_be_visible()
        box = page.locator(selector).bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, selector
        assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= size["width"] + 0.5, (selector, box, size)
        assert box["y"] + box["height"] <= size["height"] + 0.5, (selector, box, size)
        found[selector] = box
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


@pytest.mark.parametrize(("name", "context"), [("desktop", DESKTOP), ("phone", PHONE)], indirect=["context"])
def test_merchant_signs_up_verifies_enrols_totp_creates_a_key_and_sees_its_invoice(
    dashboard_stack: DashboardStack, context: BrowserContext, name: str
) -> None:
    dash = dashboard_stack
    size = context.pages[0].viewport_size if context.pages else None
    page, errors = open_page(context)
    size = page.viewport_size
    assert size is not None
    merchant = onboard(page, dash)
    expect(page.locator("#no-invoices")).to_be_visible()
    assert_readable(page, ("h1", "#merchant-name", "#invoices-h", "#create-key", "#logout"), size)
    page.screenshot(path=str(SHOTS / f"dashboard-home-{name}.png"))

    # The first API key, shown once; it works on the merchant API (through the same Envoy).
    page.fill("#key-name", "checkout backend")
    page.click("#create-key")
    key = page.locator("#api-key").text_content() or ""
    assert key.startswith("sk_"), key
    made = dash.stack.call("POST", "/v1/invoices", {"amount": "12.5", "description": "Order 1"}, key)
    assert made.status == 200, made.body
    invoice_id = made.json()["id"]
    page.screenshot(path=str(SHOTS / f"dashboard-key-{name}.png"))
    # Reloading does not show the key again (it is not stored by the dashboard).
    page.goto(dash.url + "home")
    expect(page.locator("#api-key")).to_have_count(0)
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    expect(page.locator("#invoices")).to_contain_text("OPEN")
    expect(page.locator("#invoices")).to_contain_text("12.5 USDT")

    # Signing out, then in again: the password, then a TOTP code (the next step's: this one was used).
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(dash.url + "home")
    expect(page.locator("h1")).to_have_text("Sign in")  # no session, no home page
    sign_in(page, dash, merchant.email)
    expect(page.locator("h1")).to_have_text("Two-step login")
    page.screenshot(path=str(SHOTS / f"dashboard-totp-{name}.png"))
    page.fill("#code", merchant.totp.at(time.time() + 30))
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Home")
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    assert not errors, errors
