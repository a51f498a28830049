"""The admin side of the dashboard: sign-in through OpenID Connect and the merchants page, RBAC on the server.

`OidcAdminLogin` plugs into the dashboard's `AdminLogin` hook (docs/dashboard.md, "Admin sign-in"):

- `GET /dashboard/admin/login` starts a sign-in (`OidcLogin.start`) and redirects to the provider. The pending
  state, nonce and PKCE verifier travel sealed (AES-256-GCM with the dashboard's secret key, `LOGIN_OWNER` as
  associated data) in a `SameSite=Lax` cookie scoped to `/dashboard/admin/`, so an anonymous visitor stores
  nothing on the server: the provider's redirect back is a cross-site navigation in production, which would not
  carry the main (`SameSite=Strict`) session cookie.
- `GET /dashboard/admin/callback` finishes it (`OidcLogin.finish`: state, PKCE, ID token, role claim, the
  pending sign-in's age), deletes the login cookie whatever happens (and the provider takes each code once) and
  rotates the dashboard session to `Stage.ADMIN` with the admin's role: a user whose claim
  grants no admin role gets a 403 page, any other refusal a 400 page naming its reason.
- `GET /dashboard/admin/merchants` lists the ledger's merchants (over the mesh, with the dashboard's admin key);
  `POST …/merchants/{id}/suspend` and `…/reactivate` change one, for the role `admin` only: `admin-readonly`
  gets 403 from the server whatever the page showed, and the ledger is not called. A change also needs a
  sign-in at most `admin_fresh_seconds` old (the provider's `auth_time` when it gives one, else the time of the
  callback); an older one is sent to `/dashboard/admin/login?fresh=1`, which adds `prompt=login`.
- One pending sign-in per browser: starting a second one (another tab) replaces the first's login cookie, whose
  callback is then refused with STATE_MISMATCH.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from dashboard import approvals, freeze, pages
from dashboard.app import PARTS, PREFIX, SETTINGS, current_session, html, rotate_session, see_other
from dashboard.ledger_client import LedgerClient, LedgerRefused, LedgerUnavailable, MerchantRow
from dashboard.oidc import NotAnAdmin, OidcClient, OidcError, OidcLogin
from dashboard.oidc_settings import AdminRole, OidcSettings
from dashboard.sessions import Session, Stage

log = logging.getLogger("stablegate.dashboard.admin")

PROVIDER_LOGOUT: web.AppKey[Callable[[], Awaitable[str | None]]] = web.AppKey("provider_logout")
"""The provider's RP-initiated logout URL when it has one (set by the OIDC login; dashboard/merchant_review.py)."""
LOGIN_COOKIE = "sg_dashboard_login"
LOGIN_OWNER = "dashboard admin login"
"""Associated data of the sealed login cookie: a value sealed for anything else does not open as one."""
"""The pending sign-in's cookie (Lax, so the provider's redirect back carries it; path /dashboard/admin/)."""
MERCHANT_ID = r"[A-Za-z0-9_-]{1,64}"
MAX_REASON = 500


def role_of(session: Session) -> AdminRole | None:
    """The admin role an admin session holds (None for any other session)."""
    if session.stage != Stage.ADMIN:
        return None
    try:
        return AdminRole(session.data.get("role", ""))
    except ValueError:
        return None


def may_change(role: AdminRole | None) -> bool:
    """RBAC for admin actions that change state: only the role `admin` (docs/dashboard.md, Admin roles)."""
    return role is AdminRole.ADMIN


class OidcAdminLogin:
    """The `AdminLogin` the dashboard uses when `oidc` settings are given."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings

    def install(self, app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
        """Add the admin routes (sign-in, callback, merchants) to the dashboard's app."""
        client = OidcClient(self.settings)
        login = OidcLogin(client)
        settings = app[SETTINGS]

        async def close(_: web.Application) -> None:
            await client.close()

        app.on_cleanup.append(close)
        app[PROVIDER_LOGOUT] = client.logout_url

        def ledger() -> LedgerClient:
            found = app[PARTS].ledger
            assert found is not None
            return found

        def who(session: Session) -> str:
            return session.data.get("email") or session.data.get("name") or session.user_id

        def seal_pending(pending: str) -> str:
            sealer = app[PARTS].sealer
            assert sealer is not None
            return base64.urlsafe_b64encode(sealer.seal(pending, LOGIN_OWNER)).decode().rstrip("=")

        def open_pending(cookie: str) -> str:
            """The pending sign-ins sealed in the login cookie; empty if absent or not sealed by this dashboard."""
            sealer = app[PARTS].sealer
            if sealer is None or not cookie or len(cookie) > 4096:
                return ""
            try:
                return sealer.open(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)), LOGIN_OWNER)
            except (ValueError, binascii.Error):
                return ""

        async def start(request: web.Request) -> web.StreamResponse:
            bag: dict[str, str] = {}
            extra = {"prompt": "login"} if request.query.get("fresh") == "1" else {}
            try:
                url = await login.start(bag, **extra)
            except OidcError as exc:
                text = "The identity provider could not be reached to start the sign-in; try again."
                return html(
                    pages.admin_refused_page("Admin sign-in", text, ident="failed", status_reason=exc.reason), 503
                )
            response = web.HTTPFound(url)
            response.set_cookie(
                LOGIN_COOKIE,
                seal_pending(bag[OidcLogin.SESSION_KEY]),
                path=f"{PREFIX}/admin/",
                secure=settings.cookie_secure,
                httponly=True,
                samesite="Lax",
                max_age=self.settings.login_timeout_seconds,
            )
            raise response

        async def callback(request: web.Request) -> web.StreamResponse:
            # One callback per sign-in: the answer deletes the cookie, whatever its outcome.
            bag = {OidcLogin.SESSION_KEY: open_pending(request.cookies.get(LOGIN_COOKIE, ""))}
            try:
                identity = await login.finish(bag, request.query)
            except NotAnAdmin:
                text = (
                    "Your account at the identity provider has no dashboard admin role, so it cannot sign in here. "
                    "Ask your identity provider's administrator for the stablegate admin group."
                )
                response = html(pages.admin_refused_page("Not an admin", text, ident="refused"), 403)
                response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/admin/")
                return response
            except OidcError as exc:
                text = "The sign-in did not succeed:"
                response = html(
                    pages.admin_refused_page("Admin sign-in failed", text, ident="failed", status_reason=exc.reason),
                    400,
                )
                response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/admin/")
                return response
            data = {
                "role": identity.role.value,
                "email": identity.email or "",
                "name": identity.name or "",
                # The provider's own login time when it says (a silent SSO sign-in may reuse an old login), else now.
                "signed_in_at": str(identity.auth_time or int(app[PARTS].clock())),
            }
            session = await rotate_session(request, stage=Stage.ADMIN, user_id=identity.subject, data=data)
            log.info("admin signed in", extra={"subject": identity.subject, "role": identity.role.value})
            response = html(pages.admin_signed_in_page(who(session), identity.role.value))
            response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/admin/")
            return response

        async def render(request: web.Request, *, notice: str = "", error: str = "", status: int = 200) -> web.Response:
            session = current_session(request)
            role = role_of(session)
            assert role is not None
            merchants: list[MerchantRow] | None
            try:
                merchants = await ledger().list_merchants()
            except (LedgerUnavailable, LedgerRefused):
                log.warning("merchants unavailable", exc_info=True)
                merchants = None
            body = pages.admin_merchants_page(
                csrf=session.csrf,
                who=who(session),
                role=role.value,
                merchants=merchants,
                may_change=may_change(role),
                notice=notice,
                error=error,
            )
            return html(body, status)

        def admin_session(request: web.Request) -> AdminRole:
            role = role_of(current_session(request))
            if role is None:
                raise see_other("/admin/login")
            return role

        async def merchants(request: web.Request) -> web.StreamResponse:
            admin_session(request)
            done = {"suspended": "Merchant suspended.", "reactivated": "Merchant reactivated."}
            return await render(request, notice=done.get(request.query.get("done", ""), ""))

        def change(action: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def handler(request: web.Request) -> web.StreamResponse:
                role = admin_session(request)
                session = current_session(request)
                merchant_id = request.match_info["merchant_id"]
                if not may_change(role):
                    log.info("refused: %s merchant", action, extra={"subject": session.user_id, "role": role.value})
                    text = "Your admin role is read-only: it cannot suspend or reactivate merchants."
                    return html(pages.message_page("Not allowed", text, ident="forbidden"), 403)
                signed_in_at = int(session.data.get("signed_in_at", "0") or 0)
                if app[PARTS].clock() - signed_in_at > settings.admin_fresh_seconds:
                    text = (
                        "This action needs a recent sign-in. Sign in again at the identity provider, then retry: "
                        f"{settings.public_url.rstrip('/')}{PREFIX}/admin/login?fresh=1"
                    )
                    return html(pages.message_page("Sign in again", text, ident="stale-sign-in"), 403)
                form = await request.post()
                raw = form.get("reason", "")
                reason = raw.strip() if isinstance(raw, str) else ""
                if action == "suspend" and not reason:
                    return await render(request, error="Give a reason to suspend a merchant.", status=400)
                if len(reason) > MAX_REASON:
                    return await render(request, error=f"The reason is at most {MAX_REASON} characters.", status=400)
                try:
                    if action == "suspend":
                        await ledger().suspend_merchant(merchant_id, reason)
                    else:
                        await ledger().reactivate_merchant(merchant_id, reason or "reactivated from the dashboard")
                except LedgerRefused as exc:
                    return await render(request, error=str(exc), status=400)
                except LedgerUnavailable:
                    return await render(request, error="The gateway is unavailable; try again.", status=503)
                log.info("merchant %s", action, extra={"subject": session.user_id, "merchant_id": merchant_id})
                raise see_other("/admin/merchants?done=" + {"suspend": "suspended"}.get(action, "reactivated"))

            return handler

        app.router.add_get(f"{PREFIX}/admin/login", start)
        app.router.add_get(f"{PREFIX}/admin/callback", callback)
        app.router.add_get(f"{PREFIX}/admin/merchants", merchants)
        app.router.add_post(f"{PREFIX}/admin/merchants/{{merchant_id:{MERCHANT_ID}}}/suspend", change("suspend"))
        app.router.add_post(f"{PREFIX}/admin/merchants/{{merchant_id:{MERCHANT_ID}}}/reactivate", change("reactivate"))
        approvals.install(app)  # the approvals queue and the audit viewer (dashboard/approvals.py)
        freeze.install(app)  # the signing freeze and its unfreeze relay (dashboard/freeze.py)
