"""The admin audit log: what an event is and how the chain of hashes is computed (no database, no grpc).

Each event's hash is SHA-256 over the previous event's hash and the event's canonical encoding (JSON with
sorted keys, no spaces, times as RFC 3339 UTC with microseconds), so anyone holding the events can recompute the
chain and see a changed or missing one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first event."""


@dataclass(frozen=True)
class AuditEvent:
    """One privileged action: who did what to which resource, when, with which (non-secret) details."""

    id: str
    sequence: int
    actor: str
    action: str
    subject: str
    event_time: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    prev_hash: str = GENESIS_HASH
    hash: str = ""


def canonical(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers (everything but the hashes themselves)."""
    body = {
        "id": event.id,
        "sequence": event.sequence,
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "event_time": event.event_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "details": event.details,
        "request_id": event.request_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash of `event` following an event whose hash is `prev_hash` (hex)."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(event)).hexdigest()
