"""The dashboard's report data: the ledger's ReportService over the mesh, and CSV that is safe to open.

The ledger computes every figure (exact integers, rates in basis points); the dashboard only formats them. The
calls use the dashboard's admin key (any admin role may read reports); which merchant a page may show is decided
by the dashboard before the call (dashboard/reports.py): a merchant user's own merchant only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from stablegate.admin.v1 import report_service_pb2 as pb
from stablegate.admin.v1 import report_service_pb2_grpc as pb_grpc

from dashboard.ledger_client import LedgerClient, LedgerRefused, LedgerUnavailable

TIMEOUT = 10.0
BUCKETS = {"day": pb.REPORT_BUCKET_DAY, "week": pb.REPORT_BUCKET_WEEK, "month": pb.REPORT_BUCKET_MONTH}
"""The page's bucket names and the API's values."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
"""A CSV cell starting with one of these is prefixed with ' so a spreadsheet reads it as text, never a formula."""


@dataclass(frozen=True)
class VolumePoint:
    """One bucket (or the total) of a volume report: counts, and amounts in token units and base units."""

    start_date: str
    invoices_paid: int
    payments: int
    reversals: int
    volume: str
    volume_base_units: int
    fees: str
    fees_base_units: int
    revenue: str
    revenue_base_units: int


@dataclass(frozen=True)
class VolumeReport:
    """A volume report as the ledger computed it."""

    merchant_id: str
    asset: str
    bucket: str
    start_date: str
    end_date: str
    points: tuple[VolumePoint, ...]
    total: VolumePoint


@dataclass(frozen=True)
class PerformanceRow:
    """One merchant's (or the total's: empty id) invoice performance."""

    merchant_id: str
    merchant_name: str
    invoices: int
    paid: int
    expired: int
    canceled: int
    open: int
    underpaid: int
    late: int
    conversion_bps: int
    underpaid_bps: int
    late_bps: int
    median_seconds_to_pay: int
    mean_seconds_to_pay: int


@dataclass(frozen=True)
class PerformanceReport:
    """Merchant performance as the ledger computed it."""

    start_date: str
    end_date: str
    rows: tuple[PerformanceRow, ...]
    total: PerformanceRow


def _point(b: pb.VolumeBucket) -> VolumePoint:
    return VolumePoint(
        b.start_date,
        b.invoices_paid,
        b.payments,
        b.reversals,
        b.volume,
        int(b.volume_base_units or "0"),
        b.fees,
        int(b.fees_base_units or "0"),
        b.revenue,
        int(b.revenue_base_units or "0"),
    )


def _performance(m: pb.MerchantPerformance) -> PerformanceRow:
    return PerformanceRow(
        m.merchant_id,
        m.merchant_name,
        m.invoices,
        m.paid,
        m.expired,
        m.canceled,
        m.open,
        m.underpaid,
        m.late,
        m.conversion_bps,
        m.underpaid_bps,
        m.late_bps,
        m.median_seconds_to_pay,
        m.mean_seconds_to_pay,
    )


def _translate(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        return LedgerRefused(str(exc.details() or exc.code().name))
    return LedgerUnavailable(f"ledger answered {exc.code().name}")


class ReportClient:
    """The ledger's ReportService, with the dashboard's admin key."""

    def __init__(self, channel: grpc.aio.Channel, admin_key: Callable[[], str]) -> None:
        self._stub = pb_grpc.ReportServiceStub(channel)
        self._admin_key = admin_key

    @classmethod
    def of(cls, ledger: LedgerClient) -> ReportClient:
        """A report client on the ledger client's channel and key."""
        return cls(ledger.channel, ledger.admin_key)

    def _auth(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._admin_key()}"),)

    async def volume(self, merchant_id: str | None, bucket: str, start_date: str, end_date: str) -> VolumeReport:
        """Volume, fees and revenue per bucket (`bucket` one of BUCKETS) for one merchant or all (None)."""
        try:
            reply = await self._stub.GetVolumeReport(
                pb.GetVolumeReportRequest(
                    merchant_id=merchant_id or "",
                    bucket=BUCKETS.get(bucket, pb.REPORT_BUCKET_UNSPECIFIED),
                    start_date=start_date,
                    end_date=end_date,
                ),
                metadata=self._auth(),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return VolumeReport(
            reply.merchant_id,
            reply.asset,
            bucket,
            reply.start_date,
            reply.end_date,
            tuple(_point(b) for b in reply.buckets),
            _point(reply.total),
        )

    async def performance(self, merchant_id: str | None, start_date: str, end_date: str) -> PerformanceReport:
        """Invoice performance of one merchant or of every merchant (None), with the total."""
        try:
            reply = await self._stub.GetMerchantPerformance(
                pb.GetMerchantPerformanceRequest(
                    merchant_id=merchant_id or "", start_date=start_date, end_date=end_date
                ),
                metadata=self._auth(),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        return PerformanceReport(
            reply.start_date,
            reply.end_date,
            tuple(_performance(m) for m in reply.merchants),
            _performance(reply.total),
        )


NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
"""A plain decimal number (a negative amount): no formula, so it stays a number in a spreadsheet."""


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ or a control character gets a leading '.

    A plain decimal number ("-9.9", a reversal) is left as it is: nothing in it can be evaluated.
    """
    text = str(value)
    if NUMBER.fullmatch(text):
        return text
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """RFC 4180 CSV (CRLF line ends, quoted where needed) with every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()


VOLUME_HEADER = (
    "bucket_start",
    "invoices_paid",
    "payments",
    "reversals",
    "volume",
    "volume_base_units",
    "fees",
    "fees_base_units",
    "revenue",
    "revenue_base_units",
)


def volume_csv(report: VolumeReport) -> str:
    """The volume report as CSV: one row per bucket, then a `total` row."""

    def row(label: str, p: VolumePoint) -> list[object]:
        return [
            label,
            p.invoices_paid,
            p.payments,
            p.reversals,
            p.volume,
            p.volume_base_units,
            p.fees,
            p.fees_base_units,
            p.revenue,
            p.revenue_base_units,
        ]

    return csv_text(VOLUME_HEADER, [row(p.start_date, p) for p in report.points] + [row("total", report.total)])


PERFORMANCE_HEADER = (
    "merchant_id",
    "merchant_name",
    "invoices",
    "paid",
    "expired",
    "canceled",
    "open",
    "underpaid",
    "late",
    "conversion_bps",
    "underpaid_bps",
    "late_bps",
    "median_seconds_to_pay",
    "mean_seconds_to_pay",
)


def performance_csv(report: PerformanceReport) -> str:
    """Merchant performance as CSV: one row per merchant, then a `total` row."""

    def row(p: PerformanceRow, merchant_id: str, name: str) -> list[object]:
        return [
            merchant_id,
            name,
            p.invoices,
            p.paid,
            p.expired,
            p.canceled,
            p.open,
            p.underpaid,
            p.late,
            p.conversion_bps,
            p.underpaid_bps,
            p.late_bps,
            p.median_seconds_to_pay,
            p.mean_seconds_to_pay,
        ]

    rows = [row(p, p.merchant_id, p.merchant_name) for p in report.rows]
    return csv_text(PERFORMANCE_HEADER, [*rows, row(report.total, "total", "")])


def percent(bps: int) -> str:
    """Basis points as a percentage with two decimals, exactly ("57.14 %")."""
    return f"{bps // 100}.{bps % 100:02d} %"


def duration(seconds: int) -> str:
    """Whole seconds as "1 d 2 h", "3 h 4 min", "5 min 6 s" or "7 s"."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
