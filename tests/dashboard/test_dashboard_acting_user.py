"""The ledger's audit names the person who acted through the dashboard, not only the dashboard's key.

The whole mesh on real parts: Envoy, the edge, the ledger, the dashboard with OIDC against a real oidc-provider,
Postgres, Redis, SMTP and headless Chromium. An operator signs in and suspends a merchant; a merchant user signs
up and creates an API key; each change's audit event, read back from the ledger's admin API, names that person
next to the dashboard's key. The same headers sent by an admin key holder through Envoy name no one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from playwright.sync_api import BrowserContext, expect

from dashboard.admin_exports import LEDGER_AUDIT
from service_runtime.devcerts import DevMesh
from tests.dashboard.conftest import DashboardStack, Mailbox
from tests.dashboard.flows import download_csv, in_database, onboard, open_page
from tests.dashboard.oidc_fixture import OidcTestProvider
from tests.dashboard.oidc_stack import oidc_dashboard_stack
from tests.dashboard.test_dashboard_admin import new_merchant, sign_in

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
    """The mesh with the dashboard's admin login (a real oidc-provider) and its SMTP server both configured."""
    with oidc_dashboard_stack(
        postgres,
        redis_server,
        mesh_pki,
        mailbox,
        Path(tmp_path_factory.mktemp("dashboard-acting")),
        env={
            "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
            "STABLEGATE_DASHBOARD_SMTP_PORT": str(mailbox[1]),
        },
    ) as made:
        yield made


ACTING_KEYS = ("actingUserKind", "actingUserId", "actingUserEmail")


def audit(dash: DashboardStack, subject: str, action: str) -> list[dict[str, Any]]:
    """The ledger's audit events for a subject and action, newest first, through the admin listener."""
    got = dash.stack.call("GET", f"/admin/v1/audit_events?subject={subject}&action={action}", key=dash.stack.admin_key)
    assert got.status == 200, got.body
    events: list[dict[str, Any]] = got.json().get("audit_events", [])
    return events


def test_an_operators_suspension_through_the_dashboard_is_audited_naming_the_operator(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    merchant_id = new_merchant(dash, "Audit Me Ltd")
    page = sign_in(context, dash, provider, "alice")
    page.click("#continue")
    page.wait_for_url(f"{dash.url}admin/merchants")
    row = page.locator(f"#merchant-{merchant_id}")
    row.locator("input[name=reason]").fill("under review")
    row.locator("button", has_text="Suspend").click()
    expect(page.locator("#done")).to_have_text("Merchant suspended.")

    [event] = audit(dash, f"merchants/{merchant_id}", "merchant.suspend")
    details = event["details"]
    assert details["actingUserKind"] == "operator"
    assert details["actingUserId"] == "alice"  # the provider's subject
    assert details["actingUserEmail"] == provider.users["alice"].claims["email"]
    assert details["reason"] == "under review"
    # The key that acted is still the actor: the dashboard's own, not the test's.
    assert event["actor"].startswith("admin_key:") and details["adminName"] == "dashboard"

    # The dashboard's audit viewer and its CSV show the person with the key (both inside the verified chain).
    email = provider.users["alice"].claims["email"]
    page.goto(dash.url + "admin/audit")
    shown = page.locator(f"#admin-event-{event['sequence']}")
    expect(shown).to_contain_text(f"{email} (operator) via {event['actor']}")
    expect(page.locator("#admin-verdict")).to_contain_text("Chain verified")  # the dashboard's own recomputation
    rows = download_csv(page, dash.url + "admin/audit/ledger.csv")
    assert rows[0] == list(LEDGER_AUDIT)
    [mine] = [r for r in rows[1:] if r[0] == str(event["sequence"])]
    assert mine[2] == event["actor"] and mine[3] == "merchant.suspend"
    assert mine[LEDGER_AUDIT.index("acting_user")] == f"operator:alice <{email}>"


def test_a_merchant_users_onboarding_and_new_key_are_audited_naming_the_user(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, _ = admin_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash, business="Named Roastery")
    page.fill("#key-name", "shop backend")
    page.click("#create-key")
    expect(page.locator("#api-key")).to_contain_text("sk_")

    async def user_id(conn: asyncpg.Connection) -> str:
        found: str = await conn.fetchval("SELECT id FROM dashboard.users WHERE email = $1", merchant.email)
        return found

    dashboard_user = in_database(dash, user_id)
    assert dashboard_user.startswith("usr_")
    [onboarded] = audit(dash, f"merchants/{merchant.merchant_id}", "merchant.onboard")
    issued = [
        e
        for e in audit(dash, "", "api_key.issue")
        if e["subject"].startswith(f"merchants/{merchant.merchant_id}/api_keys/")
    ]
    # The read key at onboarding, the pages' key the home page made, and the user's own.
    assert len(issued) >= 2, issued
    for event in (onboarded, *issued):
        details = event["details"]
        assert details["actingUserKind"] == "merchant_user", event
        assert details["actingUserId"] == dashboard_user, event
        assert details["actingUserEmail"] == merchant.email, event
        assert details["adminName"] == "dashboard", event


def test_acting_user_headers_from_an_admin_key_holder_through_envoy_name_no_one(
    admin_stack: tuple[DashboardStack, OidcTestProvider],
) -> None:
    dash, _ = admin_stack
    merchant_id = new_merchant(dash, "Forged Actor Ltd")
    forged = {
        "x-stablegate-acting-user-kind": "operator",
        "x-stablegate-acting-user-id": "alice",
        "x-stablegate-acting-user-email": "alice@example.test",
    }
    done = dash.stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "forged"}, dash.stack.admin_key, headers=forged
    )
    assert done.status == 200, done.body
    [event] = audit(dash, f"merchants/{merchant_id}", "merchant.suspend")
    assert not set(ACTING_KEYS) & set(event["details"]), event
    assert event["details"]["adminName"] == "tests"
