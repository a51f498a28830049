"""Dashboard fixtures: the dashboard behind a real Envoy, with a real ledger, Postgres, Redis and SMTP server."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from playwright.sync_api import Browser, BrowserContext, ViewportSize, sync_playwright

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.edge.conftest import Stack, launch_stack

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

CHROMIUM = "/usr/bin/chromium"
REFUSED_PREFIX = "refused-"
"""The SMTP server refuses mail to addresses starting with this (550), like a real server refusing a mailbox."""
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Mailbox:
    """What the SMTP server (aiosmtpd, on loopback) accepted, readable from the test's thread."""

    messages: list[Message] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if any(to.startswith(REFUSED_PREFIX) for to in envelope.rcpt_tos):
            return "550 mailbox unavailable"
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        with self.changed:
            self.messages.append(email.message_from_bytes(content))
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, timeout: float = 10.0) -> Message:
        """The newest message to `to`, waiting for one to arrive."""
        with self.changed:
            found = self.changed.wait_for(lambda: any(m["To"] == to for m in self.messages), timeout=timeout)
            assert found, f"no email to {to}"
            return [m for m in self.messages if m["To"] == to][-1]

    def sent_to(self, to: str) -> list[Message]:
        """Every message to `to` so far."""
        with self.changed:
            return [m for m in self.messages if m["To"] == to]


@dataclass(frozen=True)
class DashboardStack:
    """The stack and its mailbox."""

    stack: Stack
    mailbox: Mailbox
    log: Path
    """The dashboard service's log (INFO and above)."""

    @property
    def url(self) -> str:
        """The dashboard's public root through Envoy."""
        return f"http://127.0.0.1:{self.stack.port}/dashboard/"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free loopback port."""
    box = Mailbox()
    port = parts.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def dashboard_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DashboardStack]:
    """Envoy serving the merchant API and the dashboard, the ledger, the edge and the dashboard service."""
    env = {
        "STABLEGATE_DASHBOARD_SMTP_HOST": "127.0.0.1",
        "STABLEGATE_DASHBOARD_SMTP_PORT": str(mailbox[1]),
        # INFO: the tests read the log for what must never be in it.
        "STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO",
    }
    with launched_dashboard(
        postgres, redis_server, mesh_pki, mailbox, tmp_path_factory.mktemp("dashboard"), env=env
    ) as made:
        yield made


@contextmanager
def launched_dashboard(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    base: Path,
    *,
    env: dict[str, str],
    listen_port: int | None = None,
) -> Iterator[DashboardStack]:
    """The mesh under `base` (tests.edge.conftest.launch_stack) with `env` as the dashboard's extra environment.

    Its mail is read from `mailbox`; every part started here is stopped at the end.
    """
    started: list[parts.RunningProcess] = []
    try:
        stack = launch_stack(
            postgres, redis_server, mesh_pki, base, started, dashboard_env=env, listen_port=listen_port
        )[0]
        yield DashboardStack(stack, mailbox[0], base / "dashboard.log")
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no downloaded browser)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) at the size the test asks for (desktop unless parametrized)."""
    size: ViewportSize = getattr(request, "param", DESKTOP)
    made = browser.new_context(viewport=size, device_scale_factor=1)
    try:
        yield made
    finally:
        made.close()
