"""Verification emails over SMTP (stdlib smtplib in a thread), optionally with STARTTLS and a login."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol


class MailFailed(RuntimeError):
    """The email could not be handed to the SMTP server (the message names no secret)."""


class Mailer(Protocol):
    """Sends one email."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Hand the email to the server; MailFailed if it cannot."""
        ...


@dataclass
class SmtpMailer:
    """Email through an SMTP server."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0

    def _send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        """Hand the email to the server; MailFailed on any SMTP or network failure."""
        try:
            await asyncio.to_thread(self._send, to, subject, body)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailFailed(f"smtp: {type(exc).__name__}") from exc


class NoMailer:
    """Email is off (no SMTP host configured): sign-up says verification email cannot be sent."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Always MailFailed."""
        raise MailFailed("email is not configured (STABLEGATE_DASHBOARD_SMTP_HOST)")
