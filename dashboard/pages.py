"""The dashboard's HTML: pure functions of what each page shows (no I/O), every value escaped.

No inline script or style anywhere: the only asset is `/dashboard/static/dashboard.css` (same origin), so the
Content-Security-Policy forbids everything else. The pages work without any script at all; forms post to the
server, which answers with the next page (post/redirect/get where a reload must not repeat the action).
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence

import segno

from dashboard.ledger_client import InvoiceRow, IssuedKey, MerchantRow
from dashboard.store.users import Invitation

PREFIX = "/dashboard"
STATIC = f"{PREFIX}/static/"
ASSET_VERSION = "1"
e = html.escape


def layout(title: str, body: str, *, csrf: str = "", who: str = "") -> str:
    """A whole page: head, a header (with a logout button when someone is signed in) and the main content."""
    account = ""
    if who:
        account = (
            f'<form class="logout" method="post" action="{PREFIX}/logout">{csrf_field(csrf)}'
            f'<span class="who" id="who">{e(who)}</span> <button type="submit" id="logout">Sign out</button></form>'
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{e(title)} · stablegate</title>
<link rel="stylesheet" href="{STATIC}dashboard.css?v={ASSET_VERSION}">
<link rel="icon" href="{STATIC}favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="top"><a class="brand" href="{PREFIX}/">stablegate</a>{account}</header>
<main class="card" id="main">
<h1>{e(title)}</h1>
{body}
</main>
</body>
</html>
"""


def csrf_field(token: str) -> str:
    """The hidden synchronizer token every form carries."""
    return f'<input type="hidden" name="csrf_token" value="{e(token)}">'


def _field(
    name: str,
    label: str,
    *,
    kind: str = "text",
    value: str = "",
    error: str = "",
    autocomplete: str = "",
    extra: str = "",
) -> str:
    described = f' aria-describedby="{name}-error" aria-invalid="true"' if error else ""
    auto = f' autocomplete="{autocomplete}"' if autocomplete else ""
    problem = f'<p class="error" id="{name}-error" role="alert">{e(error)}</p>' if error else ""
    return (
        f'<label for="{name}">{e(label)}</label>'
        f'<input id="{name}" name="{name}" type="{kind}" value="{e(value)}" required{auto}{described}{extra}>'
        f"{problem}"
    )


def _notice(text: str, *, kind: str = "notice", ident: str = "notice") -> str:
    return f'<p class="{kind}" id="{ident}" role="status">{e(text)}</p>' if text else ""


def signup_page(csrf: str, email: str = "", errors: Mapping[str, str] | None = None, problem: str = "") -> str:
    """The sign-up form: email and password."""
    errors = errors or {}
    body = (
        f"{_notice(problem, kind='error', ident='problem')}"
        f'<form method="post" action="{PREFIX}/signup" novalidate>{csrf_field(csrf)}'
        + _field("email", "Email", kind="email", value=email, error=errors.get("email", ""), autocomplete="email")
        + _field(
            "password",
            "Password (at least 12 characters)",
            kind="password",
            error=errors.get("password", ""),
            autocomplete="new-password",
        )
        + '<button type="submit" id="submit">Create account</button></form>'
        f'<p class="alt">Already have an account? <a href="{PREFIX}/login">Sign in</a></p>'
    )
    return layout("Create your merchant account", body)


def check_email_page(email: str) -> str:
    """After sign-up: where the link went (the same page whether or not the address was new)."""
    body = (
        f'<p id="sent">We sent a verification link to <strong>{e(email)}</strong>. Open it to continue.</p>'
        '<p class="hint">The link works once, for 24 hours.</p>'
    )
    return layout("Check your email", body)


def business_page(csrf: str, token: str, email: str, *, name: str = "", error: str = "", problem: str = "") -> str:
    """After the verification link: the business details that create the merchant."""
    body = (
        f'<p>Email <strong id="verified-email">{e(email)}</strong> confirmed. Tell us about your business.</p>'
        f"{_notice(problem, kind='error', ident='problem')}"
        f'<form method="post" action="{PREFIX}/verify/{e(token)}" novalidate>{csrf_field(csrf)}'
        + _field("name", "Business name", value=name, error=error, autocomplete="organization")
        + '<button type="submit" id="submit">Create merchant</button></form>'
    )
    return layout("Business details", body)


def link_invalid_page() -> str:
    """A verification link that is wrong, used or expired (one page for all: nothing is revealed)."""
    body = (
        '<p id="invalid">This link is invalid or has expired. Sign up again to get a new one.</p>'
        f'<p><a href="{PREFIX}/signup">Sign up</a></p>'
    )
    return layout("Link not valid", body)


def login_page(csrf: str, email: str = "", error: str = "", notice: str = "") -> str:
    """Email and password."""
    body = (
        f"{_notice(notice)}"
        f"{_notice(error, kind='error', ident='problem')}"
        f'<form method="post" action="{PREFIX}/login" novalidate>{csrf_field(csrf)}'
        + _field("email", "Email", kind="email", value=email, autocomplete="username")
        + _field("password", "Password", kind="password", autocomplete="current-password")
        + '<button type="submit" id="submit">Sign in</button></form>'
        f'<p class="alt"><a href="{PREFIX}/password/forgot" id="forgot">Forgot your password?</a></p>'
        f'<p class="alt">New here? <a href="{PREFIX}/signup">Create an account</a></p>'
    )
    return layout("Sign in", body)


def qr_svg(uri: str) -> str:
    """A QR code of the otpauth URI as an inline <svg> element."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=4,
        dark="#111",
        light="#fff",
        svgclass="qr",
        title="Authenticator QR code",
    )
    return out.getvalue().decode()


def enrol_page(csrf: str, secret: str, uri: str, error: str = "") -> str:
    """TOTP enrolment: the QR code and the secret for manual entry, then the first code to confirm."""
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    body = (
        "<p>Scan this code with your authenticator app, then enter the 6-digit code it shows.</p>"
        f'<div class="qr-box" id="qr">{qr_svg(uri)}</div>'
        f'<p class="hint">Or enter this key by hand: <code id="totp-secret">{e(grouped)}</code></p>'
        f'<form method="post" action="{PREFIX}/totp/enrol" novalidate>{csrf_field(csrf)}'
        + _field(
            "code",
            "6-digit code",
            error=error,
            autocomplete="one-time-code",
            extra=' inputmode="numeric" pattern="[0-9]{6}" maxlength="6"',
        )
        + '<button type="submit" id="submit">Turn on two-step login</button></form>'
    )
    return layout("Set up two-step login", body, csrf=csrf)


def code_page(csrf: str, error: str = "") -> str:
    """The second factor on later logins."""
    body = (
        f'<form method="post" action="{PREFIX}/totp" novalidate>{csrf_field(csrf)}'
        + _field(
            "code",
            "6-digit code from your authenticator app",
            error=error,
            autocomplete="one-time-code",
            extra=' inputmode="numeric" pattern="[0-9]{6}" maxlength="6"',
        )
        + '<button type="submit" id="submit">Continue</button></form>'
        f'<p class="alt"><a href="{PREFIX}/totp/recovery" id="use-recovery">Lost your authenticator? '
        "Use a recovery code</a></p>"
    )
    return layout("Two-step login", body)


def _status_class(status: str) -> str:
    return {"PAID": "ok", "OPEN": "open", "PROCESSING": "open"}.get(status, "off")


def invoices_table(invoices: Sequence[InvoiceRow]) -> str:
    """The merchant's newest invoices (read-only), or a line saying there are none yet."""
    if not invoices:
        return '<p id="no-invoices">No invoices yet. Create one with an API key (see the API docs).</p>'
    rows = "".join(
        f'<tr><td class="mono">{e(i.id)}</td>'
        f'<td><span class="badge {_status_class(i.status)}">{e(i.status)}</span></td>'
        f'<td class="num">{e(i.amount)} {e(i.asset)}</td>'
        f"<td>{e(i.create_time.strftime('%Y-%m-%d %H:%M') if i.create_time else '')}</td></tr>"
        for i in invoices
    )
    return (
        '<div class="table-wrap"><table id="invoices"><caption>Newest invoices</caption>'
        '<thead><tr><th scope="col">Invoice</th><th scope="col">Status</th><th scope="col">Amount</th>'
        f'<th scope="col">Created (UTC)</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


INVITABLE_ROLES: tuple[tuple[str, str], ...] = (
    ("developer", "Developer (invoices, API keys)"),
    ("finance", "Finance (invoices)"),
    ("read_only", "Read-only (invoices)"),
)


def csv_link(href: str, ident: str, what: str = "this table") -> str:
    """The download link a table page shows under its table (routes: dashboard/exports.py)."""
    return f'<p class="export"><a id="{e(ident)}" href="{e(href)}" download>Download {e(what)} as CSV</a></p>'


def team_section(
    csrf: str, members: Sequence[tuple[str, str]], labels: Mapping[str, str], *, error: str = "", notice: str = ""
) -> str:
    """The team's members and the invitation form (owners only)."""
    rows = "".join(f"<li>{e(email)} · {e(labels.get(role, role))}</li>" for email, role in members)
    options = "".join(f'<option value="{value}">{e(label)}</option>' for value, label in INVITABLE_ROLES)
    problem = f'<p class="error" id="invite-error" role="alert">{e(error)}</p>' if error else ""
    return (
        f'<section id="team-section" aria-labelledby="team-h"><h2 id="team-h">Team</h2>'
        f'<ul id="members">{rows}</ul>'
        f'<p><a href="{PREFIX}/team" id="manage-team">Change roles, remove members, revoke invitations</a></p>'
        f"{_notice(notice, ident='invited')}"
        f'<form method="post" action="{PREFIX}/team/invitations" id="invite-form" novalidate>{csrf_field(csrf)}'
        '<label for="invite-email">Invite by email</label>'
        '<input id="invite-email" name="email" type="email" required autocomplete="off">'
        '<label for="invite-role">Role</label>'
        f'<select id="invite-role" name="team_role">{options}</select>'
        f'{problem}<button type="submit" id="invite">Send invitation</button></form></section>'
    )


def invitation_page(csrf: str, token: str, invitation: Invitation, role_label: str, error: str = "") -> str:
    """An invitation link: the invited user chooses a password."""
    body = (
        f'<p id="invited-to">Join <strong>{e(invitation.merchant_name)}</strong> as {e(role_label)}, signing in '
        f"as <strong>{e(invitation.email)}</strong>.</p>"
        f'<form method="post" action="{PREFIX}/invite/{e(token)}" novalidate>{csrf_field(csrf)}'
        + _field(
            "password",
            "Choose a password (at least 12 characters)",
            kind="password",
            error=error,
            autocomplete="new-password",
        )
        + '<button type="submit" id="submit">Join the team</button></form>'
    )
    return layout("Accept the invitation", body)


def home_page(
    *,
    csrf: str,
    email: str,
    role_label: str,
    merchant_name: str,
    merchant_id: str,
    invoices: Sequence[InvoiceRow] | None,
    can_create_key: bool,
    issued: IssuedKey | None = None,
    key_error: str = "",
    team: str = "",
) -> str:
    """The merchant's home: who they are, their invoices, and the API key action their role allows."""
    if invoices is None:
        listing = '<p class="error" id="invoices-unavailable">Invoices are unavailable right now; try again.</p>'
    else:
        listing = invoices_table(invoices)
    if issued is not None:
        keys = (
            '<div class="issued" id="issued" role="status">'
            f"<p><strong>Your new API key</strong> ({e(issued.prefix)}…). Copy it now: it is shown only once.</p>"
            f'<code class="secret" id="api-key">{e(issued.plaintext)}</code></div>'
        )
    elif can_create_key:
        problem = f'<p class="error" id="name-error" role="alert">{e(key_error)}</p>' if key_error else ""
        keys = (
            f'<form method="post" action="{PREFIX}/api-keys" id="create-key-form" novalidate>{csrf_field(csrf)}'
            '<label for="key-name">Key name</label>'
            '<input id="key-name" name="name" type="text" value="My first key" required maxlength="64">'
            f'{problem}<button type="submit" id="create-key">Create API key</button></form>'
        )
    else:
        keys = f'<p id="no-key-permission">Your role ({e(role_label)}) cannot create API keys; ask an owner.</p>'
    body = (
        f'<p class="merchant"><strong id="merchant-name">{e(merchant_name)}</strong> '
        f'<span class="mono" id="merchant-id">{e(merchant_id)}</span></p>'
        f'<p class="hint">Signed in as {e(email)} · {e(role_label)} · '
        f'<a href="{PREFIX}/security" id="security-link">Two-step login and recovery codes</a></p>'
        f'<p id="more-pages"><a id="to-invoices" href="{PREFIX}/invoices">Invoices, balances, webhooks, API keys '
        "and notifications</a></p>"
        '<section id="invoices-section" aria-labelledby="invoices-h"><h2 id="invoices-h">Invoices</h2>'
        f"{listing}</section>"
        f'<section id="keys-section" aria-labelledby="keys-h"><h2 id="keys-h">API keys</h2>{keys}</section>'
        f"{team}"
        f'<p><a id="reports-link" href="{PREFIX}/reports">Reports and analytics</a></p>'
    )
    return layout("Home", body, csrf=csrf, who=email)


def message_page(title: str, text: str, *, ident: str = "message") -> str:
    """A page with one sentence (refusals, errors, placeholders)."""
    return layout(title, f'<p id="{ident}">{e(text)}</p><p><a href="{PREFIX}/">Back to the dashboard</a></p>')


ADMIN_NOT_CONFIGURED = message_page(
    "Admin login",
    "Admin login: not configured. Operators sign in with OpenID Connect once a provider is set up: set "
    "STABLEGATE_DASHBOARD_OIDC__ISSUER, STABLEGATE_DASHBOARD_OIDC__CLIENT_ID, "
    "STABLEGATE_DASHBOARD_OIDC__CLIENT_SECRET_FILE and STABLEGATE_DASHBOARD_OIDC__REDIRECT_URI (this dashboard's "
    "public URL followed by /dashboard/admin/callback) and restart the dashboard (docs/dashboard.md, Admin sign-in).",
    ident="admin-not-configured",
)


ROLE_LABELS = {"admin": "Admin", "admin-readonly": "Read-only admin", "approver": "Approver"}


def admin_signed_in_page(who: str, role: str) -> str:
    """After the provider's callback: a link onward.

    A plain link, so the next request is same-site and carries the session cookie (SameSite=Strict) even when
    the provider is on another site.
    """
    body = (
        f'<p id="signed-in">Signed in as <strong>{e(who)}</strong> ({e(ROLE_LABELS.get(role, role))}).</p>'
        f'<p><a id="continue" href="{PREFIX}/admin/merchants">Continue to the merchants</a></p>'
    )
    return layout("Admin sign-in", body)


def admin_refused_page(title: str, text: str, *, ident: str, status_reason: str = "") -> str:
    """A refused or failed admin sign-in, with a way to try again."""
    reason = f' <span class="mono" id="reason">{e(status_reason)}</span>' if status_reason else ""
    body = (
        f'<p id="{ident}">{e(text)}{reason}</p><p><a id="try-again" href="{PREFIX}/admin/login">Sign in again</a></p>'
    )
    return layout(title, body)


def merchants_table(csrf: str, merchants: Sequence[MerchantRow], *, may_change: bool) -> str:
    """The ledger's merchants with their status; suspend/reactivate forms only for a role that may change."""
    if not merchants:
        return '<p id="no-merchants">No merchants yet.</p>'
    rows = []
    for m in merchants:
        action = ""
        if may_change:
            if m.status == "ACTIVE":
                action = (
                    f'<form method="post" action="{PREFIX}/admin/merchants/{e(m.id)}/suspend" class="inline" '
                    f'id="suspend-{e(m.id)}">{csrf_field(csrf)}'
                    f'<label for="reason-{e(m.id)}">Reason</label>'
                    f'<input id="reason-{e(m.id)}" name="reason" type="text" required maxlength="500">'
                    f'<button type="submit">Suspend</button></form>'
                )
            else:
                action = (
                    f'<form method="post" action="{PREFIX}/admin/merchants/{e(m.id)}/reactivate" class="inline" '
                    f'id="reactivate-{e(m.id)}">{csrf_field(csrf)}'
                    f'<button type="submit">Reactivate</button></form>'
                )
        badge = "ok" if m.status == "ACTIVE" else "off"
        why = f" ({e(m.suspend_reason)})" if m.suspend_reason and m.status != "ACTIVE" else ""
        rows.append(
            f'<tr id="merchant-{e(m.id)}"><td><a href="{PREFIX}/admin/merchants/{e(m.id)}" class="review">'
            f'{e(m.name)}</a><br><span class="mono">{e(m.id)}</span></td>'
            f'<td><span class="badge {badge} status">{e(m.status)}</span>{why}</td>'
            + (f"<td>{action}</td>" if may_change else "")
            + "</tr>"
        )
    action_head = '<th scope="col">Action</th>' if may_change else ""
    return (
        '<div class="table-wrap"><table id="merchants"><caption>Merchants</caption>'
        f'<thead><tr><th scope="col">Merchant</th><th scope="col">Status</th>{action_head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    ) + csv_link(f"{PREFIX}/admin/merchants.csv", "merchants-csv", "the merchants")


SIGNING_NAV_ROLES = frozenset({"admin", "approver"})
"""Admin roles whose nav links the signing-freeze page (they may relay unfreeze signatures; docs/dashboard.md)."""


def admin_nav(current: str, role: str) -> str:
    """Links between the admin pages for this admin role (the current one marked for assistive technology).

    The signing-freeze page is linked for the roles that may act on it (`SIGNING_NAV_ROLES`), and on itself.
    """
    links = [("merchants", "Merchants"), ("approvals", "Approvals"), ("audit", "Audit log")]
    if role in SIGNING_NAV_ROLES or current == "signing":
        links.append(("signing", "Signing"))
    items = "".join(
        f'<li><a href="{PREFIX}/admin/{path}" id="nav-{path}"'
        + (' aria-current="page"' if path == current else "")
        + f">{label}</a></li>"
        for path, label in links
    )
    return f'<nav class="admin-nav" aria-label="Admin pages"><ul>{items}</ul></nav>'


def admin_merchants_page(
    *,
    csrf: str,
    who: str,
    role: str,
    merchants: Sequence[MerchantRow] | None,
    may_change: bool,
    notice: str = "",
    error: str = "",
) -> str:
    """The admin's merchants page: list, status, and (role `admin` only) suspend and reactivate."""
    if merchants is None:
        listing = '<p class="error" id="merchants-unavailable">Merchants are unavailable right now; try again.</p>'
    else:
        listing = merchants_table(csrf, merchants, may_change=may_change)
    readonly = (
        ""
        if may_change
        else '<p class="hint" id="read-only">Your role is read-only: you can view merchants, not change them.</p>'
    )
    problem = f'<p class="error" id="action-error" role="alert">{e(error)}</p>' if error else ""
    body = (
        f'{admin_nav("merchants", role)}<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>'
        f"{readonly}{_notice(notice, ident='done')}{problem}{listing}"
        f'<p><a id="reports-link" href="{PREFIX}/admin/reports">Reports and analytics</a></p>'
    )
    return layout("Merchants", body, csrf=csrf, who=who)
