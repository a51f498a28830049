"""Fee plan rows: each merchant's plan, and the append-only history of changes (who, when, why)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from ledger.domain.fees import FeePlan


@dataclass(frozen=True)
class StoredPlan:
    """A merchant's plan as stored; `custom` is False when the merchant has none and the default applies."""

    merchant_id: str
    plan: FeePlan
    custom: bool
    update_time: dt.datetime | None
    updated_by: str


async def plan_of(conn: asyncpg.Connection, merchant_id: str, default: FeePlan) -> StoredPlan:
    """The merchant's plan, or `default` when it has none of its own."""
    row = await conn.fetchrow(
        "SELECT bps, fixed, minimum, update_time, updated_by FROM ledger.fee_plans WHERE merchant_id = $1", merchant_id
    )
    if row is None:
        return StoredPlan(merchant_id, default, False, None, "")
    plan = FeePlan(bps=int(row["bps"]), fixed=int(row["fixed"]), minimum=int(row["minimum"]))
    return StoredPlan(merchant_id, plan, True, row["update_time"], row["updated_by"])


async def set_plan(
    conn: asyncpg.Connection, merchant_id: str, plan: FeePlan, *, actor: str, reason: str, now: dt.datetime
) -> StoredPlan:
    """Store the merchant's plan and append the change to its history (the caller's transaction commits both)."""
    await conn.execute(
        "INSERT INTO ledger.fee_plans (merchant_id, bps, fixed, minimum, update_time, updated_by) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id) DO UPDATE SET bps = EXCLUDED.bps, "
        "fixed = EXCLUDED.fixed, minimum = EXCLUDED.minimum, update_time = EXCLUDED.update_time, "
        "updated_by = EXCLUDED.updated_by",
        merchant_id,
        plan.bps,
        plan.fixed,
        plan.minimum,
        now,
        actor,
    )
    await conn.execute(
        "INSERT INTO ledger.fee_plan_changes (merchant_id, bps, fixed, minimum, reason, actor, create_time) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        merchant_id,
        plan.bps,
        plan.fixed,
        plan.minimum,
        reason,
        actor,
        now,
    )
    return StoredPlan(merchant_id, plan, True, now, actor)


async def invoice_plan_and_charged(conn: asyncpg.Connection, invoice_id: str) -> tuple[FeePlan, int]:
    """The plan an invoice was created under and the fee it has been charged so far (the invoice is locked)."""
    row = await conn.fetchrow(
        "SELECT fee_bps, fee_fixed, fee_minimum, fee_charged FROM ledger.invoices WHERE id = $1", invoice_id
    )
    assert row is not None
    plan = FeePlan(bps=int(row["fee_bps"]), fixed=int(row["fee_fixed"]), minimum=int(row["fee_minimum"]))
    return plan, int(row["fee_charged"])


async def credited_total(conn: asyncpg.Connection, invoice_id: str) -> int:
    """The sum of the invoice's FINAL payments (what its fee is computed on)."""
    value = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM ledger.payments WHERE invoice_id = $1 AND status = 'FINAL'", invoice_id
    )
    return int(value)


async def record_charge(conn: asyncpg.Connection, invoice_id: str, payment_id: str, fee: int, charged: int) -> None:
    """Store the fee a payment paid (credited) or 0 (reversed), and the invoice's charged fee after it."""
    await conn.execute("UPDATE ledger.payments SET fee = $2 WHERE id = $1", payment_id, fee)
    await conn.execute("UPDATE ledger.invoices SET fee_charged = $2 WHERE id = $1", invoice_id, charged)


async def history(conn: asyncpg.Connection, merchant_id: str) -> list[asyncpg.Record]:
    """Every change of the merchant's plan, oldest first."""
    return list(
        await conn.fetch(
            "SELECT bps, fixed, minimum, reason, actor, create_time FROM ledger.fee_plan_changes "
            "WHERE merchant_id = $1 ORDER BY id",
            merchant_id,
        )
    )
