"""The signing-freeze routes' server-side checks before any signer call, in this process on the dashboard's real
mutual-TLS listener (no signer configured): who may post, stale sign-ins, anonymous visitors, and a clear page
when the signer is not configured."""

from __future__ import annotations

import time

from dashboard.sessions import SessionStore, Stage
from service_runtime.devcerts import DevMesh
from tests.dashboard.admin_app import edge_client, in_process, post_as_admin

__all__ = ["in_process"]  # the fixture, used by name

UNFREEZE = "/dashboard/admin/signing/unfreeze"
FORM = {
    "freeze_id": "frz_00ff",
    "signatures": "0x" + "ab" * 64 + "1b",
    "deadline": str(int(time.time()) + 600),
}


async def post_unfreeze(url: str, store: SessionStore, mesh_pki: DevMesh, data: dict[str, str]) -> tuple[int, str]:
    return await post_as_admin(url, store, mesh_pki, UNFREEZE, form=FORM, data=data)


async def test_only_admins_and_approvers_with_a_fresh_sign_in_may_relay_unfreeze_signatures(
    in_process: tuple[str, SessionStore], mesh_pki: DevMesh
) -> None:
    url, store = in_process
    now = str(int(time.time()))
    status, body = await post_unfreeze(url, store, mesh_pki, {"role": "admin-readonly", "signed_in_at": now})
    assert status == 403 and 'id="forbidden"' in body and "Nothing was sent to the signer" in body
    long_ago = str(int(time.time()) - 3600)
    status, body = await post_unfreeze(url, store, mesh_pki, {"role": "approver", "signed_in_at": long_ago})
    assert status == 403 and 'id="stale-sign-in"' in body
    status, _ = await post_unfreeze(url, store, mesh_pki, {"role": "not-a-role", "signed_in_at": now})
    assert status == 303
    for role in ("approver", "admin"):
        status, body = await post_unfreeze(url, store, mesh_pki, {"role": role, "signed_in_at": now})
        assert status == 503 and "STABLEGATE_DASHBOARD_SIGNER_TARGET" in body


async def test_without_a_signer_the_page_says_so_and_anonymous_visitors_go_to_sign_in(
    in_process: tuple[str, SessionStore], mesh_pki: DevMesh
) -> None:
    url, store = in_process
    token, _ = await store.start(
        stage=Stage.ADMIN, user_id="sub-1", data={"role": "admin-readonly", "signed_in_at": str(int(time.time()))}
    )
    async with edge_client(mesh_pki) as client:
        client.cookie_jar.update_cookies({"sg_dashboard": token})
        async with client.get(url + "/dashboard/admin/signing") as resp:
            body = await resp.text()
            assert resp.status == 503 and 'id="freeze-unavailable"' in body and "SIGNER_TARGET" in body
    async with edge_client(mesh_pki) as client:
        async with client.get(url + "/dashboard/admin/signing", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["location"] == "/dashboard/admin/login"
        async with client.post(url + UNFREEZE, data=FORM, allow_redirects=False) as resp:
            assert resp.status in {303, 403}  # no session: the CSRF check or the sign-in redirect, never a relay
