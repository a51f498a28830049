"""ReconciliationService: operators run reconciliations and read their reports (thin: message to runner to message)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from stablegate.settlement.v1 import reconciliation_service_pb2 as pb
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as pb_grpc

from service_runtime.errors import InvalidArgument, NotFound
from service_runtime.pagination import decode_token, encode_token, page_size
from settlement import reconcile_store
from settlement.reconcile import BlockNotFinalized, LineStatus, ReportStatus

if TYPE_CHECKING:
    from settlement.reconcile_service import Reconciler

Context = grpc.aio.ServicerContext[Any, Any]


def _timestamp(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


_LINE_STATUS = {
    LineStatus.MATCHED: pb.RECONCILIATION_LINE_STATUS_MATCHED,
    LineStatus.MISMATCHED: pb.RECONCILIATION_LINE_STATUS_MISMATCHED,
    LineStatus.SKIPPED: pb.RECONCILIATION_LINE_STATUS_SKIPPED,
}
_STATUS = {
    ReportStatus.MATCHED: pb.RECONCILIATION_STATUS_MATCHED,
    ReportStatus.MISMATCHED: pb.RECONCILIATION_STATUS_MISMATCHED,
    ReportStatus.FAILED: pb.RECONCILIATION_STATUS_FAILED,
}
_STATUS_FILTER = {value: key for key, value in _STATUS.items()}


def report_message(stored: reconcile_store.StoredReport) -> pb.ReconciliationReport:
    """A stored report as its protobuf message."""
    report = stored.report
    return pb.ReconciliationReport(
        id=report.id,
        chain_id=report.chain_id,
        block_number=report.block_number or 0,
        status=_STATUS[report.status],
        lines=[
            pb.ReconciliationLine(
                account=line.account,
                address=line.address,
                asset=line.asset,
                chain_balance_base_units="" if line.chain_balance is None else str(line.chain_balance),
                ledger_balance_base_units="" if line.ledger_balance is None else str(line.ledger_balance),
                difference_base_units=str(line.difference),
                kind=line.kind,
                status=_LINE_STATUS[line.status],
                note=line.note,
            )
            for line in report.lines
        ],
        mismatch_count=stored.mismatch_count,
        error=report.error,
        create_time=_timestamp(report.create_time),
        complete_time=_timestamp(report.complete_time),
    )


class ReconciliationApi(pb_grpc.ReconciliationServiceServicer):
    """ReconciliationService for operators: run now, get one report, list reports newest first."""

    def __init__(self, reconciler: Callable[[], Reconciler]) -> None:
        self._reconciler = reconciler

    async def RunReconciliation(
        self, request: pb.RunReconciliationRequest, context: Context
    ) -> pb.RunReconciliationResponse:
        """Run a reconciliation now; a repeated request id returns the first run's report."""
        reconciler = self._reconciler()
        if not request.request_id or len(request.request_id) > 200:
            raise InvalidArgument(
                "request_id is required (at most 200 characters)",
                reason="FIELD_REQUIRED",
                metadata={"field": "request_id"},
            )
        chain_id = reconciler.targets.chain_id
        if request.chain_id not in (0, chain_id):
            raise InvalidArgument(
                f"chain_id must be {chain_id} (or 0)",
                reason="CHAIN_MISMATCH",
                metadata={"field": "chain_id", "chainId": str(request.chain_id)},
            )
        try:
            stored = await reconciler.run(
                f"api:{request.request_id}", trigger="api", block=request.block_number or None
            )
        except BlockNotFinalized as exc:
            raise InvalidArgument(
                str(exc),
                reason="BLOCK_NOT_FINALIZED",
                metadata={"field": "block_number", "block": str(exc.block), "finalizedBlock": str(exc.finalized)},
            ) from None
        return pb.RunReconciliationResponse(report=report_message(stored))

    async def GetReconciliationReport(
        self, request: pb.GetReconciliationReportRequest, context: Context
    ) -> pb.GetReconciliationReportResponse:
        """One report with every line; NOT_FOUND for an unknown id."""
        if not request.id:
            raise InvalidArgument("id is required", reason="FIELD_REQUIRED", metadata={"field": "id"})
        async with self._reconciler().pool.acquire() as conn:
            stored = await reconcile_store.get(conn, request.id)
        if stored is None:
            raise NotFound(
                f"no reconciliation report {request.id}", reason="REPORT_NOT_FOUND", metadata={"id": request.id}
            )
        return pb.GetReconciliationReportResponse(report=report_message(stored))

    async def ListReconciliationReports(
        self, request: pb.ListReconciliationReportsRequest, context: Context
    ) -> pb.ListReconciliationReportsResponse:
        """Reports newest first, without lines; by status when one is given."""
        limit = page_size(request.page_size, default=50, maximum=500)
        if request.status not in _STATUS_FILTER and request.status not in (
            pb.RECONCILIATION_STATUS_UNSPECIFIED,
            pb.RECONCILIATION_STATUS_RUNNING,
        ):
            raise InvalidArgument("status is not a known value", reason="STATUS_INVALID", metadata={"field": "status"})
        scope = f"reports|{request.status}"
        position = decode_token(request.page_token, scope)
        before = int(position["s"]) if position and isinstance(position.get("s"), int) else None
        if position and before is None:
            raise InvalidArgument(
                "page_token is not a token this list returned; start again without it",
                reason="PAGE_TOKEN_INVALID",
                metadata={"field": "page_token"},
            )
        if request.status == pb.RECONCILIATION_STATUS_RUNNING:
            # Reports are stored once finished: nothing is ever listed as running.
            return pb.ListReconciliationReportsResponse()
        async with self._reconciler().pool.acquire() as conn:
            rows = await reconcile_store.list_reports(
                conn, before_seq=before, status=_STATUS_FILTER.get(request.status), limit=limit
            )
        token = encode_token({"s": rows[-1].seq}, scope) if len(rows) == limit else ""
        return pb.ListReconciliationReportsResponse(reports=[report_message(r) for r in rows], next_page_token=token)
