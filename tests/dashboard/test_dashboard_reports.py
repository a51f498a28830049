"""Issue 22, scope 5: reports and analytics in the dashboard, on the whole mesh (Envoy, edge, ledger, dashboard with
OIDC and SMTP, Postgres, Redis) and headless Chromium.

Known data is made through the real APIs (merchants, fee plan, keys, invoices over REST; payments reported to the
ledger as the watcher would), then moved to known UTC days in the database (the journal's rows with triggers off,
test set-up only, as tests/ledger/test_ledger_reports.py explains). The pages, the CSV downloads and the emailed
CSV are asserted cell by cell; the scheduler's "never twice" with three replicas running at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc

from dashboard.ledger_client import LedgerClient
from dashboard.mailer import SmtpMailer
from dashboard.report_data import ReportClient, csv_text, safe_cell
from dashboard.report_schedule import ADMIN_SUBSCRIPTION_LIFETIME, ReportScheduler, first_run, period
from ledger.config import DEV_TOKEN
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import mesh_sync_channel
from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack, Mailbox
from tests.dashboard.flows import (
    SHOTS,
    assert_accessible,
    assert_readable,
    in_database,
    onboard,
    open_page,
    sign_in,
)
from tests.dashboard.oidc_fixture import OidcTestProvider
from tests.dashboard.oidc_stack import oidc_dashboard_stack
from tests.dashboard.test_dashboard_admin import post_as
from tests.dashboard.test_dashboard_admin import sign_in as admin_sign_in
from tests.dashboard.test_dashboard_security import enrol, invite, join

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

pytestmark = pytest.mark.timeout(300)

UNIT = 10**18
FORMULA_NAME = "=HYPERLINK(1) Traders"
"""Merchant N's name: a spreadsheet formula, which every CSV must defuse."""


@dataclass(frozen=True)
class World:
    """The stack, its OIDC provider, and the known data."""

    dash: DashboardStack
    provider: OidcTestProvider
    pki: DevMesh
    owner_email: str
    owner_totp_secret: str
    m: str
    """Merchant M (made through the dashboard's sign-up, 1 % fee): 10 paid on 2026-11-02 after 300 s, one canceled
    on 2026-11-03, and 4 paid yesterday after 3600 s."""
    n: str
    """Merchant N (made by the admin API, no fee, a formula for a name): 20 paid on 2026-11-04 after 1800 s."""
    smtp_port: int
    totp_steps: list[int]
    """The TOTP time steps used so far (the dashboard accepts each once)."""


@pytest.fixture(scope="module")
def reports_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DashboardStack, OidcTestProvider]]:
    """The mesh with the dashboard's OIDC and SMTP settings, and its report scheduler looking every second."""
    with oidc_dashboard_stack(
        postgres,
        redis_server,
        mesh_pki,
        mailbox,
        Path(tmp_path_factory.mktemp("dashboard-reports")),
        env={
            "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
            "STABLEGATE_DASHBOARD_SMTP_PORT": str(mailbox[1]),
            "STABLEGATE_DASHBOARD_REPORT_SCHEDULE_INTERVAL_SECONDS": "1",
            "STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO",
        },
    ) as made:
        yield made


def at(day: str, hhmm: str = "00:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def pay(dash: DashboardStack, pki: DevMesh, key: str, amount: str, units: int) -> str:
    """An invoice over REST, paid in full at finality as the watcher would report it; its id."""
    made = dash.stack.call("POST", "/v1/invoices", {"amount": amount}, key)
    assert made.status == 200, made.body
    invoice = made.json()
    with mesh_sync_channel(pki, Role.WATCHER, dash.stack.ledger_port) as channel:
        reply = obs_grpc.ChainObservationServiceStub(channel).RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(
                observation=obs_pb.TransferObservation(
                    chain_id=97,
                    token_contract=DEV_TOKEN,
                    tx_hash="0x" + secrets.token_hex(32),
                    log_index=0,
                    block_number=100,
                    block_hash="0x" + "b" * 64,
                    from_address="0x" + "c" * 40,
                    to_address=invoice["deposit_address"],
                    amount_base_units=str(units),
                    finality=obs_pb.OBSERVATION_FINALITY_FINAL,
                )
            ),
            timeout=10,
        )
    assert reply.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    invoice_id: str = invoice["id"]
    return invoice_id


def move(dash: DashboardStack, invoice_id: str, created: dt.datetime, paid: dt.datetime | None) -> None:
    """Give an invoice its creation and payment times, and its journal transactions the payment's time."""

    async def run(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE ledger.invoices SET create_time = $2, paid_time = $3 WHERE id = $1", invoice_id, created, paid
            )
            await conn.execute(
                "UPDATE ledger.journal_transactions SET create_time = $2 WHERE invoice_id = $1",
                invoice_id,
                paid or created,
            )

    in_database(dash, run)


def merchant_key(dash: DashboardStack, merchant_id: str) -> str:
    issued = dash.stack.call(
        "POST",
        f"/admin/v1/merchants/{merchant_id}/api_keys",
        {"scopes": ["invoices:read", "invoices:write"]},
        dash.stack.admin_key,
    )
    assert issued.status == 200, issued.body
    key: str = issued.json()["plaintext_key"]
    return key


@pytest.fixture(scope="module")
def world(
    reports_stack: tuple[DashboardStack, OidcTestProvider],
    mesh_pki: DevMesh,
    browser: Browser,
    mailbox: tuple[Mailbox, int],
) -> World:
    dash, provider = reports_stack
    context = browser.new_context(viewport=DESKTOP)
    try:
        page, _ = open_page(context)
        owner = onboard(page, dash, "Reports Coffee")
        enrolled = int(time.time() // 30)
    finally:
        context.close()
    m = owner.merchant_id
    plan = dash.stack.call(
        "POST", f"/admin/v1/merchants/{m}/fee_plan", {"bps": 100, "reason": "tests"}, dash.stack.admin_key
    )
    assert plan.status == 200, plan.body
    made = dash.stack.call(
        "POST", "/admin/v1/merchants", {"name": FORMULA_NAME, "contact_email": "ops@n.example"}, dash.stack.admin_key
    )
    assert made.status == 200, made.body
    n: str = made.json()["id"]
    m_key, n_key = merchant_key(dash, m), merchant_key(dash, n)

    paid = pay(dash, mesh_pki, m_key, "10", 10 * UNIT)
    move(dash, paid, at("2026-11-02", "10:00"), at("2026-11-02", "10:05"))
    canceled = dash.stack.call("POST", "/v1/invoices", {"amount": "10"}, m_key).json()["id"]
    cancel = dash.stack.call("POST", f"/v1/invoices/{canceled}:cancel", {}, m_key)
    assert cancel.status == 200, cancel.body
    move(dash, canceled, at("2026-11-03", "08:00"), None)
    recent = pay(dash, mesh_pki, m_key, "4", 4 * UNIT)
    day = yesterday().isoformat()
    move(dash, recent, at(day, "11:00"), at(day, "12:00"))
    other = pay(dash, mesh_pki, n_key, "20", 20 * UNIT)
    move(dash, other, at("2026-11-04", "09:00"), at("2026-11-04", "09:30"))
    return World(dash, provider, mesh_pki, owner.email, owner.totp.secret, m, n, mailbox[1], [enrolled])


def merchant_sign_in(context: BrowserContext, world: World) -> Page:
    """The merchant owner signs in (password, then TOTP) and lands on Home."""
    page, _ = open_page(context)
    page.goto(world.dash.url + "login")
    page.fill("#email", world.owner_email)
    page.fill("#password", "correct horse battery staple 9")
    page.click("#submit")
    totp = pyotp.TOTP(world.owner_totp_secret)
    # A code is accepted once: wait for a time step not used yet.
    while int(time.time() // 30) <= world.totp_steps[-1]:
        time.sleep(0.5)
    world.totp_steps.append(int(time.time() // 30))
    page.fill("#code", totp.now())
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("Home")
    return page


M_VOLUME_CSV = (
    "bucket_start,invoices_paid,payments,reversals,volume,volume_base_units,fees,fees_base_units,revenue,"
    "revenue_base_units\r\n"
    "2026-11-01,0,0,0,0,0,0,0,0,0\r\n"
    "2026-11-02,1,1,0,10,10000000000000000000,0.1,100000000000000000,9.9,9900000000000000000\r\n"
    "2026-11-03,0,0,0,0,0,0,0,0,0\r\n"
    "2026-11-04,0,0,0,0,0,0,0,0,0\r\n"
    "2026-11-05,0,0,0,0,0,0,0,0,0\r\n"
    "total,1,1,0,10,10000000000000000000,0.1,100000000000000000,9.9,9900000000000000000\r\n"
)
PERF_HEADER = (
    "merchant_id,merchant_name,invoices,paid,expired,canceled,open,underpaid,late,conversion_bps,underpaid_bps,"
    "late_bps,median_seconds_to_pay,mean_seconds_to_pay\r\n"
)
RANGE = "start=2026-11-01&end=2026-11-05"


@pytest.mark.parametrize("context", [DESKTOP, PHONE], indirect=True, ids=["desktop", "phone"])
def test_merchant_sees_own_charts_tables_and_downloads_exact_csv(world: World, context: BrowserContext) -> None:
    page = merchant_sign_in(context, world)
    size = page.viewport_size
    assert size is not None
    page.click("#reports-link")
    page.wait_for_url(f"{world.dash.url}reports")
    page.goto(f"{world.dash.url}reports?bucket=day&{RANGE}")
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("#report-scope")).to_contain_text(f"Merchant {world.m}")
    expect(page.locator("#chart-volume-title")).to_have_text("Volume per day (USDT)")
    expect(page.locator("#chart-volume rect")).to_have_count(5)
    expect(page.locator("#chart-volume-desc")).to_contain_text("highest 10 USDT in the bucket of 2026-11-02")
    expect(page.locator("#chart-fees-title")).to_have_text("Platform fees per day (USDT)")
    expect(page.locator("#chart-revenue-title")).to_have_text("Merchant revenue per day (USDT)")
    total = page.locator("#volume-table tfoot td")
    expect(total).to_have_text(["1", "1", "10", "0.1", "9.9"])
    expect(page.locator("#performance-table tfoot td")).to_have_text(
        ["2", "1", "50.00 %", "0.00 %", "0.00 %", "0", "5 min 0 s"]
    )
    assert_accessible(page)
    assert_readable(page, ("h1", "#report-filters", "#charts-h"), size)
    name = "desktop" if size["width"] > 500 else "phone"
    page.screenshot(path=str(SHOTS / f"dashboard-reports-{name}.png"), full_page=True)

    # The CSV links download exactly the table, as an attachment.
    href = page.locator("#volume-csv").get_attribute("href")
    assert href == f"/dashboard/reports/volume.csv?bucket=day&{RANGE}"
    got = context.request.get(f"http://127.0.0.1:{world.dash.stack.port}{href}")
    assert got.status == 200
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="volume_{world.m}_day_2026-11-01_2026-11-05.csv"'
    )
    assert got.text() == M_VOLUME_CSV
    # Only their own merchant, whatever the query says.
    other = context.request.get(f"{world.dash.url}reports/volume.csv?bucket=day&{RANGE}&merchant={world.n}")
    assert other.text() == M_VOLUME_CSV
    perf = context.request.get(f"{world.dash.url}reports/performance.csv?{RANGE}")
    assert perf.text() == PERF_HEADER + (
        f"{world.m},Reports Coffee,2,1,0,1,0,0,0,5000,0,0,300,300\r\n" + "total,,2,1,0,1,0,0,0,5000,0,0,300,300\r\n"
    )
    # The admin pages are not a merchant user's.
    admin = context.request.get(f"{world.dash.url}admin/reports/volume.csv?{RANGE}", max_redirects=0)
    assert admin.status == 303 and admin.headers["location"] == "/dashboard/admin/login"
    bad = page.goto(f"{world.dash.url}reports?bucket=day&start=2026-11-05&end=2026-11-01")
    assert bad is not None and bad.status == 400
    expect(page.locator("#report-error")).to_contain_text("end_date must not be before start_date")


def test_admin_sees_totals_and_each_merchant_with_formula_safe_csv(world: World, context: BrowserContext) -> None:
    page = admin_sign_in(context, world.dash, world.provider, "alice")
    page.click("#continue")
    page.wait_for_url(f"{world.dash.url}admin/merchants")
    page.click("#reports-link")
    page.wait_for_url(f"{world.dash.url}admin/reports")
    page.goto(f"{world.dash.url}admin/reports?bucket=week&{RANGE}")
    expect(page.locator("#report-scope")).to_contain_text("All merchants")
    # ISO weeks: 2026-10-26 (Mon) holds Nov 1; 2026-11-02 the rest.
    expect(page.locator("#volume-table tbody tr")).to_have_count(2)
    expect(page.locator("#volume-table tfoot td")).to_have_text(["2", "2", "30", "0.1", "29.9"])
    expect(page.locator("#performance-table tbody tr")).to_have_count(2)
    expect(page.locator("#performance-table tfoot td")).to_have_text(
        ["3", "2", "66.66 %", "0.00 %", "0.00 %", "0", "5 min 0 s"]
    )
    assert_accessible(page)
    assert_readable(page, ("h1", "#report-filters"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-reports-desktop.png"), full_page=True)

    perf = context.request.get(f"{world.dash.url}admin/reports/performance.csv?{RANGE}")
    assert perf.status == 200
    assert perf.headers["content-disposition"] == 'attachment; filename="performance_all_2026-11-01_2026-11-05.csv"'
    assert perf.text() == PERF_HEADER + (
        f"{world.m},Reports Coffee,2,1,0,1,0,0,0,5000,0,0,300,300\r\n"
        f"{world.n},'{FORMULA_NAME},1,1,0,0,0,0,0,10000,0,0,1800,1800\r\n"
        "total,,3,2,0,1,0,0,0,6666,0,0,300,1050\r\n"
    )
    one = context.request.get(f"{world.dash.url}admin/reports/volume.csv?bucket=month&{RANGE}&merchant={world.n}")
    assert one.text() == (
        M_VOLUME_CSV.split("\r\n", maxsplit=1)[0] + "\r\n"
        "2026-11-01,1,1,0,20,20000000000000000000,0,0,20,20000000000000000000\r\n"
        "total,1,1,0,20,20000000000000000000,0,0,20,20000000000000000000\r\n"
    )
    # The page for one merchant picks it in the form.
    page.goto(f"{world.dash.url}admin/reports?bucket=day&{RANGE}&merchant={world.n}")
    expect(page.locator("#report-scope")).to_contain_text(f"Merchant {world.n}")
    expect(page.locator("#merchant")).to_have_value(world.n)
    # An admin subscribes to that merchant's weekly report: stored under their OIDC subject, for that merchant.
    page.select_option("#frequency", "weekly")
    page.click("#subscribe")
    expect(page.locator("#subscription-notice")).to_contain_text("Subscribed")
    expect(page.locator("#subscriptions li")).to_contain_text(f"Weekly to alice@example.test for {world.n}")

    async def admin_rows(conn: asyncpg.Connection) -> list[tuple[str, str | None, str]]:
        rows = await conn.fetch(
            "SELECT owner, merchant_id, frequency FROM dashboard.report_subscriptions WHERE owner LIKE 'admin:%'"
        )
        return [(r["owner"], r["merchant_id"], r["frequency"]) for r in rows]

    found = in_database(world.dash, admin_rows)
    assert len(found) == 1 and found[0][1:] == (world.n, "weekly") and found[0][0].startswith("admin:")
    page.locator("#subscriptions button").click()
    expect(page.locator("#no-subscriptions")).to_be_visible()
    assert in_database(world.dash, admin_rows) == []
    # A merchant the ledger does not know: refused when subscribing, nothing stored.
    token = page.locator("#subscribe-form input[name=csrf_token]").get_attribute("value") or ""
    unknown = post_as(
        context,
        world.dash,
        "/dashboard/admin/reports/subscriptions",
        {"csrf_token": token, "frequency": "daily", "merchant": "mer_unknown0000"},
    )
    assert unknown.status == 400 and b"no such merchant" in unknown.body
    assert in_database(world.dash, admin_rows) == []


def report_emails(box: Mailbox, to: str) -> list[Message]:
    return [m for m in box.sent_to(to) if str(m["Subject"]).startswith("stablegate daily report")]


def attachments(message: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in message.walk():
        name = part.get_filename()
        if name:
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            assert part.get_content_type() == "text/csv"
            found[name] = data.decode()
    return found


def test_two_schedulers_send_each_period_once(world: World, context: BrowserContext) -> None:
    page = merchant_sign_in(context, world)
    page.goto(f"{world.dash.url}reports")
    page.select_option("#frequency", "daily")
    page.click("#subscribe")
    expect(page.locator("#subscription-notice")).to_contain_text("Subscribed")
    expect(page.locator("#subscriptions li")).to_have_count(1)
    page.click("#subscribe")  # the same again: nothing new
    expect(page.locator("#subscription-notice")).to_contain_text("already receive")
    day = yesterday()
    today_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    async def make_due(conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow("SELECT next_run_time, email FROM dashboard.report_subscriptions")
        assert row["email"] == world.owner_email
        assert row["next_run_time"] == first_run("daily", dt.datetime.now(dt.UTC))
        await conn.execute("UPDATE dashboard.report_subscriptions SET next_run_time = $1", today_midnight)

    in_database(world.dash, make_due)
    assert period("daily", today_midnight) == (day, day)

    async def two_replicas() -> list[int]:
        pool = await asyncpg.create_pool(world.dash.stack.database_url, min_size=2, max_size=4)
        target = f"127.0.0.1:{world.dash.stack.ledger_port}"
        async with mesh.channel(target, world.pki.files(Role.DASHBOARD)) as channel:
            client = LedgerClient(channel, lambda: world.dash.stack.admin_key)
            mailer = SmtpMailer("127.0.0.1", world.smtp_port, "reports@stablegate.test")
            schedulers = [ReportScheduler(pool, lambda: ReportClient.of(client), lambda: mailer) for _ in range(2)]
            now = dt.datetime.now(dt.UTC)
            sent = await asyncio.gather(*(s.run_once(now) for s in schedulers))
        await pool.close()
        return list(sent)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sent = pool.submit(asyncio.run, two_replicas()).result(timeout=60)
    assert sum(sent) <= 1  # the dashboard's own scheduler (a third replica) may have sent it first
    deadline = time.monotonic() + 15
    while not report_emails(world.dash.mailbox, world.owner_email) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # three more passes of the dashboard's scheduler: still one email
    emails = report_emails(world.dash.mailbox, world.owner_email)
    assert len(emails) == 1
    stamp = day.isoformat()
    assert emails[0]["Subject"] == f"stablegate daily report {stamp}"
    files = attachments(emails[0])
    assert files == {
        f"volume_{stamp}_{stamp}.csv": M_VOLUME_CSV.split("\r\n", maxsplit=1)[0] + "\r\n"
        f"{stamp},1,1,0,4,4000000000000000000,0.04,40000000000000000,3.96,3960000000000000000\r\n"
        "total,1,1,0,4,4000000000000000000,0.04,40000000000000000,3.96,3960000000000000000\r\n",
        f"performance_{stamp}_{stamp}.csv": PERF_HEADER
        + f"{world.m},Reports Coffee,1,1,0,0,0,0,0,10000,0,0,3600,3600\r\n"
        + "total,,1,1,0,0,0,0,0,10000,0,0,3600,3600\r\n",
    }

    async def state(conn: asyncpg.Connection) -> tuple[dt.datetime, int]:
        row = await conn.fetchrow("SELECT next_run_time, sent_count FROM dashboard.report_subscriptions")
        return row["next_run_time"], row["sent_count"]

    assert in_database(world.dash, state) == (today_midnight + dt.timedelta(days=1), 1)
    # Unsubscribing removes it.
    page.goto(f"{world.dash.url}reports")
    page.locator("#subscriptions button").click()
    expect(page.locator("#no-subscriptions")).to_be_visible()


def test_csv_cells_that_could_start_a_formula_are_text() -> None:
    cells = ("=1+1", "+1", "-1+cmd", "-2-3", "@SUM(A1)", "\tx", "\rx", "plain", 12, "a=b", "-9.9", "-10")
    assert [safe_cell(v) for v in cells] == [
        "'=1+1",
        "'+1",
        "'-1+cmd",
        "'-2-3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "12",
        "a=b",
        "-9.9",  # a plain negative number stays a number
        "-10",
    ]
    assert csv_text(["a", "b"], [['x,"y"', "=2"]]) == 'a,b\r\n"x,""y""",\'=2\r\n'


def test_a_developer_anonymous_or_bad_subscription_is_refused_and_changes_nothing(
    world: World, context: BrowserContext, browser: Browser
) -> None:
    owner = merchant_sign_in(context, world)
    email = invite(owner, world.dash, "developer")
    other = browser.new_context(viewport=DESKTOP)
    try:
        page, _ = open_page(other)
        join(page, world.dash, email)
        sign_in(page, world.dash, email)
        enrol(page)
        refused = page.goto(f"{world.dash.url}reports")
        assert refused is not None and refused.status == 403
        expect(page.locator("#forbidden")).to_contain_text("cannot see reports")
        assert other.request.get(f"{world.dash.url}reports/volume.csv?{RANGE}").status == 403
    finally:
        other.close()

    anonymous = world.dash.stack.call("GET", f"/dashboard/reports/performance.csv?{RANGE}")
    assert anonymous.status == 303 and anonymous.headers["location"] == "/dashboard/login"

    async def rows(conn: asyncpg.Connection) -> int:
        found: int = await conn.fetchval("SELECT count(*) FROM dashboard.report_subscriptions")
        return found

    before = in_database(world.dash, rows)
    owner.goto(f"{world.dash.url}reports")
    token = owner.locator("#subscribe-form input[name=csrf_token]").get_attribute("value") or ""
    bad = post_as(context, world.dash, "/dashboard/reports/subscriptions", {"csrf_token": token, "frequency": "hourly"})
    assert bad.status == 400 and b"Choose daily or weekly" in bad.body
    gone = post_as(
        context, world.dash, "/dashboard/reports/subscriptions/rsub_doesnotexist/delete", {"csrf_token": token}
    )
    assert gone.status == 404
    assert in_database(world.dash, rows) == before


def test_a_failed_send_keeps_the_period_and_retries_later(world: World) -> None:
    today_midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)

    async def add(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO dashboard.report_subscriptions (id, owner, email, merchant_id, frequency, next_run_time) "
            "VALUES ('rsub_refusedmail', 'admin:ops', 'refused-ops@ops.example', NULL, 'daily', $1)",
            today_midnight,
        )

    in_database(world.dash, add)

    async def one_pass() -> int:
        pool = await asyncpg.create_pool(world.dash.stack.database_url, min_size=1, max_size=2)
        target = f"127.0.0.1:{world.dash.stack.ledger_port}"
        async with mesh.channel(target, world.pki.files(Role.DASHBOARD)) as channel:
            client = LedgerClient(channel, lambda: world.dash.stack.admin_key)
            mailer = SmtpMailer("127.0.0.1", world.smtp_port, "reports@stablegate.test")
            sent = await ReportScheduler(pool, lambda: ReportClient.of(client), lambda: mailer).run_once(
                dt.datetime.now(dt.UTC)
            )
        await pool.close()
        return sent

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, one_pass()).result(timeout=60) == 0

    async def state(conn: asyncpg.Connection) -> asyncpg.Record:
        row: asyncpg.Record = await conn.fetchrow(
            "SELECT next_run_time, retry_time, last_error, sent_count FROM dashboard.report_subscriptions "
            "WHERE id = 'rsub_refusedmail'"
        )
        return row

    row = in_database(world.dash, state)
    # The SMTP server refused the mailbox (550): the period stays due, tried again in five minutes.
    assert row["next_run_time"] == today_midnight and row["sent_count"] == 0
    assert row["last_error"] == "MailFailed"
    assert row["retry_time"] > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    assert world.dash.mailbox.sent_to("refused-ops@ops.example") == []

    async def remove(conn: asyncpg.Connection) -> None:
        await conn.execute("DELETE FROM dashboard.report_subscriptions WHERE id = 'rsub_refusedmail'")

    in_database(world.dash, remove)


def test_an_admin_subscription_lapses_after_its_lifetime_and_a_current_one_is_sent(world: World) -> None:
    """An admin removed at the identity provider stops getting every merchant's figures when the subscription lapses."""
    today_midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    made_long_ago = dt.datetime.now(dt.UTC) - ADMIN_SUBSCRIPTION_LIFETIME - dt.timedelta(days=1)

    async def add(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO dashboard.report_subscriptions (id, owner, email, merchant_id, frequency, next_run_time, "
            "create_time) VALUES ('rsub_lapsed', 'admin:gone', 'gone@ops.example', NULL, 'daily', $1, $2), "
            "('rsub_current', 'admin:here', 'here@ops.example', NULL, 'daily', $1, now())",
            today_midnight,
            made_long_ago,
        )

    in_database(world.dash, add)
    # The dashboard's own scheduler (every second here) handles both.
    deadline = time.monotonic() + 20
    while not report_emails(world.dash.mailbox, "here@ops.example") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(report_emails(world.dash.mailbox, "here@ops.example")) == 1

    async def ids(conn: asyncpg.Connection) -> list[str]:
        rows = await conn.fetch("SELECT id FROM dashboard.report_subscriptions WHERE id LIKE 'rsub_%' ORDER BY id")
        return [r["id"] for r in rows]

    assert in_database(world.dash, ids) == ["rsub_current"]  # the lapsed one dropped, nothing sent to it
    assert world.dash.mailbox.sent_to("gone@ops.example") == []

    async def remove(conn: asyncpg.Connection) -> None:
        await conn.execute("DELETE FROM dashboard.report_subscriptions WHERE id = 'rsub_current'")

    in_database(world.dash, remove)
