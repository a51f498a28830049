"""`stablegate ledger kek status|rotate|rewrap|retire`: the webhook KEK in the ledger's token (ledger/kek_rotation.py).

Reads the ledger's settings (its database and `WEBHOOK_KEK_*`, `WEBHOOK_SECRET_KEY`) and works on its token and
database directly; safe beside running ledgers. Exit status: 0 done, 1 some endpoints could not be re-wrapped or
the retirement was refused, 2 the run could not start (settings, database, token).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the ledger's modules load only when a command runs (`--help` stays fast)
    import asyncpg

    from ledger.config import LedgerSettings
    from ledger.kek_rotation import RewrapReport
    from ledger.secretbox import EnvelopeBox

EXIT_INCOMPLETE = 1
EXIT_FAILED = 2


def _report(report: RewrapReport, as_json: bool) -> int:
    data = report_data(report)
    if as_json:
        print(json.dumps(data))
    else:
        print(
            f"KEK version {report.version}: {report.rewrapped} endpoints re-wrapped, {report.current} already current, "
            f"{len(report.refused)} refused"
        )
    for endpoint_id in report.refused:
        print(f"refused: {endpoint_id} (its sealed values do not open; see docs/webhooks.md)", file=sys.stderr)
    return EXIT_INCOMPLETE if report.refused else 0


def report_data(report: RewrapReport) -> dict[str, Any]:
    """The report as plain data."""
    return dataclasses.asdict(report)


async def _run(args: argparse.Namespace, settings: LedgerSettings) -> int:
    import asyncpg  # noqa: PLC0415

    from ledger.core import LedgerCore  # noqa: PLC0415
    from ledger.kek import KekError  # noqa: PLC0415
    from ledger.kek_rotation import RetireRefused, retire, rewrap, rotate  # noqa: PLC0415
    from ledger.secretbox import EnvelopeBox  # noqa: PLC0415

    box = LedgerCore(settings).secret_box
    if not isinstance(box, EnvelopeBox):
        print("error: STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL is not set: there is no KEK token", file=sys.stderr)
        return EXIT_FAILED
    try:
        conn = await asyncpg.connect(args.database_url or settings.database_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"error: cannot reach the ledger's database: {type(exc).__name__}", file=sys.stderr)
        box.close()
        return EXIT_FAILED
    status = 0
    try:
        if args.kek_command == "status":
            await _status(conn, box, args.json)
        elif args.kek_command in ("rotate", "rewrap"):
            if args.kek_command == "rotate":
                settle = {} if args.settle_seconds is None else {"settle_seconds": args.settle_seconds}
                report = await rotate(conn, box, **settle)
            else:
                report = await rewrap(conn, box)
            status = _report(report, args.json)
        else:
            await retire(conn, box, args.version)
            print(f"KEK version {args.version} destroyed in token {settings.webhook_kek_token_label!r}")
    except RetireRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = EXIT_INCOMPLETE
    except KekError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = EXIT_FAILED
    finally:
        await conn.close()
        box.close()
    return status


async def _status(conn: asyncpg.Connection, box: EnvelopeBox, as_json: bool) -> None:
    from ledger.kek_rotation import references  # noqa: PLC0415

    versions = await asyncio.to_thread(box.kek.versions)
    counts = await references(conn)
    data = {
        "versions": versions,
        "newest": versions[-1] if versions else None,
        "stored_values": {("config-key" if k is None else str(k)): v for k, v in sorted(counts.items(), key=str)},
    }
    print(json.dumps(data) if as_json else "\n".join(f"{k}: {v}" for k, v in data.items()))


def cmd_kek(args: argparse.Namespace, settings: LedgerSettings) -> int:
    """Run one `stablegate ledger kek` action."""
    return asyncio.run(_run(args, settings))


def add_kek_commands(sub: Any, func: Any) -> None:
    """Add `ledger kek ...` to the CLI's subcommands; `func` is the entry that loads settings and calls cmd_kek."""
    ledger = sub.add_parser("ledger", help="ledger maintenance")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    kek = ledger_sub.add_parser("kek", help="the key-encryption key of webhook secrets, in the ledger's own token")
    kek_sub = kek.add_subparsers(dest="kek_command", required=True, metavar="ACTION")
    helps = {
        "status": "the KEK versions in the token and how many stored values each wraps",
        "rotate": "make a new KEK version, wait until every ledger writes with it, re-wrap every data key onto it "
        "(exit 1 when an endpoint's values do not open)",
        "rewrap": "re-wrap every data key onto the newest version (idempotent; resumes a stopped rotation)",
        "retire": "destroy an old KEK version once nothing stored refers to it (exit 1 when something does)",
    }
    for name, text in helps.items():
        action = kek_sub.add_parser(name, help=text)
        if name == "retire":
            action.add_argument("--version", type=int, required=True, help="the KEK version to destroy")
        if name == "rotate":
            action.add_argument(
                "--settle-seconds",
                type=float,
                default=None,
                help="wait this long after making the new version, so every ledger seals with it, before re-wrapping "
                "(default: the ledgers' refresh interval + 1 s)",
            )
        action.add_argument("--json", action="store_true", help="print the result as JSON")
        action.add_argument("--database-url", default=None, help="Postgres URL (default: the ledger's)")
        action.set_defaults(func=func)
