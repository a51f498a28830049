"""The merchant's pages beyond home: invoices, balances, webhooks, API keys, notification preferences.

Invoices: list with filters, create, detail. Webhook endpoints: add, deliveries, redeliver, replay. API keys: list,
create with scopes, revoke.

Every handler first finds the signed-in user and checks their team role against the permission the page or action
needs (dashboard/domain/rbac.py): a refused action answers 403 and changes nothing, whatever the page showed. The
data come from the ledger's gRPC APIs (dashboard/merchant_client.py), never from its database; only notification
preferences are the dashboard's own (schema `dashboard`, migration 0003).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from dashboard import app as core
from dashboard import pages
from dashboard.domain import accounts
from dashboard.domain.rbac import LABELS, Permission, TeamRole, allows
from dashboard.ledger_client import LedgerRefused, LedgerUnavailable
from dashboard.merchant_client import (
    DASHBOARD_KEY_NAME,
    DASHBOARD_KEY_SCOPES,
    INVOICE_STATUSES,
    KEY_SCOPES,
    AddressView,
    DeliveryView,
    EndpointView,
    InvoiceView,
    KeyView,
    PayoutView,
    QuoteView,
    RefundView,
    SettlementApi,
)
from dashboard.store import merchant_pages as mstore
from dashboard.store import users as store

log = logging.getLogger("stablegate.dashboard")
PREFIX = pages.PREFIX
e = pages.e
AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,18})?")
"""An amount as a merchant types it: a plain decimal in token units (no sign, no exponent, no separators)."""
MAX_DESCRIPTION = 500
MAX_URL = 2000
WEBHOOK_EVENTS: tuple[tuple[str, str], ...] = (
    ("*", "Every event"),
    ("invoice.*", "Invoice events"),
    ("payout.*", "Payout events"),
    ("refund.*", "Refund events"),
)
API = web.AppKey("merchant_api", SettlementApi)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(web.HTTPForbidden):
    """A page or action the user's team role does not allow (403, with a page saying so)."""

    def __init__(self, text: str) -> None:
        super().__init__(text=pages.message_page("Not allowed", text, ident="forbidden"), content_type="text/html")


def check_amount(amount: str) -> str | None:
    """None when `amount` is a positive decimal in token units; else why not."""
    if not AMOUNT.fullmatch(amount) or not any(c in "123456789" for c in amount):
        return "Enter an amount above zero in USDT, e.g. 25 or 12.50 (digits and one dot)."
    return None


def check_webhook_url(url: str) -> str | None:  # noqa: PLR0911 - one reason per kind of mistake
    """None when `url` is an absolute http(s) URL with a host; else why not (the ledger checks the rest)."""
    if not url:
        return "Enter the URL that receives the events."
    if len(url) > MAX_URL:
        return f"The URL is too long (at most {MAX_URL} characters)."
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "The URL must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "That is not a valid URL (check the host and port)."
    if parts.scheme not in ("https", "http"):
        return "The URL must start with https:// (events are posted over HTTPS)."
    if not parts.hostname:
        return "The URL must name a host, e.g. https://shop.example/webhooks."
    if parts.username is not None or parts.password is not None:
        return "The URL must not contain a user name or password."
    if port == 0:
        return "That is not a valid URL (check the host and port)."
    return None


def _dashboards_own(key: KeyView) -> bool:
    """True for the dashboard's own keys (its read key, its pages' key): listed, never revocable here."""
    return key.name == DASHBOARD_KEY_NAME or key.name.startswith("dashboard (")


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _nav(current: str, role: str) -> str:
    links = [("home", "Home", Permission.VIEW_INVOICES), ("invoices", "Invoices", Permission.VIEW_INVOICES)]
    links += [
        ("balances", "Balances", Permission.VIEW_BALANCE),
        ("webhooks", "Webhooks", Permission.VIEW_WEBHOOKS),
        ("api-keys", "API keys", Permission.VIEW_API_KEYS),
        ("payouts", "Payouts and refunds", Permission.VIEW_PAYOUTS),
        ("settlement-addresses", "Settlement addresses", Permission.VIEW_PAYOUTS),
        ("notifications", "Notifications", Permission.SET_NOTIFICATIONS),
        ("team", "Team", Permission.MANAGE_TEAM),
    ]
    items = "".join(
        f'<li><a href="{PREFIX}/{path}"'
        + (' aria-current="page"' if path == current else "")
        + f' id="nav-{path}">{e(label)}</a></li>'
        for path, label, needs in links
        if allows(role, needs)
    )
    return f'<nav class="nav" aria-label="Merchant pages"><ul>{items}</ul></nav>'


def _page(title: str, body: str, *, csrf: str, user: store.User, current: str, status: int = 200) -> web.Response:
    html = pages.layout(title, _nav(current, user.team_role) + body, csrf=csrf, who=user.email)
    return core.html(html, status)


def _problem(text: str, ident: str = "problem") -> str:
    return f'<p class="error" id="{ident}" role="alert">{e(text)}</p>' if text else ""


def _row_action(csrf: str, action: str, ident: str, label: str, text: str) -> str:
    """A table row's one-button POST form (with the CSRF field); every value is escaped here."""
    return (
        f'<form method="post" action="{e(action)}" class="inline">{pages.csrf_field(csrf)}'
        f'<button type="submit" id="{e(ident)}" aria-label="{e(label)}">{e(text)}</button></form>'
    )


def _action_table(
    ident: str, caption: str, head: str, rows: Sequence[str], *, actions: bool, csv: str, empty: str
) -> str:
    """A listing whose rows may end in an Action cell, with its CSV link; `empty` when there is no row.

    `head` is the HTML of the other header cells; an Action header follows them when `actions`.
    """
    if not rows:
        return empty
    return (
        f'<div class="table-wrap"><table id="{e(ident)}"><caption>{e(caption)}</caption><thead><tr>{head}'
        + ('<th scope="col">Action</th>' if actions else "")
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{csv}"
    )


def _badge(status: str) -> str:
    done = ("PAID", "SUCCEEDED", "FINAL", "ACTIVE", "CONFIRMED")
    kind = {**dict.fromkeys(done, "ok"), "OPEN": "open", "PROCESSING": "open"}
    css = kind.get(status, "off" if status in ("FAILED", "REVOKED", "DISABLED") else "open")
    return f'<span class="badge {css}">{e(status)}</span>'


# --- pages (pure) ---


def invoice_form(csrf: str, *, amount: str = "", description: str = "", error: str = "", field: str = "") -> str:
    """The create-invoice form (its request id makes a double submit create one invoice)."""
    request_id = secrets.token_urlsafe(16)
    amount_error = error if field == "amount" else ""
    description_error = error if field == "description" else ""
    other = _problem(error, "create-error") if error and field not in ("amount", "description") else ""
    described_a = ' aria-describedby="amount-error" aria-invalid="true"' if amount_error else ""
    described_d = ' aria-describedby="description-error" aria-invalid="true"' if description_error else ""
    return (
        f'<form method="post" action="{PREFIX}/invoices" id="create-invoice-form" novalidate>{pages.csrf_field(csrf)}'
        f'<input type="hidden" name="request_id" value="{e(request_id)}">'
        f'<label for="amount">Amount (USDT)</label>'
        f'<input id="amount" name="amount" type="text" inputmode="decimal" value="{e(amount)}" required '
        f'maxlength="32" autocomplete="off"{described_a}>{_problem(amount_error, "amount-error")}'
        f'<label for="description">Description (shown to the customer)</label>'
        f'<input id="description" name="description" type="text" value="{e(description)}" '
        f'maxlength="{MAX_DESCRIPTION}" autocomplete="off"{described_d}>'
        f"{_problem(description_error, 'description-error')}"
        f'{other}<button type="submit" id="create-invoice">Create invoice</button></form>'
    )


def invoice_list(invoices: Sequence[InvoiceView]) -> str:
    """The invoices table (each id links to its detail page)."""
    if not invoices:
        return '<p id="no-invoices">No invoices match.</p>'
    rows = "".join(
        f'<tr><td class="mono"><a href="{PREFIX}/invoices/{e(i.id)}">{e(i.id)}</a></td><td>{_badge(i.status)}</td>'
        f'<td class="num">{e(i.amount)} {e(i.asset)}</td><td class="opt">{e(i.description)}</td>'
        f'<td class="opt">{e(_when(i.create_time))}</td></tr>'
        for i in invoices
    )
    return (
        '<div class="table-wrap"><table id="invoices"><caption>Invoices, newest first</caption>'
        '<thead><tr><th scope="col">Invoice</th><th scope="col">Status</th><th scope="col">Amount</th>'
        '<th scope="col" class="opt">Description</th><th scope="col" class="opt">Created (UTC)</th></tr></thead>'
        f"<tbody>{rows}</tbody>"
        "</table></div>"
    )


@dataclass(frozen=True)
class InvoiceQuery:
    """The invoice list's filters as the request gives them (the page and its CSV read them alike)."""

    status: str
    start_text: str
    end_text: str
    start: dt.datetime | None
    end: dt.datetime | None
    """Exclusive: the day after `end_text`."""
    error: str


def invoice_query(request: web.Request) -> InvoiceQuery:
    """The filters of `?status=&from=&to=`: an unknown status means any; bad dates are dropped with an error."""
    status = request.query.get("status", "")
    start_text, end_text = request.query.get("from", "")[:10], request.query.get("to", "")[:10]
    error = ""
    start = end = None
    try:
        if start_text:
            start = dt.datetime.strptime(start_text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        if end_text:
            end = dt.datetime.strptime(end_text, "%Y-%m-%d").replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    except ValueError:
        error, start, end = "Dates are written YYYY-MM-DD.", None, None
    if status not in INVOICE_STATUSES:
        status = ""
    if start is not None and end is not None and end <= start:
        error, start, end = "The range ends before it starts.", None, None
    return InvoiceQuery(status, start_text, end_text, start, end, error)


def invoice_filters(status: str, start: str, end: str, error: str = "") -> str:
    """The list's filters: status and a creation date range (a GET form, so the filtered list has a URL)."""
    options = '<option value="">Any status</option>' + "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{s.title()}</option>' for s in INVOICE_STATUSES
    )
    return (
        f'<form method="get" action="{PREFIX}/invoices" class="filters" id="filters">'
        f'<div><label for="status">Status</label><select id="status" name="status">{options}</select></div>'
        f'<div><label for="from">Created from</label>'
        f'<input id="from" name="from" type="date" value="{e(start)}"></div>'
        f'<div><label for="to">Created to (inclusive)</label>'
        f'<input id="to" name="to" type="date" value="{e(end)}"></div>'
        f'<div><button type="submit" id="filter">Filter</button></div></form>{_problem(error, "filter-error")}'
    )


def events_list(invoice: InvoiceView) -> str:
    """The invoice's life so far, oldest first, from the ledger's own timestamps."""
    events: list[tuple[dt.datetime, str]] = []
    if invoice.create_time is not None:
        events.append((invoice.create_time, f"Created for {invoice.amount} {invoice.asset}"))
    for p in invoice.payments:
        if p.detect_time is not None:
            events.append(
                (p.detect_time, f"Payment of {p.amount} {invoice.asset} seen on chain (block {p.block_number})")
            )
        if p.final_time is not None:
            events.append((p.final_time, f"Payment of {p.amount} {invoice.asset} final and credited"))
    for moment, text in ((invoice.paid_time, "Paid"), (invoice.cancel_time, "Canceled")):
        if moment is not None:
            events.append((moment, text))
    if invoice.status == "EXPIRED" and invoice.expire_time is not None:
        events.append((invoice.expire_time, "Expired"))
    # By the second, then in the order above: the same moment's crediting comes before "Paid".
    order = sorted(range(len(events)), key=lambda n: (events[n][0].replace(microsecond=0), n))
    items = "".join(f"<li><time>{e(_when(events[n][0]))}</time> {e(events[n][1])}</li>" for n in order)
    return f'<ol id="events" class="events">{items}</ol>'


def payments_table(invoice: InvoiceView) -> str:
    """The invoice's on-chain payments."""
    if not invoice.payments:
        return '<p id="no-payments">No payment seen yet.</p>'
    rows = "".join(
        f'<tr><td class="mono tx">{e(p.tx_hash)}</td><td class="num">{e(p.amount)} {e(invoice.asset)}</td>'
        f'<td class="opt">{e(str(p.block_number))}</td><td>{_badge(p.status)}</td>'
        f'<td class="opt">{e(_when(p.final_time))}</td></tr>'
        for p in invoice.payments
    )
    return (
        '<div class="table-wrap"><table id="payments"><caption>Payments on chain</caption>'
        '<thead><tr><th scope="col">Transaction</th><th scope="col">Amount</th><th scope="col" class="opt">Block</th>'
        '<th scope="col">Finality</th><th scope="col" class="opt">Final at (UTC)</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def deliveries_table(deliveries: Sequence[tuple[EndpointView, DeliveryView]], *, ident: str, caption: str) -> str:
    """Webhook deliveries with their endpoint, status and attempts."""
    if not deliveries:
        return f'<p id="{ident}-none">No webhook deliveries.</p>'
    rows = "".join(
        f'<tr id="delivery-{e(d.id)}"><td class="mono">{e(d.event_type)}</td><td>{_badge(d.status)}</td>'
        f'<td class="attempts">{d.attempt_count}</td>'
        f"<td>{d.last_response_status or ''}{e(' ' + d.last_error if d.last_error else '')}</td>"
        f'<td class="mono opt">{e(ep.url)}</td><td class="opt">{e(_when(d.last_attempt_time))}</td></tr>'
        for ep, d in deliveries
    )
    return (
        f'<div class="table-wrap"><table id="{ident}"><caption>{e(caption)}</caption>'
        '<thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th>'
        '<th scope="col"><abbr title="Last HTTP response">HTTP</abbr></th><th scope="col" class="opt">Endpoint</th>'
        '<th scope="col" class="opt">Last attempt (UTC)</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def refund_form(csrf: str, invoice_id: str, *, address: str = "", amount: str = "", error: str = "") -> str:
    """Refund (part of) a paid invoice to the customer's address."""
    described = ' aria-describedby="refund-error" aria-invalid="true"' if error else ""
    return (
        '<section aria-labelledby="refund-h"><h2 id="refund-h">Refund</h2>'
        f'<form method="post" action="{PREFIX}/invoices/{e(invoice_id)}/refunds" id="refund-form" novalidate>'
        f'{pages.csrf_field(csrf)}<input type="hidden" name="request_id" value="{e(secrets.token_urlsafe(16))}">'
        '<label for="refund-address">Customer\'s address (0x…)</label>'
        f'<input id="refund-address" name="address" type="text" value="{e(address)}" required maxlength="42" '
        f'autocomplete="off" spellcheck="false"{described}>'
        '<label for="refund-amount">Amount (USDT; empty: all that is refundable)</label>'
        f'<input id="refund-amount" name="amount" type="text" inputmode="decimal" value="{e(amount)}" maxlength="32" '
        'autocomplete="off">'
        '<label for="refund-reason">Reason</label>'
        '<input id="refund-reason" name="reason" type="text" maxlength="500" autocomplete="off">'
        f'{_problem(error, "refund-error")}<button type="submit" id="refund">Refund</button></form></section>'
    )


def invoice_detail(
    invoice: InvoiceView, deliveries: Sequence[tuple[EndpointView, DeliveryView]] | None, refund: str = ""
) -> str:
    """An invoice: amounts, where to pay, payments, events, the webhooks sent about it, and (paid) a refund form."""
    flags = f" · {e(', '.join(invoice.exceptions))}" if invoice.exceptions else ""
    hooks = (
        '<p class="error" id="deliveries-unavailable">Webhook deliveries are not shown to your role or are '
        "unavailable right now.</p>"
        if deliveries is None
        else deliveries_table(deliveries, ident="invoice-deliveries", caption="Webhooks sent about this invoice")
    )
    return (
        f'<p><span class="mono" id="invoice-id">{e(invoice.id)}</span> '
        f'<span id="invoice-status">{_badge(invoice.status)}</span>{flags}</p>'
        '<dl class="facts">'
        f'<dt>Amount</dt><dd id="invoice-amount">{e(invoice.amount)} {e(invoice.asset)}</dd>'
        f'<dt>Paid</dt><dd id="invoice-paid">{e(invoice.amount_paid)} {e(invoice.asset)}</dd>'
        f"<dt>Fee</dt><dd>{e(invoice.fee)} {e(invoice.asset)}</dd>"
        f"<dt>Net</dt><dd>{e(invoice.net_amount)} {e(invoice.asset)}</dd>"
        f'<dt>Description</dt><dd id="invoice-description">{e(invoice.description)}</dd>'
        f'<dt>Deposit address</dt><dd class="mono" id="deposit-address">{e(invoice.deposit_address)}</dd>'
        f"<dt>Expires (UTC)</dt><dd>{e(_when(invoice.expire_time))}</dd></dl>"
        '<section aria-labelledby="payments-h"><h2 id="payments-h">Payments</h2>'
        f"{payments_table(invoice)}</section>"
        f'<section aria-labelledby="events-h"><h2 id="events-h">Events</h2>{events_list(invoice)}</section>'
        f'<section aria-labelledby="hooks-h"><h2 id="hooks-h">Webhooks</h2>{hooks}</section>{refund}'
    )


def endpoints_page(
    csrf: str,
    endpoints: Sequence[EndpointView],
    *,
    may_manage: bool,
    url: str = "",
    error: str = "",
    created: EndpointView | None = None,
) -> str:
    """The webhook endpoints, the form to add one and (right after adding) its secret, shown once."""
    issued = ""
    if created is not None:
        issued = (
            '<div class="issued" id="endpoint-created" role="status">'
            f"<p><strong>Endpoint added.</strong> Its signing secret, shown only once: keep it in your receiver to "
            "verify every delivery (Standard Webhooks).</p>"
            f'<code class="secret" id="webhook-secret">{e(created.secret)}</code></div>'
        )
    if endpoints:
        rows = "".join(
            f'<tr><td class="mono"><a href="{PREFIX}/webhooks/{e(ep.id)}">{e(ep.url)}</a></td>'
            f"<td>{e(', '.join(ep.enabled_events) or '*')}</td>"
            f"<td>{_badge('DISABLED' if ep.disabled else 'ACTIVE')}</td></tr>"
            for ep in endpoints
        )
        listing = (
            '<div class="table-wrap"><table id="endpoints"><caption>Webhook endpoints</caption>'
            '<thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
    else:
        listing = '<p id="no-endpoints">No webhook endpoints yet.</p>'
    form = ""
    if may_manage:
        options = "".join(f'<option value="{v}">{e(label)}</option>' for v, label in WEBHOOK_EVENTS)
        described = ' aria-describedby="url-error" aria-invalid="true"' if error else ""
        form = (
            '<h2 id="add-h">Add an endpoint</h2>'
            f'<form method="post" action="{PREFIX}/webhooks" id="add-endpoint-form" novalidate>{pages.csrf_field(csrf)}'
            f'<input type="hidden" name="request_id" value="{e(secrets.token_urlsafe(16))}">'
            '<label for="url">URL</label>'
            f'<input id="url" name="url" type="url" value="{e(url)}" required maxlength="{MAX_URL}" '
            f'autocomplete="off"{described}>{_problem(error, "url-error")}'
            f'<label for="events">Events</label><select id="events" name="events">{options}</select>'
            '<button type="submit" id="add-endpoint">Add endpoint</button></form>'
        )
    return issued + listing + form


def endpoint_page(
    csrf: str, endpoint: EndpointView, deliveries: Sequence[DeliveryView], *, may_manage: bool, notice: str, error: str
) -> str:
    """One endpoint: its deliveries (each redeliverable) and the replay of failed ones since a date."""
    rows = []
    for d in deliveries:
        action = ""
        if may_manage:
            action = _row_action(
                csrf,
                f"{PREFIX}/webhooks/{endpoint.id}/deliveries/{d.id}/redeliver",
                f"redeliver-{d.id}",
                f"Redeliver {d.event_type} ({d.id})",
                "Redeliver",
            )
        again = ' <span class="hint">(redelivery)</span>' if d.redelivery_of else ""
        rows.append(
            f'<tr id="delivery-{e(d.id)}"><td class="mono">{e(d.event_type)}{again}</td><td>{_badge(d.status)}</td>'
            f'<td class="attempts">{d.attempt_count}</td><td>{d.last_response_status or ""}'
            f"{e(' ' + d.last_error if d.last_error else '')}</td>"
            f'<td class="opt">{e(_when(d.create_time))}</td>' + (f"<td>{action}</td>" if may_manage else "") + "</tr>"
        )
    listing = _action_table(
        "deliveries",
        "Deliveries, newest first",
        '<th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th>'
        '<th scope="col"><abbr title="Last HTTP response">HTTP</abbr></th>'
        '<th scope="col" class="opt">Created (UTC)</th>',
        rows,
        actions=may_manage,
        csv=pages.csv_link(f"{PREFIX}/webhooks/{endpoint.id}/deliveries.csv", "deliveries-csv", "these deliveries"),
        empty='<p id="no-deliveries">No deliveries yet.</p>',
    )
    replay = ""
    if may_manage:
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
        replay = (
            '<h2 id="replay-h">Replay failed deliveries</h2>'
            f'<form method="post" action="{PREFIX}/webhooks/{e(endpoint.id)}/replay" id="replay-form" novalidate>'
            f'{pages.csrf_field(csrf)}<label for="since">Failed since (UTC date, at most 30 days ago)</label>'
            f'<input id="since" name="since" type="date" value="{since}" required>'
            '<button type="submit" id="replay">Replay</button></form>'
        )
    return (
        f'<p class="mono" id="endpoint-url">{e(endpoint.url)}</p>'
        f"{pages._notice(notice, ident='done')}{_problem(error, 'action-error')}{listing}{replay}"
    )


def keys_page(
    csrf: str,
    keys: Sequence[KeyView],
    *,
    may_create: bool,
    may_revoke: bool,
    issued: tuple[str, str] | None = None,
    error: str = "",
    notice: str = "",
) -> str:
    """The merchant's API keys; create with scopes; revoke (not the dashboard's own key)."""
    shown = ""
    if issued is not None:
        shown = (
            '<div class="issued" id="issued" role="status">'
            f"<p><strong>Your new API key</strong> ({e(issued[0])}…). Copy it now: it is shown only once.</p>"
            f'<code class="secret" id="api-key">{e(issued[1])}</code></div>'
        )
    rows = []
    for k in keys:
        action = ""
        if may_revoke and k.status == "ACTIVE" and not _dashboards_own(k):
            action = _row_action(
                csrf, f"{PREFIX}/api-keys/{k.id}/revoke", f"revoke-{k.id}", f"Revoke {k.name}", "Revoke"
            )
        rows.append(
            f'<tr id="key-{e(k.id)}"><td>{e(k.name)}<br><span class="mono">{e(k.prefix)}…</span></td>'
            f"<td>{e(' '.join(k.scopes))}</td><td>{_badge(k.status)}</td>"
            f'<td class="opt">{e(_when(k.last_use_time))}</td>' + (f"<td>{action}</td>" if may_revoke else "") + "</tr>"
        )
    listing = _action_table(
        "keys",
        "API keys, newest first",
        '<th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">Status</th>'
        '<th scope="col" class="opt">Last used (UTC)</th>',
        rows,
        actions=may_revoke,
        csv=pages.csv_link(f"{PREFIX}/api-keys.csv", "keys-csv", "the API keys"),
        empty='<p id="no-keys">No API keys yet.</p>',
    )
    form = ""
    if may_create:
        boxes = "".join(
            f'<div class="check"><input type="checkbox" id="scope-{s.replace(":", "-")}" name="scopes" value="{s}"'
            f"{' checked' if s.startswith('invoices') else ''}>"
            f'<label for="scope-{s.replace(":", "-")}">{e(label)} <span class="mono">{s}</span></label></div>'
            for s, label in KEY_SCOPES
        )
        form = (
            '<h2 id="create-h">Create a key</h2>'
            f'<form method="post" action="{PREFIX}/api-keys/new" id="create-key-form" novalidate>'
            f'{pages.csrf_field(csrf)}<label for="key-name">Key name</label>'
            '<input id="key-name" name="name" type="text" required maxlength="64" autocomplete="off">'
            f"<fieldset><legend>Scopes</legend>{boxes}</fieldset>"
            '<button type="submit" id="create-key">Create API key</button></form>'
        )
    return shown + pages._notice(notice, ident="done") + _problem(error, "key-error") + listing + form


def quote_form(amount: str, quote: QuoteView | None, error: str) -> str:
    """The fee quote: what a payout of an amount would cost (a GET form: it changes nothing)."""
    described = ' aria-describedby="quote-error" aria-invalid="true"' if error else ""
    shown = ""
    if quote is not None:
        covered = "yes" if quote.covered else "no: the available balance is too small"
        shown = (
            '<dl class="facts" id="quote">'
            f"<dt>Amount</dt><dd>{e(quote.amount)} {e(quote.asset)}</dd>"
            f'<dt>Fee</dt><dd id="quote-fee">{e(quote.fee)} {e(quote.asset)}</dd>'
            f'<dt>Total from the balance</dt><dd id="quote-total">{e(quote.total)} {e(quote.asset)}</dd>'
            f"<dt>Available</dt><dd>{e(quote.available)} {e(quote.asset)}</dd>"
            f'<dt>Covered</dt><dd id="quote-covered">{covered}</dd></dl>'
        )
    return (
        f'<form method="get" action="{PREFIX}/payouts" id="quote-form" novalidate>'
        '<label for="quote-amount">Payout amount (USDT)</label>'
        f'<input id="quote-amount" name="amount" type="text" inputmode="decimal" value="{e(amount)}" '
        f'maxlength="32" autocomplete="off"{described}>{_problem(error, "quote-error")}'
        '<button type="submit" id="get-quote">Get the fee quote</button></form>'
        f"{shown}"
    )


def payout_form(csrf: str, addresses: Sequence[AddressView], *, amount: str = "", error: str = "") -> str:
    """The payout form: an amount to one of the ACTIVE settlement addresses (its request id makes it idempotent)."""
    active = [a for a in addresses if a.status == "ACTIVE"]
    if not active:
        return (
            '<p id="no-active-address">No ACTIVE settlement address yet: register one (Settlement addresses), '
            "an operator confirms it, and it cools off before payouts can go to it.</p>"
        )
    options = "".join(
        f'<option value="{e(a.address)}">{e(a.label or a.address)} · {e(a.address)}</option>' for a in active
    )
    described = ' aria-describedby="payout-error" aria-invalid="true"' if error else ""
    return (
        f'<form method="post" action="{PREFIX}/payouts" id="payout-form" novalidate>{pages.csrf_field(csrf)}'
        f'<input type="hidden" name="request_id" value="{e(secrets.token_urlsafe(16))}">'
        f'<label for="destination">To</label><select id="destination" name="destination">{options}</select>'
        '<label for="payout-amount">Amount (USDT)</label>'
        f'<input id="payout-amount" name="amount" type="text" inputmode="decimal" value="{e(amount)}" required '
        f'maxlength="32" autocomplete="off"{described}>{_problem(error, "payout-error")}'
        '<button type="submit" id="pay-out">Pay out</button></form>'
    )


def payouts_page(
    payouts: Sequence[PayoutView],
    refunds: Sequence[RefundView],
    *,
    amount: str,
    quote: QuoteView | None,
    error: str,
    form: str = "",
    notice: str = "",
) -> str:
    """Payouts (with fee and approval state) and refunds, newest first, the fee quote and the payout form."""
    if payouts:
        rows = "".join(
            f'<tr id="payout-{e(p.id)}"><td class="mono">{e(p.id)}<br><span class="hint">{e(p.trigger.lower())}'
            f"</span></td><td>{_badge(p.status)}"
            + (f'<br><span class="hint">approval {e(p.approval_id)}</span>' if p.approval_id else "")
            + (f'<br><span class="hint">{e(p.failure_reason)}</span>' if p.failure_reason else "")
            + f'</td><td class="num">{e(p.amount)}</td><td class="num fee">{e(p.fee)}</td>'
            f'<td class="num">{e(p.total)} {e(p.asset)}</td><td class="mono opt">{e(p.destination_address)}</td>'
            f'<td class="mono opt">{e(p.tx_hash)}</td></tr>'
            for p in payouts
        )
        listing = (
            '<div class="table-wrap"><table id="payouts"><caption>Payouts, newest first</caption>'
            '<thead><tr><th scope="col">Payout</th><th scope="col">Status / approval</th><th scope="col">Amount</th>'
            '<th scope="col">Fee</th><th scope="col">Total</th><th scope="col" class="opt">To</th>'
            f'<th scope="col" class="opt">Transaction</th></tr></thead><tbody>{rows}</tbody></table></div>'
        ) + pages.csv_link(f"{PREFIX}/payouts.csv", "payouts-csv", "the payouts")
    else:
        listing = '<p id="no-payouts">No payouts yet.</p>'
    if refunds:
        rows = "".join(
            f'<tr id="refund-{e(r.id)}"><td class="mono">{e(r.id)}</td>'
            f'<td class="mono"><a href="{PREFIX}/invoices/{e(r.invoice_id)}">{e(r.invoice_id)}</a></td>'
            f'<td>{_badge(r.status)}</td><td class="num">{e(r.amount)} {e(r.asset)}</td>'
            f'<td class="mono opt">{e(r.refund_address)}</td></tr>'
            for r in refunds
        )
        refunded = (
            '<div class="table-wrap"><table id="refunds"><caption>Refunds, newest first</caption>'
            '<thead><tr><th scope="col">Refund</th><th scope="col">Invoice</th><th scope="col">Status</th>'
            '<th scope="col">Amount</th><th scope="col" class="opt">To</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        ) + pages.csv_link(f"{PREFIX}/refunds.csv", "refunds-csv", "the refunds")
    else:
        refunded = '<p id="no-refunds">No refunds yet.</p>'
    create = f'<section aria-labelledby="pay-h"><h2 id="pay-h">New payout</h2>{form}</section>' if form else ""
    return (
        pages._notice(notice, ident="done") + '<section aria-labelledby="quote-h"><h2 id="quote-h">Fee quote</h2>'
        f"{quote_form(amount, quote, error)}</section>{create}"
        f'<section aria-labelledby="payouts-h"><h2 id="payouts-h">Payouts</h2>{listing}</section>'
        f'<section aria-labelledby="refunds-h"><h2 id="refunds-h">Refunds</h2>{refunded}</section>'
    )


def address_form(csrf: str, *, address: str = "", label: str = "", error: str = "") -> str:
    """Register a settlement address (an operator confirms it, then it cools off before payouts may use it)."""
    described = ' aria-describedby="address-error" aria-invalid="true"' if error else ""
    return (
        '<h2 id="add-address-h">Register an address</h2>'
        f'<form method="post" action="{PREFIX}/settlement-addresses" id="address-form" novalidate>'
        f'{pages.csrf_field(csrf)}<input type="hidden" name="request_id" value="{e(secrets.token_urlsafe(16))}">'
        '<label for="address">Address (0x…, BNB Smart Chain)</label>'
        f'<input id="address" name="address" type="text" value="{e(address)}" required maxlength="42" '
        f'autocomplete="off" spellcheck="false"{described}>{_problem(error, "address-error")}'
        '<label for="label">Label</label>'
        f'<input id="label" name="label" type="text" value="{e(label)}" maxlength="100" autocomplete="off">'
        '<button type="submit" id="add-address">Register</button></form>'
    )


def addresses_page(addresses: Sequence[AddressView], form: str = "") -> str:
    """The settlement addresses and where each stands (confirmation, cooling-off, active, revoked)."""
    if not addresses:
        return (
            '<p id="no-addresses">No settlement addresses yet. Once registered, an operator confirms an address, '
            "then it cools off before payouts may go to it.</p>" + form
        )
    rows = "".join(
        f'<tr id="address-{e(a.id)}"><td class="mono">{e(a.address)}</td><td>{e(a.label)}</td>'
        f'<td>{_badge(a.status)}</td><td class="opt">{e(_when(a.cooling_off_end_time))}</td></tr>'
        for a in addresses
    )
    return (
        '<div class="table-wrap"><table id="addresses"><caption>Settlement addresses</caption>'
        '<thead><tr><th scope="col">Address</th><th scope="col">Label</th><th scope="col">Status</th>'
        f'<th scope="col" class="opt">Cooling off until (UTC)</th></tr></thead><tbody>{rows}</tbody></table></div>'
        + pages.csv_link(f"{PREFIX}/settlement-addresses.csv", "addresses-csv", "the settlement addresses")
        + form
    )


def notifications_page(csrf: str, prefs: mstore.Preferences, notice: str = "") -> str:
    """The user's email notification preferences."""
    boxes = "".join(
        f'<div class="check"><input type="checkbox" id="pref-{name}" name="{name}" value="on"'
        f'{" checked" if getattr(prefs, name) else ""}><label for="pref-{name}">{e(label)}</label></div>'
        for name, label in mstore.PREFERENCE_FIELDS
    )
    return (
        f"{pages._notice(notice, ident='saved')}"
        f'<form method="post" action="{PREFIX}/notifications" id="prefs-form">{pages.csrf_field(csrf)}'
        f"<fieldset><legend>Email me when</legend>{boxes}</fieldset>"
        '<button type="submit" id="save">Save</button></form>'
    )


# --- the handlers ---


async def merchant_user(request: web.Request, needs: Permission, what: str) -> store.User:
    """The signed-in merchant user if their role grants `needs`: else a redirect to the login page, or `Refused`.

    The user is read again on each request: a removed member has no row (their session ends at once) and a new
    role applies at once (docs/dashboard.md, "Team").
    """
    # A removed member, or a session a password reset revoked, is sent to the login page (dashboard.app.session_user).
    user = await core.session_user(request)
    if not allows(user.team_role, needs):
        log.info("refused", extra={"user_id": user.id, "team_role": user.team_role, "permission": needs.value})
        label = LABELS.get(TeamRole(user.team_role), user.team_role)
        raise Refused(f"Your role ({label}) cannot {what}; ask an owner of this merchant.")
    return user


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, like dashboard/app.py
    """Add the merchant pages' routes to the dashboard app (before its catch-all)."""
    from dashboard import merchant_exports  # noqa: PLC0415 - it imports this module

    parts = app[core.PARTS]
    settings = app[core.SETTINGS]

    def api() -> SettlementApi:
        if API not in app:
            assert parts.ledger is not None
            app[API] = SettlementApi(parts.ledger.channel)
        return app[API]

    user_for = merchant_user

    async def merchant_key(merchant_id: str) -> str:
        """The dashboard's key for this merchant's pages, made (and sealed) the first time it is needed."""
        assert parts.pool is not None
        assert parts.sealer is not None
        assert parts.ledger is not None
        aad = f"{merchant_id}|pages"
        async with parts.pool.acquire() as conn:
            sealed = await mstore.ops_key_sealed(conn, merchant_id)
        if sealed is not None:
            return parts.sealer.open(sealed, aad)
        issued = await parts.ledger.issue_key(merchant_id, DASHBOARD_KEY_NAME, DASHBOARD_KEY_SCOPES)
        async with parts.pool.acquire() as conn:
            if await mstore.keep_ops_key(conn, merchant_id, parts.sealer.seal(issued.plaintext, aad)):
                return issued.plaintext
            sealed = await mstore.ops_key_sealed(conn, merchant_id)
        # Another request stored one first: this one is revoked, theirs used.
        await api().revoke_key(settings.admin_key(), merchant_id, issued.id, "dashboard: duplicate page key")
        assert sealed is not None
        return parts.sealer.open(sealed, aad)

    def unavailable(user: store.User, current: str, csrf: str) -> web.Response:
        text = "The gateway is unavailable right now; try again."
        return _page("Unavailable", f'<p class="error" id="unavailable">{text}</p>', csrf=csrf, user=user,
                     current=current, status=503)  # fmt: skip

    # --- invoices ---

    async def render_invoices(
        request: web.Request, user: store.User, *, form: str = "", status_code: int = 200
    ) -> web.Response:
        csrf = core.current_session(request).csrf
        q = invoice_query(request)
        status, start, end, error = q.status, q.start, q.end, q.error
        start_text, end_text = q.start_text, q.end_text
        assert user.merchant_id is not None
        try:
            listed = await api().invoices(await merchant_key(user.merchant_id), status=status, start=start, end=end)
        except (LedgerUnavailable, LedgerRefused):
            log.warning("invoices unavailable", exc_info=True)
            return unavailable(user, "invoices", csrf)
        create = ""
        if allows(user.team_role, Permission.CREATE_INVOICE):
            create = '<h2 id="new-h">New invoice</h2>' + (form or invoice_form(csrf))
        body = create + '<h2 id="list-h">Invoices</h2>' + invoice_filters(status, start_text, end_text, error)
        listing = invoice_list(listed)
        if listed:
            listing += pages.csv_link(merchant_exports.invoices_csv_href(request), "invoices-csv", "these invoices")
        return _page("Invoices", body + listing, csrf=csrf, user=user, current="invoices",
                     status=400 if error else status_code)  # fmt: skip

    async def invoices(request: web.Request) -> web.StreamResponse:
        return await render_invoices(request, await user_for(request, Permission.VIEW_INVOICES, "see invoices"))

    async def create_invoice(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.CREATE_INVOICE, "create invoices")
        form = await request.post()
        csrf = core.current_session(request).csrf
        amount = core._form_text(form, "amount", 64).strip()
        description = core._form_text(form, "description", 2 * MAX_DESCRIPTION).strip()
        request_id = core._form_text(form, "request_id", 64)
        if (bad := check_amount(amount)) is not None:
            page = invoice_form(csrf, amount=amount, description=description, error=bad, field="amount")
            return await render_invoices(request, user, form=page, status_code=400)
        if len(description) > MAX_DESCRIPTION or any(ord(c) < 32 for c in description):
            bad = f"Keep the description to {MAX_DESCRIPTION} characters on one line."
            page = invoice_form(csrf, amount=amount, description=description, error=bad, field="description")
            return await render_invoices(request, user, form=page, status_code=400)
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,32}", request_id):
            request_id = secrets.token_urlsafe(16)
        assert user.merchant_id is not None
        try:
            made = await api().create_invoice(
                await merchant_key(user.merchant_id), f"dash-{request_id}", amount, description
            )
        except LedgerRefused as exc:
            page = invoice_form(csrf, amount=amount, description=description, error=str(exc), field="other")
            return await render_invoices(request, user, form=page, status_code=400)
        except LedgerUnavailable:
            return unavailable(user, "invoices", csrf)
        log.info("invoice created", extra={"user_id": user.id, "invoice_id": made.id})
        raise core.see_other(f"/invoices/{made.id}")

    async def invoice(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.VIEW_INVOICES, "see invoices")
        return await render_invoice(request, user)

    async def render_invoice(
        request: web.Request, user: store.User, *, refund: tuple[str, str, str] = ("", "", ""), status: int = 200
    ) -> web.Response:
        csrf = core.current_session(request).csrf
        invoice_id = request.match_info["id"]
        assert user.merchant_id is not None
        try:
            key = await merchant_key(user.merchant_id)
            found = await api().invoice(key, invoice_id)
        except LedgerRefused:
            page = pages.message_page("Not found", "There is no such invoice.", ident="not-found")
            return core.html(page, 404)
        except LedgerUnavailable:
            return unavailable(user, "invoices", csrf)
        deliveries: list[tuple[EndpointView, DeliveryView]] | None = None
        if allows(user.team_role, Permission.VIEW_WEBHOOKS):
            try:
                deliveries = []
                for endpoint in await api().endpoints(key):
                    for d in await api().deliveries(key, endpoint.id, invoice_id=found.id):
                        deliveries.append((endpoint, d))
            except (LedgerUnavailable, LedgerRefused):
                log.warning("deliveries unavailable", exc_info=True)
                deliveries = None
        form = ""
        if found.status == "PAID" and allows(user.team_role, Permission.CREATE_PAYOUT):
            form = refund_form(csrf, found.id, address=refund[0], amount=refund[1], error=refund[2])
        body = invoice_detail(found, deliveries, form)
        return _page("Invoice", body, csrf=csrf, user=user, current="invoices", status=status)

    async def create_refund(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.CREATE_PAYOUT, "refund invoices")
        form = await request.post()
        address = core._form_text(form, "address", 64).strip()
        amount = core._form_text(form, "amount", 64).strip()
        reason = core._form_text(form, "reason", 1000).strip()
        request_id = core._form_text(form, "request_id", 64)
        bad = ""
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
            bad = "Enter the customer's address as 0x followed by 40 hexadecimal characters."
        elif amount and (why := check_amount(amount)) is not None:
            bad = why
        elif len(reason) > MAX_DESCRIPTION or any(ord(c) < 32 for c in reason):
            bad = f"Keep the reason to {MAX_DESCRIPTION} characters on one line."
        if bad:
            return await render_invoice(request, user, refund=(address, amount, bad), status=400)
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,32}", request_id):
            request_id = secrets.token_urlsafe(16)
        assert user.merchant_id is not None
        try:
            key = await merchant_key(user.merchant_id)
            made = await api().create_refund(
                key, f"dash-{request_id}", request.match_info["id"], amount=amount, address=address, reason=reason
            )
        except LedgerRefused as exc:
            return await render_invoice(request, user, refund=(address, amount, str(exc)), status=400)
        except LedgerUnavailable:
            return unavailable(user, "invoices", core.current_session(request).csrf)
        log.info("refund created", extra={"user_id": user.id, "refund_id": made.id})
        raise core.see_other(f"/payouts?refunded={made.id}")

    # --- balances ---

    async def balances(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.VIEW_BALANCE, "see balances")
        csrf = core.current_session(request).csrf
        assert user.merchant_id is not None
        try:
            found = await api().balance(await merchant_key(user.merchant_id))
        except (LedgerUnavailable, LedgerRefused):
            return unavailable(user, "balances", csrf)
        rows = "".join(
            f'<tr id="balance-{e(b.asset)}"><th scope="row">{e(b.asset)}</th><td class="num available">'
            f'{e(b.available)}</td><td class="num pending">{e(b.pending)}</td>'
            f'<td class="num reserved">{e(b.reserved)}</td></tr>'
            for b in found
        )
        body = (
            '<div class="table-wrap"><table id="balances"><caption>Balances in token units</caption>'
            '<thead><tr><th scope="col">Asset</th><th scope="col">Available</th><th scope="col">Pending '
            '(not final)</th><th scope="col">Reserved (payouts)</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
            if found
            else '<p id="no-balance">Nothing credited yet.</p>'
        )
        return _page("Balances", body, csrf=csrf, user=user, current="balances")

    # --- webhooks ---

    async def render_endpoints(
        request: web.Request, user: store.User, *, url: str = "", error: str = "",
        created: EndpointView | None = None, status: int = 200,
    ) -> web.Response:  # fmt: skip
        csrf = core.current_session(request).csrf
        assert user.merchant_id is not None
        try:
            listed = await api().endpoints(await merchant_key(user.merchant_id))
        except (LedgerUnavailable, LedgerRefused):
            return unavailable(user, "webhooks", csrf)
        may_manage = allows(user.team_role, Permission.MANAGE_WEBHOOKS)
        body = endpoints_page(csrf, listed, may_manage=may_manage, url=url, error=error, created=created)
        return _page("Webhooks", body, csrf=csrf, user=user, current="webhooks", status=status)

    async def webhooks(request: web.Request) -> web.StreamResponse:
        return await render_endpoints(request, await user_for(request, Permission.VIEW_WEBHOOKS, "see webhooks"))

    async def add_endpoint(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.MANAGE_WEBHOOKS, "manage webhook endpoints")
        form = await request.post()
        url = core._form_text(form, "url", MAX_URL + 1).strip()
        events = core._form_text(form, "events", 32)
        request_id = core._form_text(form, "request_id", 64)
        if (bad := check_webhook_url(url)) is not None:
            return await render_endpoints(request, user, url=url, error=bad, status=400)
        if events not in {v for v, _ in WEBHOOK_EVENTS}:
            return await render_endpoints(
                request, user, url=url, error="Choose which events from the list.", status=400
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,32}", request_id):
            request_id = secrets.token_urlsafe(16)
        assert user.merchant_id is not None
        try:
            made = await api().create_endpoint(
                await merchant_key(user.merchant_id), f"dash-{request_id}", url, "", (events,)
            )
        except LedgerRefused as exc:
            return await render_endpoints(request, user, url=url, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "webhooks", core.current_session(request).csrf)
        log.info("webhook endpoint created", extra={"user_id": user.id, "endpoint_id": made.id})
        return await render_endpoints(request, user, created=made)

    async def render_endpoint(
        request: web.Request, user: store.User, *, notice: str = "", error: str = "", status: int = 200
    ) -> web.Response:
        csrf = core.current_session(request).csrf
        endpoint_id = request.match_info["id"]
        assert user.merchant_id is not None
        try:
            key = await merchant_key(user.merchant_id)
            endpoint = await api().endpoint(key, endpoint_id)
            listed = await api().deliveries(key, endpoint.id)
        except LedgerRefused:
            return core.html(pages.message_page("Not found", "There is no such endpoint.", ident="not-found"), 404)
        except LedgerUnavailable:
            return unavailable(user, "webhooks", csrf)
        may_manage = allows(user.team_role, Permission.MANAGE_WEBHOOKS)
        body = endpoint_page(csrf, endpoint, listed, may_manage=may_manage, notice=notice, error=error)
        return _page("Webhook endpoint", body, csrf=csrf, user=user, current="webhooks", status=status)

    async def endpoint(request: web.Request) -> web.StreamResponse:
        return await render_endpoint(request, await user_for(request, Permission.VIEW_WEBHOOKS, "see webhooks"))

    async def redeliver(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.MANAGE_WEBHOOKS, "redeliver webhooks")
        assert user.merchant_id is not None
        try:
            made = await api().redeliver(
                await merchant_key(user.merchant_id),
                request.match_info["id"],
                request.match_info["delivery"],
                secrets.token_urlsafe(16),
            )
        except LedgerRefused as exc:
            return await render_endpoint(request, user, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "webhooks", core.current_session(request).csrf)
        return await render_endpoint(request, user, notice=f"Sent again as delivery {made.id}.")

    async def replay(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.MANAGE_WEBHOOKS, "replay webhooks")
        since_text = core._form_text(await request.post(), "since", 16).strip()
        try:
            since = dt.datetime.strptime(since_text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        except ValueError:
            return await render_endpoint(request, user, error="Give the date as YYYY-MM-DD.", status=400)
        since = min(since, dt.datetime.now(dt.UTC))
        assert user.merchant_id is not None
        try:
            count = await api().replay_failed(await merchant_key(user.merchant_id), request.match_info["id"], since)
        except LedgerRefused as exc:
            return await render_endpoint(request, user, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "webhooks", core.current_session(request).csrf)
        return await render_endpoint(request, user, notice=f"{count} failed deliveries sent again.")

    # --- API keys ---

    async def render_keys(
        request: web.Request, user: store.User, *, issued: tuple[str, str] | None = None, error: str = "",
        notice: str = "", status: int = 200,
    ) -> web.Response:  # fmt: skip
        csrf = core.current_session(request).csrf
        assert user.merchant_id is not None
        try:
            listed = await api().keys(settings.admin_key(), user.merchant_id)
        except (LedgerUnavailable, LedgerRefused):
            return unavailable(user, "api-keys", csrf)
        body = keys_page(
            csrf,
            listed,
            may_create=allows(user.team_role, Permission.CREATE_API_KEY),
            may_revoke=allows(user.team_role, Permission.REVOKE_API_KEY),
            issued=issued,
            error=error,
            notice=notice,
        )
        return _page("API keys", body, csrf=csrf, user=user, current="api-keys", status=status)

    async def keys(request: web.Request) -> web.StreamResponse:
        return await render_keys(request, await user_for(request, Permission.VIEW_API_KEYS, "see API keys"))

    async def create_key(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.CREATE_API_KEY, "create API keys")
        form = await request.post()
        name = core._form_text(form, "name", 256).strip()
        scopes = tuple(v for v in form.getall("scopes", []) if isinstance(v, str))
        if (bad := accounts.check_key_name(name)) is not None:
            return await render_keys(request, user, error=bad.message, status=400)
        allowed = {s for s, _ in KEY_SCOPES}
        if not scopes or any(s not in allowed for s in scopes) or len(set(scopes)) != len(scopes):
            return await render_keys(request, user, error="Choose at least one scope from the list.", status=400)
        assert user.merchant_id is not None
        try:
            issued = await parts.ledger.issue_key(user.merchant_id, name, scopes) if parts.ledger else None
        except LedgerRefused as exc:
            return await render_keys(request, user, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "api-keys", core.current_session(request).csrf)
        assert issued is not None
        log.info("api key created", extra={"user_id": user.id, "key_id": issued.id})
        return await render_keys(request, user, issued=(issued.prefix, issued.plaintext))

    async def revoke_key(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.REVOKE_API_KEY, "revoke API keys")
        key_id = request.match_info["id"]
        assert user.merchant_id is not None
        try:
            listed = await api().keys(settings.admin_key(), user.merchant_id)
            target = next((k for k in listed if k.id == key_id), None)
            if target is None:
                return await render_keys(request, user, error="There is no such key.", status=404)
            if _dashboards_own(target):
                message = "That key is the dashboard's own; it cannot be revoked here."
                return await render_keys(request, user, error=message, status=400)
            await api().revoke_key(
                settings.admin_key(), user.merchant_id, key_id, f"revoked in the dashboard by {user.id}"
            )
        except LedgerRefused as exc:
            return await render_keys(request, user, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "api-keys", core.current_session(request).csrf)
        log.info("api key revoked", extra={"user_id": user.id, "key_id": key_id})
        return await render_keys(request, user, notice=f"Key {target.name} revoked.")

    # --- payouts, refunds, settlement addresses ---

    async def payouts(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.VIEW_PAYOUTS, "see payouts")
        return await render_payouts(request, user)

    async def render_payouts(
        request: web.Request, user: store.User, *, payout_amount: str = "", payout_error: str = "", status: int = 200
    ) -> web.Response:
        csrf = core.current_session(request).csrf
        amount = request.query.get("amount", "")[:32].strip()
        assert user.merchant_id is not None
        quote: QuoteView | None = None
        error = ""
        try:
            key = await merchant_key(user.merchant_id)
            if amount:
                if (bad := check_amount(amount)) is not None:
                    error = bad
                else:
                    try:
                        quote = await api().quote(key, amount)
                    except LedgerRefused as exc:
                        error = str(exc)
            listed, refunded = await api().payouts(key), await api().refunds(key)
            form = ""
            if allows(user.team_role, Permission.CREATE_PAYOUT):
                form = payout_form(csrf, await api().addresses(key), amount=payout_amount, error=payout_error)
        except (LedgerUnavailable, LedgerRefused):
            return unavailable(user, "payouts", csrf)
        made = request.query.get("created", "")[:80]
        notice = f"Payout {made} created." if re.fullmatch(r"po_[A-Za-z0-9]{1,64}", made) else ""
        refund_id = request.query.get("refunded", "")[:80]
        if re.fullmatch(r"[a-z]{2,4}_[A-Za-z0-9]{1,64}", refund_id):
            notice = f"Refund {refund_id} created."
        body = payouts_page(listed, refunded, amount=amount, quote=quote, error=error, form=form, notice=notice)
        return _page("Payouts and refunds", body, csrf=csrf, user=user, current="payouts",
                     status=400 if error else status)  # fmt: skip

    async def create_payout(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.CREATE_PAYOUT, "create payouts")
        form = await request.post()
        amount = core._form_text(form, "amount", 64).strip()
        destination = core._form_text(form, "destination", 64).strip()
        request_id = core._form_text(form, "request_id", 64)
        if (bad := check_amount(amount)) is not None:
            return await render_payouts(request, user, payout_amount=amount, payout_error=bad, status=400)
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", destination):
            bad = "Choose one of your ACTIVE settlement addresses."
            return await render_payouts(request, user, payout_amount=amount, payout_error=bad, status=400)
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,32}", request_id):
            request_id = secrets.token_urlsafe(16)
        assert user.merchant_id is not None
        try:
            made = await api().create_payout(
                await merchant_key(user.merchant_id), f"dash-{request_id}", destination, amount
            )
        except LedgerRefused as exc:
            return await render_payouts(request, user, payout_amount=amount, payout_error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "payouts", core.current_session(request).csrf)
        log.info("payout created", extra={"user_id": user.id, "payout_id": made.id})
        raise core.see_other(f"/payouts?created={made.id}")

    async def settlement_addresses(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.VIEW_PAYOUTS, "see settlement addresses")
        return await render_addresses(request, user)

    async def render_addresses(
        request: web.Request, user: store.User, *, address: str = "", label: str = "", error: str = "",
        status: int = 200,
    ) -> web.Response:  # fmt: skip
        csrf = core.current_session(request).csrf
        assert user.merchant_id is not None
        try:
            listed = await api().addresses(await merchant_key(user.merchant_id))
        except (LedgerUnavailable, LedgerRefused):
            return unavailable(user, "settlement-addresses", csrf)
        form = ""
        if allows(user.team_role, Permission.CREATE_PAYOUT):
            form = address_form(csrf, address=address, label=label, error=error)
        return _page("Settlement addresses", addresses_page(listed, form), csrf=csrf, user=user,
                     current="settlement-addresses", status=status)  # fmt: skip

    async def add_address(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.CREATE_PAYOUT, "register settlement addresses")
        form = await request.post()
        address = core._form_text(form, "address", 64).strip()
        label = core._form_text(form, "label", 200).strip()
        request_id = core._form_text(form, "request_id", 64)
        bad = ""
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
            bad = "Enter the address as 0x followed by 40 hexadecimal characters."
        elif len(label) > 100 or any(ord(c) < 32 for c in label):
            bad = "Keep the label to 100 characters on one line."
        if bad:
            return await render_addresses(request, user, address=address, label=label, error=bad, status=400)
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,32}", request_id):
            request_id = secrets.token_urlsafe(16)
        assert user.merchant_id is not None
        try:
            key = await merchant_key(user.merchant_id)
            made = await api().add_address(key, f"dash-{request_id}", address, label)
        except LedgerRefused as exc:
            return await render_addresses(request, user, address=address, label=label, error=str(exc), status=400)
        except LedgerUnavailable:
            return unavailable(user, "settlement-addresses", core.current_session(request).csrf)
        log.info("settlement address registered", extra={"user_id": user.id, "address_id": made.id})
        raise core.see_other("/settlement-addresses")

    # --- notification preferences ---

    async def notifications(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.SET_NOTIFICATIONS, "set notifications")
        assert parts.pool is not None
        async with parts.pool.acquire() as conn:
            prefs = await mstore.preferences(conn, user.id)
        csrf = core.current_session(request).csrf
        notice = "Saved." if request.query.get("saved") == "1" else ""
        return _page("Notifications", notifications_page(csrf, prefs, notice), csrf=csrf, user=user,
                     current="notifications")  # fmt: skip

    async def save_notifications(request: web.Request) -> web.StreamResponse:
        user = await user_for(request, Permission.SET_NOTIFICATIONS, "set notifications")
        form = await request.post()
        chosen = {name: core._form_text(form, name, 8) == "on" for name, _ in mstore.PREFERENCE_FIELDS}
        assert parts.pool is not None
        async with parts.pool.acquire() as conn:
            await mstore.save_preferences(conn, user.id, mstore.Preferences(**chosen))
        raise core.see_other("/notifications?saved=1")

    ident = r"{id:[a-z]{2,4}_[A-Za-z0-9]{1,64}}"
    merchant_exports.install(app, user_for=user_for, api=api, merchant_key=merchant_key, admin_key=settings.admin_key)
    app.router.add_get(f"{PREFIX}/invoices", invoices)
    app.router.add_post(f"{PREFIX}/invoices", create_invoice)
    app.router.add_get(f"{PREFIX}/invoices/{ident}", invoice)
    app.router.add_post(f"{PREFIX}/invoices/{ident}/refunds", create_refund)
    app.router.add_get(f"{PREFIX}/balances", balances)
    app.router.add_get(f"{PREFIX}/webhooks", webhooks)
    app.router.add_post(f"{PREFIX}/webhooks", add_endpoint)
    app.router.add_get(f"{PREFIX}/webhooks/{ident}", endpoint)
    app.router.add_post(
        f"{PREFIX}/webhooks/{ident}/deliveries/{{delivery:wd_[A-Za-z0-9]{{1,64}}}}/redeliver", redeliver
    )
    app.router.add_post(f"{PREFIX}/webhooks/{ident}/replay", replay)
    app.router.add_get(f"{PREFIX}/api-keys", keys)
    app.router.add_post(f"{PREFIX}/api-keys/new", create_key)
    app.router.add_post(f"{PREFIX}/api-keys/{ident}/revoke", revoke_key)
    app.router.add_get(f"{PREFIX}/payouts", payouts)
    app.router.add_post(f"{PREFIX}/payouts", create_payout)
    app.router.add_get(f"{PREFIX}/settlement-addresses", settlement_addresses)
    app.router.add_post(f"{PREFIX}/settlement-addresses", add_address)
    app.router.add_get(f"{PREFIX}/notifications", notifications)
    app.router.add_post(f"{PREFIX}/notifications", save_notifications)
