"""Internal OperatorEventService: other services' operator alerts, written to the ledger's outbox."""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
from google.protobuf import json_format
from stablegate.ledger.v1 import operator_event_service_pb2 as pb
from stablegate.ledger.v1 import operator_event_service_pb2_grpc as pb_grpc

from ledger.core import LedgerCore
from ledger.store import outbox
from service_runtime.errors import AlreadyExists, InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]

OPERATOR_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "reconciliation.difference",
        "reconciliation.failed",
        "treasury.above_ceiling",
        "treasury.below_floor",
        "gas.key_below_floor",
        "cold_move.awaiting_approval",
    }
)
"""The event types other services may record: operators' alerts only, never a merchant's event."""

_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _invalid(field: str, message: str, reason: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


class OperatorEvents(pb_grpc.OperatorEventServiceServicer):
    """Record an operator event once per event id, in the outbox, with no merchant."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def RecordOperatorEvent(
        self, request: pb.RecordOperatorEventRequest, context: Context
    ) -> pb.RecordOperatorEventResponse:
        """Write the event to the outbox; a replay with the same content is a no-op, with other content refused."""
        event = request.event
        if not _EVENT_ID.match(event.event_id):
            raise _invalid("event.event_id", "event_id must be 1-200 of [A-Za-z0-9_.:-]", "EVENT_ID_INVALID")
        if event.event_type not in OPERATOR_EVENT_TYPES:
            raise InvalidArgument(
                f"event_type must be one of {', '.join(sorted(OPERATOR_EVENT_TYPES))}",
                reason="EVENT_TYPE_NOT_ALLOWED",
                metadata={"field": "event.event_type", "eventType": event.event_type},
            )
        if not event.subject_id or len(event.subject_id) > 200:
            raise _invalid("event.subject_id", "subject_id is required (at most 200 characters)", "FIELD_REQUIRED")
        data = json_format.MessageToDict(event.data)
        payload = {"id": event.event_id, "type": event.event_type, "data": data}
        async with self.core.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT event_type, subject_id, payload, create_time FROM ledger.outbox WHERE event_id = $1",
                event.event_id,
            )
            created = existing is None
            if existing is None:
                await outbox.append(
                    conn,
                    event_type=event.event_type,
                    merchant_id=None,
                    subject_id=event.subject_id,
                    data=data,
                    event_id=event.event_id,
                )
                existing = await conn.fetchrow(
                    "SELECT event_type, subject_id, payload, create_time FROM ledger.outbox WHERE event_id = $1",
                    event.event_id,
                )
            same = (
                existing["event_type"] == event.event_type
                and existing["subject_id"] == event.subject_id
                and json.loads(existing["payload"]) == payload
            )
            if not same:
                raise AlreadyExists(
                    f"event {event.event_id} was already recorded with other content",
                    reason="EVENT_ID_REUSED",
                    metadata={"eventId": event.event_id},
                )
        recorded = pb.OperatorEvent()
        recorded.CopyFrom(event)
        recorded.create_time.FromDatetime(existing["create_time"])
        return pb.RecordOperatorEventResponse(event=recorded, created=created)
