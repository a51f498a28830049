"""Sessions in Redis: an opaque cookie token, only its SHA-256 as the key, an idle and an absolute timeout.

A session exists from the password accepted (or the admin sign-in) on: a visitor before that stores nothing here,
their forms' CSRF token comes from a signed cookie (dashboard/csrf.py). A session is replaced by a new one, new
token and new CSRF token, at every change of privilege (password accepted, second factor accepted): a token
planted before login is worthless after it; sign-out ends it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import redis.asyncio as redis

KEY_PREFIX = "dashboard:session:"


class Stage:
    """How far a session has got: the values of `Session.stage`."""

    ANONYMOUS = "anonymous"
    """No one signed in (sign-up, login and verification forms): such a session is never stored."""
    ENROL = "enrol"
    """Password accepted, no TOTP secret yet: only the enrolment page."""
    SECOND_FACTOR = "second_factor"
    """Password accepted, TOTP enrolled: only the code page."""
    SIGNED_IN = "signed_in"
    """Both factors: the merchant's pages, as the user's team role allows."""
    ADMIN = "admin"
    """An operator signed in through the admin login (OpenID Connect); `user_id` is the provider's subject. The
    merchant pages do not open for it."""


@dataclass(frozen=True)
class Session:
    """What a session holds (no secret but the CSRF token and, during enrolment, the sealed pending secret)."""

    csrf: str
    stage: str = Stage.ANONYMOUS
    user_id: str = ""
    created: float = field(default=0.0)
    pending_totp_sealed: str = ""
    """Base64 of the sealed TOTP secret being enrolled (shown once, kept until confirmed)."""
    failures: int = 0
    """Wrong second-factor codes in this session; past the limit the session ends."""
    data: dict[str, str] = field(default_factory=dict)
    """Values of a login module plugged into the dashboard (the admin login's state, nonce, PKCE verifier, roles)."""


def _key(token: str) -> str:
    return KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Sessions in Redis with a sliding idle timeout (the key's TTL) and an absolute one (from `created`)."""

    def __init__(
        self,
        cache: redis.Redis,
        *,
        idle_seconds: int,
        absolute_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._idle = idle_seconds
        self._absolute = absolute_seconds
        self._clock = clock

    async def load(self, token: str) -> Session | None:
        """The live session behind a cookie token (its idle timer restarted), or None."""
        if not token or len(token) > 128:
            return None
        raw = await self._cache.get(_key(token))
        if raw is None:
            return None
        session = Session(**json.loads(raw))
        if session.created + self._absolute <= self._clock():
            await self._cache.delete(_key(token))
            return None
        await self._cache.expire(_key(token), self._idle)
        return session

    async def start(self, **values: str | int | dict[str, str]) -> tuple[str, Session]:
        """A new session (fresh token, fresh CSRF token) with these values."""
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), created=self._clock(), **values)  # type: ignore[arg-type]
        await self.save(token, session)
        return token, session

    async def save(self, token: str, session: Session) -> None:
        """Store the session under its token, with the idle timeout as the key's TTL."""
        await self._cache.set(_key(token), json.dumps(asdict(session)), ex=self._idle)

    async def rotate(self, old_token: str, **values: str | int | dict[str, str]) -> tuple[str, Session]:
        """End the old session and start a new one with these values (a change of privilege)."""
        await self.end(old_token)
        return await self.start(**values)

    async def end(self, token: str) -> None:
        """Forget the session (logout, or too many wrong codes)."""
        if token:
            await self._cache.delete(_key(token))

    @staticmethod
    def updated(session: Session, **values: str | int | dict[str, str]) -> Session:
        """The session with these values changed (save it to keep them)."""
        return replace(session, **values)  # type: ignore[arg-type]
