"""The person acting through the dashboard: who a dashboard call is made for (no grpc, no database).

The dashboard calls the ledger with its own credentials; with each call it also names the person at the
keyboard (a merchant user of the dashboard, or an operator signed in through the admin login). The ledger keeps
that name in the audit rows of what the call did, next to the key that made it, and believes it only from the
dashboard (`ledger/api/acting.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from service_runtime.errors import InvalidArgument

KINDS = frozenset({"merchant_user", "operator"})
"""A merchant's user of the dashboard (its own login, TOTP), or an operator (the admin login, OpenID Connect)."""
MAX_ID = 255
MAX_EMAIL = 254


@dataclass(frozen=True)
class ActingUser:
    """A person acting through the dashboard.

    Their kind, their dashboard user id (an operator's: the identity provider's subject) and, when known, their
    email.
    """

    kind: str
    id: str
    email: str = ""

    def audit_details(self) -> dict[str, str]:
        """What an audit row's details say of them (lowerCamel keys, as the rest of the details)."""
        details = {"actingUserKind": self.kind, "actingUserId": self.id}
        if self.email:
            details["actingUserEmail"] = self.email
        return details


def _printable(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def acting_user(kind: str, user_id: str, email: str) -> ActingUser:
    """The acting user the values name, or InvalidArgument (`ACTING_USER_INVALID`) naming the bad one."""

    def bad(field: str, why: str) -> InvalidArgument:
        return InvalidArgument(
            f"the acting user's {field} {why}", reason="ACTING_USER_INVALID", metadata={"field": field}
        )

    if kind not in KINDS:
        raise bad("kind", f"must be one of {', '.join(sorted(KINDS))}")
    if not user_id or len(user_id) > MAX_ID or not _printable(user_id):
        raise bad("id", f"must be 1 to {MAX_ID} printable characters")
    if email and (len(email) > MAX_EMAIL or not _printable(email) or "@" not in email):
        raise bad("email", f"must be an email address of at most {MAX_EMAIL} characters")
    return ActingUser(kind, user_id, email)
