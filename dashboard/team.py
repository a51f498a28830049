"""The team page (`/dashboard/team`, owners only): members' roles, removal, pending invitations.

An owner changes a member's role (owner, developer, finance, read-only), removes a member, or revokes a pending
invitation. The last owner of a merchant can be neither demoted nor removed (a clear error, nothing written).
Every action is decided on the server: a non-owner gets 403 whatever the page showed. A removed member's
sessions end at once (every page looks the user up on each request); a new role applies on the next request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from html import escape as e

import asyncpg
from aiohttp import web

from dashboard import app as core
from dashboard import pages
from dashboard.domain.rbac import LABELS, Permission, TeamRole
from dashboard.merchant_pages import _page, _problem, merchant_user
from dashboard.store import team as tstore
from dashboard.store import users as store

log = logging.getLogger("stablegate.dashboard.team")
PREFIX = pages.PREFIX
_USER_ID = re.compile(r"usr_[A-Za-z0-9_-]{1,64}")
_INVITATION = re.compile(r"[0-9a-f]{64}")
MESSAGES = {
    tstore.Change.NOT_FOUND: "There is no such member or pending invitation in your team.",
    tstore.Change.LAST_OWNER: "This is the team's last owner: make another member an owner first.",
}


def _label(role: str) -> str:
    try:
        return LABELS[TeamRole(role)]
    except ValueError:
        return role


def team_page(
    csrf: str,
    me: str,
    members: Sequence[tstore.Member],
    invitations: Sequence[tstore.PendingInvitation],
    *,
    notice: str = "",
    error: str = "",
) -> str:
    """The members (a role selector and a remove button each) and the pending invitations (a revoke button each)."""
    token = pages.csrf_field(csrf)
    rows = []
    for m in members:
        options = "".join(
            f'<option value="{r.value}"{" selected" if r.value == m.team_role else ""}>{e(LABELS[r])}</option>'
            for r in TeamRole
        )
        you = ' <span class="badge">you</span>' if m.user_id == me else ""
        rows.append(
            f'<tr id="member-{e(m.user_id)}"><td class="mono">{e(m.email)}{you}</td>'
            f'<td><form method="post" action="{PREFIX}/team/members/{e(m.user_id)}/role" class="inline">{token}'
            f'<select name="team_role" id="role-{e(m.user_id)}" aria-label="Role of {e(m.email)}">{options}</select> '
            f'<button type="submit" id="set-role-{e(m.user_id)}" aria-label="Save the role of {e(m.email)}">Save'
            "</button></form></td>"
            f'<td><form method="post" action="{PREFIX}/team/members/{e(m.user_id)}/remove" class="inline">{token}'
            f'<button type="submit" id="remove-{e(m.user_id)}" aria-label="Remove {e(m.email)}">Remove</button>'
            "</form></td></tr>"
        )
    listing = (
        '<div class="table-wrap"><table id="team-members"><caption>Members, oldest first</caption>'
        '<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Action</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    pending = "".join(
        f'<tr id="invitation-{i.ident[:16]}"><td class="mono">{e(i.email)}</td><td>{e(_label(i.team_role))}</td>'
        f'<td class="opt">{i.expire_time:%Y-%m-%d %H:%M}</td>'
        f'<td><form method="post" action="{PREFIX}/team/invitations/{i.ident}/revoke" class="inline">{token}'
        f'<button type="submit" id="revoke-invitation-{i.ident[:16]}" aria-label="Revoke the invitation of '
        f'{e(i.email)}">Revoke</button></form></td></tr>'
        for i in invitations
    )
    invites = (
        '<div class="table-wrap"><table id="team-invitations"><caption>Pending invitations</caption>'
        '<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col" class="opt">Expires (UTC)'
        f'</th><th scope="col">Action</th></tr></thead><tbody>{pending}</tbody></table></div>'
        if pending
        else '<p id="no-invitations">No pending invitations.</p>'
    )
    return (
        pages._notice(notice, ident="team-done")
        + _problem(error, "team-error")
        + f'<h2 id="members-h">Members</h2>{listing}<h2 id="invitations-h">Invitations</h2>{invites}'
        + f'<p><a href="{PREFIX}/home#team-section" id="invite-link">Invite a member</a></p>'
    )


def merchant_of(user: store.User) -> str:
    """The signed-in user's merchant (every team page's user has one)."""
    assert user.merchant_id is not None
    return user.merchant_id


def install(app: web.Application) -> None:
    """Add the team routes to the dashboard app (before its catch-all)."""
    parts = app[core.PARTS]

    def pool() -> asyncpg.Pool:
        assert parts.pool is not None
        return parts.pool

    async def owner(request: web.Request) -> store.User:
        return await merchant_user(request, Permission.MANAGE_TEAM, "manage the team")

    async def render(request: web.Request, user: store.User, *, notice: str = "", error: str = "") -> web.Response:
        assert parts.pool is not None
        assert user.merchant_id is not None
        async with parts.pool.acquire() as conn:
            members = await tstore.members(conn, user.merchant_id)
            invitations = await tstore.pending_invitations(conn, user.merchant_id, parts.now())
        csrf = core.current_session(request).csrf
        body = team_page(csrf, user.id, members, invitations, notice=notice, error=error)
        return _page("Team", body, csrf=csrf, user=user, current="team", status=400 if error else 200)

    async def show(request: web.Request) -> web.StreamResponse:
        return await render(request, await owner(request))

    async def outcome(request: web.Request, user: store.User, change: tstore.Change, done: str) -> web.StreamResponse:
        if change is not tstore.Change.DONE:
            return await render(request, user, error=MESSAGES[change])
        log.info("team changed", extra={"user_id": user.id, "change": request.path.rsplit("/", 1)[-1]})
        if user.id == request.match_info.get("member"):
            # The owner changed or removed themselves: the next page decides where they stand.
            raise core.see_other("/home")
        return await render(request, user, notice=done)

    async def set_role(request: web.Request) -> web.StreamResponse:
        user = await owner(request)
        member = request.match_info["member"]
        role = core._form_text(await request.post(), "team_role", 32)
        if role not in {r.value for r in TeamRole}:
            return await render(request, user, error="Choose a role from the list.")
        async with pool().acquire() as conn:
            change = await tstore.set_role(conn, merchant_of(user), member, role, parts.now())
        return await outcome(request, user, change, f"The role is now {_label(role)}.")

    async def remove(request: web.Request) -> web.StreamResponse:
        user = await owner(request)
        async with pool().acquire() as conn:
            change = await tstore.remove_member(conn, merchant_of(user), request.match_info["member"])
        if change is tstore.Change.DONE and user.id == request.match_info["member"]:
            await core.rotate_session(request)
            raise core.see_other("/login?ended=1")
        return await outcome(request, user, change, "The member is removed; their sessions have ended.")

    async def revoke(request: web.Request) -> web.StreamResponse:
        user = await owner(request)
        async with pool().acquire() as conn:
            change = await tstore.revoke_invitation(
                conn, merchant_of(user), request.match_info["invitation"], parts.now()
            )
        return await outcome(request, user, change, "The invitation is revoked: its link no longer works.")

    app.router.add_get(f"{PREFIX}/team", show)
    app.router.add_post(f"{PREFIX}/team/members/{{member:{_USER_ID.pattern}}}/role", set_role)
    app.router.add_post(f"{PREFIX}/team/members/{{member:{_USER_ID.pattern}}}/remove", remove)
    app.router.add_post(f"{PREFIX}/team/invitations/{{invitation:{_INVITATION.pattern}}}/revoke", revoke)
