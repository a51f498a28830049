"""CSRF tokens of anonymous visitors, kept in a signed cookie instead of a stored session (signed double submit).

A visitor without a session who opens a form page (sign-up, login, password reset, ...) gets a cookie holding a
random nonce and its issue time; the form's `csrf_token` is an HMAC of that cookie under a key of the dashboard.
A POST passes only with the cookie and the token that belongs to it (and the Origin check in dashboard/app.py).
Nothing is stored on the server until someone signs in, so anonymous traffic cannot fill Redis with sessions
(`tests/dashboard/test_dashboard_hardening.py::test_anonymous_form_pages_store_no_session_and_forged_tokens_are_refused`).
Another site cannot read the cookie, nor compute the token without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

COOKIE = "sg_dashboard_csrf"
"""The anonymous visitor's CSRF cookie (`<issue time>.<nonce>`)."""
_SHAPE = re.compile(r"^([0-9]{1,12})\.([A-Za-z0-9_-]{32})$")
_LABEL = b"stablegate dashboard anonymous csrf v1"


def derive_key(secret: bytes) -> bytes:
    """The signing key for these tokens, derived from the dashboard's secret key (never used for anything else)."""
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


class AnonymousCsrf:
    """Issues and checks anonymous CSRF cookies and their tokens; a cookie is good for `max_age_seconds`."""

    def __init__(self, key: bytes, *, max_age_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.max_age_seconds = max_age_seconds
        self._clock = clock

    def new_cookie(self) -> str:
        """A fresh cookie value: the issue time and 192 random bits."""
        return f"{int(self._clock())}.{secrets.token_urlsafe(24)}"

    def live(self, cookie: str) -> bool:
        """True when the cookie has the right shape and is not too old (nor from the future)."""
        found = _SHAPE.match(cookie)
        if found is None:
            return False
        age = self._clock() - int(found.group(1))
        return -60 <= age < self.max_age_seconds

    def token(self, cookie: str) -> str:
        """The form token that belongs to this cookie."""
        mac = hmac.new(self._key, cookie.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def verify(self, cookie: str, sent: str) -> bool:
        """True when `sent` is the token of this live cookie (compared in constant time)."""
        return bool(sent) and self.live(cookie) and hmac.compare_digest(sent, self.token(cookie))
