"""A merchant signs up, verifies the email from a real SMTP server, gives business details, enrols TOTP, signs in
again with the second factor, creates an API key and sees the invoice made with it, all in headless Chromium
through Envoy, at desktop and phone sizes. What must be seen is asserted on the page (visible, inside the
viewport, not overlapping); screenshots go to docs/img/ (not compared).
"""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack
from tests.dashboard.flows import (
    PASSWORD,
    SHOTS,
    assert_accessible,
    assert_readable,
    new_email,
    open_page,
    sign_in,
    verification_link,
)


@pytest.mark.parametrize(("name", "context"), [("desktop", DESKTOP), ("phone", PHONE)], indirect=["context"])
def test_merchant_signs_up_verifies_enrols_totp_creates_a_key_and_sees_its_invoice(  # noqa: PLR0915 - one journey
    dashboard_stack: DashboardStack, context: BrowserContext, name: str
) -> None:
    dash = dashboard_stack
    page, errors = open_page(context)
    size = page.viewport_size
    assert size is not None
    email = new_email()

    page.goto(dash.url + "signup")
    assert_readable(page, ("h1", "#email", "#password", "#submit"), size)
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / f"dashboard-signup-{name}.png"))
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#sent")).to_contain_text(email)
    assert_accessible(page)

    # The link from the email (a real SMTP server): business details, then the merchant exists in the ledger.
    page.goto(verification_link(dash, email))
    expect(page.locator("#verified-email")).to_have_text(email)
    assert_readable(page, ("h1", "#name", "#submit"), size)
    assert_accessible(page)
    page.fill("#name", "Acme Coffee")
    page.click("#submit")
    expect(page.locator("#notice")).to_contain_text("merchant is created")
    assert_accessible(page)

    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    assert_readable(page, ("h1", "#qr svg", "#totp-secret", "#code", "#submit"), size)
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / f"dashboard-totp-enrol-{name}.png"))
    totp = pyotp.TOTP((page.locator("#totp-secret").text_content() or "").replace(" ", ""))
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    merchant_id = page.locator("#merchant-id").text_content() or ""
    expect(page.locator("#merchant-name")).to_have_text("Acme Coffee")
    merchant = dash.stack.call("GET", f"/admin/v1/merchants/{merchant_id}", key=dash.stack.admin_key)
    assert merchant.status == 200, merchant.body
    assert merchant.json()["name"] == "Acme Coffee" and merchant.json()["contact_email"] == email
    expect(page.locator("#no-invoices")).to_be_visible()
    assert_readable(page, ("h1", "#merchant-name", "#invoices-h", "#create-key", "#logout"), size)
    assert_accessible(page)

    # The first API key, shown once; it works on the merchant API (through the same Envoy).
    page.fill("#key-name", "checkout backend")
    page.click("#create-key")
    key = page.locator("#api-key").text_content() or ""
    assert key.startswith("sk_"), key
    assert_readable(page, ("h1", "#api-key", "#logout"), size)
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / f"dashboard-key-{name}.png"))
    made = dash.stack.call("POST", "/v1/invoices", {"amount": "12.5", "description": "Order 1"}, key)
    assert made.status == 200, made.body
    invoice_id = made.json()["id"]
    # Reloading does not show the key again (the dashboard never stores it); the invoice is listed.
    page.goto(dash.url + "home")
    expect(page.locator("#api-key")).to_have_count(0)
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    expect(page.locator("#invoices")).to_contain_text("OPEN")
    expect(page.locator("#invoices")).to_contain_text("12.5 USDT")
    assert_readable(page, ("h1", "#merchant-name", "#invoices-h", "#invoices caption", "#create-key"), size)
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / f"dashboard-home-{name}.png"))

    # Signing out, then in again: the password, then a TOTP code (the next step's: this one was used).
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(dash.url + "home")
    expect(page.locator("h1")).to_have_text("Sign in")  # no session, no home page
    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Two-step login")
    assert_readable(page, ("h1", "#code", "#submit"), size)
    assert_accessible(page)
    page.fill("#code", totp.at(time.time() + 30))
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Home")
    expect(page.locator("#invoices")).to_contain_text(invoice_id)
    assert not errors, errors
