"""`stablegate backup create` and `stablegate backup restore`: a consistent online backup of one machine's gateway.

What a backup directory holds (docs/backup.md):

- `postgres/`: a base backup of the whole cluster taken online by `pg_basebackup` in tar format with the WAL
  needed to make it consistent streamed alongside (`-X stream`): `base.tar.gz`, `pg_wal.tar.gz` and Postgres's own
  `backup_manifest`. It restores byte-identical, with every schema (ledger, watcher, settlement) at one instant.
- `signer-state.sqlite3`: the signer's SQLite store (policy windows, nonce guard, approvals, hash-chained audit),
  copied with SQLite's online backup API (one consistent snapshot while the signer keeps writing) and checked:
  its audit chain must verify.
- `hsm-token/` (optional): a copy of a SoftHSM token directory. A real HSM's keys are backed up by the HSM's own
  means; SoftHSM keeps a token as files, so copying its directory is its backup.
- `manifest.json`, written last: versions, the sha256 and size of every file, the applied migrations per schema,
  the watcher's chain cursor and the chain's head at backup time. A directory without it is incomplete.

The database is copied before the signer's store, so the signer's state is never older than the settlement rows
it signed for (its nonce guard and spend windows then err on the safe side after a restore).

Every file is written mode 0600 in directories of mode 0700; no secret (database password, PIN) is printed.
`restore` checks every file against the manifest before it changes anything, and refuses a target that is not
empty.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import parts
from service_runtime.config import redact_url_secrets
from service_runtime.secrets import resolve_secret_settings

FORMAT = 1
"""The manifest's format version; `restore` refuses any other."""
MANIFEST = "manifest.json"
SIGNER_FILE = "signer-state.sqlite3"
POSTGRES_DIR = "postgres"
HSM_DIR = "hsm-token"
EXIT_FAILED = 1


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do (it never holds a secret)."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _private_tree(root: Path) -> None:
    """Directories 0700, files 0600, under and including `root`."""
    os.chmod(root, 0o700)
    for current, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(Path(current) / name, 0o700)
        for name in files:
            os.chmod(Path(current) / name, 0o600)


def _clear_dir(path: Path) -> None:
    """Remove everything inside `path`, leaving the directory itself."""
    for child in path.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _empty_or_absent(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


# --- create ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseFacts:
    """What the manifest records about the database at backup time."""

    server_version: str
    migrations: dict[str, list[str]]
    watcher_cursors: list[dict[str, Any]]


async def _database_facts(url: str) -> DatabaseFacts:
    import asyncpg  # noqa: PLC0415 - keeps `stablegate --help` fast

    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackupError(redact_url_secrets(f"cannot connect to the database {url}: {exc}")) from exc
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        migrations: dict[str, list[str]] = {}
        if await conn.fetchval("SELECT to_regclass('public.stablegate_migrations') IS NOT NULL"):
            for row in await conn.fetch(
                "SELECT service, version, name FROM public.stablegate_migrations ORDER BY service, version"
            ):
                migrations.setdefault(str(row["service"]), []).append(f"{row['version']:04d} {row['name']}")
        cursors: list[dict[str, Any]] = []
        if await conn.fetchval("SELECT to_regclass('watcher.cursors') IS NOT NULL"):
            for row in await conn.fetch(
                "SELECT chain_id, scanned_number, finalized_number FROM watcher.cursors ORDER BY chain_id"
            ):
                cursors.append({k: int(row[k]) for k in ("chain_id", "scanned_number", "finalized_number")})
        return DatabaseFacts(version, migrations, cursors)
    finally:
        await conn.close()


def _chain_head(rpc_url: str | None) -> dict[str, Any] | None:
    """The chain's head and finalized block numbers (None without an RPC URL; an error recorded, not raised)."""
    if not rpc_url:
        return None
    try:
        head = parts.json_rpc(rpc_url, "eth_blockNumber", timeout=5)
        final = parts.json_rpc(rpc_url, "eth_getBlockByNumber", ["finalized", False], timeout=5)
        finalized = int(str(final["number"]), 16) if isinstance(final, dict) else None
        return {"head": int(str(head), 16), "finalized": finalized}
    except (OSError, ValueError, KeyError, parts.PartError) as exc:
        return {"error": f"reading the chain's head failed: {exc}"[:300]}


def _base_backup(url: str, target: Path) -> str:
    """pg_basebackup in tar format with streamed WAL and a fast checkpoint; its version line."""
    tool = parts.postgres_bin_dir() / "pg_basebackup"
    if not tool.exists():
        raise BackupError(f"{tool} is missing: install Postgres's client tools (./dev setup)")
    target.mkdir(mode=0o700)
    # The password goes in the environment, never on the command line (`ps` shows argv to every local user).
    parsed = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = urllib.parse.unquote(parsed.password)
        url = urllib.parse.urlunsplit(parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", "@")))
    argv = [
        str(tool),
        "--dbname",
        url,
        "--pgdata",
        str(target),
        "--format=tar",
        "--gzip",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--manifest-checksums=SHA256",
        "--no-password",
        "--label=stablegate backup",
    ]
    ran = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600, env=env)
    if ran.returncode != 0:
        failure = f"pg_basebackup failed (exit {ran.returncode}): {ran.stderr.strip()[-800:]}"
        raise BackupError(redact_url_secrets(failure))
    version = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=False)
    return version.stdout.strip()


def _signer_copy(source: Path, target: Path) -> dict[str, Any]:
    """Copy the signer's store with SQLite's online backup API; verify the copy's audit chain; its audit head."""
    from signer.store.state import verify_path  # noqa: PLC0415 - only the backup needs the signer's verifier

    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # one step: a consistent snapshot even while the signer writes (its WAL mode allows readers)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackupError(f"copying the signer's store failed: {exc}") from exc
    finally:
        dst.close()
        src.close()
    verdict = verify_path(target)
    if not verdict.ok:
        raise BackupError(
            f"the signer's audit chain does not verify in the copy: record {verdict.bad_sequence}: {verdict.problem}"
        )
    db = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT sequence, hash FROM audit_head WHERE one = 1").fetchone()
    finally:
        db.close()
    return {"audit_sequence": row[0] if row else 0, "audit_head_hash": row[1] if row else None}


def create(
    to: Path,
    database_url: str,
    signer_state: Path,
    *,
    hsm_token_dir: Path | None = None,
    rpc_url: str | None = None,
    say: Any = print,
) -> dict[str, Any]:
    """Take a backup into the new directory `to`; the manifest written. Raises BackupError."""
    if not _empty_or_absent(to):
        raise BackupError(f"{to} is not empty: back up into a new directory")
    if hsm_token_dir is not None and not hsm_token_dir.is_dir():
        raise BackupError(f"the HSM token directory {hsm_token_dir} does not exist")
    if not signer_state.is_file():
        raise BackupError(
            f"the signer's store {signer_state} does not exist (STABLEGATE_SIGNER_STATE_PATH / --signer-state)"
        )
    to.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(to, 0o700)
    try:
        return _take(to, database_url, signer_state, hsm_token_dir=hsm_token_dir, rpc_url=rpc_url, say=say)
    except BaseException:
        # `to` was new or empty: leave it empty, so no half backup is ever mistaken for one.
        _clear_dir(to)
        raise


def _take(
    to: Path, database_url: str, signer_state: Path, *, hsm_token_dir: Path | None, rpc_url: str | None, say: Any
) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    facts = asyncio.run(_database_facts(database_url))
    head = _chain_head(rpc_url)
    say(redact_url_secrets(f"postgres: base backup of {database_url} (WAL streamed)…"))
    tool_version = _base_backup(database_url, to / POSTGRES_DIR)
    say("signer: online copy of its store…")
    signer = _signer_copy(signer_state, to / SIGNER_FILE)
    if hsm_token_dir is not None:
        say("hsm: copy of the SoftHSM token directory…")
        shutil.copytree(hsm_token_dir, to / HSM_DIR, symlinks=False)
    _private_tree(to)
    files = {
        str(path.relative_to(to)): {"sha256": sha256_of(path), "size": path.stat().st_size}
        for path in sorted(to.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format": FORMAT,
        "stablegate_version": importlib.metadata.version("stablegate"),
        "started_at": started.isoformat(),
        "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        "postgres": {
            "server_version": facts.server_version,
            "tool": tool_version,
            "method": "pg_basebackup --format=tar --gzip --wal-method=stream",
            "migrations": facts.migrations,
        },
        "chain": {"watcher_cursors_before_backup": facts.watcher_cursors, "rpc_at_start": head},
        "signer": signer,
        "hsm_token": hsm_token_dir is not None,
        "files": files,
    }
    temporary = to / (MANIFEST + ".partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, to / MANIFEST)  # last: a backup without its manifest is incomplete
    return manifest


# --- restore -----------------------------------------------------------------------------------------------------


def verify(source: Path) -> dict[str, Any]:
    """Check a backup directory against its manifest (every file present, same size and sha256, nothing else)."""
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: the backup is incomplete (or this is not a backup)")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is not readable JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} has format {manifest.get('format')!r}; this stablegate reads format {FORMAT}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BackupError(f"{path} lists no files")
    problems: list[str] = []
    for name, expected in sorted(files.items()):
        file = source / name
        if not file.is_file():
            problems.append(f"{name}: missing")
        elif file.stat().st_size != expected.get("size"):
            problems.append(f"{name}: size {file.stat().st_size}, manifest says {expected.get('size')}")
        elif sha256_of(file) != expected.get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
    extra = [
        str(p.relative_to(source))
        for p in source.rglob("*")
        if p.is_file() and p.name != MANIFEST and str(p.relative_to(source)) not in files
    ]
    problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    for needed in (f"{POSTGRES_DIR}/base.tar.gz", f"{POSTGRES_DIR}/pg_wal.tar.gz", SIGNER_FILE):
        if needed not in files:
            problems.append(f"{needed}: the manifest does not list it")
    if problems:
        raise BackupError("the backup does not match its manifest; nothing was restored:\n  " + "\n  ".join(problems))
    return manifest


def _extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="data")


def _check_targets(manifest: dict[str, Any], pgdata: Path, signer_state: Path, hsm_token_dir: Path | None) -> None:
    if not _empty_or_absent(pgdata):
        raise BackupError(f"{pgdata} is not empty: restore into a new data directory (nothing was changed)")
    if signer_state.exists():
        raise BackupError(f"{signer_state} exists: restore the signer's store to a new path (nothing was changed)")
    if hsm_token_dir is not None and not manifest.get("hsm_token"):
        raise BackupError("--hsm-token-dir given, but this backup holds no HSM token (nothing was changed)")
    if hsm_token_dir is not None and not _empty_or_absent(hsm_token_dir):
        raise BackupError(f"{hsm_token_dir} is not empty: restore the token into a new directory (nothing was changed)")


def _restore_postgres(source: Path, pgdata: Path, user: str | None) -> None:
    """Unpack the base backup and its WAL into `pgdata`, check them with pg_verifybackup, hand them to `user`."""
    os.chmod(pgdata, 0o700)
    _extract(source / POSTGRES_DIR / "base.tar.gz", pgdata)
    _extract(source / POSTGRES_DIR / "pg_wal.tar.gz", pgdata / "pg_wal")
    verifier = parts.postgres_bin_dir() / "pg_verifybackup"
    if verifier.exists():
        ran = subprocess.run(
            [str(verifier), "--quiet", "--manifest-path", str(source / POSTGRES_DIR / "backup_manifest"),
             "--wal-directory", str(pgdata / "pg_wal"), str(pgdata)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if ran.returncode != 0:
            raise BackupError(f"pg_verifybackup refused the restored files: {ran.stderr.strip()[-800:]}")
    _private_tree(pgdata)
    if user is not None:
        owner = pwd.getpwnam(user)
        for current, dirs, files in os.walk(pgdata):
            os.chown(current, owner.pw_uid, owner.pw_gid)
            for name in [*dirs, *files]:
                os.chown(Path(current) / name, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def _undo(made: list[Path], pgdata: Path) -> None:
    """Remove what a failed restore wrote (an empty data directory given by the operator is left, empty)."""
    for path in made:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if pgdata.exists() and pgdata not in made:
        _clear_dir(pgdata)


def restore(
    source: Path,
    pgdata: Path,
    signer_state: Path,
    *,
    hsm_token_dir: Path | None = None,
    pg_user: str | None = None,
    say: Any = print,
) -> dict[str, Any]:
    """Restore a verified backup into a new Postgres data directory, signer store and token directory."""
    manifest = verify(source)
    _check_targets(manifest, pgdata, signer_state, hsm_token_dir)
    user = pg_user if pg_user is not None else ("postgres" if parts.running_as_root() else None)
    made: list[Path] = []
    try:
        say(f"postgres: base backup into {pgdata}…")
        if not pgdata.exists():
            pgdata.mkdir(mode=0o700, parents=True)
            made.append(pgdata)
        _restore_postgres(source, pgdata, user)
        say(f"signer: store into {signer_state}…")
        signer_state.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(signer_state, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        made.append(signer_state)
        with os.fdopen(fd, "wb") as out, (source / SIGNER_FILE).open("rb") as src:
            shutil.copyfileobj(src, out)
        if hsm_token_dir is not None:
            say(f"hsm: token directory into {hsm_token_dir}…")
            if hsm_token_dir.exists():
                hsm_token_dir.rmdir()
            shutil.copytree(source / HSM_DIR, hsm_token_dir)
            made.append(hsm_token_dir)
            _private_tree(hsm_token_dir)
    except BaseException:
        _undo(made, pgdata)
        raise
    return manifest


# --- CLI ---------------------------------------------------------------------------------------------------------


def _env_path(value: Path | None, var: str) -> Path | None:
    if value is not None:
        return value
    found = os.environ.get(var, "").strip()
    return Path(found) if found else None


def _ledger_database_url() -> str:
    """The ledger's database URL as the ledger reads it: the variable, its `_FILE` or its `_AWS_SECRET` source."""
    from ledger.config import LedgerSettings  # noqa: PLC0415 - keeps `stablegate --help` fast

    field = {"database_url": LedgerSettings.model_fields["database_url"]}
    sourced, problems = resolve_secret_settings("STABLEGATE_LEDGER_", field)
    if problems:
        raise BackupError("; ".join(problems))
    return sourced.get("database_url") or os.environ.get("STABLEGATE_LEDGER_DATABASE_URL", "").strip()


def cmd_backup_create(args: argparse.Namespace) -> int:
    """`stablegate backup create --to DIR`."""
    try:
        url = args.database_url or _ledger_database_url()
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    signer_state = _env_path(args.signer_state, "STABLEGATE_SIGNER_STATE_PATH")
    if not url:
        print(
            "error: no database: give --database-url or set STABLEGATE_LEDGER_DATABASE_URL "
            "(or its _FILE or _AWS_SECRET)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if signer_state is None:
        print("error: no signer store: give --signer-state or set STABLEGATE_SIGNER_STATE_PATH", file=sys.stderr)
        return EXIT_FAILED
    try:
        manifest = create(args.to, url, signer_state, hsm_token_dir=args.hsm_token_dir, rpc_url=args.rpc_url)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    size = sum(int(f["size"]) for f in manifest["files"].values())
    print(f"backup complete in {args.to}: {len(manifest['files'])} files, {size} bytes; manifest {MANIFEST}")
    return 0


def cmd_backup_restore(args: argparse.Namespace) -> int:
    """`stablegate backup restore --from DIR --pgdata NEW --signer-state NEW`."""
    try:
        manifest = restore(
            args.source, args.pgdata, args.signer_state, hsm_token_dir=args.hsm_token_dir, pg_user=args.pg_user
        )
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    cursors = manifest["chain"]["watcher_cursors_before_backup"]
    print(
        f"restored the backup of {manifest['completed_at']} into {args.pgdata} and {args.signer_state}. "
        "Start Postgres on that data directory (it replays the backup's WAL, then accepts connections), point the "
        "services at it and at the new signer store, and start them: the watcher rescans the chain from its stored "
        f"cursor ({cursors or 'none recorded'}). Then run `stablegate reconcile` (docs/backup.md)."
    )
    return 0


def add_backup_commands(sub: Any) -> None:
    """`stablegate backup create` and `stablegate backup restore`."""
    backup = sub.add_parser("backup", help="back up and restore Postgres and the signer's store (docs/backup.md)")
    backup_sub = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    create_cmd = backup_sub.add_parser(
        "create", help="an online backup: pg_basebackup with WAL, the signer's store, a manifest with checksums"
    )
    create_cmd.add_argument("--to", type=Path, required=True, help="a new (or empty) directory for the backup")
    create_cmd.add_argument(
        "--database-url", default=None, help="Postgres URL (default: STABLEGATE_LEDGER_DATABASE_URL)"
    )
    create_cmd.add_argument(
        "--signer-state",
        type=Path,
        default=None,
        help="the signer's SQLite store (default: STABLEGATE_SIGNER_STATE_PATH)",
    )
    create_cmd.add_argument(
        "--hsm-token-dir", type=Path, default=None, help="a SoftHSM token directory to copy too (dev and test tokens)"
    )
    create_cmd.add_argument("--rpc-url", default=None, help="a chain RPC URL: record its head in the manifest")
    create_cmd.set_defaults(func=cmd_backup_create)
    restore_cmd = backup_sub.add_parser(
        "restore", help="verify a backup against its manifest, then restore it into new, empty locations"
    )
    restore_cmd.add_argument("--from", dest="source", type=Path, required=True, help="the backup directory")
    restore_cmd.add_argument("--pgdata", type=Path, required=True, help="a new (or empty) Postgres data directory")
    restore_cmd.add_argument("--signer-state", type=Path, required=True, help="where the signer's store goes (new)")
    restore_cmd.add_argument("--hsm-token-dir", type=Path, default=None, help="where the token directory goes (new)")
    restore_cmd.add_argument(
        "--pg-user", default=None, help="the user Postgres runs as, who must own the data (default: postgres as root)"
    )
    restore_cmd.set_defaults(func=cmd_backup_restore)
