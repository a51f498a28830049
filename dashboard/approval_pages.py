"""HTML of the admin approvals queue and the audit viewer.

Pure functions of what each page shows, every value escaped: dashboard/pages.py's layout, its stylesheet and one
same-origin script (the optional browser-wallet button); nothing inline.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.acting import shown_actor
from dashboard.domain.approvals import REFUSALS, Intent, token_units
from dashboard.domain.audit_chain import Verdict
from dashboard.pages import PREFIX, ROLE_LABELS, STATIC, admin_nav, csrf_field, csv_link, e, layout
from dashboard.signer_client import HeldRequest, Relayed, SignerAuditRecord, SignerRefused

WALLET_SCRIPT = f"{STATIC}wallet-sign.js"
"""Optional: asks a browser wallet (window.ethereum) to sign the typed data; the form works without it."""
STATUS_BADGES = {"PENDING": "open", "APPROVED": "ok", "EXPIRED": "off"}
FILTERS = (("", "All"), ("PENDING", "Pending"), ("APPROVED", "Approved"), ("EXPIRED", "Expired"))


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{e(value.astimezone(dt.UTC).isoformat())}">{e(text)}</time>'


def _signed_in(who: str, role: str) -> str:
    return f'<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>'


def approvals_page(
    *,
    csrf: str,
    who: str,
    role: str,
    held: Sequence[HeldRequest] | None,
    status: str,
    next_token: str,
    decimals: int,
    asset: str,
    unavailable: str = "",
) -> str:
    """The queue: held requests with their status and quorum progress, filtered by status, paged."""
    filters = "".join(
        f'<li><a href="{PREFIX}/admin/approvals'
        + (f"?status={value}" if value else "")
        + '"'
        + (' aria-current="true"' if value == status else "")
        + f">{label}</a></li>"
        for value, label in FILTERS
    )
    if held is None:
        listing = f'<p class="error" id="approvals-unavailable">{e(unavailable)}</p>'
    elif not held:
        listing = '<p id="no-approvals">No held signing requests.</p>'
    else:
        rows = "".join(
            f'<tr id="approval-{e(h.id)}"><td><a href="{PREFIX}/admin/approvals/{e(h.id)}">{e(h.id)}</a>'
            f'<br><span class="hint">{e(h.intent_kind)} · {e(h.rule)}</span></td>'
            f'<td class="num">{e(token_units(h.amount_base_units, decimals))} {e(asset)}</td>'
            f'<td><span class="badge {STATUS_BADGES.get(h.status, "")} status">{e(h.status)}</span></td>'
            f'<td class="num progress">{len(h.approvers)} of {h.quorum}</td>'
            f"<td>{_time(h.expire_time)}</td></tr>"
            for h in held
        )
        listing = (
            '<div class="table-wrap" tabindex="0" role="region" aria-label="Held signing requests">'
            '<table id="approvals"><caption>Held signing requests, newest first</caption>'
            '<thead><tr><th scope="col">Request</th><th scope="col">Amount</th><th scope="col">Status</th>'
            '<th scope="col">Approvals</th><th scope="col">Lapses</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        ) + csv_link(f"{PREFIX}/admin/approvals.csv" + (f"?status={status}" if status else ""), "approvals-csv",
                     "these requests")  # fmt: skip
    more = ""
    if next_token:
        query = f"?page_token={e(next_token)}" + (f"&amp;status={e(status)}" if status else "")
        more = f'<p><a id="next-page" href="{PREFIX}/admin/approvals{query}">Older requests</a></p>'
    body = (
        f"{admin_nav('approvals', role)}{_signed_in(who, role)}"
        '<p class="hint">The signer holds these requests until enough approvers sign them with their own wallets; '
        "the dashboard only relays the signatures.</p>"
        f'<nav aria-label="Status filter"><ul class="filters">{filters}</ul></nav>{listing}{more}'
        f'<p><a id="signing-link" href="{PREFIX}/admin/signing">Signing freeze: the state, and lifting it</a></p>'
    )
    return layout("Approvals", body, csrf=csrf, who=who)


@dataclass(frozen=True)
class Outcome:
    """What the signer answered to a relayed approval, or why nothing was relayed."""

    relayed: Relayed | None = None
    refused: SignerRefused | None = None
    form_error: str = ""
    form_field: str = ""


def _outcome(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.relayed is not None:
        held = outcome.relayed.held
        progress = (
            f"The quorum is reached: the signer signed the request (transaction {e(held.tx_hash)})."
            if held.status == "APPROVED"
            else f"{len(held.approvers)} of {held.quorum} approvals so far."
        )
        return (
            '<div class="notice" id="relay-result" role="status"><p>The signer accepted the approval by '
            f'<span class="mono" id="recovered">{e(outcome.relayed.approver_address)}</span>.</p>'
            f'<p id="quorum-progress">{progress}</p></div>'
        )
    if outcome.refused is not None:
        refused = outcome.refused
        words = REFUSALS.get(refused.reason, "")
        return (
            '<div class="refusal" id="relay-refused" role="alert"><p><strong>The signer refused the approval:</strong> '
            f'<span class="mono" id="refusal-reason">{e(refused.reason)}</span></p>'
            f'<p id="refusal-message">Signer: “{e(refused.message)}”</p>'
            + (f'<p id="refusal-explained">{e(words)}</p>' if words else "")
            + "</div>"
        )
    return f'<p class="error" id="form-error" role="alert">Nothing was sent to the signer: {e(outcome.form_error)}</p>'


def _intent(held: HeldRequest, intent: Intent, decimals: int, asset: str) -> str:
    destination = (
        "".join(
            f'<li><span class="mono">{e(address)}</span> — {e(token_units(amount, decimals))} {e(asset)}</li>'
            for address, amount in intent.destinations
        )
        if intent.destinations
        else f"<li>{e(intent.fixed_destination or 'not named by the request')}</li>"
    )
    approvers = (
        "".join(f'<li class="mono">{e(a)}</li>' for a in held.approvers) if held.approvers else "<li>nobody yet</li>"
    )
    # What an approver decides on comes first (on a phone the facts are one column, so order is position).
    rows: tuple[tuple[str, str], ...] = (
        ("Kind", f'<span id="intent-kind">{e(held.intent_kind)}</span>'),
        (
            "Amount",
            f'<span id="amount">{e(token_units(held.amount_base_units, decimals))} {e(asset)}</span> '
            f'<span class="hint">({e(str(held.amount_base_units))} base units)</span>',
        ),
        ("Quorum", f'<span id="quorum">{len(held.approvers)} of {held.quorum}</span>'),
        ("Approved by", f'<ul class="plain" id="approved-by">{approvers}</ul>'),
        ("Status", f'<span class="badge {STATUS_BADGES.get(held.status, "")}" id="status">{e(held.status)}</span>'),
        ("Destination", f'<ul class="plain" id="destination">{destination}</ul>'),
        ("Contract", f'<span class="mono">{e(intent.contract)}</span>'),
        ("Token", f'<span class="mono">{e(intent.token)}</span>'),
        ("Signing key", f'<span class="mono" id="key-id">{e(held.key_id)}</span> (chain {held.chain_id})'),
        ("Policy rule", f'<span id="rule">{e(held.rule)}</span> (approver group {e(held.approver_group)})'),
        ("Initiator", f'<span class="mono">{e(held.initiator)}</span> (never counts)'),
        ("Raised", _time(held.create_time)),
        ("Lapses", f'<span id="expires">{_time(held.expire_time)}</span>'),
        ("Request digest", f'<span class="mono">{e(held.request_digest)}</span>'),
    )
    if held.tx_hash:
        rows = (*rows, ("Transaction", f'<span class="mono" id="tx-hash">{e(held.tx_hash)}</span>'))
    return '<dl class="facts" id="intent">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def approval_page(
    *,
    csrf: str,
    who: str,
    role: str,
    held: HeldRequest,
    intent: Intent,
    typed_data: str,
    deadline: int,
    ttl: int,
    ttl_choices: Sequence[int],
    may_approve: bool,
    decimals: int,
    asset: str,
    outcome: Outcome | None = None,
    signature: str = "",
    comment: str = "",
) -> str:
    """One held request: the intent, the exact typed data to sign (deadline filled in) and the signature form."""
    action = f"{PREFIX}/admin/approvals/{e(held.id)}"
    ttl_options = "".join(
        f'<option value="{t}"' + (" selected" if t == ttl else "") + f">{_duration(t)}</option>" for t in ttl_choices
    )
    validity = (
        f'<form method="get" action="{action}" class="inline" id="ttl-form">'
        '<label for="ttl">Approval valid for</label>'
        f'<select id="ttl" name="ttl">{ttl_options}</select>'
        '<button type="submit">Fill in a new deadline</button></form>'
    )
    signing = ""
    if held.status != "PENDING":
        signing = f'<p id="not-pending">This request is {e(held.status.lower())}: there is nothing left to sign.</p>'
    elif not may_approve:
        signing = (
            '<p class="hint" id="read-only">Your role is read-only: you can review held requests, not relay '
            "approvals.</p>"
        )
    else:
        problem = outcome.form_error if outcome is not None else ""
        field = outcome.form_field if outcome is not None else ""
        sig_error = ' aria-invalid="true" aria-describedby="form-error"' if problem and field == "signature" else ""
        signing = (
            f'<form method="post" action="{action}/approve" id="approve-form">{csrf_field(csrf)}'
            f'<input type="hidden" name="deadline" id="deadline" value="{deadline}">'
            '<p class="hint">Sign the typed data above with your own wallet (eth_signTypedData_v4; a hardware '
            "wallet or a browser wallet), then paste the 65-byte signature here. The signer recovers your address "
            "from it and counts it only if it is in the approver group.</p>"
            '<button type="button" id="wallet-sign" hidden>Sign with browser wallet</button>'
            '<p class="hint" id="wallet-status" role="status" hidden></p>'
            '<label for="signature">Signature (0x + 130 hex digits)</label>'
            f'<textarea id="signature" name="signature" rows="3" required spellcheck="false" autocomplete="off"'
            f"{sig_error}>{e(signature)}</textarea>"
            '<label for="comment">Comment (optional, kept in the signer\'s audit log)</label>'
            f'<input id="comment" name="comment" type="text" maxlength="500" value="{e(comment)}">'
            '<button type="submit" id="approve">Relay my approval</button></form>'
            f'<script src="{WALLET_SCRIPT}" defer></script>'
        )
    body = (
        f"{admin_nav('approvals', role)}{_signed_in(who, role)}{_outcome(outcome)}"
        f"<h2>What it does</h2>{_intent(held, intent, decimals, asset)}"
        "<h2>Typed data to sign</h2>"
        f'<p class="hint">Deadline <span id="deadline-shown">{deadline}</span> (Unix time, '
        f"{_time(dt.datetime.fromtimestamp(deadline, dt.UTC))}): the signer refuses the approval after it.</p>"
        f"{validity}"
        f'<pre class="typed-data" id="typed-data" tabindex="0" aria-label="EIP-712 typed data">{e(typed_data)}</pre>'
        f"<h2>Approve</h2>{signing}"
        f'<p><a href="{PREFIX}/admin/approvals">Back to the queue</a></p>'
    )
    return layout(f"Approval {held.id}", body, csrf=csrf, who=who)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    minutes = seconds // 60
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


@dataclass(frozen=True)
class AdminEventRow:
    """One event of the ledger's admin audit as the viewer lists it."""

    sequence: int
    event_time: dt.datetime
    actor: str
    action: str
    subject: str


def _verdict(verdict: Verdict | None, ident: str, what: str) -> str:
    if verdict is None:
        text = f"The {e(what)} could not be read from its first record, so it is not verified."
        return f'<p class="error" id="{ident}" role="status">{text}</p>'
    if verdict.ok:
        return f'<p class="notice verified" id="{ident}" role="status">Chain verified: {verdict.records} records.</p>'
    return (
        f'<p class="refusal" id="{ident}" role="alert">'
        f"<strong>Chain broken at record {verdict.broken_sequence}:</strong> "
        f"{e(verdict.problem)} ({verdict.records} records before it verified).</p>"
    )


def _caller(r: SignerAuditRecord) -> str:
    """The caller's role, and the operator the dashboard relayed for if the record names one (signer/api/acting.py)."""
    try:
        body = json.loads(r.body_json or "{}")
    except ValueError:
        return r.actor
    named = {
        "actingUserKind": body.get("acting_user_kind", ""),
        "actingUserId": body.get("acting_user_id", ""),
        "actingUserEmail": body.get("acting_user_email", ""),
    }
    return shown_actor(r.actor, named)


def audit_page(
    *,
    csrf: str,
    who: str,
    role: str,
    signer_verdict: Verdict | None,
    signer_records: Sequence[SignerAuditRecord],
    after: int | None,
    more: bool,
    admin_verdict: Verdict | None,
    admin_events: Sequence[AdminEventRow],
    signer_note: str = "",
) -> str:
    """The signer's audit records (paged) and the ledger's admin audit, each with the dashboard's own chain check."""
    rows = "".join(
        f'<tr id="signer-record-{r.sequence}"><td class="num">{r.sequence}</td><td>{_time(r.record_time)}</td>'
        f'<td>{e(_caller(r))}</td><td class="action">{e(r.action)}</td><td>{e(_decision(r))}</td>'
        f'<td class="mono">{e(_subject(r))}</td></tr>'
        for r in signer_records
    )
    signer_table = (
        '<div class="table-wrap" tabindex="0" role="region" aria-label="Signer audit records">'
        '<table id="signer-audit"><caption>Signer decisions, in order</caption>'
        '<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Caller</th>'
        '<th scope="col">Action</th><th scope="col">Decision</th><th scope="col">Details</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        + csv_link(f"{PREFIX}/admin/audit/signer.csv", "signer-audit-csv", "every signer record read")
        if signer_records
        else '<p id="no-signer-records">No records on this page.</p>'
    )
    paging = []
    if signer_records and signer_records[0].sequence > 1:
        earlier = max(0, signer_records[0].sequence - 1 - len(signer_records))
        paging.append(f'<a id="earlier-page" href="{PREFIX}/admin/audit?after={earlier}">Earlier records</a>')
    if more and signer_records:
        last = signer_records[-1].sequence
        paging.append(f'<a id="later-page" href="{PREFIX}/admin/audit?after={last}">Later records</a>')
    if after is not None:
        paging.append(f'<a id="newest-page" href="{PREFIX}/admin/audit">Newest records</a>')
    admin_rows = "".join(
        f'<tr id="admin-event-{a.sequence}"><td class="num">{a.sequence}</td><td>{_time(a.event_time)}</td>'
        f'<td>{e(a.actor)}</td><td>{e(a.action)}</td><td class="mono">{e(a.subject)}</td></tr>'
        for a in admin_events
    )
    admin_table = (
        '<div class="table-wrap" tabindex="0" role="region" aria-label="Admin audit events">'
        '<table id="admin-audit"><caption>Admin actions, newest first</caption>'
        '<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Actor</th>'
        '<th scope="col">Action</th><th scope="col">Subject</th></tr></thead>'
        f"<tbody>{admin_rows}</tbody></table></div>"
        + csv_link(f"{PREFIX}/admin/audit/ledger.csv", "ledger-audit-csv", "every admin action read")
        if admin_events
        else '<p id="no-admin-events">No admin actions recorded.</p>'
    )
    body = (
        f"{admin_nav('audit', role)}{_signed_in(who, role)}"
        "<p class=\"hint\">Each record's hash covers its content and the previous record's hash; the dashboard "
        "recomputes every hash itself, from the first record on.</p>"
        '<h2 id="checks">Chain checks</h2><ul class="plain verdicts">'
        + f"<li><strong>Signer audit log</strong>{_verdict(signer_verdict, 'signer-verdict', 'signer log')}</li>"
        + "<li><strong>Admin audit log (ledger)</strong>"
        + f"{_verdict(admin_verdict, 'admin-verdict', 'admin audit log')}</li></ul>"
        + (f'<p class="error" id="signer-note">{e(signer_note)}</p>' if signer_note else "")
        + "<h2>Signer audit log</h2>"
        + signer_table
        + (f'<p class="paging">{" · ".join(paging)}</p>' if paging else "")
        + "<h2>Admin audit log (ledger)</h2>"
        + admin_table
    )
    return layout("Audit log", body, csrf=csrf, who=who)


def _decision(record: SignerAuditRecord) -> str:
    try:
        body = json.loads(record.body_json)
    except ValueError:
        return ""
    decision = str(body.get("decision", "")) if isinstance(body, dict) else ""
    reason = record.reason
    return f"{decision} {reason}".strip() if decision else reason


def _subject(record: SignerAuditRecord) -> str:
    try:
        body = json.loads(record.body_json)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    parts = []
    if approver := body.get("approver"):
        parts.append(f"approver {approver}")
    if approval := body.get("approval_id"):
        parts.append(f"approval {approval}")
    if record.key_id:
        parts.append(f"key {record.key_id}")
    if record.tx_hash:
        parts.append(f"tx {record.tx_hash}")
    if not parts and record.request_id:
        parts.append(f"request {record.request_id}")
    return " · ".join(parts)
