"""The admin-login hook the OpenID Connect module plugs into: its routes get the session, rotate it, and their
POSTs get the CSRF and Origin checks; an admin session opens no merchant page. The dashboard's app runs in this
process on its real mutual-TLS listener, called with the edge's certificate as Envoy would."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as redis
from aiohttp import web

from dashboard.app import Parts, current_session, make_app, rotate_session, server_ssl
from dashboard.config import DashboardSettings
from dashboard.sessions import SessionStore, Stage
from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import RedisServer


class FakeAdminLogin:
    """Stands in for the OIDC module: a sign-in that trusts whoever asks (the hook's wiring is what is tested)."""

    def install(self, app: web.Application) -> None:
        """Two routes under /dashboard/admin/."""

        async def callback(request: web.Request) -> web.StreamResponse:
            before = current_session(request)
            after = await rotate_session(request, stage=Stage.ADMIN, user_id="sub-1", data={"roles": "admin"})
            return web.json_response({"before": before.csrf, "after": after.csrf, "csrf": after.csrf})

        async def whoami(request: web.Request) -> web.StreamResponse:
            session = current_session(request)
            return web.json_response({"stage": session.stage, "user": session.user_id, "data": session.data})

        app.router.add_get("/dashboard/admin/callback", callback)
        app.router.add_post("/dashboard/admin/whoami", whoami)


@pytest.fixture
async def dashboard_url(
    mesh_pki: DevMesh, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """The dashboard's app with the fake admin login, on a free port over mutual TLS."""
    port = parts.free_port()
    for name, value in mesh_pki.files(Role.DASHBOARD).env("dashboard").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STABLEGATE_DASHBOARD_PUBLIC_URL", "https://dash.example")
    settings = DashboardSettings()  # type: ignore[call-arg]
    cache = redis.from_url(redis_server.url)
    store = SessionStore(cache, idle_seconds=60, absolute_seconds=600)
    runner = web.AppRunner(make_app(settings, Parts(sessions=store), admin=FakeAdminLogin()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl(settings)).start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await cache.aclose()


def edge_client(mesh_pki: DevMesh) -> aiohttp.ClientSession:
    """A client holding the edge's certificate (as Envoy does), keeping cookies for an IP address."""
    files = mesh_pki.files(Role.EDGE)
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.check_hostname = False
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_an_admin_login_module_rotates_the_session_and_its_posts_are_csrf_checked(
    dashboard_url: str, mesh_pki: DevMesh
) -> None:
    async with edge_client(mesh_pki) as client:
        async with client.get(f"{dashboard_url}/dashboard/admin/callback") as resp:
            assert resp.status == 200
            first = await resp.json()
        async with client.get(f"{dashboard_url}/dashboard/admin/callback") as resp:
            second = await resp.json()
        assert first["before"] != first["after"]  # rotated
        assert second["before"] == first["after"]  # the new cookie was set and sent back
        csrf = second["csrf"]
        origin = {"origin": "https://dash.example"}
        async with client.post(f"{dashboard_url}/dashboard/admin/whoami", data={}, headers=origin) as resp:
            assert resp.status == 403  # no token
        async with client.post(
            f"{dashboard_url}/dashboard/admin/whoami", data={"csrf_token": csrf}, headers={"origin": "https://x"}
        ) as resp:
            assert resp.status == 403  # another origin
        async with client.post(
            f"{dashboard_url}/dashboard/admin/whoami", data={"csrf_token": csrf}, headers=origin
        ) as resp:
            assert resp.status == 200
            assert await resp.json() == {"stage": "admin", "user": "sub-1", "data": {"roles": "admin"}}
        # An admin session is not a merchant's: the merchant pages send it to the merchant login.
        async with client.get(f"{dashboard_url}/dashboard/home", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["location"] == "/dashboard/login"
