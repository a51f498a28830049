"""Settlement addresses: where a merchant's payouts may go, and when an address becomes usable.

An address is registered PENDING with a one-time code emailed to the merchant; it is CONFIRMED by that code or by
an admin. Whatever confirms it, it is usable only from `cooling_off_end` on, fixed at registration (registration
time + the configured cooling-off). So someone who takes over a merchant's account and registers their own address
cannot be paid before the merchant has seen the emails and webhooks and revoked it — the classic account-takeover
path. A revoked address is never usable again (registering it anew starts over).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

State = Literal["PENDING", "CONFIRMED", "REVOKED"]
"""What is stored: registered, confirmed, or revoked."""
Status = Literal["PENDING_CONFIRMATION", "COOLING_OFF", "ACTIVE", "REVOKED"]
"""What the API shows: the stored state read against the clock."""

CODE_DIGITS = 8
CODE_PATTERN = re.compile(f"[0-9]{{{CODE_DIGITS}}}")
"""A code as the merchant types it (surrounding whitespace stripped first)."""


@dataclass(frozen=True)
class SettlementAddressRecord:
    """A stored settlement address (never its code, only the code's hash)."""

    id: str
    merchant_id: str
    address: str
    label: str
    state: State
    confirmed_by: str | None
    cooling_off_end: dt.datetime
    code_expire_time: dt.datetime
    code_attempts: int
    create_time: dt.datetime
    update_time: dt.datetime
    confirm_time: dt.datetime | None
    revoke_time: dt.datetime | None


def status(record: SettlementAddressRecord, now: dt.datetime) -> Status:
    """The address's status at `now`."""
    if record.state == "REVOKED":
        return "REVOKED"
    if record.state == "PENDING":
        return "PENDING_CONFIRMATION"
    return "ACTIVE" if now >= record.cooling_off_end else "COOLING_OFF"


def usable(record: SettlementAddressRecord, now: dt.datetime) -> bool:
    """True when a payout may go to the address at `now`: confirmed and past its cooling-off end."""
    return status(record, now) == "ACTIVE"


def new_code() -> str:
    """A fresh confirmation code: 8 random decimal digits."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def code_hash(address_id: str, code: str) -> bytes:
    """What is stored of a code: SHA-256 over the address id and the code (the id binds it to its address)."""
    return hashlib.sha256(f"{address_id}:{code.strip()}".encode()).digest()


def code_matches(address_id: str, code: str, stored: bytes) -> bool:
    """True when `code` is the address's code (compared in constant time)."""
    return hmac.compare_digest(code_hash(address_id, code), stored)
