"""Ledger API calls the payouts tests share: an admin's fee plan, a merchant's payout schedule, and the payouts the
scheduler made."""

from __future__ import annotations

from typing import Any

from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.merchant.v1 import payout_schedule_service_pb2 as pb
from stablegate.merchant.v1 import payout_schedule_service_pb2_grpc as pb_grpc

from tests.ledger.ledger_harness import Ledger


async def set_plan(ledger: Ledger, merchant: str, bps: int, fixed: str = "", minimum: str = "") -> admin_pb.FeePlan:
    """Give `merchant` a fee plan (token-unit `fixed` and `minimum`) as the admin, through SetMerchantFeePlan."""
    reply = await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(
            merchant_id=merchant, bps=bps, fixed=fixed, minimum=minimum, reason="contract 2026-11"
        ),
        metadata=ledger.auth(ledger.admin_key),
    )
    return reply.fee_plan


def schedules(ledger: Ledger) -> pb_grpc.PayoutScheduleServiceAsyncStub:
    """The merchant API's PayoutScheduleService on the ledger."""
    return pb_grpc.PayoutScheduleServiceStub(ledger.channel)


async def set_schedule(ledger: Ledger, key: str, **fields: Any) -> pb.PayoutSchedule:
    """Replace the key's merchant's payout schedule (UpdatePayoutSchedule) with `fields`; the stored schedule."""
    request = pb.UpdatePayoutScheduleRequest(**fields)
    return (await schedules(ledger).UpdatePayoutSchedule(request, metadata=ledger.auth(key))).payout_schedule


async def scheduled_payouts(ledger: Ledger, merchant: str) -> list[Any]:
    """The merchant's payouts made by the scheduler (trigger SCHEDULED), oldest first."""
    return await ledger.fetch(
        "SELECT id, amount, fee, status, request_id, settlement_address_id FROM ledger.payouts "
        "WHERE merchant_id = $1 AND payout_trigger = 'SCHEDULED' ORDER BY create_time, id",
        merchant,
    )
