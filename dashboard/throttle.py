"""Failed password attempts per account, counted in Redis.

Past the limit the account's password is not even checked until the window ends: a guessing attacker learns
nothing more, and the user is told to wait.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as redis

KEY_PREFIX = "dashboard:login-failures:"


class LoginThrottle:
    """At most `limit` failed password attempts per email within `window_seconds` (from the first failure)."""

    def __init__(self, cache: redis.Redis, *, limit: int, window_seconds: int, prefix: str = KEY_PREFIX) -> None:
        self._cache = cache
        self._limit = limit
        self._window = window_seconds
        self._prefix = prefix

    def sibling(self, prefix: str, *, limit: int, window_seconds: int) -> LoginThrottle:
        """Another counter of the same kind on the same Redis (e.g. password reset emails per address)."""
        return LoginThrottle(self._cache, limit=limit, window_seconds=window_seconds, prefix=prefix)

    def _key(self, email: str) -> str:
        # The address is hashed: Redis holds no list of who tried to sign in.
        return self._prefix + hashlib.sha256(email.encode()).hexdigest()

    async def blocked(self, email: str) -> bool:
        """True when the email has used up its failed attempts for now."""
        count = await self._cache.get(self._key(email))
        return count is not None and int(count) >= self._limit

    async def failed(self, email: str) -> None:
        """Count one failed attempt (the window starts at the first)."""
        key = self._key(email)
        if await self._cache.incr(key) == 1:
            await self._cache.expire(key, self._window)

    async def succeeded(self, email: str) -> None:
        """Forget the failures after a correct password."""
        await self._cache.delete(self._key(email))
