"""The signer's own SQLite file: audit log, windows, nonce guard, results, freeze, held requests, approvals.

One writer (the gRPC front process). Every write is its own transaction; an audit append updates the chain's
head in the same transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from signer.domain.audit import GENESIS, StoredRecord, Verdict, canonical_body, chain_hash, verify_chain

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
  sequence INTEGER PRIMARY KEY, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), sequence INTEGER, hash TEXT);
CREATE TABLE IF NOT EXISTS spends (
  id INTEGER PRIMARY KEY, rule TEXT NOT NULL, at REAL NOT NULL, amount TEXT NOT NULL, request_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spends_rule_at ON spends (rule, at);
CREATE TABLE IF NOT EXISTS nonces (
  chain_id INTEGER NOT NULL, address TEXT NOT NULL, nonce INTEGER NOT NULL,
  payload_hash TEXT NOT NULL, call_hash TEXT NOT NULL, fee_cap TEXT NOT NULL, tip TEXT NOT NULL,
  PRIMARY KEY (chain_id, address, nonce)
);
CREATE TABLE IF NOT EXISTS results (
  request_id TEXT PRIMARY KEY, request_digest TEXT NOT NULL, result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS held (
  approval_id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, request_digest TEXT NOT NULL,
  request TEXT NOT NULL, initiator TEXT NOT NULL, actor TEXT NOT NULL, rule TEXT NOT NULL, grp TEXT NOT NULL,
  threshold INTEGER NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, tx_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS held_created ON held (created);
CREATE TABLE IF NOT EXISTS approvals (
  approval_id TEXT NOT NULL, approver TEXT NOT NULL, deadline INTEGER NOT NULL, signature TEXT NOT NULL,
  at REAL NOT NULL, PRIMARY KEY (approval_id, approver)
);
"""


@dataclass(frozen=True)
class NonceRecord:
    """What was signed for one (chain, address, nonce)."""

    payload_hash: str
    call_hash: str
    fee_cap: int
    tip: int


@dataclass(frozen=True)
class Held:
    """A signing request held by a REQUIRE_APPROVAL rule."""

    approval_id: str
    request_id: str
    request_digest: str
    request: str
    initiator: str
    actor: str
    rule: str
    group: str
    threshold: int
    created: float
    expires: float
    tx_hash: str = ""


_HELD_COLUMNS = (
    "approval_id, request_id, request_digest, request, initiator, actor, rule, grp, threshold, created, expires, "
    "tx_hash"
)


class SignerState:
    """The SQLite state behind the signer's decisions."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        """Open (or create, mode 0600) the state file; an existing file readable by others is narrowed to 0600.

        SQLite gives its `-wal` and `-shm` files the database file's mode, so they are 0600 too.
        """
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._clock = clock

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    # --- audit ---------------------------------------------------------------------------------------------

    def append_audit(self, fields: dict[str, object]) -> int:
        """Append one record (its time added here) to the chain; returns its sequence."""
        body = canonical_body({**fields, "time": self._clock()})
        with self._tx():
            row = self._db.execute("SELECT sequence, hash FROM audit_head").fetchone()
            sequence, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            digest = chain_hash(prev, body)
            self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (sequence, body, prev, digest))
            self._db.execute("INSERT OR REPLACE INTO audit_head VALUES (1, ?, ?)", (sequence, digest))
        return sequence

    def audit_records(self, after: int = 0, limit: int = 1000) -> list[StoredRecord]:
        """Records after a sequence, in order."""
        rows = self._db.execute(
            "SELECT sequence, body, prev_hash, hash FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after, limit),
        )
        return [StoredRecord(*r) for r in rows]

    def verify_audit(self) -> Verdict:
        """Check the whole chain against its head."""
        return verify_file(self._db)

    # --- windows -------------------------------------------------------------------------------------------

    def window_spent(self, rule: str, seconds: int) -> int:
        """Base units signed under `rule` in the last `seconds`."""
        rows = self._db.execute("SELECT amount FROM spends WHERE rule = ? AND at > ?", (rule, self._clock() - seconds))
        return sum(int(r[0]) for r in rows)

    def record_spend(self, rule: str, amount: int, request_id: str) -> None:
        """Count a signed amount against the rule's window."""
        self._db.execute(
            "INSERT INTO spends (rule, at, amount, request_id) VALUES (?, ?, ?, ?)",
            (rule, self._clock(), str(amount), request_id),
        )

    def drop_spend(self, request_id: str) -> None:
        """Forget a reservation whose signing failed."""
        self._db.execute("DELETE FROM spends WHERE request_id = ?", (request_id,))

    # --- nonce guard ---------------------------------------------------------------------------------------

    def nonce_record(self, chain_id: int, address: str, nonce: int) -> NonceRecord | None:
        """What was signed for this nonce, if anything."""
        row = self._db.execute(
            "SELECT payload_hash, call_hash, fee_cap, tip FROM nonces WHERE chain_id = ? AND address = ? AND nonce = ?",
            (chain_id, address, nonce),
        ).fetchone()
        return None if row is None else NonceRecord(row[0], row[1], int(row[2]), int(row[3]))

    def put_nonce(self, chain_id: int, address: str, nonce: int, record: NonceRecord) -> None:
        """Remember (or replace) what this nonce signs."""
        self._db.execute(
            "INSERT OR REPLACE INTO nonces VALUES (?, ?, ?, ?, ?, ?, ?)",
            (chain_id, address, nonce, record.payload_hash, record.call_hash, str(record.fee_cap), str(record.tip)),
        )

    # --- request results and flags -------------------------------------------------------------------------

    def result(self, request_id: str) -> tuple[str, dict[str, object]] | None:
        """(request digest, stored result) of a request id."""
        row = self._db.execute(
            "SELECT request_digest, result FROM results WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def put_result(self, request_id: str, request_digest: str, result: dict[str, object]) -> None:
        """Store a final result for idempotent retries."""
        self._db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?)", (request_id, request_digest, json.dumps(result))
        )

    def flag(self, name: str) -> str | None:
        """A named flag (e.g. the freeze)."""
        row = self._db.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_flag(self, name: str, value: str | None) -> None:
        """Set or clear a flag."""
        if value is None:
            self._db.execute("DELETE FROM flags WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT OR REPLACE INTO flags VALUES (?, ?)", (name, value))

    def now(self) -> float:
        """The state's clock (unix seconds)."""
        return self._clock()

    # --- held requests and approvals -----------------------------------------------------------------------

    def _held(self, where: str, arg: str) -> Held | None:
        row = self._db.execute(f"SELECT {_HELD_COLUMNS} FROM held WHERE {where} = ?", (arg,)).fetchone()
        return None if row is None else Held(*row)

    def held(self, approval_id: str) -> Held | None:
        """A held request by approval id."""
        return self._held("approval_id", approval_id)

    def held_by_request(self, request_id: str) -> Held | None:
        """A held request by the request id that raised it."""
        return self._held("request_id", request_id)

    def put_held(self, held: Held) -> None:
        """Record (or renew) a held request."""
        self._db.execute(
            f"INSERT OR REPLACE INTO held ({_HELD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                held.approval_id,
                held.request_id,
                held.request_digest,
                held.request,
                held.initiator,
                held.actor,
                held.rule,
                held.group,
                held.threshold,
                held.created,
                held.expires,
                held.tx_hash,
            ),
        )

    def mark_held_signed(self, approval_id: str, tx_hash: str) -> None:
        """The held request was signed."""
        self._db.execute("UPDATE held SET tx_hash = ? WHERE approval_id = ?", (tx_hash, approval_id))

    def list_held(self, status: str, limit: int, offset: int) -> list[Held]:
        """Held requests, newest first; status "" (any), "PENDING", "APPROVED" or "EXPIRED"."""
        now = self._clock()
        where, args = {
            "": ("1 = 1", ()),
            "APPROVED": ("tx_hash != ''", ()),
            "EXPIRED": ("tx_hash = '' AND expires <= ?", (now,)),
            "PENDING": ("tx_hash = '' AND expires > ?", (now,)),
        }[status]
        rows = self._db.execute(
            f"SELECT {_HELD_COLUMNS} FROM held WHERE {where} ORDER BY created DESC, approval_id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [Held(*r) for r in rows]

    def put_approval(self, approval_id: str, approver: str, deadline: int, signature: str) -> None:
        """Record one approver's signature (a later one from the same approver replaces it)."""
        self._db.execute(
            "INSERT OR REPLACE INTO approvals VALUES (?, ?, ?, ?, ?)",
            (approval_id, approver, deadline, signature, self._clock()),
        )

    def live_approvers(self, approval_id: str) -> list[str]:
        """Approvers of a held request whose signed deadline has not passed."""
        rows = self._db.execute(
            "SELECT approver FROM approvals WHERE approval_id = ? AND deadline > ? ORDER BY approver",
            (approval_id, self._clock()),
        )
        return [str(r[0]) for r in rows]

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _records(db: sqlite3.Connection) -> Iterator[StoredRecord]:
    for row in db.execute("SELECT sequence, body, prev_hash, hash FROM audit ORDER BY sequence"):
        yield StoredRecord(*row)


def verify_file(db: sqlite3.Connection) -> Verdict:
    """Check the audit chain of an open state file."""
    head = db.execute("SELECT sequence, hash FROM audit_head").fetchone()
    return verify_chain(_records(db), None if head is None else (int(head[0]), str(head[1])))


def verify_path(path: Path) -> Verdict:
    """Check the audit chain of a state file, opened read-only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return verify_file(db)
    finally:
        db.close()
