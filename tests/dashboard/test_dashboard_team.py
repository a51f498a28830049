"""The team page in Chromium through Envoy: an owner changes a member's role, removes a member (whose session ends
at once) and revokes a pending invitation; the last owner can be neither demoted nor removed; a non-owner is
refused by the server (403) and an anonymous visitor is sent to the login page."""

from __future__ import annotations

import asyncpg
from playwright.sync_api import BrowserContext, expect

from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack
from tests.dashboard.flows import (
    SHOTS,
    assert_accessible,
    assert_readable,
    in_database,
    onboard,
    open_page,
    sign_in,
)
from tests.dashboard.test_dashboard_security import enrol, invitation_link, invite, join, page_csrf


def role_of(dash: DashboardStack, email: str) -> str | None:
    """The stored team role of the user with this email (None: no such user)."""

    async def fetch(conn: asyncpg.Connection) -> str | None:
        found: str | None = await conn.fetchval("SELECT team_role FROM dashboard.users WHERE email = $1", email)
        return found

    return in_database(dash, fetch)


def user_id_of(dash: DashboardStack, email: str) -> str:
    """The id of the user with this email."""

    async def fetch(conn: asyncpg.Connection) -> str:
        found: str = await conn.fetchval("SELECT id FROM dashboard.users WHERE email = $1", email)
        return found

    return in_database(dash, fetch)


def test_an_owner_manages_roles_members_and_invitations_and_the_server_refuses_everyone_else(  # noqa: PLR0915 - one journey
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    origin = dash.url.removesuffix("/dashboard/")
    owner, _ = open_page(context)
    merchant = onboard(owner, dash, "Team Co")
    owner_id = user_id_of(dash, merchant.email)
    developer = invite(owner, dash, "developer")
    pending = invite(owner, dash, "finance")
    pending_link = invitation_link(dash, pending)

    assert context.browser is not None
    member_context = context.browser.new_context()
    try:
        member, _ = open_page(member_context)
        join(member, dash, developer)
        sign_in(member, dash, developer)
        enrol(member)
        member_id = user_id_of(dash, developer)

        # The owner's team page, readable and accessible at both sizes.
        owner.goto(dash.url + "home")
        owner.click("#manage-team")
        expect(owner.locator("h1")).to_have_text("Team")
        expect(owner.locator(f"#member-{member_id}")).to_contain_text(developer)
        expect(owner.locator(f"#role-{member_id}")).to_have_value("developer")
        expect(owner.locator("#team-invitations")).to_contain_text(pending)
        for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
            owner.set_viewport_size(size)
            assert_accessible(owner)
            assert_readable(owner, ("h1", f"#role-{member_id}", f"#remove-{member_id}", "#invitations-h"), size)
            owner.screenshot(path=str(SHOTS / f"dashboard-team-{name}.png"), full_page=True)
        owner.set_viewport_size(DESKTOP)

        # A developer is refused the page and every action by the server, with a valid session, token and Origin.
        reply = member.request.get(dash.url + "team", max_redirects=0)
        assert reply.status == 403
        assert "cannot manage the team" in reply.text()
        token = page_csrf(member)
        for path, form in (
            (f"team/members/{owner_id}/role", {"team_role": "read_only"}),
            (f"team/members/{owner_id}/remove", {}),
        ):
            reply = member.request.post(dash.url + path, form={**form, "csrf_token": token}, headers={"origin": origin})
            assert reply.status == 403, path
        assert role_of(dash, merchant.email) == "owner"

        # The last owner can be neither demoted nor removed: a clear error, nothing changed.
        owner.select_option("#role-" + owner_id, "finance")
        owner.click(f"#set-role-{owner_id}")
        expect(owner.locator("#team-error")).to_have_text(
            "This is the team's last owner: make another member an owner first."
        )
        owner.click(f"#remove-{owner_id}")
        expect(owner.locator("#team-error")).to_contain_text("last owner")
        assert role_of(dash, merchant.email) == "owner"

        # A new role applies on the member's next request.
        owner.select_option(f"#role-{member_id}", "read_only")
        owner.click(f"#set-role-{member_id}")
        expect(owner.locator("#team-done")).to_have_text("The role is now Read-only.")
        assert role_of(dash, developer) == "read_only"
        member.goto(dash.url + "home")
        expect(member.locator("#no-key-permission")).to_contain_text("Read-only")

        # A revoked invitation's link stops working.
        owner.locator("#team-invitations button").click()
        expect(owner.locator("#team-done")).to_contain_text("invitation is revoked")
        expect(owner.locator("#no-invitations")).to_be_visible()
        reply = member.request.get(pending_link)
        assert reply.status == 404

        # A removed member's session ends at once.
        owner.click(f"#remove-{member_id}")
        expect(owner.locator("#team-done")).to_contain_text("removed")
        expect(owner.locator(f"#member-{member_id}")).to_have_count(0)
        assert role_of(dash, developer) is None
        member.goto(dash.url + "home")
        expect(member.locator("h1")).to_have_text("Sign in")
    finally:
        member_context.close()

    # Anonymous: to the login page.
    assert context.browser is not None
    anonymous = context.browser.new_context()
    try:
        reply = anonymous.request.get(dash.url + "team", max_redirects=0)
        assert reply.status == 303
        assert reply.headers["location"].endswith("/dashboard/login")
    finally:
        anonymous.close()
