"""Admin API servicer: volume reports and merchant performance (ledger/store/analytics.py)."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.admin.v1 import report_service_pb2 as pb
from stablegate.admin.v1 import report_service_pb2_grpc as pb_grpc

from ledger.core import LedgerCore
from ledger.domain import reports
from ledger.domain.invoices import check_text
from ledger.domain.money import format_amount
from ledger.errors import InvalidField
from ledger.store import analytics
from ledger.store import merchants as merchant_store
from service_runtime.errors import NotFound

Context = grpc.aio.ServicerContext[Any, Any]

BUCKETS = {
    pb.REPORT_BUCKET_DAY: reports.Bucket.DAY,
    pb.REPORT_BUCKET_WEEK: reports.Bucket.WEEK,
    pb.REPORT_BUCKET_MONTH: reports.Bucket.MONTH,
}


def _bucket(value: int) -> reports.Bucket:
    found: reports.Bucket | None = BUCKETS.get(value)  # type: ignore[call-overload]
    if found is None:
        raise InvalidField(
            "bucket must be REPORT_BUCKET_DAY, REPORT_BUCKET_WEEK or REPORT_BUCKET_MONTH",
            reason="BUCKET_INVALID",
            field="bucket",
        )
    return found


def volume_bucket(start: str, row: analytics.VolumeRow, decimals: int) -> pb.VolumeBucket:
    """The API's VolumeBucket: every amount in token units and base units."""

    def amounts(name: str, value: int) -> dict[str, str]:
        return {name: format_amount(value, decimals), f"{name}_base_units": str(value)}

    return pb.VolumeBucket(
        start_date=start,
        invoices_paid=row.invoices_paid,
        payments=row.payments,
        reversals=row.reversals,
        **amounts("volume", row.volume),
        **amounts("fees", row.fees),
        **amounts("revenue", row.revenue),
    )


def performance_message(row: analytics.PerformanceRow) -> pb.MerchantPerformance:
    """The API's MerchantPerformance, with its rates in basis points."""
    return pb.MerchantPerformance(
        merchant_id=row.merchant_id,
        merchant_name=row.merchant_name,
        invoices=row.invoices,
        paid=row.paid,
        expired=row.expired,
        canceled=row.canceled,
        open=row.open,
        underpaid=row.underpaid,
        late=row.late,
        conversion_bps=reports.rate_bps(row.paid, row.invoices),
        underpaid_bps=reports.rate_bps(row.underpaid, row.invoices),
        late_bps=reports.rate_bps(row.late, row.invoices),
        median_seconds_to_pay=row.median_seconds_to_pay,
        mean_seconds_to_pay=row.mean_seconds_to_pay,
    )


class Reports(pb_grpc.ReportServiceServicer):
    """Read-only reports over the journal and the invoices, for any admin role."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def _merchant(self, merchant_id: str) -> str | None:
        """None for "every merchant"; else the id of a merchant that exists."""
        if not merchant_id:
            return None
        check_text(merchant_id, "merchant_id", 200)
        async with self.core.pool.acquire() as conn:
            if await merchant_store.get(conn, merchant_id) is None:
                raise NotFound("no such merchant", reason="MERCHANT_NOT_FOUND", metadata={"merchantId": merchant_id})
        return merchant_id

    async def GetVolumeReport(self, request: pb.GetVolumeReportRequest, context: Context) -> pb.GetVolumeReportResponse:
        """Volume, fees and revenue per bucket, every bucket of the range, and the range's total."""
        bucket = _bucket(request.bucket)
        days = reports.volume_range(request.start_date, request.end_date, bucket, self.core.now().date())
        merchant = await self._merchant(request.merchant_id)
        terms = self.core.terms
        async with self.core.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await analytics.volume_report(conn, days, bucket, terms.asset, merchant)
        total = analytics.VolumeRow(
            days.first,
            sum(r.invoices_paid for r in rows),
            sum(r.payments for r in rows),
            sum(r.reversals for r in rows),
            sum(r.volume for r in rows),
            sum(r.fees for r in rows),
        )
        return pb.GetVolumeReportResponse(
            merchant_id=merchant or "",
            asset=terms.asset,
            bucket=request.bucket,
            start_date=days.first.isoformat(),
            end_date=days.last.isoformat(),
            buckets=[volume_bucket(r.start.isoformat(), r, terms.token_decimals) for r in rows],
            total=volume_bucket(days.first.isoformat(), total, terms.token_decimals),
        )

    async def GetMerchantPerformance(
        self, request: pb.GetMerchantPerformanceRequest, context: Context
    ) -> pb.GetMerchantPerformanceResponse:
        """Per-merchant performance of the invoices created in the range, and the total."""
        days = reports.performance_range(request.start_date, request.end_date, self.core.now().date())
        merchant = await self._merchant(request.merchant_id)
        async with self.core.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows, total = await analytics.merchant_performance(conn, days, merchant)
        return pb.GetMerchantPerformanceResponse(
            start_date=days.first.isoformat(),
            end_date=days.last.isoformat(),
            merchants=[performance_message(r) for r in rows],
            total=performance_message(total),
        )
