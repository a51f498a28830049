"""The dashboard's defences, in the browser through Envoy: CSRF (a cross-site form post is refused), RBAC decided
on the server, bad input refused with clear errors and nothing stored, session cookies, one-time links, the
listener answering only Envoy, and the admin-login hook."""

from __future__ import annotations

import http.client
import http.server
import re
import ssl
import threading
import time
from collections.abc import Iterator

import asyncpg
import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from edge.envoy_config import DASHBOARD_CSP
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.dashboard.conftest import REFUSED_PREFIX, DashboardStack
from tests.dashboard.flows import (
    PASSWORD,
    assert_accessible,
    in_database,
    new_email,
    onboard,
    open_page,
    sign_in,
    sign_up,
    users_with_email,
    verification_link,
)


def api_keys(dash: DashboardStack, merchant_id: str) -> list[str]:
    """The merchant's API key ids, as the ledger's admin API lists them."""
    reply = dash.stack.call("GET", f"/admin/v1/merchants/{merchant_id}/api_keys", key=dash.stack.admin_key)
    assert reply.status == 200, reply.body
    return [k["id"] for k in reply.json().get("api_keys", [])]


def page_csrf(page: Page) -> str:
    """The synchronizer token in the page's forms."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return token


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[type[_Attacker], int]]:
    """Another origin (a port of its own on loopback) serving a page that posts a form to the dashboard."""
    handler = type("Attacker", (_Attacker,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_cross_site_form_post_is_refused_and_creates_no_key(
    dashboard_stack: DashboardStack, context: BrowserContext, attacker: tuple[type[_Attacker], int]
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash)
    before = api_keys(dash, merchant.merchant_id)
    token = page_csrf(page)
    handler, port = attacker
    for hidden in ("", f'<input type="hidden" name="csrf_token" value="{token}">'):
        # Without the token, and even with the victim's real token (leaked somehow): the Origin is not ours.
        handler.page = (
            f'<html><body><form method="post" action="{dash.url}api-keys">{hidden}'
            '<input name="name" value="attacker key"></form>'
            "<script>document.forms[0].submit()</script></body></html>"
        ).encode()
        with page.expect_response(lambda r: r.url.endswith("/dashboard/api-keys")) as posted:
            page.goto(f"http://127.0.0.1:{port}/")
        assert posted.value.status == 403
        expect(page.locator("#csrf-refused")).to_be_visible()
    assert api_keys(dash, merchant.merchant_id) == before
    # The same form from the dashboard's own page still works (the session was not harmed).
    page.goto(dash.url + "home")
    page.click("#create-key")
    expect(page.locator("#api-key")).to_be_visible()
    assert len(api_keys(dash, merchant.merchant_id)) == len(before) + 1


def test_a_same_origin_post_without_the_session_token_is_refused(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    merchant = onboard(page, dash)
    before = api_keys(dash, merchant.merchant_id)
    origin = dash.url.removesuffix("/dashboard/")
    forms: list[dict[str, str | float | bool]] = [{"name": "k"}, {"name": "k", "csrf_token": "not-the-token"}]
    for form in forms:
        reply = page.request.post(dash.url + "api-keys", form=form, headers={"origin": origin})
        assert reply.status == 403
        assert "could not be accepted" in reply.text()
    # The right token with no Origin at all is refused too.
    reply = page.request.post(dash.url + "api-keys", form={"name": "k", "csrf_token": page_csrf(page)})
    assert reply.status == 403
    assert api_keys(dash, merchant.merchant_id) == before


INVITE_LINK = re.compile(r"(http://\S+/dashboard/invite/[A-Za-z0-9_-]+)")


def invite(owner: Page, dash: DashboardStack, role: str) -> str:
    """The owner invites a new address with this role from the home page; the address."""
    email = new_email()
    owner.goto(dash.url + "home")
    owner.fill("#invite-email", email)
    owner.select_option("#invite-role", role)
    owner.click("#invite")
    expect(owner.locator("#invited")).to_have_text(f"Invitation sent to {email}.")
    return email


def invitation_link(dash: DashboardStack, email: str) -> str:
    """The link in the invitation email."""
    body = dash.mailbox.wait_for(email).get_payload(decode=True)
    assert isinstance(body, bytes)
    found = INVITE_LINK.search(body.decode())
    assert found is not None, body
    return found.group(1)


def join(page: Page, dash: DashboardStack, email: str) -> None:
    """Open the invitation from the email and choose a password."""
    page.goto(invitation_link(dash, email))
    expect(page.locator("#invited-to")).to_contain_text(email)
    assert_accessible(page)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#notice")).to_contain_text("Your account is ready")


def enrol(page: Page) -> pyotp.TOTP:
    """Finish TOTP enrolment on the page shown after the first password login."""
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    totp = pyotp.TOTP((page.locator("#totp-secret").text_content() or "").replace(" ", ""))
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    return totp


def invitations(dash: DashboardStack, merchant_id: str) -> int:
    """How many invitations the merchant has sent."""

    async def count(conn: asyncpg.Connection) -> int:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM dashboard.invitations WHERE merchant_id = $1", merchant_id
        )
        return found

    return in_database(dash, count)


def test_an_invited_read_only_member_sees_invoices_but_the_server_refuses_them_a_key_and_invitations(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    owner_page, _ = open_page(context)
    merchant = onboard(owner_page, dash, "Read Only Co")
    owner_page.click("#create-key")
    key = owner_page.locator("#api-key").text_content() or ""
    invoice = dash.stack.call("POST", "/v1/invoices", {"amount": "3"}, key).json()["id"]
    before = api_keys(dash, merchant.merchant_id)
    email = invite(owner_page, dash, "read_only")
    assert_accessible(owner_page)

    member_context = context.browser.new_context() if context.browser else None
    assert member_context is not None
    try:
        page, _ = open_page(member_context)
        join(page, dash, email)
        sign_in(page, dash, email)
        enrol(page)
        expect(page.locator("#invoices")).to_contain_text(invoice)
        expect(page.locator("#merchant-name")).to_have_text("Read Only Co")
        expect(page.locator("#no-key-permission")).to_contain_text("Read-only")
        expect(page.locator("#create-key")).to_have_count(0)
        expect(page.locator("#team-section")).to_have_count(0)
        assert_accessible(page)
        # Not only the page: the server refuses the actions themselves, with a valid session, token and Origin.
        origin = dash.url.removesuffix("/dashboard/")
        token = page_csrf(page)
        reply = page.request.post(
            dash.url + "api-keys", form={"name": "sneaky", "csrf_token": token}, headers={"origin": origin}
        )
        assert reply.status == 403
        assert "cannot create API keys" in reply.text()
        reply = page.request.post(
            dash.url + "team/invitations",
            form={"email": new_email(), "team_role": "developer", "csrf_token": token},
            headers={"origin": origin},
        )
        assert reply.status == 403
        assert "Only an owner" in reply.text()
    finally:
        member_context.close()
    assert api_keys(dash, merchant.merchant_id) == before
    assert invitations(dash, merchant.merchant_id) == 1
    owner_page.goto(dash.url + "home")
    expect(owner_page.locator("#members")).to_contain_text(f"{email} · Read-only")


def test_bad_invitations_are_refused_and_an_invitation_works_once(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    owner, _ = open_page(context)
    merchant = onboard(owner, dash, "Invites Inc")
    owner.fill("#invite-email", "not an email")
    owner.click("#invite")
    expect(owner.locator("#invite-error")).to_contain_text("Enter a valid email address")
    owner.fill("#invite-email", merchant.email)
    owner.click("#invite")
    expect(owner.locator("#invite-error")).to_contain_text("already has a stablegate account")
    origin = dash.url.removesuffix("/dashboard/")
    for role in ("owner", "admin", ""):
        reply = owner.request.post(
            dash.url + "team/invitations",
            form={"email": new_email(), "team_role": role, "csrf_token": page_csrf(owner)},
            headers={"origin": origin},
        )
        assert reply.status == 400 and "Choose a role from the list." in reply.text(), role
    assert invitations(dash, merchant.merchant_id) == 0

    email = invite(owner, dash, "developer")
    link = invitation_link(dash, email)
    other_context = context.browser.new_context() if context.browser else None
    assert other_context is not None
    try:
        page, _ = open_page(other_context)
        page.goto(link)
        page.fill("#password", "short")
        page.click("#submit")
        expect(page.locator("#password-error")).to_contain_text("at least 12 characters")
        assert users_with_email(dash, email) == 0
        page.fill("#password", PASSWORD)
        page.click("#submit")
        expect(page.locator("#notice")).to_contain_text("Your account is ready")
        assert users_with_email(dash, email) == 1
        page.goto(link)
        expect(page.locator("#invalid")).to_be_visible()
        # A developer may create keys, and sees no team section.
        sign_in(page, dash, email)
        enrol(page)
        expect(page.locator("#create-key")).to_be_visible()
        expect(page.locator("#team-section")).to_have_count(0)
    finally:
        other_context.close()


def test_bad_sign_up_input_gets_clear_errors_and_stores_nothing(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    cases = [
        ("not-an-email", PASSWORD, "#email-error", "Enter a valid email address"),
        ("", PASSWORD, "#email-error", "Enter your email address"),
        (new_email(), "short", "#password-error", "at least 12 characters"),
        (new_email(), "password1234", "#password-error", "too easy to guess"),
        (new_email(), "aaaaaaaaaaaaaaaa", "#password-error", "too easy to guess"),
    ]
    for email, password, where, message in cases:
        sign_up(page, dash, email, password)
        expect(page.locator(where)).to_contain_text(message)
        assert_accessible(page)
        assert users_with_email(dash, email.lower()) == 0
        assert dash.mailbox.sent_to(email) == []
    # A second sign-up with a taken address shows the same page, stores nothing new, and tells the owner.
    email = new_email()
    sign_up(page, dash, email)
    expect(page.locator("#sent")).to_be_visible()
    link = verification_link(dash, email)
    sign_up(page, dash, email.upper(), "another long password 2")
    expect(page.locator("#sent")).to_be_visible()
    assert users_with_email(dash, email) == 1
    deadline = time.time() + 10
    while len(dash.mailbox.sent_to(email)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    notice = dash.mailbox.sent_to(email)[-1].get_payload(decode=True)
    assert isinstance(notice, bytes) and b"already has one" in notice and b"/verify/" not in notice
    # A bad business name: refused with the reason, the merchant not created, the link still usable.
    page.goto(link)
    page.fill("#name", "x")
    page.click("#submit")
    expect(page.locator("#name-error")).to_contain_text("Enter your business name")

    async def merchant_of(conn: asyncpg.Connection) -> object:
        return await conn.fetchval("SELECT merchant_id FROM dashboard.users WHERE email = $1", email)

    assert in_database(dash, merchant_of) is None
    page.fill("#name", "Good Name Ltd")
    page.click("#submit")
    expect(page.locator("#notice")).to_be_visible()
    assert in_database(dash, merchant_of) is not None
    # The link worked once.
    page.goto(link)
    expect(page.locator("#invalid")).to_be_visible()
    assert page.goto(dash.url + "verify/" + "A" * 43) is not None
    expect(page.locator("#invalid")).to_be_visible()


def test_an_email_the_server_refuses_leaves_no_account(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    email = REFUSED_PREFIX + new_email()
    with page.expect_response(lambda r: r.url.endswith("/dashboard/signup") and r.request.method == "POST") as sent:
        sign_up(page, dash, email)
    assert sent.value.status == 503
    expect(page.locator("#mail-failed")).to_contain_text("no account was created")
    assert users_with_email(dash, email) == 0


def test_wrong_password_and_wrong_totp_codes_are_refused(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    email = new_email()
    sign_up(page, dash, email)
    page.goto(verification_link(dash, email))
    page.fill("#name", "Codes Inc")
    page.click("#submit")
    sign_in(page, dash, email, "wrong password entirely")
    expect(page.locator("#problem")).to_have_text("Email or password is not right.")
    sign_in(page, dash, "nobody-" + email, PASSWORD)
    expect(page.locator("#problem")).to_have_text("Email or password is not right.")

    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Set up two-step login")
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    totp = pyotp.TOTP(secret)
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    for code, message in (("12ab56", "Enter the 6-digit code"), (wrong, "That code is not right")):
        page.fill("#code", code)
        page.click("#submit")
        expect(page.locator("#code-error")).to_contain_text(message)

    async def sealed(conn: asyncpg.Connection) -> object:
        return await conn.fetchval("SELECT totp_secret_sealed FROM dashboard.users WHERE email = $1", email)

    assert in_database(dash, sealed) is None  # nothing stored by a wrong code
    # The same secret is still offered (the enrolment survives a wrong code), and the right code finishes it.
    assert (page.locator("#totp-secret").text_content() or "").replace(" ", "") == secret
    used = totp.now()
    page.fill("#code", used)
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Save your recovery codes")
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Home")
    stored = in_database(dash, sealed)
    assert isinstance(stored, bytes) and secret.encode() not in stored  # sealed, not the plaintext

    page.click("#logout")
    sign_in(page, dash, email)
    expect(page.locator("h1")).to_have_text("Two-step login")
    page.fill("#code", used)  # the code just used for enrolment (still within the drift window): a replay
    page.click("#submit")
    expect(page.locator("#code-error")).to_contain_text("not right (or was used already)")
    for _ in range(3):
        page.fill("#code", wrong)
        page.click("#submit")
        expect(page.locator("#code-error")).to_be_visible()
    # The fifth wrong code ends the session: back to the password.
    page.fill("#code", wrong)
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("#notice")).to_contain_text("signed out")


def test_session_cookie_is_secure_httponly_strict_and_rotates_at_each_login_step(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    page.goto(dash.url + "login")

    def cookie(name: str = "sg_dashboard") -> dict[str, object]:
        found = [c for c in context.cookies() if c["name"] == name]
        assert len(found) == 1
        return dict(found[0])

    # Before login only the signed CSRF cookie (dashboard/csrf.py): no session is stored for a visitor.
    assert [c["name"] for c in context.cookies()] == ["sg_dashboard_csrf"]
    anonymous = cookie("sg_dashboard_csrf")
    assert anonymous["secure"] is True and anonymous["httpOnly"] is True and anonymous["sameSite"] == "Strict"
    assert anonymous["path"] == "/dashboard/"
    merchant = onboard(page, dash)
    signed_in = cookie()
    assert signed_in["secure"] is True and signed_in["httpOnly"] is True and signed_in["sameSite"] == "Strict"
    assert signed_in["path"] == "/dashboard/"
    # The token from before login opens nothing now.
    other = context.browser.new_context() if context.browser else None
    assert other is not None
    try:
        other.add_cookies(
            [{"name": "sg_dashboard", "value": str(anonymous["value"]), "domain": "127.0.0.1", "path": "/dashboard/"}]
        )
        stale = other.new_page()
        stale.goto(dash.url + "home")
        expect(stale.locator("h1")).to_have_text("Sign in")
    finally:
        other.close()
    page.click("#logout")
    # Signing out ends the session and deletes its cookie (nothing is stored for the anonymous visitor after).
    assert [c for c in context.cookies() if c["name"] == "sg_dashboard"] == []
    page.goto(dash.url + "home")
    expect(page.locator("h1")).to_have_text("Sign in")
    del merchant


def test_pages_carry_a_strict_csp_and_no_inline_code(dashboard_stack: DashboardStack) -> None:
    stack = dashboard_stack.stack
    for path in ("/dashboard/login", "/dashboard/signup", "/dashboard/admin/login"):
        reply = stack.call("GET", path)
        assert reply.headers["content-security-policy"] == DASHBOARD_CSP
        assert "'unsafe-inline'" not in DASHBOARD_CSP and "script-src 'self';" in DASHBOARD_CSP
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["cache-control"] == "no-store"
        html = reply.body.decode()
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert re.findall(r'(?:src|href)="(?!/dashboard/)', html) == []
    css = stack.call("GET", "/dashboard/static/dashboard.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert stack.call("PUT", "/dashboard/login").status == 405


def test_admin_login_is_a_clear_not_configured_page(dashboard_stack: DashboardStack) -> None:
    reply = dashboard_stack.stack.call("GET", "/dashboard/admin/login")
    assert reply.status == 501
    assert "Admin login: not configured" in reply.body.decode()


def test_page_listener_answers_only_the_edge(dashboard_stack: DashboardStack, mesh_pki: DevMesh) -> None:
    files = mesh_pki.files(Role.DASHBOARD)
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.check_hostname = False
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    conn = http.client.HTTPSConnection("127.0.0.1", dashboard_stack.stack.dashboard_port, context=context, timeout=5)
    try:
        conn.request("GET", "/dashboard/login")
        assert conn.getresponse().status == 403
    finally:
        conn.close()
    anonymous = ssl.create_default_context(cafile=str(files.ca_file))
    anonymous.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", dashboard_stack.stack.dashboard_port, context=anonymous, timeout=5)
    # Without a client certificate the TLS handshake itself fails (the request never reaches the pages).
    with pytest.raises((ssl.SSLError, ConnectionError)):
        fetch_once(conn)
    conn.close()


def fetch_once(conn: http.client.HTTPSConnection) -> int:
    """One GET of the login page on a connection; its status."""
    conn.request("GET", "/dashboard/login")
    return conn.getresponse().status


def test_too_many_wrong_passwords_lock_the_account_for_a_while(
    dashboard_stack: DashboardStack, context: BrowserContext
) -> None:
    dash = dashboard_stack
    page, _ = open_page(context)
    email = new_email()
    sign_up(page, dash, email)
    page.goto(verification_link(dash, email))
    page.fill("#name", "Locked Ltd")
    page.click("#submit")
    for _ in range(10):
        sign_in(page, dash, email, "not the password at all")
        expect(page.locator("#problem")).to_have_text("Email or password is not right.")
    # Now even the right password is not checked: the account waits out the window (15 minutes by default).
    with page.expect_response(lambda r: r.url.endswith("/dashboard/login") and r.request.method == "POST") as sent:
        sign_in(page, dash, email)
    assert sent.value.status == 429
    expect(page.locator("#problem")).to_contain_text("Too many failed sign-ins for this account. Wait 15 minutes")
    # Another account is not affected.
    merchant_page, _ = open_page(context)
    merchant = onboard(merchant_page, dash)
    assert merchant.merchant_id


def test_only_form_pages_set_a_cookie_and_none_a_session(dashboard_stack: DashboardStack) -> None:
    stack = dashboard_stack.stack
    for path, status in (("/dashboard/home", 303), ("/dashboard/", 303), ("/dashboard/nothing-here", 404)):
        reply = stack.call("GET", path)
        assert reply.status == status, path
        assert "set-cookie" not in reply.headers, path
    for path in ("/dashboard/login", "/dashboard/signup"):
        # The signed CSRF cookie only: nothing stored in Redis for a visitor (test_dashboard_hardening.py counts).
        assert stack.call("GET", path).headers["set-cookie"].startswith("sg_dashboard_csrf="), path


def test_the_log_holds_no_password_key_code_or_link_token(dashboard_stack: DashboardStack) -> None:
    """Run last in this module: everything above signed up, logged in, made keys and invitations."""
    log = dashboard_stack.log.read_text()
    assert '"message": "form refused: csrf"' in log and '"message": "api key created"' in log  # INFO was on
    assert PASSWORD not in log and "not the password at all" not in log
    assert "sk_" not in log  # no API key, not even a prefix
    for message in dashboard_stack.mailbox.messages:
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        for token in re.findall(rb"/dashboard/(?:verify|invite)/([A-Za-z0-9_-]+)", body):
            assert token.decode() not in log
    assert "totp_secret" not in log and "otpauth://" not in log
