"""TOTP recovery codes: how they look, how they are made and compared (plain code, no I/O).

A code is 16 characters from a 31-letter alphabet without look-alikes (0/o, 1/l/i), about 79 random bits, shown
as four groups of four (`abcd-efgh-jkmn-pqrs`). That much entropy lets the store keep a plain SHA-256 of each: a
stolen table cannot be reversed by guessing, unlike a short code that would need a slow hash.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 16
GROUP = 4
COUNT = 10
"""Codes in a set (each works once; a new set replaces the old)."""


def new_code(choose: Callable[[str], str] = secrets.choice) -> str:
    """One fresh code, grouped for reading (`abcd-efgh-jkmn-pqrs`)."""
    raw = "".join(choose(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def new_set(count: int = COUNT) -> list[str]:
    """A set of distinct fresh codes."""
    codes: list[str] = []
    while len(codes) < count:
        code = new_code()
        if code not in codes:
            codes.append(code)
    return codes


def normalize(typed: str) -> str | None:
    """The code as typed, reduced to its 16 characters (case, spaces and dashes ignored); None if it cannot be one."""
    raw = "".join(ch for ch in typed.lower() if ch not in " -\t")
    if len(raw) != LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return raw


def digest(code: str) -> bytes:
    """What is stored of a code: SHA-256 of its normalized form (a grouped or ungrouped code gives the same)."""
    raw = normalize(code)
    if raw is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(raw.encode()).digest()
