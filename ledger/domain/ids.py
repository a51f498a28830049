"""Resource identifiers: a type prefix and 24 random base62 characters (about 143 bits)."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 24
_SPACE = len(_ALPHABET) ** _LENGTH
_ID = re.compile(r"^[a-z]{2,4}_[0-9A-Za-z]{24}$")


def new_id(kind: str) -> str:
    """A new id such as `inv_4Vb…`: 24 characters drawn uniformly from the 62.

    One draw from the OS's CSPRNG (a uniform number below 62**24, written in base 62) rather than one per character.
    """
    value = secrets.randbelow(_SPACE)
    chars = []
    for _ in range(_LENGTH):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return f"{kind}_" + "".join(chars)


def looks_like_id(value: str, kind: str) -> bool:
    """True when the value has the shape of an id of this kind (a cheap check before any query)."""
    return bool(_ID.match(value)) and value.startswith(f"{kind}_")
