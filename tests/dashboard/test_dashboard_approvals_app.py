"""The approvals routes' server-side checks before any signer call, in this process on the dashboard's real
mutual-TLS listener (the OIDC admin module installed, no signer and no ledger configured): who may see and post,
stale sign-ins, and a clear page when the signer is not configured."""

from __future__ import annotations

import time

from dashboard.sessions import SessionStore, Stage
from service_runtime.devcerts import DevMesh
from tests.dashboard.admin_app import edge_client, in_process, post_as_admin

__all__ = ["in_process"]  # the fixture, used by name

APPROVE = "/dashboard/admin/approvals/apr_1/approve"
FORM = {"signature": "0x" + "ab" * 64 + "1b", "deadline": str(int(time.time()) + 600)}


async def post_approval(url: str, store: SessionStore, mesh_pki: DevMesh, data: dict[str, str]) -> tuple[int, str]:
    return await post_as_admin(url, store, mesh_pki, APPROVE, form=FORM, data=data)


async def test_only_admins_and_approvers_with_a_fresh_sign_in_get_past_the_role_check(
    in_process: tuple[str, SessionStore], mesh_pki: DevMesh
) -> None:
    url, store = in_process
    now = str(int(time.time()))
    status, body = await post_approval(url, store, mesh_pki, {"role": "admin-readonly", "signed_in_at": now})
    assert status == 403 and 'id="forbidden"' in body and "Nothing was sent to the signer" in body
    long_ago = str(int(time.time()) - 3600)
    status, body = await post_approval(url, store, mesh_pki, {"role": "approver", "signed_in_at": long_ago})
    assert status == 403 and 'id="stale-sign-in"' in body
    status, _ = await post_approval(url, store, mesh_pki, {"role": "not-a-role", "signed_in_at": now})
    assert status == 303
    # Past the role check, an approver meets the unconfigured signer: a clear page, not a crash.
    for role in ("approver", "admin"):
        status, body = await post_approval(url, store, mesh_pki, {"role": role, "signed_in_at": now})
        assert status == 503 and "STABLEGATE_DASHBOARD_SIGNER_TARGET" in body


async def test_without_a_signer_the_pages_say_it_is_not_configured(
    in_process: tuple[str, SessionStore], mesh_pki: DevMesh
) -> None:
    url, store = in_process
    token, _ = await store.start(
        stage=Stage.ADMIN, user_id="sub-1", data={"role": "admin-readonly", "signed_in_at": str(int(time.time()))}
    )
    async with edge_client(mesh_pki) as client:
        client.cookie_jar.update_cookies({"sg_dashboard": token})
        async with client.get(url + "/dashboard/admin/approvals") as resp:
            assert resp.status == 503
            assert 'id="approvals-unavailable"' in await resp.text()
        async with client.get(url + "/dashboard/admin/audit") as resp:
            body = await resp.text()
            assert resp.status == 200 and 'id="signer-note"' in body and "SIGNER_TARGET" in body
            assert "Chain verified" not in body
    # Anonymous: back to the sign-in.
    async with edge_client(mesh_pki) as client:
        for path in ("/dashboard/admin/approvals", "/dashboard/admin/audit", "/dashboard/admin/approvals/apr_1"):
            async with client.get(url + path, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["location"] == "/dashboard/admin/login", path
