"""The notifier, inside the ledger process beside the webhook sender: sends due email and SMS notifications.

Notifications are made by the webhook fan-out from the same outbox (`ledger/dispatch.py`). Every replica runs a
notifier; it claims due notifications with `FOR UPDATE SKIP LOCKED` and a lease, sends each through its channel
and retries failures on the webhook schedule (until 72 h after the event). `LISTEN ledger_notifications` wakes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import random
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import aiohttp
import asyncpg

from ledger.domain import notifications as rules
from ledger.store import notifications as store
from ledger.store.notifications import Notification

log = logging.getLogger("stablegate.ledger.notify")

IDLE_WAKE_SECONDS = 30.0
BATCH = 16


@dataclass(frozen=True)
class SendResult:
    """What one attempt did: sent, or failed and whether to try again."""

    sent: bool
    retry: bool = False
    error: str = ""
    provider_id: str = ""


class Channel(Protocol):
    """Sends one notification of its channel."""

    async def send(self, item: Notification) -> SendResult:
        """Send it; never raises for the provider's behaviour."""
        ...


@dataclass
class SmtpEmail:
    """Email over SMTP (stdlib smtplib in a thread), optionally with STARTTLS and a login."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0

    def _send(self, item: Notification) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = item.recipient
        message["Subject"] = item.subject
        message["Message-ID"] = f"<{item.id}@stablegate>"
        message.set_content(item.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(self, item: Notification) -> SendResult:
        """Send the email; a 5xx SMTP answer fails it, anything else that goes wrong is retried."""
        try:
            await asyncio.to_thread(self._send, item)
        except smtplib.SMTPResponseException as exc:
            return SendResult(False, retry=exc.smtp_code < 500, error=f"smtp {exc.smtp_code}")
        except smtplib.SMTPRecipientsRefused:
            return SendResult(False, retry=False, error="smtp: recipient refused")
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(False, retry=True, error=f"smtp: {type(exc).__name__}: {str(exc)[:200]}")
        return SendResult(True, provider_id=f"<{item.id}@stablegate>")


@dataclass
class TwilioSms:
    """SMS through an HTTP provider with Twilio's Messages API shape.

    `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form fields `To`, `From`, `Body`, HTTP basic
    auth with the account SID and auth token; the answer's `sid` is kept. 5xx, 429 and no answer are retried.
    """

    base_url: str
    account_sid: str
    auth_token: str
    sender: str
    timeout: float = 10.0
    _session: aiohttp.ClientSession | None = None

    async def send(self, item: Notification) -> SendResult:
        """Post the message; report the provider's answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        url = f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        credentials = f"{self.account_sid}:{self.auth_token}"
        try:
            async with self._session.post(
                url,
                data={"To": item.recipient, "From": self.sender, "Body": item.body},
                headers={"authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as reply:
                text = (await reply.content.read(65536)).decode(errors="replace")
                if 200 <= reply.status < 300:
                    sid = ""
                    with contextlib.suppress(ValueError, AttributeError):
                        sid = str(json.loads(text).get("sid", ""))
                    return SendResult(True, provider_id=sid)
                retry = reply.status >= 500 or reply.status == 429
                return SendResult(False, retry=retry, error=f"sms {reply.status}: {text[:200]}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, retry=True, error=f"sms: {type(exc).__name__}")

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Unconfigured:
    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, item: Notification) -> SendResult:
        return SendResult(False, retry=True, error=f"{self.name} is not configured on this gateway")


@dataclass
class Notifier:
    """Claims due notifications and sends them through their channel."""

    database_url: str
    pool: asyncpg.Pool
    email: Channel | None
    sms: Channel | None
    now: Callable[[], dt.datetime]
    lease_seconds: float = 60.0
    random: Callable[[], float] = random.random
    sent: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Look for due notifications now."""
        self._wake.set()

    def _channel(self, name: str) -> Channel:
        found = self.email if name == "email" else self.sms
        return found if found is not None else _Unconfigured(name)

    async def run(self) -> None:
        """Send due notifications until cancelled."""
        listener: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if listener is None or listener.is_closed():
                        listener = await asyncpg.connect(self.database_url)
                        await listener.add_listener("ledger_notifications", lambda *_: self._wake.set())
                    await self._round()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("notifier failed; retrying")
                    await asyncio.sleep(1.0)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(listener.close(timeout=2))
            if isinstance(self.sms, TwilioSms):
                await self.sms.close()

    async def _round(self) -> None:
        self._wake.clear()
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await store.claim_due(conn, self.now(), self.lease_seconds, BATCH)
        if claimed:
            await asyncio.gather(*(self._send(item) for item in claimed))
            return
        delay = IDLE_WAKE_SECONDS
        async with self.pool.acquire() as conn:
            due = await store.next_due_time(conn, self.now())
        if due is not None:
            delay = min(delay, max((due - self.now()).total_seconds(), 0.01))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _send(self, item: Notification) -> None:
        result = await self._channel(item.channel).send(item)
        attempts = item.attempt_count + 1
        if result.sent:
            status, due = "SENT", None
            self.sent += 1
        else:
            due = (
                rules.next_attempt(attempts, self.now(), item.event_time, self.random() * 0.1) if result.retry else None
            )
            status = "RETRYING" if due is not None else "FAILED"
            log.warning("notification failed", extra={"notificationId": item.id, "error": result.error})
        async with self.pool.acquire() as conn:
            await store.record(
                conn,
                item.id,
                status=status,
                attempts=attempts,
                next_attempt_time=due,
                error=result.error,
                provider_id=result.provider_id,
            )
