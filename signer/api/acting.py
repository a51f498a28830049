"""The acting person of a call the dashboard relays: read from the call, believed only from the `dashboard` role.

The dashboard relays approvals (`ApprovalService/Approve`) and unfreezes (`SigningService/UnfreezeSigning`) for an
operator signed in through its admin login; with each call it sends `x-stablegate-acting-user-kind`, `-id` and
`-email` metadata (values percent-encoded UTF-8; dashboard/acting.py), as it does to the ledger. The signer writes
them into the audit record of what the call did (`acting_user_kind`, `acting_user_id`, `acting_user_email`), next
to the caller's role (`actor`). From any other caller they are not read, so no one can put another person's name
into the signer's audit. The approval's authority stays the approver's own EIP-712 signature: the name says who
relayed it, not who approved.
"""

from __future__ import annotations

import urllib.parse

import grpc

from service_runtime.mesh import Role, peer_role
from signer.errors import BadRequest

KIND_HEADER = "x-stablegate-acting-user-kind"
ID_HEADER = "x-stablegate-acting-user-id"
EMAIL_HEADER = "x-stablegate-acting-user-email"
HEADERS = (KIND_HEADER, ID_HEADER, EMAIL_HEADER)
KINDS = frozenset({"merchant_user", "operator"})
MAX_ID = 255
MAX_EMAIL = 254


def _bad(field: str, why: str) -> BadRequest:
    return BadRequest(f"the acting user's {field} {why}", reason="ACTING_USER_INVALID", metadata={"field": field})


def _printable(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def acting_fields(metadata: dict[str, str], role: str | None) -> dict[str, str]:
    """The audit fields naming the acting user of a call from `role`: empty unless the dashboard names one.

    From the dashboard, metadata naming an acting user badly is INVALID_ARGUMENT (`ACTING_USER_INVALID`, nothing
    audited or changed): the dashboard's own bug, refused rather than recorded wrong.
    """
    if role != Role.DASHBOARD or not any(h in metadata for h in HEADERS):
        return {}
    try:
        kind, user_id, email = (urllib.parse.unquote(metadata.get(h, ""), errors="strict") for h in HEADERS)
    except UnicodeDecodeError:
        raise _bad("metadata", "is not percent-encoded UTF-8") from None
    if kind not in KINDS:
        raise _bad("kind", f"must be one of {', '.join(sorted(KINDS))}")
    if not user_id or len(user_id) > MAX_ID or not _printable(user_id):
        raise _bad("id", f"must be 1 to {MAX_ID} printable characters")
    if email and (len(email) > MAX_EMAIL or not _printable(email) or "@" not in email):
        raise _bad("email", f"must be an email address of at most {MAX_EMAIL} characters")
    fields = {"acting_user_kind": kind, "acting_user_id": user_id}
    if email:
        fields["acting_user_email"] = email
    return fields


def call_acting_fields(context: grpc.aio.ServicerContext, trust_domain: str) -> dict[str, str]:  # type: ignore[type-arg]
    """`acting_fields` of a call in progress (its metadata and its caller's mesh role)."""
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    return acting_fields(metadata, peer_role(context, trust_domain))
