"""The dashboard's app in this process on its real mutual-TLS listener, for the admin routes' server-side checks.

`in_process` runs the real OIDC admin module with no signer and no ledger configured; `serve` runs it with any
admin login; `edge_client` calls it with the edge's certificate, as Envoy would; `post_as_admin` posts a form as
an admin session holding the given data. A test module imports the fixture by name.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import redis.asyncio as redis
from aiohttp import web

from dashboard.admin import OidcAdminLogin
from dashboard.app import AdminLogin, Parts, make_app, server_ssl
from dashboard.config import DashboardSettings
from dashboard.oidc_settings import OidcSettings
from dashboard.sessions import SessionStore, Stage
from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import RedisServer

ORIGIN = "https://dash.example"


def edge_client(mesh_pki: DevMesh) -> aiohttp.ClientSession:
    """A client holding the edge's certificate (as Envoy does), keeping cookies for an IP address."""
    files = mesh_pki.files(Role.EDGE)
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.check_hostname = False
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), cookie_jar=aiohttp.CookieJar(unsafe=True))


@asynccontextmanager
async def serve(
    mesh_pki: DevMesh, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, admin: AdminLogin
) -> AsyncIterator[tuple[str, SessionStore]]:
    """The dashboard's app with `admin` as its admin login and no other part, on a free port over mutual TLS."""
    port = parts.free_port()
    for name, value in mesh_pki.files(Role.DASHBOARD).env("dashboard").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STABLEGATE_DASHBOARD_PUBLIC_URL", ORIGIN)
    settings = DashboardSettings()  # type: ignore[call-arg]
    cache = redis.from_url(redis_server.url)
    store = SessionStore(cache, idle_seconds=60, absolute_seconds=600)
    runner = web.AppRunner(make_app(settings, Parts(sessions=store), admin=admin))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl(settings)).start()
    try:
        yield f"https://127.0.0.1:{port}", store
    finally:
        await runner.cleanup()
        await cache.aclose()


@pytest.fixture
async def in_process(
    mesh_pki: DevMesh, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, SessionStore]]:
    """The dashboard's app with the OIDC admin module and no ledger (a call reaching it would fail with 500)."""
    oidc = OidcSettings(
        issuer="http://127.0.0.1:9",
        client_id="dashboard",
        client_auth_method="none",
        redirect_uri=f"{ORIGIN}/dashboard/admin/callback",
    )
    async with serve(mesh_pki, redis_server, monkeypatch, OidcAdminLogin(oidc)) as served:
        yield served


async def post_as_admin(
    url: str, store: SessionStore, mesh_pki: DevMesh, path: str, *, form: dict[str, str], data: dict[str, str]
) -> tuple[int, str]:
    """POST `form` to `path` as an admin session holding `data`: the status and the body (no redirect followed).

    The post carries the session's CSRF token and comes from the dashboard's origin.
    """
    token, session = await store.start(stage=Stage.ADMIN, user_id="sub-1", data=data)
    async with edge_client(mesh_pki) as client:
        client.cookie_jar.update_cookies({"sg_dashboard": token})
        async with client.post(
            url + path,
            data={"csrf_token": session.csrf, **form},
            headers={"origin": ORIGIN},
            allow_redirects=False,
        ) as resp:
            return resp.status, await resp.text()
