"""AIP-158 pagination: page sizes with a default and a cap, and opaque, validated page tokens."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Protocol

from service_runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """0 means the default; above the cap is capped; negative is INVALID_ARGUMENT."""
    if requested < 0:
        raise InvalidArgument(
            "page_size must not be negative", reason="PAGE_SIZE_INVALID", metadata={"field": "page_size"}
        )
    return default if requested == 0 else min(requested, maximum)


def encode_token(position: dict[str, Any], query: str) -> str:
    """An opaque token for the next page: where the last page ended and which query it belongs to."""
    raw = json.dumps({"v": 1, "q": query, "p": position}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query: str, *, field: str = "page_token") -> dict[str, Any] | None:
    """The position a token carries (None for the first page); INVALID_ARGUMENT if foreign or corrupt.

    A token is only valid for the query (filters) that produced it; `field` names it in the error.
    """
    if not token:
        return None
    bad = InvalidArgument(
        f"{field} is not a token this list returned (or its filters changed); start again without it",
        reason="PAGE_TOKEN_INVALID",
        metadata={"field": field},
    )
    if len(token) > 1000:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if (
        not isinstance(data, dict)
        or data.get("v") != 1
        or data.get("q") != query
        or not isinstance(data.get("p"), dict)
    ):
        raise bad
    position: dict[str, Any] = data["p"]
    return position


class NewestFirst(Protocol):
    """A row of a list ordered by (create_time, id), newest first."""

    @property
    def create_time(self) -> dt.datetime:
        """When the row was created."""
        ...

    @property
    def id(self) -> str:
        """The row's id, the tie-breaker."""
        ...


def newest_first_position(token: str, query: str) -> tuple[dt.datetime, str] | None:
    """The (create_time, id) a newest-first page ended at, or None for the first page."""
    position = decode_token(token, query)
    if position is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(position["t"])), str(position["i"])
    except (KeyError, ValueError):
        raise InvalidArgument(
            "page_token is corrupt", reason="PAGE_TOKEN_INVALID", metadata={"field": "page_token"}
        ) from None


def newest_first_next_token(rows: Sequence[NewestFirst], limit: int, query: str) -> str:
    """The token of the page after `rows` (empty when this page was the last)."""
    if len(rows) < limit:
        return ""
    last = rows[-1]
    return encode_token({"t": last.create_time.isoformat(), "i": last.id}, query)
