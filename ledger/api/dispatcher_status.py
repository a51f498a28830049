"""DispatcherStatusService: the webhook dispatcher's backlog, read-only (operators and the dashboard's health page)."""

from __future__ import annotations

from typing import Any

from stablegate.ledger.v1 import dispatcher_status_service_pb2 as pb
from stablegate.ledger.v1 import dispatcher_status_service_pb2_grpc as pb_grpc

from ledger.core import LedgerCore
from ledger.store import webhooks as store


class DispatcherStatus(pb_grpc.DispatcherStatusServiceServicer):
    """Counts the open deliveries now (two indexed queries, as the dispatcher's own backlog metrics do)."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def GetDispatcherStatus(
        self, request: pb.GetDispatcherStatusRequest, context: Any
    ) -> pb.GetDispatcherStatusResponse:
        """Due deliveries, the oldest one's wait, and those waiting to retry."""
        now = self.core.now()
        async with self.core.pool.acquire() as conn:
            due, oldest = await store.backlog(conn, now)
            retrying: int = await conn.fetchval(
                "SELECT count(*) FROM ledger.webhook_deliveries "
                "WHERE status IN ('PENDING', 'RETRYING') AND next_attempt_time > $1",
                now,
            )
        return pb.GetDispatcherStatusResponse(due_count=due, oldest_due_seconds=oldest, retrying_count=retrying)
