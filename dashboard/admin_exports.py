"""The admin pages' tables as CSV (dashboard/exports.py), for an admin session of either role, like the pages.

- `/dashboard/admin/merchants.csv`: the merchants page's list.
- `/dashboard/admin/approvals.csv?status=`: the approvals queue (the page's status filter), amounts in token units
  as exact decimal strings.
- `/dashboard/admin/audit/signer.csv` and `…/audit/ledger.csv`: the signer's and the ledger's admin audit records
  the audit viewer reads and verifies (in chain order, with each record's hash and the previous one's; the
  ledger's `acting_user` column names the person who acted through the dashboard, `kind:id <email>`, when the
  ledger recorded one).
- `/dashboard/admin/reconciliation.csv` and `…/reconciliation/<id>.csv`: the runs, and one run's lines.

Without an admin session each redirects to the admin sign-in; a merchant user's session is not an admin session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from aiohttp import web
from google.protobuf import json_format

from dashboard import approval_pages
from dashboard.acting import acting_user_cell
from dashboard.admin import role_of
from dashboard.admin_ops import OPS, REPORT_ID
from dashboard.app import PARTS, PREFIX, SETTINGS, current_session, see_other
from dashboard.approvals import ADMIN_AUDIT_PAGES, ASSET, SIGNER_AUDIT_PAGES
from dashboard.domain.approvals import token_units
from dashboard.exports import NotFound, Row, Unavailable, add_csv, when
from dashboard.oidc_settings import AdminRole
from dashboard.ops_client import OpsClient
from dashboard.signer_client import SignerAuditRecord

MERCHANTS = ("merchant_id", "name", "contact_email", "status", "suspend_reason", "create_time_utc")
APPROVALS = (
    "approval_id", "request_id", "intent_kind", "amount", "asset", "status", "approvals", "quorum", "initiator",
    "rule", "create_time_utc", "expire_time_utc", "tx_hash",
)  # fmt: skip
SIGNER_AUDIT = (
    "sequence", "record_time_utc", "actor", "action", "request_id", "key_id", "reason", "tx_hash", "prev_hash", "hash",
)  # fmt: skip
LEDGER_AUDIT = (
    "sequence", "event_time_utc", "actor", "action", "subject", "request_id", "acting_user", "prev_hash", "hash",
)  # fmt: skip
RUNS = ("report_id", "block_number", "status", "mismatch_count", "error", "create_time_utc")
LINES = (
    "account", "address", "asset", "chain_balance", "ledger_balance", "difference", "kind", "status", "note",
)  # fmt: skip


async def admin(request: web.Request) -> AdminRole:
    """The admin pages' guard: an admin session of either role, else the admin sign-in."""
    role = role_of(current_session(request))
    if role is None:
        raise see_other("/admin/login")
    return role


def _ops(request: web.Request) -> OpsClient:
    ops = request.app[OPS]
    if "settlement" not in ops.channels:
        raise Unavailable
    return ops


def _signer_row(r: SignerAuditRecord) -> Row:
    return (r.sequence, when(r.record_time), r.actor, r.action, r.request_id, r.key_id, r.reason, r.tx_hash,
            r.prev_hash, r.hash)  # fmt: skip


def install(app: web.Application) -> None:
    """Add the admin tables' CSV routes (before the catch-all)."""
    parts = app[PARTS]
    decimals = app[SETTINGS].token_decimals

    async def merchants(request: web.Request, _: AdminRole) -> Sequence[Row]:
        if parts.ledger is None:
            raise Unavailable
        return [
            (m.id, m.name, m.contact_email, m.status, m.suspend_reason, when(m.create_time))
            for m in await parts.ledger.list_merchants()
        ]

    async def approvals(request: web.Request, _: AdminRole) -> Sequence[Row]:
        if parts.signer is None:
            raise Unavailable
        status = request.query.get("status", "")
        if status not in {value for value, _ in approval_pages.FILTERS}:
            status = ""
        held, _following = await parts.signer.list_approvals(status, "")
        return [
            (h.id, h.request_id, h.intent_kind, token_units(h.amount_base_units, decimals), ASSET, h.status,
             len(h.approvers), h.quorum, h.initiator, h.rule, when(h.create_time), when(h.expire_time), h.tx_hash)
            for h in held
        ]  # fmt: skip

    async def signer_audit(request: web.Request, _: AdminRole) -> Sequence[Row]:
        if parts.signer is None:
            raise Unavailable
        records: list[SignerAuditRecord] = []
        for _page in range(SIGNER_AUDIT_PAGES):
            page, more = await parts.signer.audit_records(records[-1].sequence if records else 0)
            records.extend(page)
            if not more or not page:
                break
        return [_signer_row(r) for r in records]

    async def ledger_audit(request: web.Request, _: AdminRole) -> Sequence[Row]:
        if parts.ledger is None:
            raise Unavailable
        events, token = [], ""
        for _page in range(ADMIN_AUDIT_PAGES):
            page, token = await parts.ledger.list_audit_events(token)
            events.extend(page)
            if not token:
                break
        return [
            (ev.sequence, when(ev.event_time.ToDatetime(tzinfo=dt.UTC)), ev.actor, ev.action, ev.subject,
             ev.request_id, acting_user_cell(json_format.MessageToDict(ev.details)), ev.prev_hash, ev.hash)
            for ev in reversed(events)
        ]  # fmt: skip

    async def runs(request: web.Request, _: AdminRole) -> Sequence[Row]:
        return [
            (r.id, r.block_number, r.status, r.mismatch_count, r.error, when(r.create_time))
            for r in await _ops(request).reconciliations()
        ]

    async def lines(request: web.Request, _: AdminRole) -> Sequence[Row]:
        report = await _ops(request).reconciliation(request.match_info["report_id"])
        if report is None:
            raise NotFound
        return [
            (x.account, x.address, x.asset, x.chain_balance, x.ledger_balance, x.difference, x.kind, x.status, x.note)
            for x in sorted(report.lines, key=lambda line: line.status != "MISMATCHED")  # as the page orders them
        ]

    def named(stem: str) -> Callable[[web.Request], str]:
        return lambda _: f"{stem}.csv"

    base = f"{PREFIX}/admin"
    add_csv(app, f"{base}/merchants.csv", guard=admin, header=MERCHANTS, load=merchants, filename=named("merchants"))
    add_csv(app, f"{base}/approvals.csv", guard=admin, header=APPROVALS, load=approvals, filename=named("approvals"))
    add_csv(app, f"{base}/audit/signer.csv", guard=admin, header=SIGNER_AUDIT, load=signer_audit,
            filename=named("signer_audit"))  # fmt: skip
    add_csv(app, f"{base}/audit/ledger.csv", guard=admin, header=LEDGER_AUDIT, load=ledger_audit,
            filename=named("ledger_audit"))  # fmt: skip
    add_csv(app, f"{base}/reconciliation.csv", guard=admin, header=RUNS, load=runs, filename=named("reconciliation"))
    add_csv(app, f"{base}/reconciliation/{{report_id:{REPORT_ID}}}.csv", guard=admin, header=LINES, load=lines,
            filename=lambda r: f"reconciliation_{r.match_info['report_id']}.csv")  # fmt: skip
