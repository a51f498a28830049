"""Email and SMS notifications: which events may go by which channel, and what a message says.

Plain code. The fan-out (`ledger/dispatch.py`) makes notifications from outbox events for merchants who opted
in; the notifier (`ledger/notify.py`) sends them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.domain.webhooks import EVENT_TYPES, RETRY_HORIZON, next_delay
from ledger.errors import InvalidField

CRITICAL_EVENTS = ("webhook_endpoint.disabled", "merchant.balance_shortfall", "settlement_address.created")
"""Events that need a person, the only ones SMS carries. The issue's other critical events (a payout waiting
for approval, a reconciliation difference, a hot wallet threshold) are not emitted by the ledger yet."""
EMAIL_EVENTS = tuple(t for t in EVENT_TYPES if t != "webhook.test")
SMS_LIMIT = 320


@dataclass(frozen=True)
class Preferences:
    """A merchant's notification preferences; empty event lists mean opted out of that channel."""

    merchant_id: str
    email_address: str
    email_events: tuple[str, ...]
    sms_number: str
    sms_events: tuple[str, ...]


def check_preferences(email_events: Sequence[str], sms_events: Sequence[str], sms_number: str) -> None:
    """Known event types; SMS only for critical events and only with a number."""
    for value in email_events:
        if value not in EMAIL_EVENTS:
            raise InvalidField(
                f"email_events: {value[:100]!r} is no event type", reason="EVENT_TYPE_UNKNOWN", field="email_events"
            )
    for value in sms_events:
        if value not in CRITICAL_EVENTS:
            raise InvalidField(
                f"sms_events: only critical events go by SMS ({', '.join(CRITICAL_EVENTS)})",
                reason="EVENT_NOT_CRITICAL",
                field="sms_events",
            )
    if sms_events and not sms_number:
        raise InvalidField("sms_number is required for SMS", reason="FIELD_REQUIRED", field="sms_number")


@dataclass(frozen=True)
class Message:
    """One notification to send."""

    channel: str
    recipient: str
    subject: str
    body: str


def _summary(event_type: str, data: dict[str, Any]) -> str:
    if event_type == "webhook_endpoint.disabled":
        return f"Webhook endpoint {data.get('url', '')} was disabled ({data.get('disabled_reason', '')})."
    if event_type == "settlement_address.created":
        return (
            f"A new settlement address {data.get('address', '')} was registered; if it was not you, revoke it "
            f"({data.get('id', '')}) and rotate your API keys."
        )
    if event_type == "merchant.balance_shortfall":
        return (
            f"A reversal of payment {data.get('payment_id', '')} exceeded your available balance by "
            f"{data.get('shortfall_base_units', '')} base units of {data.get('asset', '')}."
        )
    subject = data.get("id") or data.get("payment_id") or ""
    status = data.get("status", "")
    return f"{event_type} {subject} {status}".strip() + "."


def messages(
    prefs: Preferences, contact_email: str, event_id: str, event_type: str, data: dict[str, Any]
) -> list[Message]:
    """The email and SMS that an event makes for a merchant with these preferences (none if opted out)."""
    found: list[Message] = []
    summary = _summary(event_type, data)
    address = prefs.email_address or contact_email
    if event_type in prefs.email_events and address:
        body = f"{summary}\n\nEvent {event_id} ({event_type}):\n{json.dumps(data, indent=2, sort_keys=True)}\n"
        found.append(Message("email", address, f"[stablegate] {event_type}: {summary}"[:200], body))
    if event_type in prefs.sms_events and event_type in CRITICAL_EVENTS and prefs.sms_number:
        found.append(Message("sms", prefs.sms_number, "", f"stablegate: {summary}"[:SMS_LIMIT]))
    return found


def next_attempt(attempts_made: int, now: dt.datetime, event_time: dt.datetime, jitter: float) -> dt.datetime | None:
    """When a failed notification is tried again (the webhook schedule), or None once past 72 h."""
    due = now + next_delay(attempts_made, jitter)
    return None if due > event_time + RETRY_HORIZON else due
