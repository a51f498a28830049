"""Wiring and routes of the dashboard: its HTTPS listener (for Envoy only), Postgres, Redis and the ledger channel.

Like the checkout service, the gRPC port serves health only; the pages are HTTP/1.1 on `http_port` over mutual
TLS, answered only for a peer whose mesh certificate names the `edge` role (Envoy). Every route is under
`/dashboard/`; every POST must carry the session's CSRF token and an Origin equal to `public_url`; every page
and action checks the session's stage and the user's team role on the server (docs/dashboard.md).

Admin login is a hook (`AdminLogin`): the OpenID Connect module (`dashboard/admin.py`, used when the `oidc`
settings are given) installs its routes under `/dashboard/admin/`; without one, `/dashboard/admin/login` answers
a clear "not configured" page saying how to configure it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import asyncpg
import grpc
import pyotp
import redis.asyncio as redis
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard import acting, csrf, pages
from dashboard.config import DashboardSettings
from dashboard.csrf import AnonymousCsrf
from dashboard.domain import accounts
from dashboard.domain.rbac import LABELS, Permission, TeamRole, allows
from dashboard.ledger_client import (
    MERCHANT_KEY_SCOPES,
    READ_SCOPES,
    IssuedKey,
    LedgerClient,
    LedgerRefused,
    LedgerUnavailable,
)
from dashboard.mailer import FileMailer, Mailer, MailFailed, NoMailer, SmtpMailer
from dashboard.sealing import Sealer, parse_key
from dashboard.sessions import Session, SessionStore, Stage
from dashboard.signer_client import SignerClient
from dashboard.store import recovery as recovery_store
from dashboard.store import users as store
from dashboard.store.db import apply_migrations, open_pool
from dashboard.throttle import LoginThrottle
from service_runtime.config import Profile
from service_runtime.csp import DASHBOARD_CSP
from service_runtime.mesh import MethodRoles, Role, https_listener_ssl, peer_cert_has_role
from service_runtime.redis_client import async_redis
from service_runtime.server import ServiceDefinition

log = logging.getLogger("stablegate.dashboard")

SERVED: tuple[str, ...] = ()
"""No proto service: the gRPC port serves health only (any mesh role, like every service)."""
ROLES: MethodRoles = {}
PREFIX = pages.PREFIX
COOKIE = "sg_dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "wallet-sign.js": "text/javascript; charset=utf-8",
}
CSP = DASHBOARD_CSP
"""The dashboard's Content-Security-Policy (service_runtime/csp.py, which Envoy's dashboard routes send too)."""
MAX_CODE_FAILURES = 5
TOTP_ISSUER = "stablegate"
_DUMMY_HASH_PASSWORD = "not a password of anyone's"  # noqa: S105 - hashed once to time-equalize unknown emails


class AdminLogin(Protocol):
    """The admin sign-in (OpenID Connect) that plugs into the dashboard: it adds its routes under /dashboard/admin/.

    Its routes get the request's session (`current_session(request)`: CSRF token, stage, and `data` for its own
    values such as state, nonce and PKCE verifier) and rotate it at sign-in (`rotate_session(request,
    stage=Stage.ADMIN, user_id=<subject>, data={...})`, which also sets the new cookie); `app[SETTINGS]` holds the
    dashboard's settings (`public_url` for redirect URIs). Every POST it adds gets the same CSRF and Origin
    checks as the others; a GET callback (the provider's redirect) must check its `state` itself.
    """

    def install(self, app: web.Application) -> None:
        """Add the admin routes to the app."""
        ...


SESSIONS = web.AppKey("sessions", SessionStore)
SETTINGS = web.AppKey("settings", DashboardSettings)
SESSION = web.RequestKey("session", Session)
TOKEN = web.RequestKey("session_token", str)


def current_session(request: web.Request) -> Session:
    """The request's session; for a visitor without one, an unstored anonymous one.

    Its CSRF token then comes from the signed cookie of dashboard/csrf.py (on form pages), else it is empty.
    """
    return request[SESSION]


async def rotate_session(request: web.Request, **values: str | int | dict[str, str]) -> Session:
    """Replace the request's session with a new one holding `values` (a change of privilege).

    The new session has a new token and a new CSRF token; the response carries the new cookie. Without `values`
    (sign-out, a password reset) the session just ends: nothing is stored for an anonymous visitor, and the
    response deletes the cookie.
    """
    if not values:
        await request.app[SESSIONS].end(request[TOKEN])
        request[TOKEN] = ""
        request[SESSION] = Session(csrf="")
        return request[SESSION]
    token, session = await request.app[SESSIONS].rotate(request[TOKEN], **values)
    request[TOKEN] = token
    request[SESSION] = session
    return session


@dataclass
class Parts:
    """What the handlers use, made inside the server's event loop at startup (injectable for tests)."""

    pool: asyncpg.Pool | None = None
    sessions: SessionStore | None = None
    ledger: LedgerClient | None = None
    signer: SignerClient | None = None
    """The signer's approvals and audit (None when `signer_target` is not set)."""
    sealer: Sealer | None = None
    throttle: LoginThrottle | None = None
    csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Signs anonymous visitors' CSRF cookies (dashboard/csrf.py); derived from `secret_key` at startup."""
    mailer: Mailer = field(default_factory=NoMailer)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    clock: Callable[[], float] = time.time


PARTS = web.AppKey("parts", Parts)
"""The app's `Parts` (the admin module reaches the ledger client through it)."""


def peer_is_edge(request: web.Request, trust_domain: str) -> bool:
    """True when the TLS peer's verified certificate names the `edge` mesh role (Envoy)."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    return peer_cert_has_role(cert, trust_domain, Role.EDGE)


def server_ssl(settings: DashboardSettings) -> ssl.SSLContext:
    """Mutual TLS for the pages' listener (service_runtime.mesh.https_listener_ssl)."""
    return https_listener_ssl(settings.tls)


def token_hash(token: str) -> bytes:
    """What is stored of a verification link's token."""
    return hashlib.sha256(token.encode()).digest()


def html(body: str, status: int = 200) -> web.Response:
    """An HTML response."""
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")


def see_other(path: str) -> web.HTTPSeeOther:
    """Post/redirect/get (and stage redirects) within the dashboard."""
    return web.HTTPSeeOther(location=f"{PREFIX}{path}")


async def session_user(
    request: web.Request, stage: str = Stage.SIGNED_IN, *, elsewhere: str = "/login", need_merchant: bool = True
) -> store.User:
    """The user of this request's session at `stage`, else a redirect to `elsewhere`.

    Every handler that acts for a merchant user goes through here: a session a password reset revoked (begun
    before the user's `sessions_valid_after`), or whose user is gone, is ended and sent to the login page
    (`tests/dashboard/test_dashboard_recovery.py::test_a_reset_link_works_once_ends_every_session_and_the_old_password_stops_working`).
    """
    session = current_session(request)
    if session.stage != stage:
        raise see_other(elsewhere)
    parts = request.app[PARTS]
    assert parts.pool is not None
    async with parts.pool.acquire() as conn:
        user = await store.user_by_id(conn, session.user_id)
        revoked = user is not None and await recovery_store.session_revoked(conn, user.id, session.created)
    if user is None or revoked or (need_merchant and user.merchant_id is None):
        await request.app[SESSIONS].end(request[TOKEN])
        raise see_other("/login")
    return user


def _shows_a_form(path: str) -> bool:
    """Pages an anonymous visitor fills in (they get the signed CSRF cookie of dashboard/csrf.py)."""
    return path in (f"{PREFIX}/signup", f"{PREFIX}/login") or path.startswith(
        (f"{PREFIX}/verify/", f"{PREFIX}/invite/", f"{PREFIX}/admin/", f"{PREFIX}/password/")
    )


def _form_text(form: object, name: str, limit: int = 1024) -> str:
    value = form.get(name, "") if hasattr(form, "get") else ""
    return value[:limit] if isinstance(value, str) else ""


def make_app(  # noqa: PLR0915 - one closure per route keeps the wiring in one readable place
    settings: DashboardSettings, parts: Parts, admin: AdminLogin | None = None
) -> web.Application:
    """The dashboard's aiohttp application."""
    trust_domain = settings.tls.trust_domain
    origin = settings.public_url.rstrip("/")
    static = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_TYPES}
    dummy_hash = parts.hasher.hash(_DUMMY_HASH_PASSWORD)
    anonymous_csrf = AnonymousCsrf(parts.csrf_key, max_age_seconds=settings.session_absolute_seconds)

    def sessions() -> SessionStore:
        assert parts.sessions is not None
        return parts.sessions

    def pool() -> asyncpg.Pool:
        assert parts.pool is not None
        return parts.pool

    def ledger() -> LedgerClient:
        assert parts.ledger is not None
        return parts.ledger

    def sealer() -> Sealer:
        assert parts.sealer is not None
        return parts.sealer

    def throttle() -> LoginThrottle:
        assert parts.throttle is not None
        return parts.throttle

    def set_cookie(response: web.StreamResponse, token: str, name: str = COOKIE) -> None:
        if not token:
            response.del_cookie(
                name, path=f"{PREFIX}/", secure=settings.cookie_secure, httponly=True, samesite="Strict"
            )
            return
        response.set_cookie(
            name,
            token,
            path=f"{PREFIX}/",
            secure=settings.cookie_secure,
            httponly=True,
            samesite="Strict",
            max_age=settings.session_absolute_seconds,
        )

    @web.middleware
    async def only_edge(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Mutual TLS already required a mesh certificate; only Envoy's role may be answered.
        if not peer_is_edge(request, trust_domain):
            return web.Response(status=403, text="only the edge may call the dashboard")
        return await handler(request)

    @web.middleware
    async def headers(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        response.headers["content-security-policy"] = CSP
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "same-origin"
        response.headers["x-frame-options"] = "DENY"
        if not request.path.startswith(f"{PREFIX}/static/"):
            response.headers["cache-control"] = "no-store"
        if isinstance(response, web.HTTPException) and response.status >= 300:
            raise response
        return response

    @web.middleware
    async def session_and_csrf(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(f"{PREFIX}/static/"):
            return await handler(request)
        token = request.cookies.get(COOKIE, "")
        session = await sessions().load(token)
        anonymous = request.cookies.get(csrf.COOKIE, "")
        if request.method == "POST":
            # Synchronizer token (the session's, or for a visitor without one the token of their signed CSRF
            # cookie) + Origin: a form posted from any other origin, or without the right token, is refused
            # before its handler runs, whatever the cookies' SameSite did.
            form = await request.post()
            sent = _form_text(form, "csrf_token", 128)
            same_origin = request.headers.get("origin", "") == origin
            if session is not None:
                good = bool(sent) and hmac.compare_digest(sent, session.csrf)
            else:
                good = anonymous_csrf.verify(anonymous, sent)
            if not same_origin or not good:
                log.info("form refused: csrf", extra={"path": request.path, "same_origin": same_origin})
                return html(
                    pages.message_page(
                        "Form refused",
                        "This form could not be accepted (it did not come from this dashboard's page, or the page "
                        "expired). Reload the page and try again.",
                        ident="csrf-refused",
                    ),
                    403,
                )
        fresh = ""
        if session is None:
            # Nothing is stored for a visitor without a session. On a form page (or a form posted back with an
            # error) the CSRF token comes from the signed cookie, which the first form page sets.
            token = ""
            if not anonymous_csrf.live(anonymous) and request.method == "GET" and _shows_a_form(request.path):
                anonymous = fresh = anonymous_csrf.new_cookie()
            live = anonymous_csrf.live(anonymous)
            session = Session(csrf=anonymous_csrf.token(anonymous) if live else "")
        request[SESSION] = session
        request[TOKEN] = token

        def cookies(response: web.StreamResponse) -> None:
            if request[TOKEN] != token:
                set_cookie(response, request[TOKEN])
            if fresh and not request[TOKEN]:
                set_cookie(response, fresh, csrf.COOKIE)

        try:
            response = await handler(request)
        except web.HTTPException as exc:
            cookies(exc)
            raise
        cookies(response)
        return response

    become = rotate_session
    current = current_session

    async def signed_in_user(request: web.Request) -> store.User:
        """The fully signed-in user of this request, else a redirect to where their login stands."""
        return await session_user(request)

    # --- entry ---

    async def index(request: web.Request) -> web.StreamResponse:
        stage = current(request).stage
        target = {
            Stage.SIGNED_IN: "/home",
            Stage.ENROL: "/totp/enrol",
            Stage.SECOND_FACTOR: "/totp",
            Stage.ADMIN: "/admin/merchants",
        }
        raise see_other(target.get(stage, "/login"))

    # --- sign-up and verification ---

    async def signup_form(request: web.Request) -> web.StreamResponse:
        return html(pages.signup_page(current(request).csrf))

    async def signup(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        email = accounts.normalize_email(_form_text(form, "email", 512))
        password = _form_text(form, "password", 1024)
        errors = {}
        if (bad := accounts.check_email(email)) is not None:
            errors[bad.field] = bad.message
        elif (weak := accounts.check_password(password, email)) is not None:
            errors[weak.field] = weak.message
        csrf = current(request).csrf
        if errors:
            return html(pages.signup_page(csrf, email, errors), 400)
        password_hash = await asyncio.to_thread(parts.hasher.hash, password)
        user_id = "usr_" + secrets.token_urlsafe(16)
        link_token = secrets.token_urlsafe(32)
        async with pool().acquire() as conn, conn.transaction():
            created = await store.create_user(conn, user_id, email, password_hash)
            if created:
                expire = parts.now() + dt.timedelta(seconds=settings.verification_ttl_seconds)
                await store.add_verification(conn, token_hash(link_token), user_id, expire)
            if created:
                subject = "Verify your email for stablegate"
                body = (
                    "Open this link to verify your email and finish creating your merchant account:\n\n"
                    f"{origin}{PREFIX}/verify/{link_token}\n\n"
                    "The link works once, for 24 hours. If you did not sign up, ignore this email.\n"
                )
            else:
                # The same page either way (no account enumeration); the owner of the address is told.
                subject = "Someone tried to sign up with your email"
                body = (
                    "Someone (perhaps you) tried to create a stablegate merchant account with this email, which "
                    f"already has one. To sign in: {origin}{PREFIX}/login\n"
                )
            try:
                # Inside the transaction: if the email cannot be sent, no account is kept.
                await parts.mailer.send(email, subject, body)
            except MailFailed:
                log.warning("verification email not sent", exc_info=True)
                raise _MailDown from None
        return html(pages.check_email_page(email))

    async def verify_form(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        async with pool().acquire() as conn:
            user = await store.pending_verification(conn, token_hash(link), parts.now())
        if user is None:
            return html(pages.link_invalid_page(), 404)
        return html(pages.business_page(current(request).csrf, link, user.email))

    async def verify(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        form = await request.post()
        name = _form_text(form, "name", 512).strip()
        digest = token_hash(link)
        async with pool().acquire() as conn:
            user = await store.pending_verification(conn, digest, parts.now())
        if user is None:
            return html(pages.link_invalid_page(), 404)
        csrf = current(request).csrf
        if (bad := accounts.check_business_name(name)) is not None:
            return html(pages.business_page(csrf, link, user.email, name=name, error=bad.message), 400)
        if not ledger().can_onboard:
            problem = "Merchant sign-up is not configured on this gateway (no admin key); contact the operator."
            return html(pages.business_page(csrf, link, user.email, name=name, problem=problem), 503)
        try:
            acting.act_as("merchant_user", user.id, user.email)  # no session names them yet
            # Idempotent by request id: a retry after a failure below creates nothing twice.
            merchant_id = await ledger().onboard(f"dashboard-{user.id}", name, user.email)
            read_key = await ledger().issue_key(
                merchant_id, "dashboard (read invoices)", READ_SCOPES, f"dashboard-read-{user.id}"
            )
        except LedgerRefused as exc:
            return html(pages.business_page(csrf, link, user.email, name=name, error=str(exc)), 400)
        except LedgerUnavailable:
            log.warning("ledger unavailable during onboarding", exc_info=True)
            problem = "The gateway could not create your merchant right now; try again in a moment."
            return html(pages.business_page(csrf, link, user.email, name=name, problem=problem), 503)
        sealed = sealer().seal(read_key.plaintext, merchant_id)
        async with pool().acquire() as conn:
            done = await store.complete_onboarding(
                conn, digest, user.id, store.Merchant(merchant_id, name, sealed), parts.now()
            )
        if not done:
            return html(pages.link_invalid_page(), 404)
        log.info("merchant onboarded", extra={"merchant_id": merchant_id, "user_id": user.id})
        raise see_other("/login?verified=1")

    # --- login and second factor ---

    async def login_form(request: web.Request) -> web.StreamResponse:
        notice = ""
        if request.query.get("verified") == "1":
            notice = "Your email is verified and your merchant is created. Sign in to continue."
        elif request.query.get("joined") == "1":
            notice = "Your account is ready. Sign in to continue."
        elif request.query.get("ended") == "1":
            notice = "You were signed out."
        return html(pages.login_page(current(request).csrf, notice=notice))

    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        email = accounts.normalize_email(_form_text(form, "email", 512))
        password = _form_text(form, "password", 1024)
        csrf = current(request).csrf
        if email and await throttle().blocked(email):
            log.info("login refused: too many failures")
            wait = settings.login_failure_window_seconds // 60
            message = f"Too many failed sign-ins for this account. Wait {wait} minutes, then try again."
            return html(pages.login_page(csrf, email, message), 429)
        async with pool().acquire() as conn:
            user = await store.user_by_email(conn, email) if email else None
        stored = user.password_hash if user is not None else dummy_hash

        def check() -> bool:
            try:
                return parts.hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        matched = await asyncio.to_thread(check) and user is not None
        if not matched or user is None:
            if email:
                await throttle().failed(email)
            return html(pages.login_page(csrf, email, "Email or password is not right."), 400)
        await throttle().succeeded(email)
        if not user.email_verified or user.merchant_id is None:
            return html(pages.login_page(csrf, email, "Verify your email first: open the link we sent you."), 400)
        stage = Stage.ENROL if user.totp_secret_sealed is None else Stage.SECOND_FACTOR
        await become(request, stage=stage, user_id=user.id)
        raise see_other("/totp/enrol" if stage == Stage.ENROL else "/totp")

    async def enrol_user(request: web.Request) -> store.User:
        # A revoked session cannot finish an enrolment either (it would come out signed in, newer than the reset).
        user = await session_user(request, Stage.ENROL, elsewhere="/", need_merchant=False)
        if user.totp_secret_sealed is not None:
            raise see_other("/login")
        return user

    async def enrol_form(request: web.Request) -> web.StreamResponse:
        user = await enrol_user(request)
        session = current(request)
        if session.pending_totp_sealed:
            secret = sealer().open(base64.b64decode(session.pending_totp_sealed), user.id)
        else:
            secret = pyotp.random_base32()
            sealed = base64.b64encode(sealer().seal(secret, user.id)).decode()
            session = SessionStore.updated(session, pending_totp_sealed=sealed)
            await sessions().save(request[TOKEN], session)
            request[SESSION] = session
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
        return html(pages.enrol_page(session.csrf, secret, uri))

    def matching_step(secret: str, code: str) -> int | None:
        """The time step a code belongs to (now, or one step either side), or None."""
        totp = pyotp.TOTP(secret)
        now = parts.clock()
        for offset in (0, -1, 1):
            at = now + offset * totp.interval
            if hmac.compare_digest(totp.at(at), code):
                return int(at // totp.interval)
        return None

    async def wrong_code(request: web.Request) -> None:
        session = current(request)
        failures = session.failures + 1
        if failures >= MAX_CODE_FAILURES:
            await sessions().end(request[TOKEN])
            log.info("session ended after wrong codes", extra={"user_id": session.user_id})
            raise see_other("/login?ended=1")
        updated = SessionStore.updated(session, failures=failures)
        await sessions().save(request[TOKEN], updated)
        request[SESSION] = updated

    async def enrol(request: web.Request) -> web.StreamResponse:
        user = await enrol_user(request)
        session = current(request)
        code = _form_text(await request.post(), "code", 16).strip()
        if not session.pending_totp_sealed:
            raise see_other("/totp/enrol")
        secret = sealer().open(base64.b64decode(session.pending_totp_sealed), user.id)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
        if (bad := accounts.check_totp_code(code)) is not None:
            return html(pages.enrol_page(session.csrf, secret, uri, bad.message), 400)
        step = matching_step(secret, code)
        if step is None:
            await wrong_code(request)
            message = "That code is not right. Check your app's clock and enter the current code."
            return html(pages.enrol_page(current(request).csrf, secret, uri, message), 400)
        async with pool().acquire() as conn:
            stored = await store.enrol_totp(conn, user.id, sealer().seal(secret, user.id), step)
        if not stored:
            raise see_other("/login")
        # The new session shows a fresh set of recovery codes once (dashboard/recovery.py).
        await become(request, stage=Stage.SIGNED_IN, user_id=user.id, data={"recovery_due": "1"})
        log.info("totp enrolled", extra={"user_id": user.id})
        raise see_other("/recovery-codes/new")

    async def code_form(request: web.Request) -> web.StreamResponse:
        if current(request).stage != Stage.SECOND_FACTOR:
            raise see_other("/")
        return html(pages.code_page(current(request).csrf))

    async def second_factor(request: web.Request) -> web.StreamResponse:
        session = current(request)
        if session.stage != Stage.SECOND_FACTOR:
            raise see_other("/")
        code = _form_text(await request.post(), "code", 16).strip()
        if (bad := accounts.check_totp_code(code)) is not None:
            return html(pages.code_page(session.csrf, bad.message), 400)
        async with pool().acquire() as conn:
            user = await store.user_by_id(conn, session.user_id)
            if user is None or user.totp_secret_sealed is None:
                raise see_other("/login")
            if await recovery_store.session_revoked(conn, user.id, session.created):
                await sessions().end(request[TOKEN])
                raise see_other("/login")
            step = matching_step(sealer().open(user.totp_secret_sealed, user.id), code)
            # A code is accepted once: a step at or before the last one used is a replay.
            accepted = step is not None and await store.accept_totp_step(conn, user.id, step)
        if not accepted:
            await wrong_code(request)
            return html(pages.code_page(current(request).csrf, "That code is not right (or was used already)."), 400)
        await become(request, stage=Stage.SIGNED_IN, user_id=user.id)
        raise see_other("/home")

    async def logout(request: web.Request) -> web.StreamResponse:
        was_admin = current(request).stage == Stage.ADMIN
        await become(request)
        # An admin is offered the sign-out at the identity provider too (dashboard/merchant_review.py).
        raise see_other("/admin/signed-out" if was_admin else "/login?ended=1")

    # --- the merchant's pages ---

    async def render_home(
        request: web.Request,
        user: store.User,
        *,
        issued: IssuedKey | None = None,
        key_error: str = "",
        invite_error: str = "",
        invite_notice: str = "",
        status: int = 200,
    ) -> web.Response:
        assert user.merchant_id is not None
        team = ""
        async with pool().acquire() as conn:
            merchant = await store.merchant(conn, user.merchant_id)
            if allows(user.team_role, Permission.MANAGE_TEAM):
                members = await store.team(conn, user.merchant_id)
                labels = {role.value: label for role, label in LABELS.items()}
                team = pages.team_section(
                    current(request).csrf, members, labels, error=invite_error, notice=invite_notice
                )
        invoices = None
        if merchant is not None and allows(user.team_role, Permission.VIEW_INVOICES):
            try:
                read_key = sealer().open(merchant.read_key_sealed, merchant.merchant_id)
                invoices = await ledger().list_invoices(read_key)
            except (LedgerUnavailable, LedgerRefused, ValueError):
                log.warning("invoices unavailable", exc_info=True)
        body = pages.home_page(
            csrf=current(request).csrf,
            email=user.email,
            role_label=LABELS.get(TeamRole(user.team_role), user.team_role),
            merchant_name=merchant.name if merchant is not None else "",
            merchant_id=user.merchant_id,
            invoices=invoices,
            can_create_key=allows(user.team_role, Permission.CREATE_API_KEY),
            issued=issued,
            key_error=key_error,
            team=team,
        )
        return html(body, status)

    async def home(request: web.Request) -> web.StreamResponse:
        return await render_home(request, await signed_in_user(request))

    async def create_key(request: web.Request) -> web.StreamResponse:
        user = await signed_in_user(request)
        if not allows(user.team_role, Permission.CREATE_API_KEY):
            log.info("refused: create key", extra={"user_id": user.id, "team_role": user.team_role})
            message = "Your role cannot create API keys; ask an owner of this merchant."
            return html(pages.message_page("Not allowed", message, ident="forbidden"), 403)
        name = _form_text(await request.post(), "name", 256).strip()
        if (bad := accounts.check_key_name(name)) is not None:
            return await render_home(request, user, key_error=bad.message, status=400)
        assert user.merchant_id is not None
        try:
            issued = await ledger().issue_key(user.merchant_id, name, MERCHANT_KEY_SCOPES)
        except LedgerRefused as exc:
            return await render_home(request, user, key_error=str(exc), status=400)
        except LedgerUnavailable:
            return await render_home(request, user, key_error="The gateway is unavailable; try again.", status=503)
        log.info("api key created", extra={"user_id": user.id, "key_id": issued.id})
        return await render_home(request, user, issued=issued)

    # --- the team ---

    async def invite(request: web.Request) -> web.StreamResponse:
        user = await signed_in_user(request)
        if not allows(user.team_role, Permission.MANAGE_TEAM):
            log.info("refused: invite", extra={"user_id": user.id, "team_role": user.team_role})
            message = "Only an owner of this merchant can invite team members."
            return html(pages.message_page("Not allowed", message, ident="forbidden"), 403)
        form = await request.post()
        email = accounts.normalize_email(_form_text(form, "email", 512))
        role = _form_text(form, "team_role", 32)
        if (bad := accounts.check_email(email)) is not None:
            return await render_home(request, user, invite_error=bad.message, status=400)
        if role not in {value for value, _ in pages.INVITABLE_ROLES}:
            return await render_home(request, user, invite_error="Choose a role from the list.", status=400)
        assert user.merchant_id is not None
        link_token = secrets.token_urlsafe(32)
        async with pool().acquire() as conn, conn.transaction():
            if await store.user_by_email(conn, email) is not None:
                message = "This email already has a stablegate account; invite another address."
                return await render_home(request, user, invite_error=message, status=409)
            merchant = await store.merchant(conn, user.merchant_id)
            expire = parts.now() + dt.timedelta(seconds=settings.verification_ttl_seconds)
            name = merchant.name if merchant else ""
            await store.add_invitation(
                conn,
                token_hash(link_token),
                store.Invitation(user.merchant_id, name, email, role),
                invited_by=user.id,
                expire_time=expire,
            )
            body = (
                f"{user.email} invited you to join {name or 'their merchant'} on stablegate "
                f"as {LABELS[TeamRole(role)]}. Open this link to choose your password:\n\n"
                f"{origin}{PREFIX}/invite/{link_token}\n\nThe link works once, for 24 hours.\n"
            )
            try:
                # Inside the transaction: an invitation whose email was not sent is not kept.
                await parts.mailer.send(email, "You are invited to a stablegate team", body)
            except MailFailed:
                log.warning("invitation email not sent", exc_info=True)
                raise _MailDown from None
        log.info("invitation sent", extra={"user_id": user.id, "team_role": role})
        return await render_home(request, user, invite_notice=f"Invitation sent to {email}.")

    async def invitation_form(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        async with pool().acquire() as conn:
            found = await store.pending_invitation(conn, token_hash(link), parts.now())
        if found is None:
            return html(pages.link_invalid_page(), 404)
        label = LABELS[TeamRole(found.team_role)]
        return html(pages.invitation_page(current(request).csrf, link, found, label))

    async def accept(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        password = _form_text(await request.post(), "password", 1024)
        digest = token_hash(link)
        async with pool().acquire() as conn:
            found = await store.pending_invitation(conn, digest, parts.now())
        if found is None:
            return html(pages.link_invalid_page(), 404)
        if (weak := accounts.check_password(password, found.email)) is not None:
            label = LABELS[TeamRole(found.team_role)]
            page = pages.invitation_page(current(request).csrf, link, found, label, weak.message)
            return html(page, 400)
        password_hash = await asyncio.to_thread(parts.hasher.hash, password)
        async with pool().acquire() as conn:
            joined = await store.accept_invitation(
                conn, digest, "usr_" + secrets.token_urlsafe(16), password_hash, parts.now()
            )
        if not joined:
            return html(pages.link_invalid_page(), 404)
        raise see_other("/login?joined=1")

    # --- the rest ---

    async def admin_not_configured(request: web.Request) -> web.StreamResponse:
        return html(pages.ADMIN_NOT_CONFIGURED, 501)

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in static:
            return html(pages.message_page("Not found", "There is no such page."), 404)
        return web.Response(
            body=static[name], headers={"content-type": STATIC_TYPES[name], "cache-control": "public, max-age=3600"}
        )

    async def not_found(request: web.Request) -> web.StreamResponse:
        return html(pages.message_page("Not found", "There is no such page.", ident="not-found"), 404)

    @web.middleware
    async def mail_down(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except _MailDown:
            text = "We could not send the verification email right now, so no account was created. Try again."
            return html(pages.message_page("Email not sent", text, ident="mail-failed"), 503)

    app = web.Application(middlewares=[only_edge, headers, mail_down, session_and_csrf], client_max_size=16 * 1024)
    acting.install(app, current_session, pool)  # names the person at the keyboard on ledger calls (dashboard/acting.py)
    app[SESSIONS] = sessions()
    app[SETTINGS] = settings
    app[PARTS] = parts
    app.router.add_get(f"{PREFIX}/static/{{name}}", asset)
    app.router.add_get(f"{PREFIX}/", index)
    app.router.add_get(f"{PREFIX}/signup", signup_form)
    app.router.add_post(f"{PREFIX}/signup", signup)
    app.router.add_get(f"{PREFIX}/verify/{{token:[A-Za-z0-9_-]{{20,64}}}}", verify_form)
    app.router.add_post(f"{PREFIX}/verify/{{token:[A-Za-z0-9_-]{{20,64}}}}", verify)
    app.router.add_get(f"{PREFIX}/login", login_form)
    app.router.add_post(f"{PREFIX}/login", login)
    app.router.add_get(f"{PREFIX}/totp/enrol", enrol_form)
    app.router.add_post(f"{PREFIX}/totp/enrol", enrol)
    app.router.add_get(f"{PREFIX}/totp", code_form)
    app.router.add_post(f"{PREFIX}/totp", second_factor)
    app.router.add_post(f"{PREFIX}/logout", logout)
    app.router.add_get(f"{PREFIX}/home", home)
    app.router.add_post(f"{PREFIX}/api-keys", create_key)
    app.router.add_post(f"{PREFIX}/team/invitations", invite)
    app.router.add_get(f"{PREFIX}/invite/{{token:[A-Za-z0-9_-]{{20,64}}}}", invitation_form)
    app.router.add_post(f"{PREFIX}/invite/{{token:[A-Za-z0-9_-]{{20,64}}}}", accept)
    from dashboard import reports  # noqa: PLC0415 - the reports module imports this one

    reports.install(app)
    from dashboard import notify  # noqa: PLC0415 - the notifier imports this module

    notify.install(app)  # notification emails (dashboard/notify.py)
    from dashboard import merchant_pages  # noqa: PLC0415 - the merchant pages import this module

    merchant_pages.install(app)
    from dashboard import recovery  # noqa: PLC0415 - the recovery module imports this one

    recovery.install(app)
    from dashboard import admin_ops  # noqa: PLC0415 - imports this module too

    admin_ops.install(app)
    from dashboard import merchant_review  # noqa: PLC0415 - imports this module too

    merchant_review.install(app)
    from dashboard import team  # noqa: PLC0415 - imports this module too

    team.install(app)
    from dashboard import admin_exports  # noqa: PLC0415 - imports this module too

    admin_exports.install(app)
    if admin is not None:
        admin.install(app)
    else:
        app.router.add_get(f"{PREFIX}/admin/login", admin_not_configured)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


class _MailDown(Exception):
    """The verification email could not be sent (the sign-up's transaction is rolled back)."""


def definition(settings: DashboardSettings, admin: AdminLogin | None = None) -> ServiceDefinition:
    """The dashboard service: the pages' HTTPS listener started and stopped with the runtime's gRPC server."""
    parts = Parts()
    if admin is None and settings.oidc is not None:
        from dashboard.admin import OidcAdminLogin  # noqa: PLC0415 - the admin module imports this one

        admin = OidcAdminLogin(settings.oidc)
    running: list[web.AppRunner] = []
    channels: list[grpc.aio.Channel] = []
    caches: list[redis.Redis] = []

    async def startup() -> None:
        if settings.migrate_on_start or settings.profile is Profile.DEV:
            applied = await apply_migrations(settings.database_url)
            if applied:
                log.info("migrated", extra={"migrations": applied})
        parts.pool = await open_pool(settings.database_url, settings.database_pool_size)
        channel = acting.ledger_channel(settings.ledger_target, settings.tls)
        channels.append(channel)
        parts.ledger = LedgerClient(channel, settings.admin_key)
        if settings.signer_target:
            signer_channel = acting.acting_channel(settings.signer_target, settings.tls)
            channels.append(signer_channel)
            parts.signer = SignerClient(signer_channel)
        cache = async_redis(settings.redis_url)
        caches.append(cache)
        parts.sessions = SessionStore(
            cache, idle_seconds=settings.session_idle_seconds, absolute_seconds=settings.session_absolute_seconds
        )
        parts.throttle = LoginThrottle(
            cache, limit=settings.login_failure_limit, window_seconds=settings.login_failure_window_seconds
        )
        key = settings.secret_key.get_secret_value()
        secret = parse_key(key) if key else secrets.token_bytes(32)
        parts.sealer = Sealer(secret)
        parts.csrf_key = csrf.derive_key(secret)
        if settings.mail_dir is not None:
            parts.mailer = FileMailer(settings.mail_dir, settings.email_from)
        elif settings.smtp_host:
            parts.mailer = SmtpMailer(
                settings.smtp_host,
                settings.smtp_port,
                settings.email_from,
                settings.smtp_username,
                settings.smtp_password.get_secret_value(),
                settings.smtp_starttls,
            )
        runner = web.AppRunner(make_app(settings, parts, admin), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.http_port, ssl_context=server_ssl(settings))
        await site.start()
        running.append(runner)
        log.info("dashboard listening", extra={"http_port": settings.http_port})

    def register(server: grpc.aio.Server) -> None:
        """Nothing but health on the gRPC port."""

    async def shutdown() -> None:
        for runner in running:
            await runner.cleanup()
        for channel in channels:
            await channel.close(None)
        for cache in caches:
            await cache.aclose()
        if parts.pool is not None:
            await parts.pool.close()

    return ServiceDefinition("dashboard", register, SERVED, startup=startup, shutdown=shutdown, roles=ROLES)
