"""Notification emails (dashboard/notify.py): an invoice paid at the real ledger is emailed once to each opted-in
team member who may see invoices, by any number of replicas, and a failed send is retried without repeats.

The ledger, the edge, Envoy and the dashboard (which applies its migrations; its own notifier off, so the test's
notifiers are the only ones) run as processes on a fresh database; payments are reported to the ledger as the
watcher would; email goes to a real SMTP server (aiosmtpd). The notifiers run in this process against them, as
the dashboard's replicas would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import redis.asyncio as redis
from aiohttp import web

from dashboard.app import Parts, make_app
from dashboard.config import DashboardSettings
from dashboard.ledger_client import LedgerClient
from dashboard.mailer import SmtpMailer
from dashboard.notify import SETTLE, Notifier
from dashboard.sealing import Sealer
from dashboard.sessions import SessionStore
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.dashboard.conftest import DashboardStack, Mailbox, launched_dashboard
from tests.dashboard.test_dashboard_reports import UNIT, merchant_key, pay

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

pytestmark = pytest.mark.timeout(180)

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$notarealhashnotarealhash"
"""A stored password hash's shape (nobody signs in here)."""
SEALER = Sealer(secrets.token_bytes(32))
"""The replicas' sealing key (one per dashboard, as STABLEGATE_DASHBOARD_SECRET_KEY)."""


@pytest.fixture(scope="module")
def notify_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DashboardStack]:
    """The mesh with the dashboard (its own notifier off)."""
    base = Path(tmp_path_factory.mktemp("dashboard-notify"))
    env = {"STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO"}  # launch_stack turns the dashboard's own notifier off
    with launched_dashboard(postgres, redis_server, mesh_pki, mailbox, base, env=env) as made:
        yield made


async def make_merchant(dash: DashboardStack, sealer: Sealer, team: dict[str, tuple[str, bool]]) -> tuple[str, str]:
    """A merchant onboarded at the ledger and known to the dashboard, with a team: email -> (role, invoice_paid)."""
    made = dash.stack.call(
        "POST", "/admin/v1/merchants", {"name": "Notify Me Ltd", "contact_email": "ops@n.example"}, dash.stack.admin_key
    )
    assert made.status == 200, made.body
    merchant_id: str = made.json()["id"]
    key = merchant_key(dash, merchant_id)
    conn = await asyncpg.connect(dash.stack.database_url)
    try:
        await conn.execute(
            "INSERT INTO dashboard.merchants (merchant_id, name, read_key_sealed) VALUES ($1, $2, $3)",
            merchant_id,
            "Notify Me Ltd",
            sealer.seal(key, merchant_id),
        )
        for email, (role, wants) in team.items():
            user_id = "usr_" + secrets.token_hex(8)
            await conn.execute(
                "INSERT INTO dashboard.users (id, email, password_hash, team_role, merchant_id, email_verify_time) "
                "VALUES ($1, $2, $3, $4, $5, now())",
                user_id,
                email,
                HASH,
                role,
                merchant_id,
            )
            if not wants:
                await conn.execute(
                    "INSERT INTO dashboard.notification_preferences (user_id, invoice_paid) VALUES ($1, false)",
                    user_id,
                )
    finally:
        await conn.close()
    return merchant_id, key


def notifiers(
    pool: asyncpg.Pool, client: LedgerClient, sealer: Sealer, mailer: SmtpMailer, count: int
) -> list[Notifier]:
    """`count` replicas' notifiers over one database, ledger and SMTP server."""
    return [
        Notifier(pool, lambda: client, lambda: sealer, lambda: mailer, "https://dash.example", retry_seconds=60)
        for _ in range(count)
    ]


async def test_a_paid_invoice_is_emailed_once_to_each_opted_in_member_by_two_replicas(
    notify_stack: DashboardStack, mesh_pki: DevMesh, mailbox: tuple[Mailbox, int]
) -> None:
    dash, (box, smtp_port) = notify_stack, mailbox
    sealer = SEALER
    tag = secrets.token_hex(3)
    team = {
        f"owner-{tag}@m.example": ("owner", True),
        f"finance-{tag}@m.example": ("finance", True),
        f"dev-{tag}@m.example": ("developer", True),
        f"quiet-{tag}@m.example": ("read_only", False),
    }
    merchant_id, key = await make_merchant(dash, sealer, team)
    pool = await asyncpg.create_pool(dash.stack.database_url, min_size=2, max_size=4)
    target = f"127.0.0.1:{dash.stack.ledger_port}"
    try:
        async with mesh.channel(target, mesh_pki.files(Role.DASHBOARD)) as channel:
            client = LedgerClient(channel, lambda: dash.stack.admin_key)
            mailer = SmtpMailer("127.0.0.1", smtp_port, "notify@stablegate.test")
            two = notifiers(pool, client, sealer, mailer, 2)
            # The first pass starts the merchant's cursor: nothing paid before it is emailed.
            before = await asyncio.to_thread(pay, dash, mesh_pki, key, "3", 3 * UNIT)
            await asyncio.sleep(0.05)
            assert await two[0].run_once(dt.datetime.now(dt.UTC)) == 0
            invoice_id = await asyncio.to_thread(pay, dash, mesh_pki, key, "7", 7 * UNIT)
            sent = await asyncio.gather(*(n.run_once(dt.datetime.now(dt.UTC)) for n in two))
            assert sum(sent) == 3  # owner, finance, developer: each once, whichever replica sent it
            assert await two[1].run_once(dt.datetime.now(dt.UTC)) == 0  # and never again
    finally:
        await pool.close()
    for email, (_, wants) in team.items():
        got = box.sent_to(email)
        assert len(got) == (1 if wants else 0), email
        if wants:
            assert got[0]["Subject"] == f"Invoice {invoice_id} paid: 7 USDT"
            raw = got[0].get_payload(decode=True)
            assert isinstance(raw, bytes)
            body = raw.decode()
            assert f"https://dash.example/dashboard/invoices/{invoice_id}" in body
            assert before not in body and key not in body  # no history, no key
    conn = await asyncpg.connect(dash.stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_key FROM dashboard.notifications_sent WHERE merchant_id = $1", merchant_id
        )
    finally:
        await conn.close()
    assert [r["event_key"] for r in rows] == [f"invoice.paid:{invoice_id}"] * 3


async def test_a_failed_send_is_retried_later_without_repeating_what_went_out(
    notify_stack: DashboardStack, mesh_pki: DevMesh, mailbox: tuple[Mailbox, int]
) -> None:
    dash, (box, smtp_port) = notify_stack, mailbox
    sealer = SEALER
    tag = secrets.token_hex(3)
    # The SMTP server refuses the second recipient's mailbox (550): the pass fails after the first email.
    first, refused = f"a-{tag}@m.example", f"refused-{tag}@m.example"
    merchant_id, key = await make_merchant(dash, sealer, {first: ("owner", True), refused: ("finance", True)})
    pool = await asyncpg.create_pool(dash.stack.database_url, min_size=1, max_size=2)
    target = f"127.0.0.1:{dash.stack.ledger_port}"
    try:
        async with mesh.channel(target, mesh_pki.files(Role.DASHBOARD)) as channel:
            client = LedgerClient(channel, lambda: dash.stack.admin_key)
            [notifier] = notifiers(pool, client, sealer, SmtpMailer("127.0.0.1", smtp_port, "n@stablegate.test"), 1)
            start = dt.datetime.now(dt.UTC)
            assert await notifier.run_once(start) == 0  # the cursor starts
            invoice_id = await asyncio.to_thread(pay, dash, mesh_pki, key, "5", 5 * UNIT)
            now = dt.datetime.now(dt.UTC)
            assert await notifier.run_once(now) == 1  # the first went out, then the refusal
            async with pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT paid_after, retry_time, last_error FROM dashboard.notification_cursors "
                    "WHERE merchant_id = $1",
                    merchant_id,
                )
                assert row["paid_after"] <= now and row["retry_time"] == now + dt.timedelta(seconds=60)
                assert row["last_error"] == "MailFailed"
                assert await notifier.run_once(now + dt.timedelta(seconds=30)) == 0  # not yet due
                # The member's mailbox is fixed (the address changed): the retry sends only the rest.
                await conn.execute(
                    "UPDATE dashboard.users SET email = $1 WHERE email = $2", f"b-{tag}@m.example", refused
                )
                assert await notifier.run_once(now + dt.timedelta(seconds=61)) == 1
                row = await conn.fetchrow(
                    "SELECT paid_after, retry_time, last_error FROM dashboard.notification_cursors "
                    "WHERE merchant_id = $1",
                    merchant_id,
                )
                assert row["retry_time"] is None and row["last_error"] is None
                assert row["paid_after"] == start  # it trails now by SETTLE, and never moves back
                # Much later the cursor has passed the payment; still nothing is sent again.
                assert await notifier.run_once(now + SETTLE + dt.timedelta(hours=1)) == 0
    finally:
        await pool.close()
    assert len(box.sent_to(first)) == 1
    assert len(box.sent_to(f"b-{tag}@m.example")) == 1
    assert box.sent_to(f"b-{tag}@m.example")[0]["Subject"] == f"Invoice {invoice_id} paid: 5 USDT"


async def test_the_dashboard_app_runs_its_notifier_while_it_runs(
    notify_stack: DashboardStack,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dash, (box, smtp_port) = notify_stack, mailbox
    tag = secrets.token_hex(3)
    owner = f"app-{tag}@m.example"
    merchant_id, key = await make_merchant(dash, SEALER, {owner: ("owner", True)})
    for name, value in mesh_pki.files(Role.DASHBOARD).env("dashboard").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STABLEGATE_DASHBOARD_PUBLIC_URL", "https://dash.example")
    settings = DashboardSettings(notify_interval_seconds=0.2)  # type: ignore[call-arg]
    pool = await asyncpg.create_pool(dash.stack.database_url, min_size=1, max_size=2)
    cache = redis.from_url(redis_server.url)
    target = f"127.0.0.1:{dash.stack.ledger_port}"
    try:
        async with mesh.channel(target, mesh_pki.files(Role.DASHBOARD)) as channel:
            client = LedgerClient(channel, lambda: dash.stack.admin_key)
            mailer = SmtpMailer("127.0.0.1", smtp_port, "notify@stablegate.test")
            sessions = SessionStore(cache, idle_seconds=60, absolute_seconds=600)
            made = Parts(pool=pool, sessions=sessions, ledger=client, sealer=SEALER, mailer=mailer)
            runner = web.AppRunner(make_app(settings, made))
            await runner.setup()  # on_startup: the notifier task starts
            try:
                async with pool.acquire() as conn:
                    for _ in range(100):  # its first pass starts the merchant's cursor
                        if await conn.fetchval(
                            "SELECT 1 FROM dashboard.notification_cursors WHERE merchant_id = $1", merchant_id
                        ):
                            break
                        await asyncio.sleep(0.1)
                invoice_id = await asyncio.to_thread(pay, dash, mesh_pki, key, "2", 2 * UNIT)
                for _ in range(100):
                    if box.sent_to(owner):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1)  # five more passes
            finally:
                await runner.cleanup()  # on_cleanup: the task is cancelled
    finally:
        await pool.close()
        await cache.aclose()
    got = box.sent_to(owner)
    assert len(got) == 1 and got[0]["Subject"] == f"Invoice {invoice_id} paid: 2 USDT"
