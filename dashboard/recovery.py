"""Merchant users' password reset and TOTP recovery codes (docs/dashboard.md, "Password reset", "Recovery codes").

Password reset:
- `GET/POST /dashboard/password/forgot` asks for an email and always answers the same page, whether or not the
  address has an account, and whether or not it is throttled (no account enumeration). The email goes out in a
  background task, so the answer's timing does not depend on the SMTP round trip either. At most
  `RESET_EMAILS_PER_WINDOW` links per address per `RESET_WINDOW_SECONDS` (counted in Redis, by the address's hash).
  Before that, at most `reset_client_limit` requests per client address (as Envoy saw it) per
  `reset_client_window_seconds`, whatever emails they name: past it a clear 429 page, nothing stored or sent.
- The link (`/dashboard/password/reset/<token>`, only its SHA-256 stored) works once, for `RESET_TTL_SECONDS`;
  using it spends every other pending link of the user, replaces the password, clears the login throttle and
  revokes every session of the user (`users.sessions_valid_after`): a session begun before the reset is refused
  at its next request. The second factor still applies at the next sign-in.

Recovery codes:
- Made at TOTP enrolment (the enrolment sets `RECOVERY_DUE` in the new session; `GET /dashboard/recovery-codes/new`
  makes and shows them once, then clears the flag) and on demand (`POST /dashboard/security/recovery-codes`, which
  replaces the whole set). Stored as SHA-256 (dashboard/domain/recovery_codes.py says why that is enough).
- `GET/POST /dashboard/totp/recovery`, from the second-factor page: a code spends itself atomically and finishes
  the sign-in; wrong codes count with wrong TOTP codes against the session's limit; the user is emailed that a
  code was used. Then `/dashboard/security` offers a new authenticator (`POST /dashboard/security/totp/reset`
  clears the TOTP secret and sends the session to enrolment, which makes a new set of codes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets

import asyncpg
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard import pages
from dashboard import recovery_pages as rpages
from dashboard.app import (
    MAX_CODE_FAILURES,
    PARTS,
    PREFIX,
    SESSIONS,
    SETTINGS,
    TOKEN,
    current_session,
    html,
    rotate_session,
    see_other,
    session_user,
    token_hash,
)
from dashboard.client_address import client_key
from dashboard.domain import accounts
from dashboard.domain import recovery_codes as codes
from dashboard.mailer import MailFailed
from dashboard.sessions import SessionStore, Stage
from dashboard.store import recovery as store
from dashboard.store import users
from dashboard.throttle import LoginThrottle

log = logging.getLogger("stablegate.dashboard.recovery")

RESET_TTL_SECONDS = 30 * 60
RESET_EMAILS_PER_WINDOW = 3
RESET_WINDOW_SECONDS = 60 * 60
RESET_PREFIX = "dashboard:reset-requests:"
RESET_CLIENT_PREFIX = "dashboard:reset-requests-by-client:"
"""Reset requests per client address (dashboard/client_address.py), whatever email they name."""
RECOVERY_DUE = "recovery_due"
"""Session data flag: show a fresh set of recovery codes (set by the TOTP enrolment)."""
LINK_PATTERN = "{token:[A-Za-z0-9_-]{20,64}}"
"""The route pattern of a reset link's token."""


def _password_matches(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
    """Add the password reset, recovery code and security routes to the dashboard's app."""
    settings = app[SETTINGS]
    origin = settings.public_url.rstrip("/")
    parts = app[PARTS]
    pending_mail: set[asyncio.Task[None]] = set()

    def pool() -> asyncpg.Pool:
        assert parts.pool is not None
        return parts.pool

    def reset_throttle() -> LoginThrottle:
        assert parts.throttle is not None
        return parts.throttle.sibling(RESET_PREFIX, limit=RESET_EMAILS_PER_WINDOW, window_seconds=RESET_WINDOW_SECONDS)

    def client_throttle() -> LoginThrottle:
        assert parts.throttle is not None
        return parts.throttle.sibling(
            RESET_CLIENT_PREFIX, limit=settings.reset_client_limit, window_seconds=settings.reset_client_window_seconds
        )

    async def mail(to: str, subject: str, body: str, what: str) -> None:
        try:
            await parts.mailer.send(to, subject, body)
        except MailFailed:
            log.warning("%s email not sent", what, exc_info=True)

    def mail_later(to: str, subject: str, body: str, what: str) -> None:
        # Off the request: the answer takes as long for an unknown address as for a known one.
        task = asyncio.create_task(mail(to, subject, body, what))
        pending_mail.add(task)
        task.add_done_callback(pending_mail.discard)

    async def drain(_: web.Application) -> None:
        if pending_mail:
            await asyncio.wait(pending_mail, timeout=5)

    app.on_shutdown.append(drain)

    # --- password reset ---

    async def forgot_form(request: web.Request) -> web.StreamResponse:
        return html(rpages.forgot_page(current_session(request).csrf))

    async def forgot(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        raw = form.get("email", "")
        email = accounts.normalize_email(raw[:512] if isinstance(raw, str) else "")
        csrf = current_session(request).csrf
        if (bad := accounts.check_email(email)) is not None:
            return html(rpages.forgot_page(csrf, email, bad.message), 400)
        # Per client first: one address spraying resets over many emails is stopped before anything is stored,
        # counted or sent. This says nothing about any account, so it may say so plainly.
        per_client = client_throttle()
        client = client_key(request)
        if await per_client.blocked(client):
            log.info("password reset throttled for the client address")
            wait = settings.reset_client_window_seconds // 60
            text = f"Too many password reset requests came from your network. Wait {wait} minutes, then try again."
            response = html(pages.message_page("Too many requests", text, ident="reset-throttled"), 429)
            response.headers["retry-after"] = str(settings.reset_client_window_seconds)
            return response
        await per_client.failed(client)  # counts requests, whatever the address
        answer = html(rpages.reset_sent_page(email, RESET_TTL_SECONDS // 60))
        throttle = reset_throttle()
        if await throttle.blocked(email):
            log.info("password reset throttled")
            return answer
        await throttle.failed(email)  # counts requests, known address or not
        async with pool().acquire() as conn:
            user = await users.user_by_email(conn, email)
            if user is None:
                log.info("password reset for an unknown address")
                return answer
            link = secrets.token_urlsafe(32)
            expire = parts.now() + dt.timedelta(seconds=RESET_TTL_SECONDS)
            await store.add_reset(conn, token_hash(link), user.id, expire)
        body = (
            "Someone (perhaps you) asked to reset the password of your stablegate account. To choose a new one, "
            f"open this link:\n\n{origin}{PREFIX}/password/reset/{link}\n\n"
            f"The link works once, for {RESET_TTL_SECONDS // 60} minutes. If you did not ask, ignore this email: "
            "your password stays as it is.\n"
        )
        mail_later(email, "Reset your stablegate password", body, "password reset")
        log.info("password reset link sent", extra={"user_id": user.id})
        return answer

    async def reset_form(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        async with pool().acquire() as conn:
            found = await store.pending_reset(conn, token_hash(link), parts.now())
        if found is None:
            return html(pages.link_invalid_page(), 404)
        return html(rpages.new_password_page(current_session(request).csrf, link, found[1]))

    async def reset(request: web.Request) -> web.StreamResponse:
        link = request.match_info["token"]
        raw = (await request.post()).get("password", "")
        password = raw[:1024] if isinstance(raw, str) else ""
        digest = token_hash(link)
        async with pool().acquire() as conn:
            found = await store.pending_reset(conn, digest, parts.now())
        if found is None:
            return html(pages.link_invalid_page(), 404)
        if (weak := accounts.check_password(password, found[1])) is not None:
            return html(rpages.new_password_page(current_session(request).csrf, link, found[1], weak.message), 400)
        password_hash = await asyncio.to_thread(parts.hasher.hash, password)
        async with pool().acquire() as conn:
            done = await store.complete_reset(conn, digest, password_hash, parts.now())
        if done is None:
            return html(pages.link_invalid_page(), 404)
        user_id, email = done
        assert parts.throttle is not None
        await parts.throttle.succeeded(email)
        await rotate_session(request)  # this browser's own session too
        mail_later(
            email,
            "Your stablegate password was changed",
            "The password of your stablegate account was just changed with a reset link, and every session "
            "ended. If this was not you, reset it again at once and tell your operator.\n",
            "password changed",
        )
        log.info("password reset", extra={"user_id": user_id})
        return html(rpages.reset_done_page())

    # --- recovery codes ---

    async def signed_in(request: web.Request) -> users.User:
        return await session_user(request)

    async def issue(user_id: str) -> list[str]:
        fresh = codes.new_set()
        async with pool().acquire() as conn:
            await store.replace_codes(conn, user_id, [codes.digest(c) for c in fresh])
        log.info("recovery codes issued", extra={"user_id": user_id, "count": len(fresh)})
        return fresh

    async def first_codes(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        session = current_session(request)
        if session.data.get(RECOVERY_DUE) != "1":
            raise see_other("/security")
        data = {k: v for k, v in session.data.items() if k != RECOVERY_DUE}
        await app[SESSIONS].save(request[TOKEN], SessionStore.updated(session, data=data))
        return html(rpages.codes_page(await issue(user.id), regenerated=False))

    async def security(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        async with pool().acquire() as conn:
            left = await store.codes_left(conn, user.id)
        notice = ""
        if request.query.get("recovered") == "1":
            notice = (
                "You signed in with a recovery code, which is now used up. If your authenticator is lost, "
                "set up a new one below."
            )
        return html(rpages.security_page(current_session(request).csrf, user.email, left, notice=notice))

    async def password_refused(request: web.Request, user: users.User, field: str) -> web.Response | None:
        """None when the form carries the user's password; else the security page saying why (nothing changed).

        A wrong password counts towards the account's login throttle, like a failed sign-in.
        """
        raw = (await request.post()).get(field, "")
        password = raw[:1024] if isinstance(raw, str) else ""
        assert parts.throttle is not None
        blocked = await parts.throttle.blocked(user.email)
        matched = False
        if password and not blocked:
            matched = await asyncio.to_thread(_password_matches, parts.hasher, user.password_hash, password)
        if blocked:
            problem = "Too many wrong passwords for this account: wait, then try again."
        elif matched:
            await parts.throttle.succeeded(user.email)
            return None
        else:
            if password:
                await parts.throttle.failed(user.email)
            problem = "Enter your password to make this change." if not password else "That password is not right."
        log.info("refused: security change without the password", extra={"user_id": user.id, "form": field})
        async with pool().acquire() as conn:
            left = await store.codes_left(conn, user.id)
        errors = {"codes_error": problem} if field == "codes-password" else {"totp_error": problem}
        page = rpages.security_page(current_session(request).csrf, user.email, left, **errors)
        return html(page, 400)

    async def regenerate(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        if (refused := await password_refused(request, user, "codes-password")) is not None:
            return refused
        shown = await issue(user.id)
        mail_later(
            user.email,
            "Your stablegate recovery codes were replaced",
            "A new set of recovery codes was made for your stablegate dashboard account; the old ones no longer "
            "work. If this was not you, reset your password now and set up a new authenticator.",
            "recovery codes replaced",
        )
        return html(rpages.codes_page(shown, regenerated=True))

    async def new_authenticator(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        if (refused := await password_refused(request, user, "totp-password")) is not None:
            return refused
        async with pool().acquire() as conn:
            await store.clear_totp(conn, user.id)
        await rotate_session(request, stage=Stage.ENROL, user_id=user.id)
        log.info("totp cleared for a new authenticator", extra={"user_id": user.id})
        mail_later(
            user.email,
            "Two-step login is being set up again on your stablegate account",
            "The authenticator of your stablegate dashboard account was removed so that a new one can be set up. "
            "If this was not you, reset your password now.",
            "authenticator reset",
        )
        raise see_other("/totp/enrol")

    async def second_factor_user(request: web.Request) -> users.User:
        return await session_user(request, Stage.SECOND_FACTOR, elsewhere="/", need_merchant=False)

    async def recovery_form(request: web.Request) -> web.StreamResponse:
        await second_factor_user(request)
        return html(rpages.recovery_login_page(current_session(request).csrf))

    async def recovery_login(request: web.Request) -> web.StreamResponse:
        user = await second_factor_user(request)
        raw = (await request.post()).get("code", "")
        typed = raw[:64] if isinstance(raw, str) else ""
        if codes.normalize(typed) is None:
            message = "Enter a recovery code as you saved it: 16 letters and digits, like abcd-efgh-jkmn-pqrs."
            return html(rpages.recovery_login_page(current_session(request).csrf, message), 400)
        async with pool().acquire() as conn:
            used = await store.use_code(conn, user.id, codes.digest(typed), parts.now())
            left = await store.codes_left(conn, user.id) if used else 0
        if not used:
            session = current_session(request)
            failures = session.failures + 1
            if failures >= MAX_CODE_FAILURES:
                await app[SESSIONS].end(request[TOKEN])
                log.info("session ended after wrong recovery codes", extra={"user_id": user.id})
                raise see_other("/login?ended=1")
            await app[SESSIONS].save(request[TOKEN], SessionStore.updated(session, failures=failures))
            message = "That recovery code is not right (or was used already)."
            return html(rpages.recovery_login_page(session.csrf, message), 400)
        await rotate_session(request, stage=Stage.SIGNED_IN, user_id=user.id)
        mail_later(
            user.email,
            "A recovery code was used to sign in to stablegate",
            f"Someone signed in to your stablegate account with a recovery code; {left} unused codes are left. "
            "If this was not you, reset your password and make new recovery codes at once.\n",
            "recovery code used",
        )
        log.info("signed in with a recovery code", extra={"user_id": user.id, "codes_left": left})
        raise see_other("/security?recovered=1")

    app.router.add_get(f"{PREFIX}/password/forgot", forgot_form)
    app.router.add_post(f"{PREFIX}/password/forgot", forgot)
    app.router.add_get(f"{PREFIX}/password/reset/{LINK_PATTERN}", reset_form)
    app.router.add_post(f"{PREFIX}/password/reset/{LINK_PATTERN}", reset)
    app.router.add_get(f"{PREFIX}/recovery-codes/new", first_codes)
    app.router.add_get(f"{PREFIX}/security", security)
    app.router.add_post(f"{PREFIX}/security/recovery-codes", regenerate)
    app.router.add_post(f"{PREFIX}/security/totp/reset", new_authenticator)
    app.router.add_get(f"{PREFIX}/totp/recovery", recovery_form)
    app.router.add_post(f"{PREFIX}/totp/recovery", recovery_login)
