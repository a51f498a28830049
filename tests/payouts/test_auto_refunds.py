"""Automatic overpayment refunds on a real Postgres: a merchant that opted in (auto_refund_overpayments on its
payout schedule) gets, when a payment credited at finality makes an invoice created with a refund_address OVERPAID,
a refund of the excess (amount paid - amount due) to that address, in the crediting transaction, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import payout_schedule_service_pb2 as sched_pb
from stablegate.merchant.v1 import payout_schedule_service_pb2_grpc as sched_grpc
from stablegate.merchant.v1 import payout_service_pb2 as payout_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as payout_grpc
from stablegate.merchant.v1 import refund_service_pb2 as refund_pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as refund_grpc

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
PAYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def merchant(ledger: Ledger, *, opted_in: bool) -> tuple[str, str]:
    merchant_id, key = await ledger.merchant_with_key(scopes=SCOPES)
    if opted_in:
        await sched_grpc.PayoutScheduleServiceStub(ledger.channel).UpdatePayoutSchedule(
            sched_pb.UpdatePayoutScheduleRequest(auto_refund_overpayments=True), metadata=ledger.auth(key)
        )
    return merchant_id, key


async def invoice(ledger: Ledger, key: str, amount: str, **fields: Any) -> Any:
    request = inv_pb.CreateInvoiceRequest(amount=amount, **fields)
    return (await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))).invoice


async def refunds_of(ledger: Ledger, invoice_id: str) -> list[Any]:
    return await ledger.fetch(
        "SELECT id, amount, destination_address, status, request_id, reason FROM ledger.payouts "
        "WHERE kind = 'REFUND' AND invoice_id = $1 ORDER BY create_time, id",
        invoice_id,
    )


async def test_an_overpayment_credited_at_finality_is_refunded_once_to_the_invoices_refund_address(
    ledger: Ledger,
) -> None:
    merchant_id, key = await merchant(ledger, opted_in=True)
    created = await invoice(ledger, key, "10", refund_address=PAYER.lower())
    assert created.refund_address == PAYER  # stored checksummed, shown on the invoice
    await ledger.observe(created.deposit_address, 12 * UNIT + 5, "FINAL")
    rows = await refunds_of(ledger, created.id)
    assert [(int(r["amount"]), r["destination_address"], r["status"]) for r in rows] == [
        (2 * UNIT + 5, PAYER, "QUEUED")
    ]
    assert rows[0]["request_id"] == f"auto_refund:{created.id}"
    # The refund is made in the crediting transaction: the invoice's event of that payment and `refund.created`
    # carry one top-level transaction id (pg_current_xact_id, the same inside a savepoint).
    txids = await ledger.fetch(
        "SELECT event_type, txid::text AS txid FROM ledger.outbox WHERE subject_id IN ($1, $2) "
        "AND event_type IN ('invoice.paid', 'refund.created')",
        created.id,
        rows[0]["id"],
    )
    assert sorted(r["event_type"] for r in txids) == ["invoice.paid", "refund.created"]
    assert len({r["txid"] for r in txids}) == 1
    assert await ledger.balances(merchant_id) == {
        "merchant_pending": 0,
        "merchant_available": 10 * UNIT,
        "merchant_reserved": 2 * UNIT + 5,
    }
    assert await ledger.events(rows[0]["id"]) == ["refund.created"]
    listed = await refund_grpc.RefundServiceStub(ledger.channel).ListRefunds(
        refund_pb.ListRefundsRequest(invoice_id=created.id), metadata=ledger.auth(key)
    )
    assert [r.id for r in listed.refunds] == [rows[0]["id"]]
    # A further payment to the overpaid invoice: no second automatic refund (once per invoice).
    await ledger.observe(created.deposit_address, UNIT, "FINAL")
    assert len(await refunds_of(ledger, created.id)) == 1
    await ledger.assert_books_are_sound()


async def test_no_refund_without_the_opt_in_without_a_refund_address_or_without_an_overpayment(
    ledger: Ledger,
) -> None:
    _, key = await merchant(ledger, opted_in=False)
    not_opted = await invoice(ledger, key, "10", refund_address=PAYER)
    await ledger.observe(not_opted.deposit_address, 12 * UNIT, "FINAL")
    assert await refunds_of(ledger, not_opted.id) == []

    _, opted_key = await merchant(ledger, opted_in=True)
    no_address = await invoice(ledger, opted_key, "10")
    await ledger.observe(no_address.deposit_address, 12 * UNIT, "FINAL")
    assert await refunds_of(ledger, no_address.id) == []
    exact = await invoice(ledger, opted_key, "10", refund_address=PAYER)
    await ledger.observe(exact.deposit_address, 10 * UNIT, "FINAL")
    assert await refunds_of(ledger, exact.id) == []
    # A payment only seen (not final) refunds nothing yet.
    seen = await invoice(ledger, opted_key, "10", refund_address=PAYER)
    await ledger.observe(seen.deposit_address, 15 * UNIT, "SEEN")
    assert await refunds_of(ledger, seen.id) == []


async def test_a_merchants_manual_refund_first_leaves_only_what_is_left_to_refund(ledger: Ledger) -> None:
    _, key = await merchant(ledger, opted_in=True)
    created = await invoice(ledger, key, "10", refund_address=PAYER)
    await ledger.observe(created.deposit_address, 10 * UNIT, "FINAL")
    await refund_grpc.RefundServiceStub(ledger.channel).CreateRefund(
        refund_pb.CreateRefundRequest(invoice_id=created.id, refund_address=PAYER, amount="9.5"),
        metadata=ledger.auth(key),
    )
    ledger.clock.advance(seconds=1)  # listed oldest first
    await ledger.observe(created.deposit_address, 3 * UNIT, "FINAL")  # now overpaid by 3, refundable 3.5
    rows = await refunds_of(ledger, created.id)
    assert [int(r["amount"]) for r in rows] == [9 * UNIT + UNIT // 2, 3 * UNIT]
    await ledger.assert_books_are_sound()


async def test_a_bad_refund_address_is_refused_and_creates_no_invoice(ledger: Ledger) -> None:
    _, key = await merchant(ledger, opted_in=True)
    for address, reason in [("0x1234", "ADDRESS_INVALID"), (PAYER[:-1] + "C", "ADDRESS_CHECKSUM_MISMATCH")]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await invoice(ledger, key, "10", refund_address=address)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(caught.value)
        assert (info.reason, info.metadata["field"]) == (reason, "refund_address")
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0


async def test_the_opt_in_is_on_the_schedule_and_a_payout_may_not_take_the_refunds_request_id(
    ledger: Ledger,
) -> None:
    _, key = await merchant(ledger, opted_in=True)
    shown = (
        await sched_grpc.PayoutScheduleServiceStub(ledger.channel).GetPayoutSchedule(
            sched_pb.GetPayoutScheduleRequest(), metadata=ledger.auth(key)
        )
    ).payout_schedule
    assert (shown.auto_refund_overpayments, shown.frequency) == (True, sched_pb.PAYOUT_FREQUENCY_MANUAL)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payout_grpc.PayoutServiceStub(ledger.channel).CreatePayout(
            payout_pb.CreatePayoutRequest(destination_address=PAYER, amount="1", request_id="auto_refund:inv_x"),
            metadata=ledger.auth(key),
        )
    assert error_info(caught.value).reason == "REQUEST_ID_RESERVED"


async def test_an_excess_the_balance_does_not_cover_is_skipped_and_the_payment_stays_credited(ledger: Ledger) -> None:
    merchant_id, key = await merchant(ledger, opted_in=True)
    # A fee that takes almost all: 12 paid, fee 11, so 1 is available against an excess of 2.
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant_id, bps=0, fixed="0", minimum="11", reason="test"),
        metadata=ledger.auth(ledger.admin_key),
    )
    created = await invoice(ledger, key, "10", refund_address=PAYER)
    await ledger.observe(created.deposit_address, 12 * UNIT, "FINAL")
    assert await refunds_of(ledger, created.id) == []
    got = (await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=created.id), metadata=ledger.auth(key))).invoice
    assert (got.amount_paid, got.fee, got.status) == ("12", "11", invoice_pb2.INVOICE_STATUS_PAID)
    assert invoice_pb2.INVOICE_EXCEPTION_OVERPAID in got.exceptions  # due, but not covered: skipped
    assert (await ledger.balances(merchant_id))["merchant_available"] == UNIT
    await ledger.assert_books_are_sound()
