"""The admin's review of one merchant (`GET /dashboard/admin/merchants/<id>`) and the admin's sign-out at the provider.

Review shows what the ledger's admin API says of the merchant (`MerchantAdminService/GetMerchant`) and its API keys
(`ApiKeyAdminService/ListApiKeys`, counted by status), with the dashboard's admin key over the mesh. The ledger has
no pending state for merchants: onboarding makes them ACTIVE at once (the merchant verified its email first, in
the dashboard). So "approve" is the reactivation of a suspended merchant: an operator who wants to review new
merchants before they take payments suspends them on sight (reason "under review") and approves with Reactivate,
the existing `POST …/merchants/<id>/reactivate` (role `admin` only; a read-only admin sees the page without the
forms, and the server refuses the POST with 403 whatever the page showed: dashboard/admin.py).

Sign-out at the provider: an admin's Sign out (`POST /dashboard/logout`) ends the dashboard session and lands on
`GET /dashboard/admin/signed-out`, whose link ends the session at the provider too (RP-initiated logout, with
`client_id`) when the provider's discovery document has an `end_session_endpoint`. A link rather than a
redirect: the pages' Content-Security-Policy (`form-action 'self'`) would block a form post redirected to another
origin.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import grpc
from aiohttp import web
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import api_key_admin_service_pb2_grpc as keys_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc

from dashboard.admin import PROVIDER_LOGOUT, may_change, role_of
from dashboard.admin_ops import OPS
from dashboard.app import PREFIX, SETTINGS, current_session, html, see_other
from dashboard.oidc import OidcError
from dashboard.pages import ROLE_LABELS, _notice, csrf_field, e, layout, message_page

log = logging.getLogger("stablegate.dashboard.merchant_review")

TIMEOUT = 5.0
MERCHANT_ID = r"[A-Za-z0-9_-]{1,64}"


@dataclass(frozen=True)
class MerchantDetail:
    """What the review page shows of a merchant."""

    id: str
    name: str
    contact_email: str
    status: str
    suspend_reason: str
    create_time: dt.datetime | None
    suspend_time: dt.datetime | None
    keys_by_status: dict[str, int]


def _when(ts: object) -> dt.datetime | None:
    seconds = getattr(ts, "seconds", 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


async def load(channel: grpc.aio.Channel, admin_key: str, merchant_id: str) -> MerchantDetail | None:
    """The merchant and its key counts from the ledger; None when the ledger has no such merchant."""
    auth = (("authorization", f"Bearer {admin_key}"),)
    try:
        got = await merchants_grpc.MerchantAdminServiceStub(channel).GetMerchant(
            merchants_pb.GetMerchantRequest(id=merchant_id), metadata=auth, timeout=TIMEOUT
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise
    counts: dict[str, int] = {}
    token = ""
    while True:
        keys = await keys_grpc.ApiKeyAdminServiceStub(channel).ListApiKeys(
            keys_pb.ListApiKeysRequest(merchant_id=merchant_id, page_size=100, page_token=token),
            metadata=auth,
            timeout=TIMEOUT,
        )
        for key in keys.api_keys:
            status = keys_pb.ApiKeyStatus.Name(key.status).removeprefix("API_KEY_STATUS_")
            counts[status] = counts.get(status, 0) + 1
        token = keys.next_page_token
        if not token:
            break
    m = got.merchant
    return MerchantDetail(
        id=m.id,
        name=m.name,
        contact_email=m.contact_email,
        status=merchants_pb.MerchantStatus.Name(m.status).removeprefix("MERCHANT_STATUS_"),
        suspend_reason=m.suspend_reason,
        create_time=_when(m.create_time),
        suspend_time=_when(m.suspend_time),
        keys_by_status=counts,
    )


def review_page(*, csrf: str, who: str, role: str, merchant: MerchantDetail, may_act: bool) -> str:
    """One merchant: identity, status, keys; suspend or approve (reactivate) for the role `admin`."""
    keys = ", ".join(f"{count} {status.lower()}" for status, count in sorted(merchant.keys_by_status.items()))

    def when(value: dt.datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"

    facts = [
        ("Name", e(merchant.name)),
        ("Id", f'<span class="mono">{e(merchant.id)}</span>'),
        ("Contact email", e(merchant.contact_email)),
        ("Created", e(when(merchant.create_time))),
        (
            "Status",
            f'<span class="badge {"ok" if merchant.status == "ACTIVE" else "off"}" id="status">'
            f"{e(merchant.status)}</span>",
        ),
        ("API keys", f'<span id="key-count">{sum(merchant.keys_by_status.values())}</span> ({e(keys or "none")})'),
    ]
    if merchant.status != "ACTIVE":
        facts.append(("Suspended", e(f"{when(merchant.suspend_time)}: {merchant.suspend_reason}")))
    rows = "".join(f'<tr><th scope="row">{label}</th><td>{value}</td></tr>' for label, value in facts)
    if not may_act:
        action = '<p class="hint" id="read-only">Your role is read-only: you can review merchants, not change them.</p>'
    elif merchant.status == "ACTIVE":
        action = (
            f'<form method="post" action="{PREFIX}/admin/merchants/{e(merchant.id)}/suspend" id="suspend-form">'
            f'{csrf_field(csrf)}<label for="reason">Reason to suspend</label>'
            '<input id="reason" name="reason" type="text" required maxlength="500">'
            '<button type="submit" id="suspend">Suspend</button></form>'
        )
    else:
        action = (
            f'<form method="post" action="{PREFIX}/admin/merchants/{e(merchant.id)}/reactivate" id="approve-form">'
            f'{csrf_field(csrf)}<label for="reason">Why (kept with the change)</label>'
            '<input id="reason" name="reason" type="text" maxlength="500" value="approved after review">'
            '<button type="submit" id="approve">Approve (reactivate)</button></form>'
        )
    body = (
        f'<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>'
        f'<table id="merchant-facts"><caption>Merchant</caption><tbody>{rows}</tbody></table>'
        f"<h2>Review</h2>{action}"
        f'<p><a href="{PREFIX}/admin/merchants">All merchants</a></p>'
    )
    return layout(f"Review: {merchant.name}", body, csrf=csrf, who=who)


def signed_out_page(provider_url: str | None) -> str:
    """After the admin's sign-out: the link that ends the provider's session too, when it offers one."""
    if provider_url is None:
        text = _notice("You are signed out of the dashboard. Your identity provider offers no sign-out link.")
        return layout("Signed out", text)
    body = (
        '<p id="signed-out" role="status">You are signed out of the dashboard.</p>'
        f'<p><a id="provider-logout" href="{e(provider_url)}">Sign out at your identity provider too</a> '
        "(otherwise the next admin sign-in there may not ask for your password).</p>"
    )
    return layout("Signed out", body)


def install(app: web.Application) -> None:
    """Add the merchant review page and the admin sign-out."""
    settings = app[SETTINGS]

    async def review(request: web.Request) -> web.StreamResponse:
        session = current_session(request)
        role = role_of(session)
        if role is None:
            raise see_other("/admin/login")
        who = session.data.get("email") or session.data.get("name") or session.user_id
        try:
            merchant = await load(
                request.app[OPS].channels["ledger"], settings.admin_key(), request.match_info["merchant_id"]
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("merchant review unavailable", extra={"code": exc.code().name})
            text = "The ledger could not be read right now; try again."
            return html(message_page("Unavailable", text, ident="unavailable"), 503)
        if merchant is None:
            return html(message_page("Not found", "There is no such merchant.", ident="not-found"), 404)
        body = review_page(csrf=session.csrf, who=who, role=role.value, merchant=merchant, may_act=may_change(role))
        return html(body)

    async def signed_out(request: web.Request) -> web.StreamResponse:
        provider_logout = request.app.get(PROVIDER_LOGOUT)
        try:
            url = await provider_logout() if provider_logout is not None else None
        except OidcError:
            log.warning("the provider's sign-out link is unavailable", exc_info=True)
            url = None
        return html(signed_out_page(url))

    app.router.add_get(f"{PREFIX}/admin/merchants/{{merchant_id:{MERCHANT_ID}}}", review)
    app.router.add_get(f"{PREFIX}/admin/signed-out", signed_out)
