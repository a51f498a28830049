"""Small defences of the dashboard, over plain HTTP through the real Envoy, with the real ledger, Postgres, Redis and
SMTP server: password resets limited per client address as Envoy saw it (not what the client claims); anonymous
visitors' CSRF tokens in a signed cookie, with nothing stored for them.

The stack here runs with a small per-client reset limit; each test talks from loopback addresses of its own
(127.x.y.z), so its counters are its own.
"""

from __future__ import annotations

import html
import http.client
import re
import secrets
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import asyncpg
import pytest
import redis

from dashboard import client_address, pages
from dashboard import csrf as anonymous_csrf
from dashboard.app import COOKIE as SESSION_COOKIE
from dashboard.sessions import KEY_PREFIX as SESSION_KEYS
from edge import envoy_config
from gateway import localrun, parts
from service_runtime import csp
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import PostgresServer, RedisServer
from tests.dashboard.conftest import DashboardStack, Mailbox, launched_dashboard
from tests.dashboard.flows import PASSWORD, in_database, new_email

RESET_CLIENT_LIMIT = 3
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(scope="module")
def dashboard_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DashboardStack]:
    """The dashboard stack of tests/dashboard/conftest.py, with a per-client reset limit of 3 an hour."""
    env = {
        "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
        "STABLEGATE_DASHBOARD_SMTP_PORT": str(mailbox[1]),
        "STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO",
        "STABLEGATE_DASHBOARD_RESET_CLIENT_LIMIT": str(RESET_CLIENT_LIMIT),
    }
    base = tmp_path_factory.mktemp("dashboard-hardening")
    with launched_dashboard(postgres, redis_server, mesh_pki, mailbox, base, env=env) as made:
        yield made


def new_source() -> str:
    """A loopback address no other test uses (Linux answers all of 127.0.0.0/8): a client of its own."""
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(250) + 2}"


@dataclass
class Answer:
    """An HTTP answer with every Set-Cookie kept."""

    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    text: str


@dataclass
class Client:
    """A cookie-keeping HTTP client of the dashboard through Envoy, from one loopback address."""

    dash: DashboardStack
    source: str = field(default_factory=new_source)
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.dash.stack.port}"

    def request(
        self, method: str, path: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """One request; the answer's cookies are kept (an empty value deletes)."""
        send = dict(headers or {})
        if self.cookies:
            send["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = "&".join(f"{k}={_quote(v)}" for k, v in form.items()).encode()
            send["content-type"] = "application/x-www-form-urlencoded"
            send.setdefault("origin", self.origin)
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.dash.stack.port, timeout=10, source_address=(self.source, 0)
        )
        try:
            conn.request(method, path, body=body, headers=send)
            resp = conn.getresponse()
            text = resp.read().decode()
            got: dict[str, str] = {}
            for line in resp.headers.get_all("set-cookie") or []:
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0]
                got[name.strip()] = value
                if value and "max-age=0" not in line.lower():
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, got, text)
        finally:
            conn.close()

    def form_token(self, path: str) -> str:
        """GET a form page; the CSRF token in it."""
        page = self.request("GET", path)
        assert page.status == 200, (path, page.status)
        found = CSRF_FIELD.search(page.text)
        assert found is not None and found.group(1), path
        return html.unescape(found.group(1))

    def post_form(self, path: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None) -> Answer:
        """GET the form page, then POST it with its token."""
        token = self.form_token(path)
        return self.request("POST", path, {"csrf_token": token, **form}, headers)


def _quote(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value)


def sign_up(dash: DashboardStack) -> str:
    """A user made through the sign-up form (verification pending is enough for a reset); the email."""
    email = new_email()
    answer = Client(dash).post_form("/dashboard/signup", {"email": email, "password": PASSWORD})
    assert answer.status == 200, answer.text
    dash.mailbox.wait_for(email)
    return email


def resets_of(dash: DashboardStack, email: str) -> int:
    """Reset links stored for this address's user."""

    async def count(conn: asyncpg.Connection) -> int:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM dashboard.password_resets r JOIN dashboard.users u ON u.id = r.user_id "
            "WHERE u.email = $1",
            email,
        )
        return found

    return in_database(dash, count)


def reset_mails(dash: DashboardStack, email: str) -> int:
    return sum(1 for m in dash.mailbox.sent_to(email) if m["Subject"] == "Reset your stablegate password")


# --- password reset, per client address ------------------------------------------------------------------------


def test_the_dashboard_reads_the_header_envoy_sets_and_keys_ipv6_by_its_64() -> None:
    assert client_address.CLIENT_ADDRESS_HEADER == envoy_config.CLIENT_ADDRESS_HEADER
    assert client_address.CLIENT_ADDRESS_HEADER in envoy_config.IDENTITY_HEADERS  # stripped from clients first

    def key(value: str | None) -> str:
        from aiohttp.test_utils import make_mocked_request

        headers = {} if value is None else {client_address.CLIENT_ADDRESS_HEADER: value}
        return client_address.client_key(make_mocked_request("POST", "/", headers=headers))

    assert key("203.0.113.9") == "203.0.113.9"
    assert key("2001:db8:1:2:3:4:5:6") == key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert key("::ffff:203.0.113.9") == "203.0.113.9"
    assert key(None) == key("") == key("203.0.113.9, 10.0.0.1") == client_address.UNKNOWN


def test_envoy_sets_the_client_address_on_the_dashboard_routes(mesh_pki: DevMesh) -> None:
    plan = localrun.edge_plan(localrun.assign_ports(None), mesh_pki.files(Role.EDGE))
    config = envoy_config.envoy_config(plan)
    routes = [
        route
        for listener in config["static_resources"]["listeners"]
        for host in listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]
        for route in host["routes"]
        if route.get("name") in ("dashboard form", "dashboard")
    ]
    assert len(routes) == 2
    for route in routes:
        added = {h["header"]["key"]: h["header"]["value"] for h in route["request_headers_to_add"]}
        assert added[envoy_config.CLIENT_ADDRESS_HEADER] == "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"


def test_one_client_cannot_spray_resets_over_many_addresses_nor_hide_behind_forged_headers(
    dashboard_stack: DashboardStack,
) -> None:
    dash = dashboard_stack
    known = sign_up(dash)
    sprayer = Client(dash)
    for n in range(RESET_CLIENT_LIMIT):
        # Each request names another address and claims another client address: Envoy overwrites the claim.
        forged = {
            "x-forwarded-for": f"198.51.100.{n}",
            "x-stablegate-client-address": f"198.51.100.{n}",
            "x-real-ip": f"198.51.100.{n}",
        }
        answer = sprayer.post_form("/dashboard/password/forgot", {"email": new_email()}, forged)
        assert answer.status == 200 and 'id="sent"' in answer.text
    # The next one, for an account that exists, is refused plainly: nothing stored, nothing sent.
    refused = sprayer.post_form(
        "/dashboard/password/forgot", {"email": known}, {"x-forwarded-for": "192.0.2.77", "x-real-ip": "192.0.2.77"}
    )
    assert refused.status == 429
    assert 'id="reset-throttled"' in refused.text
    assert "Too many password reset requests came from your network. Wait 60 minutes" in refused.text
    assert refused.headers["retry-after"] == "3600"
    assert resets_of(dash, known) == 0
    # Another client is not affected, and the known address was not counted against itself by the refusal.
    other = Client(dash).post_form("/dashboard/password/forgot", {"email": known})
    assert other.status == 200 and 'id="sent"' in other.text
    assert resets_of(dash, known) == 1
    with dash.mailbox.changed:
        assert dash.mailbox.changed.wait_for(lambda: reset_mails(dash, known) == 1, timeout=10)
    assert reset_mails(dash, known) == 1
    log = dash.log.read_text()
    assert "password reset throttled for the client address" in log


# --- anonymous visitors: a signed CSRF cookie, no stored session ------------------------------------------------


def stored_sessions(redis_server: RedisServer) -> int:
    """Dashboard sessions in Redis right now."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        return sum(1 for _ in client.scan_iter(match=SESSION_KEYS + "*", count=1000))
    finally:
        client.close()


def test_anonymous_form_pages_store_no_session_and_forged_tokens_are_refused(
    dashboard_stack: DashboardStack, redis_server: RedisServer
) -> None:
    dash = dashboard_stack
    before = stored_sessions(redis_server)
    for _ in range(20):
        visitor = Client(dash)  # a new visitor each time, no cookie
        for path in ("/dashboard/login", "/dashboard/signup", "/dashboard/password/forgot"):
            page = visitor.request("GET", path)
            assert page.status == 200
            assert SESSION_COOKIE not in page.cookies, path
        # One CSRF cookie per visitor, set by the first form page and kept by the next ones.
        assert list(visitor.cookies) == [anonymous_csrf.COOKIE]
    assert stored_sessions(redis_server) == before

    alice, mallory = Client(dash), Client(dash)
    alice_token = alice.form_token("/dashboard/login")
    mallory_token = mallory.form_token("/dashboard/login")
    login = {"email": new_email(), "password": "not the password at all"}
    refusals: list[tuple[str, Client, dict[str, str], dict[str, str]]] = [
        ("no token", alice, login, {}),
        ("another visitor's token", alice, {**login, "csrf_token": mallory_token}, {}),
        ("the token, another origin", alice, {**login, "csrf_token": alice_token}, {"origin": "http://evil.example"}),
    ]
    for what, client, form, headers in refusals:
        answer = client.request("POST", "/dashboard/login", form, headers)
        assert answer.status == 403, what
        assert 'id="csrf-refused"' in answer.text, what
    # A cookie of one's own making, or a real token with no cookie at all, is refused too.
    forger = Client(dash, cookies={anonymous_csrf.COOKIE: f"{int(time.time())}.{'A' * 32}"})
    forged = forger.request("POST", "/dashboard/login", {**login, "csrf_token": mallory_token})
    assert forged.status == 403
    cookieless = Client(dash).request("POST", "/dashboard/login", {**login, "csrf_token": alice_token})
    assert cookieless.status == 403
    # The right pair passes the CSRF check and reaches the login (which refuses the password: 400, not 403).
    answer = alice.request("POST", "/dashboard/login", {**login, "csrf_token": alice_token})
    assert answer.status == 400 and "Email or password is not right." in answer.text
    assert stored_sessions(redis_server) == before


def test_anonymous_csrf_tokens_bind_to_their_cookie_key_and_age() -> None:
    now = [1_800_000_000.0]
    tokens = anonymous_csrf.AnonymousCsrf(b"k" * 32, max_age_seconds=600, clock=lambda: now[0])
    cookie = tokens.new_cookie()
    token = tokens.token(cookie)
    assert tokens.verify(cookie, token)
    assert not tokens.verify(cookie, "")
    assert not tokens.verify(tokens.new_cookie(), token)  # another cookie
    other_key = anonymous_csrf.AnonymousCsrf(b"x" * 32, max_age_seconds=600, clock=lambda: now[0])
    assert not other_key.verify(cookie, other_key.token(cookie) + "A")
    assert not other_key.verify(cookie, token)  # another dashboard's key
    assert not tokens.verify("not a cookie", tokens.token("not a cookie"))
    now[0] += 599
    assert tokens.verify(cookie, token)
    now[0] += 1
    assert not tokens.verify(cookie, token)  # too old
    future = f"{int(now[0]) + 3600}.{'B' * 32}"
    assert not tokens.verify(future, tokens.token(future))
    assert anonymous_csrf.derive_key(b"s" * 32) != b"s" * 32


# --- one Content-Security-Policy, sent by the dashboard and by Envoy --------------------------------------------


def test_the_dashboard_and_envoy_send_the_one_csp_defined_in_service_runtime(
    dashboard_stack: DashboardStack, mesh_pki: DevMesh
) -> None:
    # The dashboard's own answer, straight from its listener with the edge's certificate (as Envoy calls it).
    files = mesh_pki.files(Role.EDGE)
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.check_hostname = False
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    conn = http.client.HTTPSConnection("127.0.0.1", dashboard_stack.stack.dashboard_port, context=context, timeout=5)
    try:
        conn.request("GET", "/dashboard/login")
        direct = conn.getresponse()
        direct.read()
        assert direct.status == 200
        assert direct.headers.get_all("content-security-policy") == [csp.DASHBOARD_CSP]
    finally:
        conn.close()
    # Through Envoy: one header, the same value (Envoy's route sets it over the dashboard's).
    public = http.client.HTTPConnection("127.0.0.1", dashboard_stack.stack.port, timeout=5)
    try:
        public.request("GET", "/dashboard/login")
        through = public.getresponse()
        through.read()
        assert through.headers.get_all("content-security-policy") == [csp.DASHBOARD_CSP]
    finally:
        public.close()
    assert envoy_config.DASHBOARD_CSP is csp.DASHBOARD_CSP
    # Defined once: no other source file spells the policy out.
    spelled = "script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'"
    holders = [
        str(path.relative_to(parts.REPO_ROOT))
        for package in ("dashboard", "edge", "service_runtime", "checkout", "gateway")
        for path in (parts.REPO_ROOT / package).rglob("*.py")
        if spelled in path.read_text()
    ]
    assert holders == ["service_runtime/csp.py"]


# --- the admin nav ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "linked"), [("approver", True), ("admin", True), ("admin-readonly", False), ("unknown", False)]
)
def test_the_admin_nav_links_the_signing_page_for_roles_that_may_act_on_it(role: str, linked: bool) -> None:
    for current in ("merchants", "approvals", "audit"):
        nav = pages.admin_nav(current, role)
        assert ('href="/dashboard/admin/signing"' in nav) is linked, (role, current)
        assert f'id="nav-{current}" aria-current="page"' in nav
    # The signing page itself is always in its own nav, marked current.
    assert 'id="nav-signing" aria-current="page"' in pages.admin_nav("signing", role)
    merchants = pages.admin_merchants_page(csrf="t", who="w", role=role, merchants=[], may_change=False)
    assert ('href="/dashboard/admin/signing"' in merchants) is linked
