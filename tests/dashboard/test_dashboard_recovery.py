"""Password reset and TOTP recovery codes, in Chromium through Envoy with the real SMTP server, Postgres and Redis.

Reset: the same answer for unknown and known emails (no account enumeration), a single-use, expiring, throttled
link from the SMTP server, and every session of the user ended by the reset. Recovery codes: shown once at
enrolment, stored hashed, each usable once, signing in when the authenticator is lost; regenerating replaces them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterator

import asyncpg
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack
from tests.dashboard.flows import (
    PASSWORD,
    SHOTS,
    assert_accessible,
    assert_readable,
    in_database,
    new_email,
    onboard,
    open_page,
    sign_in,
    sign_up,
    verification_link,
)

NEW_PASSWORD = "a brand new passphrase 42"
RESET_LINK = re.compile(r"(http://\S+/dashboard/password/reset/([A-Za-z0-9_-]+))")
CODE = re.compile(r"^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$")


def reset_links(dash: DashboardStack, email: str) -> list[str]:
    """Every reset link emailed to this address so far, oldest first."""
    links = []
    for message in dash.mailbox.sent_to(email):
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        found = RESET_LINK.search(body.decode())
        if found:
            links.append(found.group(1))
    return links


def ask_reset(page: Page, dash: DashboardStack, email: str) -> str:
    """Ask for a reset link through the login page's link; the answer page's text."""
    page.goto(dash.url + "login")
    page.click("#forgot")
    expect(page.locator("h1")).to_have_text("Reset your password")
    page.fill("#email", email)
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Check your email")
    return page.locator("#sent").text_content() or ""


def wait_for_reset_link(dash: DashboardStack, email: str, count: int) -> str:
    """The `count`-th reset link to this address, waiting for it."""
    with dash.mailbox.changed:
        dash.mailbox.changed.wait_for(lambda: len(reset_links(dash, email)) >= count, timeout=10)
    links = reset_links(dash, email)
    assert len(links) >= count, links
    return links[count - 1]


def stored_codes(dash: DashboardStack, email: str) -> list[tuple[bytes, bool]]:
    """(hash, used) of the user's stored recovery codes."""

    async def rows(conn: asyncpg.Connection) -> list[tuple[bytes, bool]]:
        found = await conn.fetch(
            "SELECT c.code_hash, c.use_time IS NOT NULL AS used FROM dashboard.recovery_codes c "
            "JOIN dashboard.users u ON u.id = c.user_id WHERE u.email = $1",
            email,
        )
        return [(bytes(r["code_hash"]), bool(r["used"])) for r in found]

    return in_database(dash, rows)


def shown_codes(page: Page) -> list[str]:
    """The recovery codes on the page."""
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_text_contents()]
    assert len(codes) == 10 and all(CODE.fullmatch(c) for c in codes), codes
    return codes


def test_unknown_and_known_emails_get_the_same_answer_and_only_the_known_gets_a_link(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash)
    page.click("#logout")
    unknown = new_email()
    known_answer = ask_reset(page, dash, merchant.email)
    unknown_answer = ask_reset(page, dash, unknown)
    assert known_answer.replace(merchant.email, "X") == unknown_answer.replace(unknown, "X")
    wait_for_reset_link(dash, merchant.email, 1)
    assert dash.mailbox.sent_to(unknown) == []

    # A malformed address is a clear error (not an enumeration: it says nothing of accounts).
    page.goto(dash.url + "password/forgot")
    page.fill("#email", "not-an-email")
    page.click("#submit")
    expect(page.locator("#email-error")).to_contain_text("valid email")


def test_a_reset_link_works_once_ends_every_session_and_the_old_password_stops_working(
    dashboard_stack: DashboardStack, browser_pair: tuple[BrowserContext, BrowserContext]
) -> None:
    dash = dashboard_stack
    first, second = browser_pair
    page, errors = open_page(first)
    merchant = onboard(page, dash)  # signed in here, in the first browser
    other, _ = open_page(second)

    ask_reset(other, dash, merchant.email)
    link = wait_for_reset_link(dash, merchant.email, 1)
    other.goto(link)
    expect(other.locator("#reset-email")).to_have_text(merchant.email)
    # A weak password is refused with a clear message; the link still works after it.
    other.fill("#password", "short")
    other.click("#submit")
    expect(other.locator("#password-error")).to_contain_text("at least 12")
    other.fill("#password", NEW_PASSWORD)
    other.click("#submit")
    expect(other.locator("#reset-done")).to_be_visible()

    # The first browser's session (begun before the reset) is over, on the merchant pages first (they check it
    # themselves, dashboard.app.session_user), then everywhere.
    page.goto(dash.url + "invoices")
    expect(page.locator("h1")).to_have_text("Sign in")
    for path in ("reports", "home", "security"):
        page.goto(dash.url + path)
        expect(page.locator("h1")).to_have_text("Sign in")

    # The link works once.
    other.goto(link)
    expect(other.locator("h1")).to_have_text("Link not valid")

    # The old password no longer works; the new one does, and the second factor still applies.
    sign_in(other, dash, merchant.email, PASSWORD)
    expect(other.locator("#problem")).to_have_text("Email or password is not right.")
    sign_in(other, dash, merchant.email, NEW_PASSWORD)
    expect(other.locator("h1")).to_have_text("Two-step login")
    other.fill("#code", merchant.totp.at(time.time() + 30))  # the next step: the enrolment's code is spent
    other.click("#submit")
    expect(other.locator("h1")).to_have_text("Home")
    assert errors == []


def test_an_expired_reset_link_is_refused_and_requests_are_throttled(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash)
    page.click("#logout")
    ask_reset(page, dash, merchant.email)
    link = wait_for_reset_link(dash, merchant.email, 1)
    token = link.rsplit("/", 1)[1]

    async def expire(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "UPDATE dashboard.password_resets SET expire_time = $2 WHERE token_hash = $1",
            hashlib.sha256(token.encode()).digest(),
            dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        )

    in_database(dash, expire)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Link not valid")

    # Three links per address per hour: the fourth request gets the same page and no email.
    ask_reset(page, dash, merchant.email)
    ask_reset(page, dash, merchant.email)
    wait_for_reset_link(dash, merchant.email, 3)
    answer = ask_reset(page, dash, merchant.email)
    assert merchant.email in answer
    page.wait_for_timeout(1000)  # the email would go out in the background within this
    assert len(reset_links(dash, merchant.email)) == 3


@pytest.mark.parametrize(("name", "context"), [("desktop", DESKTOP), ("phone", PHONE)], indirect=["context"])
def test_recovery_codes_are_shown_once_stored_hashed_and_each_signs_in_once(  # noqa: PLR0915 - one journey
    dashboard_stack: DashboardStack, context: BrowserContext, name: str
) -> None:
    dash = dashboard_stack
    size = DESKTOP if name == "desktop" else PHONE
    page, errors = open_page(context)
    codes, email = onboard_keeping_codes(page, dash, size, name)

    stored = stored_codes(dash, email)
    assert len(stored) == 10 and not any(used for _, used in stored)
    hashes = {h for h, _ in stored}
    assert {hashlib.sha256(c.replace("-", "").encode()).digest() for c in codes} == hashes
    for code in codes:  # hashed: no code's text is in the table
        assert all(code.replace("-", "").encode() not in h for h in hashes)

    # Shown once: the page does not show them again.
    page.goto(dash.url + "recovery-codes/new")
    expect(page.locator("h1")).to_have_text("Two-step login")
    expect(page.locator("#codes-left")).to_have_text("10")
    assert codes[0] not in page.content()

    # The authenticator is lost: sign in with a recovery code (typed in upper case and without dashes).
    page.click("#logout")
    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Two-step login")
    page.click("#use-recovery")
    expect(page.locator("h1")).to_have_text("Use a recovery code")
    assert_accessible(page)
    assert_readable(page, ("h1", "#code", "#submit"), size)
    page.screenshot(path=str(SHOTS / f"dashboard-recovery-login-{name}.png"))
    page.fill("#code", "abcd-efgh")
    page.click("#submit")
    expect(page.locator("#code-error")).to_contain_text("16 letters and digits")
    page.fill("#code", codes[0].replace("-", "").upper())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Two-step login")
    expect(page.locator("#notice")).to_contain_text("recovery code")
    expect(page.locator("#codes-left")).to_have_text("9")
    assert_accessible(page)
    assert_readable(page, ("h1", "#codes-left", "#regenerate", "#new-authenticator"), size)
    page.screenshot(path=str(SHOTS / f"dashboard-security-{name}.png"))
    assert sum(used for _, used in stored_codes(dash, email)) == 1
    notice = dash.mailbox.wait_for(email)
    assert notice["Subject"] == "A recovery code was used to sign in to stablegate"

    # The same code does not work twice.
    page.click("#logout")
    sign_in(page, dash, email)
    page.click("#use-recovery")
    page.fill("#code", codes[0])
    page.click("#submit")
    expect(page.locator("#code-error")).to_contain_text("not right (or was used already)")

    # Another code works; then a new authenticator replaces the lost one and brings a new set of codes.
    page.fill("#code", codes[1])
    page.click("#submit")
    expect(page.locator("#codes-left")).to_have_text("8")
    page.fill("#totp-password", PASSWORD)  # a change of second factor asks for the password again
    page.click("#new-authenticator")
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    totp = pyotp.TOTP((page.locator("#totp-secret").text_content() or "").replace(" ", ""))
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    renewed = shown_codes(page)
    assert not set(renewed) & set(codes)
    # The old set is gone: an unused old code no longer signs in.
    page.click("#continue")
    page.click("#logout")
    sign_in(page, dash, email)
    page.click("#use-recovery")
    page.fill("#code", codes[2])
    page.click("#submit")
    expect(page.locator("#code-error")).to_contain_text("not right")
    assert not [error for error in errors if "Content Security Policy" in error]  # the 400s are logged, no CSP


def onboard_keeping_codes(page: Page, dash: DashboardStack, size: ViewportSize, name: str) -> tuple[list[str], str]:
    """Onboard up to the recovery codes page; check it, keep its codes and go on home."""
    email = new_email()
    sign_up(page, dash, email)
    page.goto(verification_link(dash, email))
    page.fill("#name", "Recovery Shop")
    page.click("#submit")
    sign_in(page, dash, email)
    totp = pyotp.TOTP((page.locator("#totp-secret").text_content() or "").replace(" ", ""))
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    codes = shown_codes(page)
    assert_accessible(page)
    assert_readable(page, ("h1", "#recovery-codes", "#continue"), size)
    page.screenshot(path=str(SHOTS / f"dashboard-recovery-codes-{name}.png"))
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    return codes, email


def test_regenerating_recovery_codes_replaces_the_set(dashboard_stack: DashboardStack, context: BrowserContext) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash)
    before = {h for h, _ in stored_codes(dash, merchant.email)}
    page.click("#security-link")
    # Without the password, or with a wrong one, nothing changes.
    page.click("#regenerate")
    expect(page.locator("#codes-password-error")).to_contain_text("Enter your password")
    page.fill("#codes-password", "not the password at all")
    page.click("#regenerate")
    expect(page.locator("#codes-password-error")).to_contain_text("not right")
    assert {h for h, _ in stored_codes(dash, merchant.email)} == before
    assert_accessible(page)
    page.fill("#codes-password", PASSWORD)
    page.click("#regenerate")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    expect(page.locator("#codes-lead")).to_contain_text("old ones no longer work")
    codes = shown_codes(page)
    after = {h for h, _ in stored_codes(dash, merchant.email)}
    assert len(after) == 10 and not before & after
    assert {hashlib.sha256(c.replace("-", "").encode()).digest() for c in codes} == after
    # The user hears of it by email (a thief with a session cannot replace the codes unnoticed).
    notice = dash.mailbox.wait_for(merchant.email)
    assert notice["Subject"] == "Your stablegate recovery codes were replaced"


def test_forgot_and_reset_pages_are_accessible_and_readable(
    dashboard_stack: DashboardStack, browser_pair: tuple[BrowserContext, BrowserContext]
) -> None:
    dash = dashboard_stack
    for name, ctx, size in (("desktop", browser_pair[0], DESKTOP), ("phone", browser_pair[1], PHONE)):
        ctx.set_default_timeout(10_000)
        page, _ = open_page(ctx)
        page.set_viewport_size(size)
        page.goto(dash.url + "password/forgot")
        assert_accessible(page)
        assert_readable(page, ("h1", "#email", "#submit"), size)
        page.screenshot(path=str(SHOTS / f"dashboard-password-forgot-{name}.png"))


def test_the_log_holds_no_reset_token_or_recovery_code(dashboard_stack: DashboardStack) -> None:
    """Run last in this module: everything above asked for links and used codes."""
    log = dashboard_stack.log.read_text()
    assert '"message": "password reset"' in log and '"message": "signed in with a recovery code"' in log
    for message in dashboard_stack.mailbox.messages:
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        for token in re.findall(rb"/dashboard/password/reset/([A-Za-z0-9_-]+)", body):
            assert token.decode() not in log
    assert NEW_PASSWORD not in log and PASSWORD not in log
    assert not re.search(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", log)


@pytest.fixture
def browser_pair(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """Two independent browser contexts (two devices), desktop size."""
    first = browser.new_context(viewport=DESKTOP)
    second = browser.new_context(viewport=DESKTOP)
    try:
        yield first, second
    finally:
        first.close()
        second.close()
