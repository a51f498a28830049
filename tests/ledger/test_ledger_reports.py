"""The admin ReportService on a real Postgres: exact volume, fee and revenue buckets, merchant performance, and
refused requests that read nothing.

Invoices are created and paid through the ledger's own APIs (paid, underpaid within tolerance, expired, paid late,
expired underpaid, open); then their times are moved to known UTC instants so the buckets are known. The journal is
append-only (a trigger refuses updates), so the test moves its rows' times in a session with triggers off
(`session_replication_role = replica`, test set-up only): what is under test is the report's arithmetic on them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from stablegate.admin.v1 import report_service_pb2 as pb
from stablegate.admin.v1 import report_service_pb2_grpc as pb_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from tests.payouts.ledger_calls import set_plan

UNIT = 10**18
MILLI = 10**15


@dataclass
class World:
    """Two merchants with known invoices at known times."""

    ledger: Ledger
    shop: str
    """1 % fee: paid, underpaid-but-paid, expired, paid late, expired underpaid."""
    cafe: str
    """No fee: one paid, one still open."""
    cafe_key: str

    @property
    def reports(self) -> pb_grpc.ReportServiceAsyncStub:
        return pb_grpc.ReportServiceStub(self.ledger.channel)

    def admin(self) -> tuple[tuple[str, str], ...]:
        return self.ledger.auth(self.ledger.admin_key)


def at(day: str, hhmm: str = "00:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


async def move(
    ledger: Ledger, invoice_id: str, created: dt.datetime, paid: dt.datetime | None, posted: dt.datetime
) -> None:
    """Give an invoice its creation and payment times, and its journal transactions their posting time."""
    conn = await asyncpg.connect(ledger.db_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE ledger.invoices SET create_time = $2, paid_time = CASE WHEN paid_time IS NULL THEN NULL "
                "ELSE $3::timestamptz END WHERE id = $1",
                invoice_id,
                created,
                paid,
            )
            await conn.execute(
                "UPDATE ledger.journal_transactions SET create_time = $2 WHERE invoice_id = $1", invoice_id, posted
            )
    finally:
        await conn.close()


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with running_ledger(ledger_db) as ledger:
        shop, shop_key = await ledger.merchant_with_key("Shop")
        cafe, cafe_key = await ledger.merchant_with_key("Cafe")
        await set_plan(ledger, shop, 100)  # 1 %

        async def invoice(key: str, amount: str, tolerance: str = "", ttl: int = 0) -> inv_pb.CreateInvoiceResponse:
            request = inv_pb.CreateInvoiceRequest(amount=amount, underpayment_tolerance=tolerance)
            if ttl:
                request.ttl.seconds = ttl
            return await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))

        paid = (await invoice(shop_key, "10")).invoice
        underpaid = (await invoice(shop_key, "10", tolerance="0.5")).invoice
        expired = (await invoice(shop_key, "10")).invoice
        late = (await invoice(shop_key, "10")).invoice
        short = (await invoice(shop_key, "10")).invoice
        cafe_paid = (await invoice(cafe_key, "20")).invoice
        cafe_open = (await invoice(cafe_key, "5", ttl=86400)).invoice

        await ledger.observe(paid.deposit_address, 10 * UNIT, "FINAL")
        await ledger.observe(underpaid.deposit_address, 96 * UNIT // 10, "FINAL")
        await ledger.observe(short.deposit_address, 5 * UNIT, "FINAL")
        await ledger.observe(cafe_paid.deposit_address, 20 * UNIT, "FINAL")
        ledger.clock.advance(minutes=20)
        assert await ledger.core.recorder.expire_due(ledger.clock()) == 3  # expired, late, short
        await ledger.observe(late.deposit_address, 10 * UNIT, "FINAL")  # inside the monitoring window: PAID_LATE

        await move(ledger, paid.id, at("2026-11-02", "10:00"), at("2026-11-02", "10:05"), at("2026-11-02", "10:05"))
        await move(
            ledger, underpaid.id, at("2026-11-03", "09:00"), at("2026-11-03", "09:10"), at("2026-11-03", "09:10")
        )
        await move(ledger, expired.id, at("2026-11-03", "12:00"), None, at("2026-11-03", "12:00"))
        await move(ledger, late.id, at("2026-11-09", "08:00"), at("2026-11-10", "08:00"), at("2026-11-10", "08:00"))
        await move(ledger, short.id, at("2026-11-10"), None, at("2026-11-10", "00:01"))
        await move(ledger, cafe_paid.id, at("2026-10-30", "23:00"), at("2026-10-31"), at("2026-10-31"))
        await move(ledger, cafe_open.id, at("2026-11-01"), None, at("2026-11-01"))
        await ledger.assert_books_are_sound()
        yield World(ledger, shop, cafe, cafe_key)


def buckets(reply: pb.GetVolumeReportResponse) -> list[tuple[str, int, int, int, int, int]]:
    return [
        (
            b.start_date,
            b.invoices_paid,
            b.payments,
            int(b.volume_base_units),
            int(b.fees_base_units),
            int(b.revenue_base_units),
        )
        for b in reply.buckets
    ]


async def test_volume_per_day_for_one_merchant_counts_payments_fees_and_revenue_exactly(world: World) -> None:
    reply = await world.reports.GetVolumeReport(
        pb.GetVolumeReportRequest(
            merchant_id=world.shop, bucket=pb.REPORT_BUCKET_DAY, start_date="2026-11-01", end_date="2026-11-10"
        ),
        metadata=world.admin(),
    )
    assert (reply.merchant_id, reply.asset, reply.start_date, reply.end_date) == (
        world.shop,
        "USDT",
        "2026-11-01",
        "2026-11-10",
    )
    zero = [(f"2026-11-{d:02d}", 0, 0, 0, 0, 0) for d in range(1, 11)]
    expected = dict((row[0], row) for row in zero)
    expected["2026-11-02"] = ("2026-11-02", 1, 1, 10 * UNIT, 100 * MILLI, 9900 * MILLI)
    expected["2026-11-03"] = ("2026-11-03", 1, 1, 9600 * MILLI, 96 * MILLI, 9504 * MILLI)
    # The late payment (10, fee 0.1) and the short one (5, fee 0.05); only the late invoice became PAID.
    expected["2026-11-10"] = ("2026-11-10", 1, 2, 15 * UNIT, 150 * MILLI, 14850 * MILLI)
    assert buckets(reply) == list(expected.values())
    total = reply.total
    assert (total.invoices_paid, total.payments, total.reversals) == (3, 4, 0)
    assert (total.volume, total.fees, total.revenue) == ("34.6", "0.346", "34.254")
    assert total.volume_base_units == str(34600 * MILLI)


async def test_volume_per_week_and_month_over_every_merchant(world: World) -> None:
    weeks = await world.reports.GetVolumeReport(
        pb.GetVolumeReportRequest(bucket=pb.REPORT_BUCKET_WEEK, start_date="2026-10-28", end_date="2026-11-15"),
        metadata=world.admin(),
    )
    assert weeks.merchant_id == ""
    assert buckets(weeks) == [
        ("2026-10-26", 1, 1, 20 * UNIT, 0, 20 * UNIT),  # the cafe's, no fee; the week starts on Monday
        ("2026-11-02", 2, 2, 19600 * MILLI, 196 * MILLI, 19404 * MILLI),
        ("2026-11-09", 1, 2, 15 * UNIT, 150 * MILLI, 14850 * MILLI),
    ]
    months = await world.reports.GetVolumeReport(
        pb.GetVolumeReportRequest(bucket=pb.REPORT_BUCKET_MONTH, start_date="2026-09-15", end_date="2026-11-20"),
        metadata=world.admin(),
    )
    assert buckets(months) == [
        ("2026-09-01", 0, 0, 0, 0, 0),
        ("2026-10-01", 1, 1, 20 * UNIT, 0, 20 * UNIT),
        ("2026-11-01", 3, 4, 34600 * MILLI, 346 * MILLI, 34254 * MILLI),
    ]
    assert months.total.volume == "54.6"
    # A range cut inside a bucket counts only its own days: 2026-11-03 to 2026-11-09 holds one payment.
    cut = await world.reports.GetVolumeReport(
        pb.GetVolumeReportRequest(bucket=pb.REPORT_BUCKET_WEEK, start_date="2026-11-03", end_date="2026-11-09"),
        metadata=world.admin(),
    )
    assert buckets(cut) == [
        ("2026-11-02", 1, 1, 9600 * MILLI, 96 * MILLI, 9504 * MILLI),
        ("2026-11-09", 0, 0, 0, 0, 0),
    ]


def performance(row: pb.MerchantPerformance) -> tuple[int, ...]:
    return (
        row.invoices,
        row.paid,
        row.expired,
        row.canceled,
        row.open,
        row.underpaid,
        row.late,
        row.conversion_bps,
        row.underpaid_bps,
        row.late_bps,
        row.median_seconds_to_pay,
        row.mean_seconds_to_pay,
    )


async def test_merchant_performance_rates_in_basis_points_and_time_to_pay(world: World) -> None:
    reply = await world.reports.GetMerchantPerformance(
        pb.GetMerchantPerformanceRequest(start_date="2026-10-01", end_date="2026-11-20"), metadata=world.admin()
    )
    assert [(m.merchant_id, m.merchant_name) for m in reply.merchants] == [(world.shop, "Shop"), (world.cafe, "Cafe")]
    # Shop: 5 invoices, 3 paid (one late), 2 expired (one short); paid after 300 s, 600 s and 86400 s.
    assert performance(reply.merchants[0]) == (5, 3, 2, 0, 0, 2, 1, 6000, 4000, 2000, 600, 29100)
    # Cafe: 2 invoices, 1 paid after an hour, 1 open.
    assert performance(reply.merchants[1]) == (2, 1, 0, 0, 1, 0, 0, 5000, 0, 0, 3600, 3600)
    # All: 4 of 7 paid is 5714.28... bp, rounded down; median of 300, 600, 3600, 86400 is the lower middle.
    assert performance(reply.total) == (7, 4, 2, 0, 1, 2, 1, 5714, 2857, 1428, 600, 22725)
    assert (reply.total.merchant_id, reply.total.merchant_name) == ("", "")

    one = await world.reports.GetMerchantPerformance(
        pb.GetMerchantPerformanceRequest(merchant_id=world.cafe, start_date="2026-10-31", end_date="2026-11-01"),
        metadata=world.admin(),
    )
    # Only the open invoice was created in that range (the paid one on 2026-10-30).
    assert [performance(m) for m in one.merchants] == [(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)]
    assert performance(one.total) == (1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)

    empty = await world.reports.GetMerchantPerformance(
        pb.GetMerchantPerformanceRequest(start_date="2025-01-01", end_date="2025-01-31"), metadata=world.admin()
    )
    assert list(empty.merchants) == [] and performance(empty.total) == (0,) * 12


BAD_VOLUME_REQUESTS: list[tuple[dict[str, object], str, str]] = [
    ({"start_date": "2026-11-01", "end_date": "2026-11-02"}, "BUCKET_INVALID", "bucket"),
    ({"bucket": 9, "start_date": "2026-11-01", "end_date": "2026-11-02"}, "BUCKET_INVALID", "bucket"),
    ({"bucket": 1, "end_date": "2026-11-02"}, "FIELD_REQUIRED", "start_date"),
    ({"bucket": 1, "start_date": "2026-11-01"}, "FIELD_REQUIRED", "end_date"),
    ({"bucket": 1, "start_date": "2026-13-01", "end_date": "2026-11-02"}, "DATE_INVALID", "start_date"),
    ({"bucket": 1, "start_date": "26-11-01", "end_date": "2026-11-02"}, "DATE_INVALID", "start_date"),
    ({"bucket": 1, "start_date": "1999-12-31", "end_date": "2026-11-02"}, "DATE_INVALID", "start_date"),
    ({"bucket": 1, "start_date": "2026-11-05", "end_date": "2026-11-02"}, "RANGE_REVERSED", "end_date"),
    ({"bucket": 1, "start_date": "2026-11-01", "end_date": "2999-01-01"}, "DATE_IN_FUTURE", "end_date"),
    ({"bucket": 1, "start_date": "2024-12-31", "end_date": "2026-01-01"}, "RANGE_TOO_LONG", "end_date"),
]


async def test_bad_volume_requests_are_refused_naming_the_field(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        reports = pb_grpc.ReportServiceStub(ledger.channel)
        for fields, reason, field in BAD_VOLUME_REQUESTS:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await reports.GetVolumeReport(
                    pb.GetVolumeReportRequest(**fields),  # type: ignore[arg-type]
                    metadata=ledger.auth(ledger.admin_key),
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
            info = error_info(refused.value)
            assert (info.reason, info.metadata["field"]) == (reason, field), fields


async def test_other_refusals_unknown_merchant_long_performance_range_and_merchant_keys(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await world.reports.GetVolumeReport(
            pb.GetVolumeReportRequest(
                merchant_id="mer_nope", bucket=pb.REPORT_BUCKET_DAY, start_date="2026-11-01", end_date="2026-11-02"
            ),
            metadata=world.admin(),
        )
    assert (unknown.value.code(), error_info(unknown.value).reason) == (grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as long_range:
        await world.reports.GetMerchantPerformance(
            pb.GetMerchantPerformanceRequest(start_date="2025-01-01", end_date="2026-01-02"), metadata=world.admin()
        )
    assert error_info(long_range.value).reason == "RANGE_TOO_LONG"
    # A year of days is allowed (366 buckets in a leap year's span).
    year = await world.reports.GetVolumeReport(
        pb.GetVolumeReportRequest(bucket=pb.REPORT_BUCKET_DAY, start_date="2025-11-01", end_date="2026-10-31"),
        metadata=world.admin(),
    )
    assert len(year.buckets) == 365 and year.total.volume_base_units == str(20 * UNIT)
    # A merchant's own key cannot read reports (not even its own): the admin API takes admin keys only.
    with pytest.raises(grpc.aio.AioRpcError) as merchant:
        await world.reports.GetMerchantPerformance(
            pb.GetMerchantPerformanceRequest(merchant_id=world.cafe, start_date="2026-11-01", end_date="2026-11-02"),
            metadata=world.ledger.auth(world.cafe_key),
        )
    assert (merchant.value.code(), error_info(merchant.value).reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_KEY_REQUIRED",
    )


async def test_a_reversed_payment_takes_its_volume_and_fee_back_in_its_own_bucket(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        shop, key = await ledger.merchant_with_key("Shop")
        await set_plan(ledger, shop, 100)
        invoice = (
            await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="10"), metadata=ledger.auth(key))
        ).invoice
        tx = "0x" + "4" * 64
        await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
        await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx)
        conn = await asyncpg.connect(ledger.db_url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for kind, day in (("payment_seen", "2026-11-05"), ("payment_final", "2026-11-05")):
                    await conn.execute(
                        "UPDATE ledger.journal_transactions SET create_time = $2 WHERE invoice_id = $1 AND kind = $3",
                        invoice.id,
                        at(day, "10:00"),
                        kind,
                    )
                await conn.execute(
                    "UPDATE ledger.journal_transactions SET create_time = $2 WHERE invoice_id = $1 "
                    "AND kind = 'credited_payment_reversed'",
                    invoice.id,
                    at("2026-11-06", "10:00"),
                )
        finally:
            await conn.close()
        reply = await pb_grpc.ReportServiceStub(ledger.channel).GetVolumeReport(
            pb.GetVolumeReportRequest(
                merchant_id=shop, bucket=pb.REPORT_BUCKET_DAY, start_date="2026-11-05", end_date="2026-11-06"
            ),
            metadata=ledger.auth(ledger.admin_key),
        )
        # The reorg reopened the invoice: no longer PAID (paid_time cleared), so no bucket counts it as paid.
        assert await ledger.value("SELECT paid_time FROM ledger.invoices WHERE id = $1", invoice.id) is None
        assert buckets(reply) == [
            ("2026-11-05", 0, 1, 10 * UNIT, 100 * MILLI, 9900 * MILLI),
            ("2026-11-06", 0, 0, -10 * UNIT, -100 * MILLI, -9900 * MILLI),
        ]
        assert [b.reversals for b in reply.buckets] == [0, 1]
        assert (reply.buckets[1].volume, reply.buckets[1].fees, reply.buckets[1].revenue) == ("-10", "-0.1", "-9.9")
        assert (reply.total.volume_base_units, reply.total.fees_base_units, reply.total.revenue_base_units) == (
            "0",
            "0",
            "0",
        )
