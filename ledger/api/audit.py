"""The admin audit log: recording an admin action in its own transaction, and AuditLogService to read it."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
from google.protobuf import struct_pb2
from stablegate.admin.v1 import audit_log_service_pb2 as pb
from stablegate.admin.v1 import audit_log_service_pb2_grpc as pb_grpc

from ledger.api.acting import current_acting_user
from ledger.api.auth import current_principal
from ledger.api.convert import from_timestamp, timestamp
from ledger.core import LedgerCore
from ledger.domain.audit import AuditEvent
from ledger.domain.ids import new_id
from ledger.store import audit as audit_store
from service_runtime.errors import InvalidArgument
from service_runtime.pagination import decode_token, encode_token, page_size

Context = grpc.aio.ServicerContext[Any, Any]

AUDIT_PAGE_DEFAULT = 100
AUDIT_PAGE_MAX = 1000
REQUEST_ID_HEADER = "x-request-id"


def actor_of_current_call() -> tuple[str, dict[str, str]]:
    """Who is acting in this RPC (from the verified key), and details naming them."""
    who = current_principal.get()
    if who is None:
        return "unknown", {}
    if who.kind == "admin":
        return f"admin_key:{who.key_id}", {"adminName": who.name, "roles": ",".join(sorted(who.roles))}
    return f"merchant_key:{who.key_id}", {}


async def record(
    conn: asyncpg.Connection,
    core: LedgerCore,
    context: Context | None,
    *,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append the audit event of an admin action in the action's transaction (both commit, or neither)."""
    actor, who = actor_of_current_call()
    acting = current_acting_user.get()
    request_id = ""
    if context is not None:
        metadata = dict(context.invocation_metadata() or ())
        request_id = str(metadata.get(REQUEST_ID_HEADER, ""))[:200]
    event = AuditEvent(
        id=new_id("aud"),
        sequence=0,
        actor=actor,
        action=action,
        subject=subject,
        event_time=core.now(),
        # The person acting through the dashboard goes next to the key's own details, last so that no detail of
        # the action can shadow it (ledger/api/acting.py says when it is believed).
        details={**who, **(details or {}), **(acting.audit_details() if acting is not None else {})},
        request_id=request_id,
    )
    return await audit_store.append(conn, event)


def audit_event_message(event: AuditEvent) -> pb.AuditEvent:
    """The admin API's AuditEvent."""
    details = struct_pb2.Struct()
    details.update(event.details)
    return pb.AuditEvent(
        id=event.id,
        sequence=event.sequence,
        actor=event.actor,
        action=event.action,
        subject=event.subject,
        event_time=timestamp(event.event_time),
        details=details,
        request_id=event.request_id,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


class AuditLog(pb_grpc.AuditLogServiceServicer):
    """Read the admin audit log, newest first, with filters."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def ListAuditEvents(self, request: pb.ListAuditEventsRequest, context: Context) -> pb.ListAuditEventsResponse:
        """A page of events matching the request's filters."""
        limit = page_size(request.page_size, default=AUDIT_PAGE_DEFAULT, maximum=AUDIT_PAGE_MAX)
        start = (
            from_timestamp(request.event_time_start, "event_time_start")
            if request.HasField("event_time_start")
            else None
        )
        end = from_timestamp(request.event_time_end, "event_time_end") if request.HasField("event_time_end") else None
        if start is not None and end is not None and end <= start:
            raise InvalidArgument(
                "event_time_end must be after event_time_start",
                reason="TIME_RANGE_INVALID",
                metadata={"field": "event_time_end"},
            )
        query = "|".join((request.actor, request.action, request.subject, str(start or ""), str(end or "")))
        position = decode_token(request.page_token, query)
        before = position.get("before") if position is not None else None
        if before is not None and not isinstance(before, int):
            raise InvalidArgument(
                "page_token is corrupt", reason="PAGE_TOKEN_INVALID", metadata={"field": "page_token"}
            )
        async with self.core.pool.acquire() as conn:
            events = await audit_store.list_page(
                conn,
                before=before,
                limit=limit,
                actor=request.actor,
                action=request.action,
                subject=request.subject,
                start=start,
                end=end,
            )
        token = encode_token({"before": events[-1].sequence}, query) if len(events) == limit else ""
        return pb.ListAuditEventsResponse(audit_events=[audit_event_message(e) for e in events], next_page_token=token)
