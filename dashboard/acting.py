"""Who is at the keyboard: the dashboard names the acting person on each of its calls to the ledger.

The dashboard calls the ledger with its own credentials (its mesh certificate, its admin key, a merchant's page
key), so the ledger's audit alone would name only the dashboard's key. This module adds the person:

- a middleware sets the request's acting user from its session: an operator signed in through the admin login
  (kind `operator`, the provider's subject, the email the provider gave), or a merchant's fully signed-in user
  (kind `merchant_user`, the dashboard user id, and the user's email from the dashboard's database, read at the
  request's first ledger call);
  `act_as` sets it where no session says who it is yet (sign-up's verification link);
- a gRPC client interceptor on the dashboard's ledger and signer channels sends it as
  `x-stablegate-acting-user-kind`, `-id` and `-email` metadata (percent-encoded UTF-8), replacing any copies the
  call carried.

The ledger believes these only from the `dashboard` mesh role and writes them into the audit rows of what the call
did, next to the key (ledger/api/acting.py, docs/security.md "The acting user"); the signer likewise, into the
audit records of the approvals and unfreezes the dashboard relays (signer/api/acting.py). Calls made with no one acting
(the notification and report schedulers) carry none.
"""

from __future__ import annotations

import contextvars
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import asyncpg
import grpc
from aiohttp import web

from dashboard.sessions import Session, Stage
from dashboard.store import users as store
from service_runtime import mesh

KIND_HEADER = "x-stablegate-acting-user-kind"
ID_HEADER = "x-stablegate-acting-user-id"
EMAIL_HEADER = "x-stablegate-acting-user-email"
HEADERS = (KIND_HEADER, ID_HEADER, EMAIL_HEADER)

Kind = Literal["merchant_user", "operator"]


@dataclass(frozen=True)
class ActingUser:
    """The person a dashboard request acts for."""

    kind: Kind
    id: str
    email: str = ""

    def metadata(self) -> list[tuple[str, str]]:
        """The gRPC metadata naming them (values percent-encoded: metadata values are ASCII)."""
        values = (self.kind, self.id, self.email)
        return [(h, urllib.parse.quote(v, safe="@")) for h, v in zip(HEADERS, values, strict=True) if v]


EmailLookup = Callable[[str], Awaitable[str]]
"""A merchant user's email by their dashboard user id ("" when unknown)."""


class _RequestActor:
    """The acting user of one request; a merchant user's email is looked up at the first ledger call, if any."""

    def __init__(self, user: ActingUser, lookup: EmailLookup | None = None) -> None:
        self._user = user
        self._lookup = lookup

    async def user(self) -> ActingUser:
        """The acting user, with the email looked up once if it is still missing."""
        if self._lookup is not None and not self._user.email:
            lookup, self._lookup = self._lookup, None
            self._user = ActingUser(self._user.kind, self._user.id, await lookup(self._user.id))
        return self._user


_current: contextvars.ContextVar[_RequestActor | None] = contextvars.ContextVar("dashboard_acting", default=None)


async def acting_user() -> ActingUser | None:
    """The acting user of the current request, if any."""
    current = _current.get()
    return await current.user() if current is not None else None


def act_as(kind: Kind, user_id: str, email: str = "") -> None:
    """Name the acting user for the rest of the current request (where its session does not name them yet)."""
    _current.set(_RequestActor(ActingUser(kind, user_id, email)))


def from_session(session: Session | None) -> ActingUser | None:
    """The acting user a session names: an operator (admin login) or a signed-in merchant user; else None."""
    if session is None or not session.user_id:
        return None
    if session.stage == Stage.ADMIN:
        return ActingUser("operator", session.user_id, session.data.get("email", ""))
    if session.stage == Stage.SIGNED_IN:
        return ActingUser("merchant_user", session.user_id)
    return None


def acting_user_cell(details: Mapping[str, Any]) -> str:
    """The person an audit event's details name, as one CSV cell (`kind:id <email>`); "" when none is named."""
    user_id = str(details.get("actingUserId", ""))
    if not user_id:
        return ""
    email = str(details.get("actingUserEmail", ""))
    return f"{details.get('actingUserKind', '')}:{user_id}" + (f" <{email}>" if email else "")


def shown_actor(actor: str, details: Mapping[str, Any]) -> str:
    """How the admin audit shows who acted: the person the ledger recorded (if any) and the key that acted."""
    who = details.get("actingUserEmail") or details.get("actingUserId")
    if not who:
        return actor
    kind = str(details.get("actingUserKind", "")).replace("_", " ")
    return f"{who} ({kind}) via {actor}"


if TYPE_CHECKING:
    _UnaryInterceptor = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
else:  # not subscriptable at run time
    _UnaryInterceptor = grpc.aio.UnaryUnaryClientInterceptor


class ActingUserInterceptor(_UnaryInterceptor):
    """Adds the current acting user's metadata to every unary call (the dashboard's ledger calls are unary)."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        """The call with the acting user's metadata in place of any the caller set."""
        acting = await acting_user()
        if acting is None:
            return await continuation(client_call_details, request)
        kept = [(k, v) for k, v in (client_call_details.metadata or ()) if k not in HEADERS]
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            grpc.aio.Metadata(*kept, *acting.metadata()),
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def ledger_channel(target: str, tls: mesh.ClientTls) -> grpc.aio.Channel:
    """The dashboard's mesh channel to the ledger, naming the acting user on each call (as `mesh.channel`)."""
    return acting_channel(target, tls)


def acting_channel(target: str, tls: mesh.ClientTls) -> grpc.aio.Channel:
    """A mesh channel naming the acting user on each call (as `mesh.channel`).

    The ledger's, and the signer's, which records the operator who relays an approval or an unfreeze
    (signer/api/acting.py).
    """
    resolved, balancing = mesh.balanced_target(target)
    return grpc.aio.secure_channel(
        resolved, mesh.channel_credentials(tls), options=balancing, interceptors=[cast(Any, ActingUserInterceptor())]
    )


def install(
    app: web.Application, session_of: Callable[[web.Request], Session], pool: Callable[[], asyncpg.Pool]
) -> None:
    """Add the middleware that sets each request's acting user (after the session middleware has run)."""

    async def email_of(user_id: str) -> str:
        async with pool().acquire() as conn:
            user = await store.user_by_id(conn, user_id)
        return user.email if user is not None else ""

    @web.middleware
    async def acting(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            found = from_session(session_of(request))
        except KeyError:  # a static file: no session was loaded
            found = None
        # A merchant user's email is read only if the request calls the ledger (most pages of theirs do not change
        # anything the ledger audits, but a page may issue its key on a GET).
        actor = _RequestActor(found, email_of if found.kind == "merchant_user" else None) if found else None
        token = _current.set(actor)
        try:
            return await handler(request)
        finally:
            _current.reset(token)

    app.middlewares.append(acting)
