"""Queries for the merchant pages (schema `dashboard`, migration 0003): the sealed per-merchant key, preferences."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Preferences:
    """What a merchant user wants to be emailed about (all on unless they changed it)."""

    invoice_paid: bool = True
    webhook_failing: bool = True
    payout_sent: bool = True
    weekly_summary: bool = True


PREFERENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("invoice_paid", "An invoice is paid"),
    ("webhook_failing", "A webhook endpoint keeps failing"),
    ("payout_sent", "A payout or refund is sent"),
    ("weekly_summary", "A weekly summary of payments"),
)
"""Each preference's column and what it means, in the order the page shows them."""


async def ops_key_sealed(conn: asyncpg.Connection, merchant_id: str) -> bytes | None:
    """The merchant's sealed dashboard key, or None when none was made yet."""
    sealed = await conn.fetchval("SELECT ops_key_sealed FROM dashboard.merchants WHERE merchant_id = $1", merchant_id)
    return bytes(sealed) if sealed is not None else None


async def keep_ops_key(conn: asyncpg.Connection, merchant_id: str, sealed: bytes) -> bool:
    """Store the sealed key unless one is stored already (another request won the race); True when stored."""
    stored = await conn.fetchval(
        "UPDATE dashboard.merchants SET ops_key_sealed = $2 WHERE merchant_id = $1 AND ops_key_sealed IS NULL "
        "RETURNING merchant_id",
        merchant_id,
        sealed,
    )
    return stored is not None


async def preferences(conn: asyncpg.Connection, user_id: str) -> Preferences:
    """The user's notification preferences (the defaults when never saved)."""
    row = await conn.fetchrow(
        "SELECT invoice_paid, webhook_failing, payout_sent, weekly_summary "
        "FROM dashboard.notification_preferences WHERE user_id = $1",
        user_id,
    )
    if row is None:
        return Preferences()
    return Preferences(row["invoice_paid"], row["webhook_failing"], row["payout_sent"], row["weekly_summary"])


async def save_preferences(conn: asyncpg.Connection, user_id: str, prefs: Preferences) -> None:
    """Store the user's notification preferences."""
    await conn.execute(
        "INSERT INTO dashboard.notification_preferences "
        "(user_id, invoice_paid, webhook_failing, payout_sent, weekly_summary) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (user_id) DO UPDATE SET invoice_paid = $2, webhook_failing = $3, payout_sent = $4, "
        "weekly_summary = $5, update_time = now()",
        user_id,
        prefs.invoice_paid,
        prefs.webhook_failing,
        prefs.payout_sent,
        prefs.weekly_summary,
    )
