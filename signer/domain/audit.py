"""The audit log's chaining: each record's hash covers the previous hash and the record's canonical body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64
"""prev_hash of the first record."""


def canonical_body(fields: dict[str, object]) -> str:
    """The record's fields as canonical JSON (sorted keys, no spaces)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def chain_hash(prev_hash: str, body: str) -> str:
    """SHA-256(prev_hash bytes ‖ body), hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """One row as stored: its sequence, body, and the hashes it claims."""

    sequence: int
    body: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the chain: ok, or the first bad record and what is wrong with it."""

    ok: bool
    records: int
    bad_sequence: int | None = None
    problem: str = ""


def verify_chain(records: Iterable[StoredRecord], head: tuple[int, str] | None) -> Verdict:
    """Check the chain: sequences 1, 2, … without gaps, each linked to its predecessor and hashing right.

    The last record must be the recorded head, so deleting the newest records is caught too.
    """
    expected_prev, count, last = GENESIS, 0, (0, GENESIS)
    for record in records:
        count += 1
        if record.sequence != count:
            return Verdict(False, count, count, f"record {count} is missing (found {record.sequence} in its place)")
        if record.prev_hash != expected_prev:
            return Verdict(False, count, record.sequence, "its prev_hash does not match the previous record")
        if chain_hash(record.prev_hash, record.body) != record.hash:
            return Verdict(False, count, record.sequence, "its content does not match its hash")
        expected_prev, last = record.hash, (record.sequence, record.hash)
    if head is not None and head != last:
        return Verdict(False, count, last[0] + 1, f"the chain ends at {last[0]} but the head says {head[0]}")
    return Verdict(True, count)
