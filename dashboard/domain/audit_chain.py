"""The dashboard's own check of the two hash-chained audit logs (no grpc: plain records in, a verdict out).

It recomputes each record's hash from its content and the previous record's hash exactly as its writer does, so a
record changed, removed or reordered anywhere shows as the first broken one:

- the signer (signer/domain/audit.py): hash = SHA-256(prev_hash bytes ‖ body), the body being the record's
  canonical JSON (sorted keys, no spaces), which the signer hands out as `body_json`; the fields the page shows
  (sequence, actor, action, request id) must also be the body's own, so no field is shown that the hash does
  not cover;
- the ledger's admin audit (ledger/domain/audit.py): hash = SHA-256(prev_hash bytes ‖ canonical JSON of id,
  sequence, actor, action, subject, event_time (RFC 3339 UTC with microseconds), details, request_id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""prev_hash of each chain's first record."""


@dataclass(frozen=True)
class Verdict:
    """The chain verified (how many records), or the first broken record and what is wrong with it."""

    ok: bool
    records: int
    broken_sequence: int | None = None
    problem: str = ""


@dataclass(frozen=True)
class ChainLink:
    """What a check needs of one record: its position, its claimed hashes, and what its hash must cover."""

    sequence: int
    prev_hash: str
    hash: str
    covered: bytes
    """The exact bytes after prev_hash that the hash covers."""
    mismatch: str = ""
    """Non-empty when a shown field differs from the content the hash covers."""


def sha256_link(prev_hash: str, covered: bytes) -> str:
    """SHA-256(prev_hash bytes ‖ covered), hex; a prev_hash that is not hex hashes to nothing valid."""
    try:
        prev = bytes.fromhex(prev_hash)
    except ValueError:
        return ""
    return hashlib.sha256(prev + covered).hexdigest()


def verify_links(links: Iterable[ChainLink]) -> Verdict:
    """Sequences 1, 2, … without gaps, each linked to its predecessor, each hashing to what it claims."""
    expected_prev, count = GENESIS, 0
    for link in links:
        count += 1
        if link.sequence != count:
            return Verdict(False, count - 1, count, f"record {count} is missing (found {link.sequence} in its place)")
        if link.prev_hash != expected_prev:
            return Verdict(False, count - 1, link.sequence, "its prev_hash is not the previous record's hash")
        if link.mismatch:
            return Verdict(False, count - 1, link.sequence, link.mismatch)
        if sha256_link(link.prev_hash, link.covered) != link.hash:
            return Verdict(False, count - 1, link.sequence, "its content does not match its hash")
        expected_prev = link.hash
    return Verdict(True, count)


def signer_link(
    sequence: int, prev_hash: str, hash_: str, body_json: str, shown: Mapping[str, object] | None = None
) -> ChainLink:
    """A signer audit record as a link; `shown` are fields the page displays, checked against the body."""
    mismatch = ""
    try:
        body = json.loads(body_json)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        mismatch = "its body is not a JSON object"
    else:
        for name, value in (shown or {}).items():
            if str(body.get(name, "")) != str(value):
                mismatch = f"its {name} differs from the content its hash covers"
                break
    return ChainLink(sequence, prev_hash, hash_, body_json.encode(), mismatch)


def _plain(value: Any) -> Any:
    """A protobuf Struct value as the ledger stored it: whole numbers are ints again (Struct keeps doubles)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def admin_event_link(
    *,
    id_: str,
    sequence: int,
    actor: str,
    action: str,
    subject: str,
    event_time: dt.datetime,
    details: Mapping[str, Any],
    request_id: str,
    prev_hash: str,
    hash_: str,
) -> ChainLink:
    """A ledger admin audit event as a link (its canonical encoding rebuilt from the listed fields)."""
    body = {
        "id": id_,
        "sequence": sequence,
        "actor": actor,
        "action": action,
        "subject": subject,
        "event_time": event_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "details": _plain(dict(details)),
        "request_id": request_id,
    }
    covered = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return ChainLink(sequence, prev_hash, hash_, covered)
