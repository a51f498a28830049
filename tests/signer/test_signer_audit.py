"""The audit log is hash-chained: altering, deleting or reordering any record is caught and the record named."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from signer.store.state import SignerState, verify_path


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite3"
    state = SignerState(path)
    for i in range(1, 8):
        state.append_audit({"actor": "settlement", "action": "sign", "request_id": f"r{i}", "decision": "DENIED"})
    state.close()
    return path


def alter(db: sqlite3.Connection) -> None:
    body = json.loads(db.execute("SELECT body FROM audit WHERE sequence = 3").fetchone()[0])
    body["decision"] = "ALLOWED"
    db.execute("UPDATE audit SET body = ? WHERE sequence = 3", (json.dumps(body, sort_keys=True),))


def delete_middle(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit WHERE sequence = 3")


def delete_last(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit WHERE sequence = 7")


def reorder(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit SET sequence = -1 WHERE sequence = 3")
    db.execute("UPDATE audit SET sequence = 3 WHERE sequence = 4")
    db.execute("UPDATE audit SET sequence = 4 WHERE sequence = -1")


def rehash_altered(db: sqlite3.Connection) -> None:
    # A forger who also recomputes the altered record's own hash still breaks the next record's link.
    from signer.domain.audit import chain_hash

    alter(db)
    body, prev = db.execute("SELECT body, prev_hash FROM audit WHERE sequence = 3").fetchone()
    db.execute("UPDATE audit SET hash = ? WHERE sequence = 3", (chain_hash(prev, body),))


@pytest.mark.parametrize(
    ("tamper", "bad"),
    [(alter, 3), (delete_middle, 3), (delete_last, 7), (reorder, 3), (rehash_altered, 4)],
    ids=["alter", "delete", "delete-newest", "reorder", "alter-and-rehash"],
)
def test_tampering_makes_audit_verify_fail_and_name_the_record(
    state_file: Path, tmp_path: Path, tamper: Callable[[sqlite3.Connection], None], bad: int
) -> None:
    assert verify_path(state_file).ok
    copy = tmp_path / "tampered.sqlite3"
    shutil.copy(state_file, copy)
    db = sqlite3.connect(copy, isolation_level=None)
    tamper(db)
    db.close()
    verdict = verify_path(copy)
    assert not verdict.ok
    assert verdict.bad_sequence == bad

    cli = subprocess.run(
        [sys.executable, "-m", "gateway", "signer", "audit", "verify", "--state", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert cli.returncode == 2
    assert f"BROKEN at record {bad}" in cli.stderr


def test_an_intact_log_verifies(state_file: Path) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "gateway", "signer", "audit", "verify", "--state", str(state_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "7 records" in cli.stdout


def test_the_state_file_and_its_journal_are_private_to_the_signer(tmp_path: Path) -> None:
    """The state (audit log, approvals) is made 0600, its WAL too; a file left readable by others is narrowed."""
    path = tmp_path / "state.sqlite3"
    state = SignerState(path)
    state.append_audit({"actor": "settlement", "action": "sign", "request_id": "r1", "decision": "DENIED"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state.sqlite3-wal").stat().st_mode & 0o777 == 0o600
    state.close()
    path.chmod(0o644)
    SignerState(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
