"""The acting-user metadata of a dashboard call: read from the call, believed only from the `dashboard` role.

The dashboard sends `x-stablegate-acting-user-kind`, `-id` and `-email` (values percent-encoded, UTF-8) with its
calls (dashboard/acting.py). The ledger's auth interceptor (ledger/api/auth.py) hands them here with the caller's
mesh role: from the dashboard they become the call's acting user, which `ledger/api/audit.py` writes into the audit
row next to the key; from any other caller (the edge, so any merchant or admin key holder through Envoy) they
are ignored, so no one can put another person's name into the audit. Envoy also removes a client's copies
(edge/envoy_config.py `IDENTITY_HEADERS`).
"""

from __future__ import annotations

import contextvars
import urllib.parse
from typing import Any

from ledger.domain.acting import ActingUser, acting_user
from service_runtime.errors import InvalidArgument
from service_runtime.mesh import Role

KIND_HEADER = "x-stablegate-acting-user-kind"
ID_HEADER = "x-stablegate-acting-user-id"
EMAIL_HEADER = "x-stablegate-acting-user-email"
HEADERS = (KIND_HEADER, ID_HEADER, EMAIL_HEADER)

current_acting_user: contextvars.ContextVar[ActingUser | None] = contextvars.ContextVar("acting_user", default=None)


def _value(metadata: dict[str, Any], header: str) -> str:
    raw = metadata.get(header)
    return urllib.parse.unquote(raw, errors="strict") if isinstance(raw, str) else ""


def asserted_acting_user(metadata: dict[str, Any], peer_role: str | None) -> ActingUser | None:
    """The acting user a call names, if its caller is the dashboard and it names one; else None.

    From the dashboard, metadata naming an acting user badly is INVALID_ARGUMENT (`ACTING_USER_INVALID`): the
    dashboard's own bug, refused rather than recorded wrong. From anyone else it is not even read.
    """
    if peer_role != Role.DASHBOARD or not any(h in metadata for h in HEADERS):
        return None
    try:
        kind, user_id, email = (_value(metadata, h) for h in HEADERS)
    except UnicodeDecodeError:
        raise InvalidArgument(
            "the acting user's metadata is not percent-encoded UTF-8", reason="ACTING_USER_INVALID"
        ) from None
    return acting_user(kind, user_id, email)
