"""The admin-login hook the OpenID Connect module plugs into: its routes get the session, rotate it, and their
POSTs get the CSRF and Origin checks; an admin session opens no merchant page. The dashboard's app runs in this
process on its real mutual-TLS listener, called with the edge's certificate as Envoy would. The last test runs
the real OIDC admin module (dashboard/admin.py) with no ledger, to pin what its POSTs refuse before any ledger
call (stale sign-in, read-only role, unknown role)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from dashboard.app import current_session, rotate_session
from dashboard.sessions import SessionStore, Stage
from service_runtime.devcerts import DevMesh
from tests.conftest import RedisServer
from tests.dashboard.admin_app import edge_client, in_process, serve

__all__ = ["in_process"]  # the fixture, used by name


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
    async with serve(mesh_pki, redis_server, monkeypatch, FakeAdminLogin()) as (url, _):
        yield url


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


# --- in process: the server's checks before any ledger call ------------------------------------------------


async def test_a_stale_sign_in_or_a_read_only_role_is_refused_before_the_ledger(
    in_process: tuple[str, SessionStore], mesh_pki: DevMesh
) -> None:
    url, store = in_process
    long_ago = str(int(time.time()) - 3600)  # older than admin_fresh_seconds (900)
    cases = [
        ({"role": "admin", "signed_in_at": long_ago}, 'id="stale-sign-in"'),
        ({"role": "admin-readonly", "signed_in_at": str(int(time.time()))}, 'id="forbidden"'),
        ({"role": "not-a-role", "signed_in_at": str(int(time.time()))}, None),
    ]
    for data, marker in cases:
        token, session = await store.start(stage=Stage.ADMIN, user_id="sub-1", data=data)
        async with edge_client(mesh_pki) as client:
            client.cookie_jar.update_cookies({"sg_dashboard": token})
            async with client.post(
                f"{url}/dashboard/admin/merchants/m_1/suspend",
                data={"csrf_token": session.csrf, "reason": "test"},
                headers={"origin": "https://dash.example"},
                allow_redirects=False,
            ) as resp:
                body = await resp.text()
                if marker is None:  # an unknown role is no admin session: back to the sign-in
                    assert resp.status == 303 and resp.headers["location"] == "/dashboard/admin/login"
                else:
                    assert resp.status == 403 and marker in body, (resp.status, body)
