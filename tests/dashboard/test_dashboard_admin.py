"""Issue 22, acceptance 2: admins sign in through the local OIDC provider (npm oidc-provider, its real login page
typed into by headless Chromium), a user without the admin claim is refused, and a read-only admin cannot suspend
a merchant: the server answers 403 to a direct POST carrying a valid CSRF token, and the ledger is unchanged.
The whole mesh runs: Envoy, the edge, the ledger, the dashboard with OIDC configured, Postgres, Redis.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from playwright.sync_api import BrowserContext, Page, expect

from dashboard.admin_exports import MERCHANTS
from dashboard.sessions import KEY_PREFIX as SESSION_KEYS
from service_runtime.devcerts import DevMesh
from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack, Mailbox
from tests.dashboard.flows import SHOTS, assert_accessible, assert_readable, download_csv, open_page
from tests.dashboard.oidc_fixture import OidcTestProvider
from tests.dashboard.oidc_stack import oidc_dashboard_stack
from tests.edge.conftest import Reply

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def admin_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DashboardStack, OidcTestProvider]]:
    """The mesh with the dashboard's OIDC settings pointing at a real oidc-provider on loopback."""
    with oidc_dashboard_stack(
        postgres,
        redis_server,
        mesh_pki,
        mailbox,
        Path(tmp_path_factory.mktemp("dashboard-admin")),
        env={
            "STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO",
        },
    ) as made:
        yield made


def new_merchant(dash: DashboardStack, name: str) -> str:
    made = dash.stack.call(
        "POST", "/admin/v1/merchants", {"name": name, "contact_email": "ops@shop.example"}, dash.stack.admin_key
    )
    assert made.status == 200, made.body
    merchant_id: str = made.json()["id"]
    return merchant_id


def ledger_status(dash: DashboardStack, merchant_id: str) -> str:
    got = dash.stack.call("GET", f"/admin/v1/merchants/{merchant_id}", key=dash.stack.admin_key)
    assert got.status == 200, got.body
    body = got.json()
    status: str = body.get("merchant", body)["status"]
    return status


def sign_in(context: BrowserContext, dash: DashboardStack, provider: OidcTestProvider, user: str) -> Page:
    """Through the dashboard's admin login to the provider's own login page, typed into like a person would."""
    page, _ = open_page(context)
    page.goto(dash.url + "admin/login")
    assert page.url.startswith(provider.issuer + "/interaction/")  # the provider's page, not ours
    page.fill("#login", user)
    page.fill("#password", provider.users[user].password)
    page.click("#submit")
    page.wait_for_url(f"{dash.url}admin/callback?*")
    return page


def post_as(context: BrowserContext, dash: DashboardStack, path: str, form: dict[str, str]) -> Reply:
    """A direct HTTP form POST with the browser's session cookie and the dashboard's own Origin (not the page)."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(dash.url))
    origin = f"http://127.0.0.1:{dash.stack.port}"
    return dash.stack.call(
        "POST",
        path,
        raw=urllib.parse.urlencode(form).encode(),
        headers={"cookie": cookies, "origin": origin, "content-type": "application/x-www-form-urlencoded"},
    )


def test_admin_signs_in_and_suspends_then_reactivates_a_merchant(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    merchant_id = new_merchant(dash, "Suspend Me Ltd")
    page = sign_in(context, dash, provider, "alice")
    expect(page.locator("#signed-in")).to_contain_text("alice@example.test")
    expect(page.locator("#signed-in")).to_contain_text("(Admin)")
    assert_accessible(page)
    page.click("#continue")
    page.wait_for_url(f"{dash.url}admin/merchants")
    page.goto(dash.url)  # the dashboard's root knows where an admin belongs
    page.wait_for_url(f"{dash.url}admin/merchants")
    row = page.locator(f"#merchant-{merchant_id}")
    expect(row.locator(".status")).to_have_text("ACTIVE")
    assert_accessible(page)

    row.locator("input[name=reason]").fill("chargeback review")
    row.locator("button", has_text="Suspend").click()
    expect(page.locator("#done")).to_have_text("Merchant suspended.")
    expect(page.locator(f"#merchant-{merchant_id} .status")).to_have_text("SUSPENDED")
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_SUSPENDED"
    assert_accessible(page)

    page.locator(f"#merchant-{merchant_id} button", has_text="Reactivate").click()
    expect(page.locator("#done")).to_have_text("Merchant reactivated.")
    expect(page.locator(f"#merchant-{merchant_id} .status")).to_have_text("ACTIVE")
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_ACTIVE"
    assert_readable(page, ("h1", "#who", f"#merchant-{merchant_id} .status", f"#suspend-{merchant_id} button"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-merchants-desktop.png"))
    # The merchants as CSV: the page's list, this merchant as the ledger has it.
    merchants = download_csv(page, dash.url + "admin/merchants.csv")
    assert merchants[0] == list(MERCHANTS)
    mine = [r for r in merchants if r[0] == merchant_id]
    assert len(mine) == 1 and mine[0][:4] == [merchant_id, "Suspend Me Ltd", "ops@shop.example", "ACTIVE"], mine
    assert len(merchants) - 1 == page.locator("#merchants tbody tr").count()

    # A suspend without a reason is refused on the server, and nothing changes.
    csrf = page.get_attribute("input[name=csrf_token]", "value")
    assert csrf
    refused = post_as(context, dash, f"/dashboard/admin/merchants/{merchant_id}/suspend", {"csrf_token": csrf})
    assert refused.status == 400 and b"Give a reason" in refused.body
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_ACTIVE"


@pytest.mark.parametrize("user", ["nora", "mallory"])
def test_user_without_the_admin_claim_is_refused_at_sign_in(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext, user: str
) -> None:
    dash, provider = admin_stack
    page = sign_in(context, dash, provider, user)
    expect(page.locator("#refused")).to_contain_text("has no dashboard admin role")
    expect(page.locator("h1")).to_have_text("Not an admin")
    assert_accessible(page)
    # Nothing was signed in: the admin pages send the browser back to the sign-in.
    reply = dash.stack.call(
        "GET",
        "/dashboard/admin/merchants",
        headers={"cookie": "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(dash.url))},
    )
    assert reply.status == 303 and reply.headers["location"] == "/dashboard/admin/login"


def test_read_only_admin_sees_merchants_but_the_server_refuses_her_suspend(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    merchant_id = new_merchant(dash, "Keep Me Active Ltd")
    page = sign_in(context, dash, provider, "rita")
    expect(page.locator("#signed-in")).to_contain_text("(Read-only admin)")
    page.click("#continue")
    expect(page.locator(f"#merchant-{merchant_id} .status")).to_have_text("ACTIVE")
    expect(page.locator("#read-only")).to_be_visible()
    assert page.locator(f"#suspend-{merchant_id}").count() == 0  # the page offers nothing...
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert_readable(page, ("h1", "#read-only", f"#merchant-{merchant_id} .status"), PHONE)
    page.screenshot(path=str(SHOTS / "dashboard-admin-merchants-readonly-phone.png"))
    # The read-only admin may see the page, so its CSV too.
    assert [merchant_id, "Keep Me Active Ltd"] in [r[:2] for r in download_csv(page, dash.url + "admin/merchants.csv")]

    csrf = page.get_attribute("input[name=csrf_token]", "value")
    assert csrf
    path = f"/dashboard/admin/merchants/{merchant_id}/suspend"
    # ...and the server refuses the POST itself, though its CSRF token and Origin are valid.
    refused = post_as(context, dash, path, {"csrf_token": csrf, "reason": "because I can"})
    assert refused.status == 403
    assert b'id="forbidden"' in refused.body and b"read-only" in refused.body
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_ACTIVE"
    reactivate = post_as(context, dash, f"/dashboard/admin/merchants/{merchant_id}/reactivate", {"csrf_token": csrf})
    assert reactivate.status == 403
    # The same POST with a wrong token is refused earlier, by the CSRF check (a different page): the 403 above
    # was the role's.
    bad_token = post_as(context, dash, path, {"csrf_token": "x" + csrf[1:], "reason": "because I can"})
    assert bad_token.status == 403 and b'id="csrf-refused"' in bad_token.body
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_ACTIVE"


def test_admin_pages_need_an_admin_session(admin_stack: tuple[DashboardStack, OidcTestProvider]) -> None:
    dash, _ = admin_stack
    for path in ("merchants", "merchants.csv", "approvals.csv", "audit/signer.csv", "audit/ledger.csv"):
        reply = dash.stack.call("GET", f"/dashboard/admin/{path}")
        assert reply.status == 303 and reply.headers["location"] == "/dashboard/admin/login", path
    start = dash.stack.call("GET", "/dashboard/admin/login")
    assert start.status == 302 and "code_challenge_method=S256" in start.headers["location"]
    assert "prompt=" not in start.headers["location"]
    # The fresh sign-in a stale session is sent to makes the provider ask for the password again.
    fresh = dash.stack.call("GET", "/dashboard/admin/login?fresh=1")
    assert fresh.status == 302 and "prompt=login" in fresh.headers["location"]
    # A callback that no sign-in started is refused with its reason, and signs no one in.
    stray = dash.stack.call("GET", "/dashboard/admin/callback?code=abc&state=forged")
    assert stray.status == 400 and b"STATE_MISMATCH" in stray.body


def test_starting_admin_sign_ins_stores_nothing_and_a_forged_login_cookie_opens_nothing(
    admin_stack: tuple[DashboardStack, OidcTestProvider], redis_server: RedisServer
) -> None:
    dash, _ = admin_stack
    cache = redis.Redis.from_url(redis_server.url)
    try:

        def stored() -> int:
            return sum(1 for _ in cache.scan_iter(match=SESSION_KEYS + "*", count=1000))

        before = stored()
        for _ in range(20):
            start = dash.stack.call("GET", "/dashboard/admin/login")
            assert start.status == 302 and "code_challenge_method=S256" in start.headers["location"]
        # The pending state, nonce and verifier travel sealed in the login cookie: no session per visitor.
        assert stored() == before
    finally:
        cache.close()
    # The state of a real start, with a login cookie the dashboard did not seal: refused, no one signed in.
    start = dash.stack.call("GET", "/dashboard/admin/login")
    state = urllib.parse.parse_qs(urllib.parse.urlparse(start.headers["location"]).query)["state"][0]
    for forged in ("not-sealed", base64.urlsafe_b64encode(b"\x01" + bytes(40)).decode()):
        stray = dash.stack.call(
            "GET",
            f"/dashboard/admin/callback?code=abc&state={state}",
            headers={"cookie": f"sg_dashboard_login={forged}"},
        )
        assert stray.status == 400 and b"STATE_MISMATCH" in stray.body
        assert "sg_dashboard=" not in stray.headers.get("set-cookie", "")
