"""The admin health, configuration and reconciliation pages against the whole gateway as `stablegate up` runs it
(tests/e2e harness): the ledger, watcher, settlement, signer (SoftHSM), anvil, Envoy, Postgres and Redis really running.

The admin session is written straight into the dashboard's Redis (the OIDC sign-in that makes one is tested in
test_dashboard_admin.py and test_oidc_browser.py); everything else goes through Envoy and the browser. Parts are
stopped with supervisorctl and the signer is frozen over the mesh with the operator's certificate, and the page
must say so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import signal
import time
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
import redis
from playwright.sync_api import BrowserContext, Page, expect
from stablegate.signer.v1 import signing_service_pb2 as signing_pb
from stablegate.signer.v1 import signing_service_pb2_grpc as signing_grpc

from dashboard.admin_exports import LINES, RUNS
from dashboard.domain import health
from dashboard.ops_client import provider_label
from dashboard.sessions import KEY_PREFIX, Session, Stage
from gateway.parts import free_port
from service_runtime.config_view import mask_url_parts, mask_value
from service_runtime.devcerts import mesh_files_in
from service_runtime.mesh import channel_credentials
from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack
from tests.dashboard.flows import SHOTS, assert_accessible, assert_readable, download_csv, open_page
from tests.dashboard.oidc_fixture import OidcTestProvider
from tests.dashboard.test_dashboard_admin import admin_stack, ledger_status, new_merchant, post_as
from tests.dashboard.test_dashboard_admin import sign_in as admin_sign_in
from tests.e2e.chaos import statuses, supervisorctl
from tests.e2e.e2e_harness import UNIT, Gateway, program_env, running_gateway, wait_until

pytestmark = pytest.mark.timeout(600)
__all__ = ["admin_stack"]  # the OIDC stack fixture, used by the review and sign-out tests below


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`stablegate up` with its merchant (the e2e suite's world)."""
    with running_gateway(tmp_path_factory.mktemp("admin-ops")) as gateway:
        yield gateway


def dashboard_url(world: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{world.ports['envoy']}/dashboard/{path}"


def admin_session(world: Gateway, context: BrowserContext, role: str = "admin-readonly") -> None:
    """An admin session of `role` in the dashboard's Redis, its cookie in the browser."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    session = Session(
        csrf=secrets.token_urlsafe(32),
        stage=Stage.ADMIN,
        user_id="ops-subject",
        created=now,
        data={"role": role, "email": "ops@operator.example", "name": "", "signed_in_at": str(int(now))},
    )
    cache = redis.Redis(host="127.0.0.1", port=world.ports["redis"])
    try:
        key = KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()
        cache.set(key, json.dumps(dataclasses.asdict(session)), ex=3600)
    finally:
        cache.close()
    context.add_cookies([{"name": "sg_dashboard", "value": token, "url": dashboard_url(world, "")}])


def row(page: Page, ident: str) -> tuple[str, str]:
    """(level, value) of a health row."""
    found = page.locator(f"#{ident}")
    expect(found).to_be_visible()
    return (found.locator(".level").text_content() or "").strip(), (found.locator(".value").text_content() or "")


def chain_head(world: Gateway) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{world.ports['anvil']}", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(json.loads(reply.read())["result"], 16)


def signer_stub(world: Gateway, role: str) -> tuple[grpc.Channel, signing_grpc.SigningServiceStub]:
    files = mesh_files_in(world.state / "pki", role)
    channel = grpc.secure_channel(f"127.0.0.1:{world.ports['signer']}", channel_credentials(files))
    return channel, signing_grpc.SigningServiceStub(channel)


def test_a_provider_is_shown_by_host_only_never_its_key() -> None:
    assert provider_label("0:https://user:pw@bsc.example:8545/v1/SECRETKEY?apikey=K") == "0: bsc.example:8545"
    assert provider_label("1:https://rpc.example/KEY") == "1: rpc.example"


def test_health_levels_follow_the_documented_thresholds() -> None:
    levels = [health.watcher_lag(n, 0.0, 100, 100 - n).level.value for n in (0, 20, 21, 100, 101)]
    assert levels == ["OK", "OK", "WARN", "WARN", "FAIL"]
    assert [health.breaker("watcher", "0", s, 0).value for s in ("HEALTHY", "PROBING", "OPEN")] == [
        "CLOSED",
        "HALF-OPEN",
        "OPEN",
    ]
    assert [health.breaker("watcher", "0", s, 0).level.value for s in ("HEALTHY", "PROBING", "OPEN")] == [
        "OK",
        "WARN",
        "FAIL",
    ]
    treasury = [health.treasury(b, ceiling=100, target=50, floor=10, block=1).level.value for b in (9, 10, 100, 101)]
    assert treasury == ["FAIL", "OK", "OK", "WARN"]
    backlog = [health.dispatcher_backlog(1, s, 0).level.value for s in (0, 60, 61, 300, 301)]
    assert backlog == ["OK", "OK", "WARN", "WARN", "FAIL"]
    assert health.signer_freeze(True, "incident").level is health.Level.FAIL
    assert health.serving("ledger", None, "gRPC UNAVAILABLE").value == "UNREACHABLE"
    assert health.overall([health.serving("a", "SERVING"), health.breaker("b", "0", "PROBING", 1)]).value == "WARN"


def test_config_masks_secrets_url_passwords_and_key_like_url_parts() -> None:
    url = "https://u:pw@bsc.example/v1/0123456789abcdefKEY?apikey=K"
    assert mask_url_parts(url) == "https://u:pw@bsc.example/v1/***?***"  # the password is redacted() before this
    assert mask_url_parts("http://127.0.0.1:8080/checkout/") == "http://127.0.0.1:8080/checkout/"
    # Passwords in URLs at any depth (maps of providers, lists), an unencoded `@` in one included.
    nested = {"providers": {"a": "https://u:p@ss@bsc.example/x"}, "urls": ["postgresql://app:pw@db:5432/x"], "n": 3}
    assert mask_value(nested) == {
        "providers": {"a": "https://u:***@bsc.example/x"},
        "urls": ["postgresql://app:***@db:5432/x"],
        "n": 3,
    }


def test_config_shows_each_part_with_its_secrets_masked(world: Gateway, context: BrowserContext) -> None:
    admin_session(world, context)
    page, _ = open_page(context)
    page.goto(dashboard_url(world, "admin/config"))
    expect(page.locator("h1")).to_have_text("Configuration")
    for part in ("ledger", "watcher", "settlement", "signer", "dashboard"):
        expect(page.locator(f"#config-{part}")).to_be_visible()
    # Real values the parts run with (the settlement ceiling `up` sets), and secrets as the mask.
    expect(page.locator("#config-settlement")).to_contain_text(str(1_000 * UNIT))
    pin_row = page.locator("#config-signer tr", has=page.locator("th", has_text=re.compile(r"^pin$")))
    expect(pin_row.locator("td")).to_have_text("**********")
    secrets_in_use = {
        value
        for program in ("signer", "ledger", "dashboard", "settlement", "watcher")
        for name, value in program_env(world.state, program).items()
        if re.search(r"(PIN|SECRET_KEY|PASSWORD)$", name) and len(value) >= 8
    }
    assert len(secrets_in_use) >= 3, secrets_in_use  # the signer's PIN, the ledger's and the dashboard's keys
    html = page.content()
    log = (world.state / "logs" / "dashboard.log").read_text()
    for secret in secrets_in_use:
        assert secret not in html
        assert secret not in log
    assert_accessible(page)
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        assert_readable(page, ("h1", "#h-ledger"), size)
        page.screenshot(path=str(SHOTS / f"dashboard-admin-config-{name}.png"))


def test_the_admin_pages_need_an_admin_session(world: Gateway, context: BrowserContext) -> None:
    page, _ = open_page(context)
    for path in ("admin/health", "admin/reconciliation", "admin/config"):
        page.goto(dashboard_url(world, path))
        # No OIDC in `up`: the admin sign-in answers its "not configured" page; the health page was not shown.
        assert "/dashboard/admin/login" in page.url, page.url
        expect(page.locator("#health")).to_have_count(0)
    # The tables' CSV too: no admin session, no rows.
    for path in ("admin/reconciliation.csv", "admin/reconciliation/rec_x.csv", "admin/merchants.csv"):
        reply = page.request.get(dashboard_url(world, path), max_redirects=0)
        assert reply.status == 303 and reply.headers["location"] == "/dashboard/admin/login", path


def test_reconciliation_lists_runs_matched_or_with_their_differences(world: Gateway, context: BrowserContext) -> None:
    admin_session(world, context)
    page, _ = open_page(context)
    matched = world.reconciled()
    page.goto(dashboard_url(world, "admin/reconciliation"))
    expect(page.locator("h1")).to_have_text("Reconciliation")
    expect(page.locator(f"#report-{matched['id']} .result")).to_have_text("MATCHED")
    assert_accessible(page)
    assert_readable(page, ("h1", f"#report-{matched['id']} .result"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-reconciliation-desktop.png"))

    # Tokens sent straight to the treasury: the chain holds more than the ledger books, and the run says so.
    treasury = world.deployed["treasury"]
    world.pay(treasury, 5 * UNIT)

    def differs() -> dict[str, object] | None:
        _, report, _ = world.reconcile()
        return report if report.get("status") == "MISMATCHED" else None

    mismatched = wait_until("a MISMATCHED reconciliation", differs, timeout=60, every=2)
    page.reload()
    expect(page.locator(f"#report-{mismatched['id']} .result")).to_have_text("DIFFERENCE")
    page.click(f"#report-{mismatched['id']} a")
    expect(page.locator("h1")).to_have_text("Reconciliation run")
    expect(page.locator("#report-result .result")).to_have_text("DIFFERENCE")
    differences = page.locator("tr.line-mismatched .difference").all_text_contents()
    assert any(str(5 * UNIT) in text.replace(",", "") for text in differences), differences
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert_readable(page, ("h1", "#report-result"), PHONE)
    page.screenshot(path=str(SHOTS / "dashboard-admin-reconciliation-run-phone.png"))
    # The run's balances as CSV: the page's rows in its order (differences first), exact base-unit strings.
    shown = [
        [(cell.text_content() or "").strip() for cell in line.locator("td").all()]
        for line in page.locator("#report-lines tbody tr").all()
    ]
    lines = download_csv(page, dashboard_url(world, f"admin/reconciliation/{mismatched['id']}.csv"))
    assert lines[0] == list(LINES) and len(lines) == len(shown) + 1, lines
    for got, cells in zip(lines[1:], shown, strict=True):
        assert cells[0] == f"{got[0]}{got[1]}" and cells[2:6] == [got[3], got[4], got[5], got[8]], (got, cells)
    assert lines[1][5] == str(5 * UNIT) and lines[1][7] == "MISMATCHED", lines
    # The runs as CSV: the matched run as its row on the page says.
    page.goto(dashboard_url(world, "admin/reconciliation"))
    block = page.locator(f"#report-{matched['id']} td.num").nth(1).text_content()
    started = page.locator(f"#report-{matched['id']} td").nth(4).text_content()
    runs = download_csv(page, dashboard_url(world, "admin/reconciliation.csv"))
    assert runs[0] == list(RUNS)
    assert [matched["id"], block, "MATCHED", "0", "", started] in runs, runs
    # An unknown run is a clear 404 page.
    reply = page.goto(dashboard_url(world, "admin/reconciliation/rec_nope"))
    assert reply is not None and reply.status == 404
    missing = page.request.get(dashboard_url(world, "admin/reconciliation/rec_nope.csv"))
    assert missing.status == 404 and "text/csv" not in missing.headers["content-type"]


def test_health_shows_every_part_with_its_number_and_a_stopped_part_fails(  # noqa: PLR0915 - one story
    world: Gateway, context: BrowserContext
) -> None:
    admin_session(world, context)
    page, errors = open_page(context)
    page.goto(dashboard_url(world, "admin/health"))
    expect(page.locator("h1")).to_have_text("Health")
    for part in ("ledger", "watcher", "settlement", "signer"):
        assert row(page, f"health-{part}-grpc-health") == ("OK", "SERVING"), part
    level, lag = row(page, "health-watcher-scan-lag-blocks")
    assert level in ("OK", "WARN") and int(lag) >= 0, (level, lag)
    detail = page.locator("#health-watcher-scan-lag-blocks .detail").text_content() or ""
    head = int(re.search(r"head (\d+)", detail).group(1))  # type: ignore[union-attr]
    assert abs(chain_head(world) - head) <= 5, (head, detail)  # the watcher's real head, not a made-up number
    assert row(page, "health-signer-signing") == ("OK", "NOT FROZEN")
    for part in ("watcher", "settlement"):
        breakers = page.locator(f"tr[id^=health-{part}-breaker]")
        expect(breakers).to_have_count(1)  # `up` has one provider: anvil, its breaker closed
        expect(breakers.locator(".level")).to_have_text("OK")
        expect(breakers.locator(".value")).to_have_text("CLOSED")
    level, before = row(page, "health-settlement-treasury-hot-balance")
    assert level == "OK" and int(before) >= 0, (level, before)
    expect(page.locator("#health-settlement-treasury-hot-balance .detail")).to_contain_text(f"ceiling {1_000 * UNIT}")
    expect(page.locator("#overall .level")).to_have_text("OK")
    assert_accessible(page)
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        assert_readable(page, ("h1", "#overall", "#health-watcher-scan-lag-blocks .value"), size)
        page.screenshot(path=str(SHOTS / f"dashboard-admin-health-{name}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)

    # Tokens land in the treasury: once final, the page shows the new balance (read from the chain, not a copy).
    world.pay(world.deployed["treasury"], 3 * UNIT)

    def grew() -> bool:
        page.reload()
        return int(row(page, "health-settlement-treasury-hot-balance")[1]) >= int(before) + 3 * UNIT

    wait_until("the treasury's new balance on the health page", grew, timeout=60, every=1)

    # The dispatcher's backlog: a webhook endpoint nothing listens at makes deliveries wait to retry.
    level, due = row(page, "health-ledger-webhook-deliveries-due")
    assert level in ("OK", "WARN") and int(due) >= 0, (level, due)

    def retrying() -> int:
        detail = page.locator("#health-ledger-webhook-deliveries-due .detail").text_content() or ""
        return int(re.search(r"(\d+) waiting to retry", detail).group(1))  # type: ignore[union-attr]

    before_retrying = retrying()
    world.ok("POST", "/v1/webhook_endpoints", {"url": f"http://127.0.0.1:{free_port()}/dead", "enabled_events": ["*"]})
    world.invoice("1", description="for a dead endpoint")

    def backed_up() -> bool:
        page.reload()
        return retrying() > before_retrying

    wait_until("a delivery waiting to retry on the health page", backed_up, timeout=60, every=1)

    # The watcher stops: the page says so (FAIL, with the gRPC code), and the rest still renders.
    supervisorctl(world.state, "stop", "watcher")
    try:
        page.reload()
        assert row(page, "health-watcher-grpc-health") == ("FAIL", "UNREACHABLE")
        assert row(page, "health-watcher-scan-lag-blocks") == ("FAIL", "UNAVAILABLE")
        expect(page.locator("#overall .level")).to_have_text("FAIL")
        assert row(page, "health-ledger-grpc-health") == ("OK", "SERVING")
    finally:
        supervisorctl(world.state, "start", "watcher")

    def back() -> bool:
        page.reload()
        return row(page, "health-watcher-grpc-health")[0] == "OK"

    wait_until("the watcher back on the health page", back, timeout=60, every=1)

    # The dashboard's own certificate cannot freeze (read-only reach on the mesh)...
    channel, stub = signer_stub(world, "dashboard")
    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.FreezeSigning(signing_pb.FreezeSigningRequest(reason="not allowed"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # ...the operator can, and the page shows the signer frozen with the reason.
    channel, stub = signer_stub(world, "operator")
    with channel:
        stub.FreezeSigning(signing_pb.FreezeSigningRequest(reason="health page test"), timeout=10)
    page.reload()
    assert row(page, "health-signer-signing") == ("FAIL", "FROZEN")
    expect(page.locator("#health-signer-signing")).to_contain_text("health page test")
    expect(page.locator("#overall .level")).to_have_text("FAIL")
    assert not [error for error in errors if "Content Security Policy" in error]


def test_a_provider_outage_opens_the_breaker_and_the_page_says_fail(world: Gateway, context: BrowserContext) -> None:
    """anvil frozen (SIGSTOP, as tests/e2e/chaos.py models a provider outage): calls time out, breakers open."""
    admin_session(world, context)
    page, _ = open_page(context)
    page.goto(dashboard_url(world, "admin/health"))
    breaker = "tr[id^=health-watcher-breaker]"
    expect(page.locator(f"{breaker} .value")).to_have_text("CLOSED")
    pid = statuses(world.state)["anvil"][1]
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)

    def breaker_state() -> str:
        """The breaker's state on a fresh load; "" while the page has no breaker row (the watcher's status call
        timed out while the chain hangs: the page shows the watcher unavailable instead)."""
        page.reload()
        cells = page.locator(f"{breaker} .value")
        return (cells.first.text_content() or "") if cells.count() else ""

    try:
        wait_until("the watcher's breaker OPEN on the health page", lambda: breaker_state() == "OPEN", 120, every=1)
        expect(page.locator(f"{breaker} .level")).to_have_text("FAIL")
        expect(page.locator("#overall .level")).to_have_text("FAIL")
    finally:
        os.kill(pid, signal.SIGCONT)

    wait_until("the breaker CLOSED again", lambda: breaker_state() == "CLOSED", timeout=120, every=1)


# --- merchant review and sign-out, through the real OIDC provider (test_dashboard_admin's stack) ---


def test_admin_reviews_a_suspended_merchant_and_approves_it(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    merchant_id = new_merchant(dash, "Review Me GmbH")
    for name in ("one", "two"):
        issued = dash.stack.call(
            "POST",
            f"/admin/v1/merchants/{merchant_id}/api_keys",
            {"name": name, "scopes": ["invoices:read"]},
            dash.stack.admin_key,
        )
        assert issued.status == 200, issued.body
    suspended = dash.stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "under review"}, dash.stack.admin_key
    )
    assert suspended.status == 200, suspended.body
    page = admin_sign_in(context, dash, provider, "alice")
    page.click("#continue")
    page.click(f"#merchant-{merchant_id} a.review")
    expect(page.locator("h1")).to_have_text("Review: Review Me GmbH")
    facts = page.locator("#merchant-facts")
    expect(facts).to_contain_text("ops@shop.example")
    expect(page.locator("#status")).to_have_text("SUSPENDED")
    expect(page.locator("#key-count")).to_have_text("2")
    expect(facts).to_contain_text("under review")
    assert_accessible(page)
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        assert_readable(page, ("h1", "#status", "#key-count", "#approve"), size)
        page.screenshot(path=str(SHOTS / f"dashboard-admin-merchant-review-{name}.png"))
    page.click("#approve")
    expect(page.locator("#done")).to_have_text("Merchant reactivated.")
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_ACTIVE"
    # An unknown merchant is a clear 404 page.
    reply = page.goto(dash.url + "admin/merchants/mer_nope")
    assert reply is not None and reply.status == 404


def test_read_only_admin_views_every_admin_page_but_cannot_approve(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    merchant_id = new_merchant(dash, "Readonly Review Ltd")
    suspended = dash.stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "under review"}, dash.stack.admin_key
    )
    assert suspended.status == 200, suspended.body
    page = admin_sign_in(context, dash, provider, "rita")
    page.goto(dash.url + f"admin/merchants/{merchant_id}")
    expect(page.locator("#read-only")).to_be_visible()
    expect(page.locator("#approve")).to_have_count(0)
    # The server refuses the approval itself, whatever the page showed; the ledger is unchanged.
    csrf = page.get_attribute("input[name=csrf_token]", "value")
    assert csrf
    refused = post_as(context, dash, f"/dashboard/admin/merchants/{merchant_id}/reactivate", {"csrf_token": csrf})
    assert refused.status == 403, refused.body
    assert ledger_status(dash, merchant_id) == "MERCHANT_STATUS_SUSPENDED"
    # The read-only pages open for her (this stack runs no watcher, settlement or signer: the ledger only).
    page.goto(dash.url + "admin/health")
    assert row(page, "health-ledger-grpc-health") == ("OK", "SERVING")
    page.goto(dash.url + "admin/config")
    expect(page.locator("#config-ledger")).to_be_visible()


def test_admin_sign_out_also_ends_the_session_at_the_provider(
    admin_stack: tuple[DashboardStack, OidcTestProvider], context: BrowserContext
) -> None:
    dash, provider = admin_stack
    page = admin_sign_in(context, dash, provider, "alice")
    page.click("#continue")
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("Signed out")
    assert_accessible(page)
    link = page.get_attribute("#provider-logout", "href") or ""
    assert link.startswith(provider.issuer) and "client_id=" in link, link
    # The dashboard session is over: the admin pages send to the sign-in, which the provider (its own session still
    # alive) answers at once, without asking for the password: why the provider's sign-out matters...
    page.goto(dash.url + "admin/merchants")
    page.wait_for_url(f"{dash.url}admin/callback?*")
    page.goto(link)
    page.click("button[name=logout][value=yes]")
    expect(page.locator("body")).to_contain_text("Sign-out Success")
    # ...and after the provider's sign-out, a new admin sign-in asks for the password again.
    page.goto(dash.url + "admin/login")
    assert page.url.startswith(provider.issuer + "/interaction/"), page.url
    expect(page.locator("#login")).to_be_visible()
