"""Merchant API servicer: the payout schedule (read it, replace it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from stablegate.merchant.v1 import payout_schedule_service_pb2 as pb
from stablegate.merchant.v1 import payout_schedule_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id
from ledger.api.convert import timestamp
from ledger.core import LedgerCore
from ledger.domain import payout_schedules as rules
from ledger.domain.invoices import check_text
from ledger.domain.money import format_amount, parse_amount
from ledger.store import merchants as merchant_store
from ledger.store import outbox
from ledger.store import payout_schedules as store
from ledger.store import settlement_addresses as address_store
from service_runtime.errors import FailedPrecondition, InvalidArgument, NotFound

Context = grpc.aio.ServicerContext[Any, Any]
MAX_HOUR = 23
MAX_WEEKDAY = 7


def schedule_message(schedule: rules.ScheduleRecord, decimals: int) -> pb.PayoutSchedule:
    """The API's PayoutSchedule: amounts in token units and base units."""
    return pb.PayoutSchedule(
        merchant_id=schedule.merchant_id,
        frequency=pb.PayoutFrequency.Value(f"PAYOUT_FREQUENCY_{schedule.frequency}"),
        weekday=schedule.weekday,
        hour_utc=schedule.hour_utc,
        threshold=format_amount(schedule.threshold, decimals) if schedule.threshold else "",
        threshold_base_units=str(schedule.threshold) if schedule.threshold else "",
        settlement_address_id=schedule.settlement_address_id or "",
        minimum_amount=format_amount(schedule.minimum_amount, decimals),
        minimum_amount_base_units=str(schedule.minimum_amount),
        update_time=timestamp(schedule.update_time),
        last_run_time=timestamp(schedule.last_run_time),
        last_outcome=schedule.last_outcome,
        last_payout_id=schedule.last_payout_id or "",
        auto_refund_overpayments=schedule.auto_refund_overpayments,
    )


def _invalid(field: str, message: str, reason: str = "FIELD_INVALID") -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


class PayoutSchedules(pb_grpc.PayoutScheduleServiceServicer):
    """Read and replace the calling merchant's payout schedule."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    def _current(self, schedule: rules.ScheduleRecord | None, owner: str) -> rules.ScheduleRecord:
        if schedule is not None:
            return schedule
        return dataclasses.replace(rules.manual(owner), minimum_amount=self.core.settings.payout_minimum_base_units)

    async def GetPayoutSchedule(
        self, request: pb.GetPayoutScheduleRequest, context: Context
    ) -> pb.GetPayoutScheduleResponse:
        """The caller's schedule (MANUAL when it never set one)."""
        owner = merchant_id()
        async with self.core.pool.acquire() as conn:
            schedule = self._current(await store.get(conn, owner), owner)
        return pb.GetPayoutScheduleResponse(payout_schedule=schedule_message(schedule, self.core.terms.token_decimals))

    def _checked(self, owner: str, request: pb.UpdatePayoutScheduleRequest) -> rules.ScheduleRecord:
        """The requested schedule, or a refusal naming the field (nothing is read or stored yet)."""
        d = self.core.terms.token_decimals
        names = {pb.PayoutFrequency.Value(f"PAYOUT_FREQUENCY_{f}"): f for f in rules.FREQUENCIES}
        if request.frequency and request.frequency not in names:
            raise _invalid("frequency", "frequency must be MANUAL, DAILY, WEEKLY or THRESHOLD")
        frequency: rules.Frequency = names.get(request.frequency, "MANUAL")
        if frequency == "WEEKLY":
            if not 1 <= request.weekday <= MAX_WEEKDAY:
                raise _invalid("weekday", "weekday must be 1 (Monday) to 7 (Sunday) for WEEKLY", "WEEKDAY_OUT_OF_RANGE")
        elif request.weekday:
            raise _invalid("weekday", "weekday is only for WEEKLY schedules", "FIELD_NOT_APPLICABLE")
        if not 0 <= request.hour_utc <= MAX_HOUR:
            raise _invalid("hour_utc", "hour_utc must be 0 to 23", "HOUR_OUT_OF_RANGE")
        if request.hour_utc and frequency not in ("DAILY", "WEEKLY"):
            raise _invalid("hour_utc", "hour_utc is only for DAILY and WEEKLY schedules", "FIELD_NOT_APPLICABLE")
        threshold = 0
        if frequency == "THRESHOLD":
            if not request.threshold:
                raise _invalid("threshold", "threshold is required for THRESHOLD schedules", "FIELD_REQUIRED")
            threshold = parse_amount(request.threshold, d, field="threshold")
        elif request.threshold:
            raise _invalid("threshold", "threshold is only for THRESHOLD schedules", "FIELD_NOT_APPLICABLE")
        ledger_minimum = self.core.settings.payout_minimum_base_units
        minimum = parse_amount(request.minimum_amount, d, field="minimum_amount") if request.minimum_amount else 0
        if request.minimum_amount and minimum < ledger_minimum:
            raise InvalidArgument(
                "minimum_amount is below the smallest payout the ledger makes",
                reason="PAYOUT_BELOW_MINIMUM",
                metadata={"field": "minimum_amount", "minimumBaseUnits": str(ledger_minimum)},
            )
        address_id = check_text(request.settlement_address_id, "settlement_address_id", 200)
        if frequency != "MANUAL" and not address_id:
            raise _invalid("settlement_address_id", "settlement_address_id is required unless MANUAL", "FIELD_REQUIRED")
        return rules.ScheduleRecord(
            merchant_id=owner,
            frequency=frequency,
            weekday=request.weekday,
            hour_utc=request.hour_utc,
            threshold=threshold,
            settlement_address_id=address_id or None,
            minimum_amount=max(minimum, ledger_minimum),
            update_time=None,
            auto_refund_overpayments=request.auto_refund_overpayments,
        )

    async def UpdatePayoutSchedule(
        self, request: pb.UpdatePayoutScheduleRequest, context: Context
    ) -> pb.UpdatePayoutScheduleResponse:
        """Replace the caller's schedule; `payout_schedule.updated` in the same transaction."""
        owner = merchant_id()
        wanted = self._checked(owner, request)
        now: dt.datetime = self.core.now()
        d = self.core.terms.token_decimals
        async with self.core.pool.acquire() as conn, conn.transaction():
            await merchant_store.get(conn, owner, for_update=True)
            if wanted.settlement_address_id is not None:
                found = await address_store.get(conn, owner, wanted.settlement_address_id)
                if found is None:
                    raise NotFound(
                        f"no settlement address {wanted.settlement_address_id}",
                        reason="SETTLEMENT_ADDRESS_NOT_FOUND",
                        metadata={"field": "settlement_address_id"},
                    )
                if found[0].state == "REVOKED":
                    raise FailedPrecondition(
                        "the settlement address is revoked",
                        reason="SETTLEMENT_ADDRESS_REVOKED",
                        metadata={"field": "settlement_address_id"},
                    )
            stored = await store.upsert(conn, wanted, now)
            message = schedule_message(stored, d)
            await outbox.append(
                conn,
                event_type="payout_schedule.updated",
                merchant_id=owner,
                subject_id=owner,
                data=MessageToDict(message, preserving_proto_field_name=True),
            )
        return pb.UpdatePayoutScheduleResponse(payout_schedule=message)
