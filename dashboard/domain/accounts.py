"""Sign-up rules: email, password and business name checks, each failure with the message the user sees."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_PASSWORD = 12
MAX_PASSWORD = 256
MAX_EMAIL = 254
MIN_BUSINESS_NAME = 2
MAX_BUSINESS_NAME = 100
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _LABEL + r"(?:\." + _LABEL + r")+$")
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "iloveyou1234",
        "letmeinletmein",
        "administrator",
        "changemechangeme",
    }
)
"""A short deny-list of the commonest long passwords (the length rule already excludes the short ones)."""


@dataclass(frozen=True)
class Invalid:
    """One field the user must fix, and how."""

    field: str
    message: str


def normalize_email(raw: str) -> str:
    """The address as stored and compared: trimmed, lower case (the unique index is on this form)."""
    return raw.strip().lower()


def check_email(email: str) -> Invalid | None:
    """None when the (normalized) address looks deliverable; else why not."""
    if not email:
        return Invalid("email", "Enter your email address.")
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        return Invalid("email", "Enter a valid email address, like name@example.com.")
    return None


def check_password(password: str, email: str) -> Invalid | None:
    """None when the password is acceptable; else why not (length, a common password, or the email in it)."""
    if len(password) < MIN_PASSWORD:
        return Invalid("password", f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        return Invalid("password", f"Use at most {MAX_PASSWORD} characters.")
    folded = unicodedata.normalize("NFKC", password).lower()
    if folded in COMMON_PASSWORDS or len(set(folded)) < 4:
        return Invalid("password", "This password is too easy to guess; choose another.")
    local = email.split("@", 1)[0]
    if len(local) >= 4 and local in folded:
        return Invalid("password", "Do not use your email address in your password.")
    return None


def check_business_name(name: str) -> Invalid | None:
    """None when the business name is acceptable; else why not."""
    if len(name) < MIN_BUSINESS_NAME or len(name) > MAX_BUSINESS_NAME:
        return Invalid("name", f"Enter your business name ({MIN_BUSINESS_NAME} to {MAX_BUSINESS_NAME} characters).")
    if any(unicodedata.category(c).startswith("C") for c in name):
        return Invalid("name", "The business name cannot contain control characters.")
    return None


def check_key_name(name: str) -> Invalid | None:
    """None when an API key's label is acceptable."""
    if not 1 <= len(name) <= 64 or any(unicodedata.category(c).startswith("C") for c in name):
        return Invalid("name", "Name the key (1 to 64 characters), e.g. “checkout backend”.")
    return None


def check_totp_code(code: str) -> Invalid | None:
    """None when the code has the shape of a TOTP code (six digits)."""
    if not re.fullmatch(r"\d{6}", code):
        return Invalid("code", "Enter the 6-digit code from your authenticator app.")
    return None
