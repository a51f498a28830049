"""What the dashboard tests do in the browser and check around it: sign-up to TOTP, layout, accessibility, DB reads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pyotp
from playwright.sync_api import BrowserContext, FloatRect, Page, ViewportSize, expect

from gateway import parts
from tests.dashboard.conftest import DashboardStack

T = TypeVar("T")
AXE = parts.REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
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
    # Enrolment shows the recovery codes once, then goes on to the home page.
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    merchant_id = page.locator("#merchant-id").text_content() or ""
    assert merchant_id.startswith("mer_"), merchant_id
    return Merchant(email, totp, merchant_id)


def assert_readable(page: Page, selectors: tuple[str, ...], size: ViewportSize, *, room: float = 0.0) -> None:
    """Each element is visible, inside the viewport (ending at least `room` px above its bottom) and overlaps no
    other."""
    found: dict[str, FloatRect] = {}
    for selector in selectors:
        expect(page.locator(selector)).to_be_visible()
        box = page.locator(selector).bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, selector
        assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= size["width"] + 0.5, (selector, box, size)
        assert box["y"] + box["height"] <= size["height"] - room + 0.5, (selector, box, size, room)
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


def in_database(dash: DashboardStack, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run a query on the stack's database (in a thread: Playwright's sync API owns this thread's event loop)."""

    async def run() -> T:
        conn = await asyncpg.connect(dash.stack.database_url)
        try:
            return await query(conn)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=30)


def users_with_email(dash: DashboardStack, email: str) -> int:
    """How many dashboard users have this email (0 or 1)."""

    async def count(conn: asyncpg.Connection) -> int:
        found: int = await conn.fetchval("SELECT count(*) FROM dashboard.users WHERE email = $1", email)
        return found

    return in_database(dash, count)


def assert_accessible(page: Page) -> None:
    """axe-core (from npm) finds no serious or critical violation on the page as it stands."""
    page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert result["passes"], "axe checked nothing"
    assert not serious, serious


def download_csv(page: Page, url: str) -> list[list[str]]:
    """GET a table's CSV export with the page's session: asserted a text/csv attachment; its rows."""
    reply = page.request.get(url, max_redirects=0)
    assert reply.status == 200, (url, reply.status, reply.text()[:300])
    assert reply.headers["content-type"] == "text/csv; charset=utf-8", reply.headers
    assert reply.headers["content-disposition"].startswith('attachment; filename="'), reply.headers
    return list(csv.reader(io.StringIO(reply.text(), newline="")))


def refused_csv(context: BrowserContext, url: str) -> None:
    """An anonymous visitor asking for a table's CSV is sent to the login page (and gets no rows)."""
    assert context.browser is not None
    anonymous = context.browser.new_context()
    try:
        reply = anonymous.request.get(url, max_redirects=0)
        assert reply.status == 303, (url, reply.status)
        assert reply.headers["location"].endswith("/dashboard/login")
    finally:
        anonymous.close()
