"""Resource identifiers: a type prefix and 24 random base62 characters (about 143 bits)."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_ID = re.compile(r"^[a-z]{2,4}_[0-9A-Za-z]{24}$")


def new_id(kind: str) -> str:
    """A new id such as `inv_4Vb…`."""
    return f"{kind}_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def looks_like_id(value: str, kind: str) -> bool:
    """True when the value has the shape of an id of this kind (a cheap check before any query)."""
    return bool(_ID.match(value)) and value.startswith(f"{kind}_")
