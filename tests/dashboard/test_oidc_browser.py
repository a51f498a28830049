"""Admin sign-in in headless Chromium: a minimal aiohttp app wired to `OidcLogin` the way the dashboard's
routes are meant to be, the browser typing into the real provider's login page.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from dashboard.oidc import NotAnAdmin, OidcClient, OidcError, OidcLogin
from gateway import parts
from tests.dashboard.oidc_fixture import OidcTestProvider, start_oidc_provider

pytestmark = pytest.mark.timeout(90)
CHROMIUM = "/usr/bin/chromium"
SESSION_COOKIE = "sg_admin_session"


@dataclass
class AdminApp:
    """The stand-in dashboard: its URL, the provider it trusts, and its server-side sessions."""

    url: str
    provider: OidcTestProvider
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)


def admin_app(login: OidcLogin, sessions: dict[str, dict[str, Any]]) -> web.Application:
    """Two routes, as the dashboard wires them: /admin/login starts, /admin/oidc/callback finishes."""

    async def start(request: web.Request) -> web.Response:
        sid = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(32)
        session = sessions.setdefault(sid, {})
        response = web.HTTPFound(await login.start(session))
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/admin")
        raise response

    async def callback(request: web.Request) -> web.Response:
        session = sessions.get(request.cookies.get(SESSION_COOKIE, ""), {})
        try:
            who = await login.finish(session, request.query)
        except NotAnAdmin as exc:
            return web.Response(status=403, text=page(f'<p id="refused">{exc.reason}</p>'), content_type="text/html")
        except OidcError as exc:
            return web.Response(status=400, text=page(f'<p id="failed">{exc.reason}</p>'), content_type="text/html")
        session["admin"] = {"sub": who.subject, "role": who.role.value}
        text = f'<p id="who">Signed in as {html.escape(who.subject)} ({who.role.value})</p>'
        return web.Response(text=page(text), content_type="text/html")

    app = web.Application()
    app.router.add_get("/admin/login", start)
    app.router.add_get("/admin/oidc/callback", callback)
    return app


def page(body: str) -> str:
    return f'<!doctype html><html lang="en"><head><title>Admin</title></head><body>{body}</body></html>'


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stand_in(
    tmp_path_factory: pytest.TempPathFactory, process_registry: list[parts.RunningProcess]
) -> AsyncIterator[AdminApp]:
    port = parts.free_port()
    base_url = f"http://127.0.0.1:{port}"
    provider = start_oidc_provider(Path(tmp_path_factory.mktemp("oidc-browser")), [f"{base_url}/admin/oidc/callback"])
    process_registry.append(provider.process)
    client = OidcClient(provider.settings())
    sessions: dict[str, dict[str, Any]] = {}
    runner = web.AppRunner(admin_app(OidcLogin(client), sessions))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield AdminApp(base_url, provider, sessions)
    finally:
        await runner.cleanup()
        await client.close()
        provider.process.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in_with_browser(chromium: Browser, app: AdminApp, user: str, password: str | None = None) -> Any:
    context = await chromium.new_context()
    tab = await context.new_page()
    await tab.goto(f"{app.url}/admin/login")
    assert tab.url.startswith(app.provider.issuer + "/interaction/")  # the provider's own page, not ours
    await tab.fill("#login", user)
    await tab.fill("#password", password if password is not None else app.provider.users[user].password)
    await tab.click("#submit")
    return context, tab


@pytest.mark.parametrize(("user", "role"), [("alice", "admin"), ("rita", "admin-readonly")])
async def test_admin_signs_in_through_the_provider_in_a_browser(
    chromium: Browser, stand_in: AdminApp, user: str, role: str
) -> None:
    context, tab = await sign_in_with_browser(chromium, stand_in, user)
    await expect(tab.locator("#who")).to_have_text(f"Signed in as {user} ({role})")
    assert tab.url.startswith(f"{stand_in.url}/admin/oidc/callback?")
    signed_in = [s["admin"] for s in stand_in.sessions.values() if "admin" in s]
    assert {"sub": user, "role": role} in signed_in
    await context.close()


async def test_user_without_the_admin_claim_is_refused_in_a_browser(chromium: Browser, stand_in: AdminApp) -> None:
    context, tab = await sign_in_with_browser(chromium, stand_in, "nora")
    await expect(tab.locator("#refused")).to_have_text("NOT_AN_ADMIN")
    assert all(s.get("admin", {}).get("sub") != "nora" for s in stand_in.sessions.values())
    await context.close()


async def test_wrong_password_stays_at_the_provider(chromium: Browser, stand_in: AdminApp) -> None:
    context, tab = await sign_in_with_browser(chromium, stand_in, "alice", "not-her-password")
    await expect(tab.locator("#error")).to_have_text("Wrong username or password.")
    assert tab.url.startswith(stand_in.provider.issuer)
    await context.close()
