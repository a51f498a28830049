"""Verification emails over SMTP (stdlib smtplib in a thread), optionally with STARTTLS and a login."""

from __future__ import annotations

import asyncio
import secrets
import smtplib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class MailFailed(RuntimeError):
    """The email could not be handed to the SMTP server (the message names no secret)."""


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email (e.g. a scheduled report's CSV)."""

    filename: str
    maintype: str
    subtype: str
    data: bytes


class Mailer(Protocol):
    """Sends one email."""

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        """Hand the email to the server; MailFailed if it cannot."""
        ...


def compose(sender: str, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    """A plain-text email, with its attachments if any."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    for item in attachments:
        message.add_attachment(item.data, maintype=item.maintype, subtype=item.subtype, filename=item.filename)
    return message


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

    def _send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        message = compose(self.sender, to, subject, body, attachments)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        """Hand the email to the server; MailFailed on any SMTP or network failure."""
        try:
            await asyncio.to_thread(self._send, to, subject, body, attachments)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailFailed(f"smtp: {type(exc).__name__}") from exc


class NoMailer:
    """Email is off (no SMTP host configured): sign-up says verification email cannot be sent."""

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        """Always MailFailed."""
        raise MailFailed("email is not configured (STABLEGATE_DASHBOARD_SMTP_HOST)")


@dataclass
class FileMailer:
    """Development only: each email written as an .eml file (mode 0600) in a directory, for `stablegate up`."""

    directory: Path
    sender: str

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        """Write the email to `<directory>/<time>-<random>.eml`."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
            path = self.directory / name
            path.touch(mode=0o600)
            path.write_bytes(bytes(compose(self.sender, to, subject, body, attachments)))
        except OSError as exc:
            raise MailFailed(f"mail_dir: {type(exc).__name__}") from exc
