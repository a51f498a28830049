"""Refunds, ledger side, on a real Postgres: at most what an invoice was paid, reserved from the available balance,
executed through settlement's PayoutLedgerService like payouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import refund_service_pb2 as pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as pb_grpc

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
PAYER = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"  # the harness's transfers come from 0xccc…c (checksummed)
STATUS = pb.RefundStatus


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db, payout_fee_base_units=UNIT) as running:
        yield running


@pytest.fixture
async def settlement(ledger: Ledger) -> AsyncIterator[ledger_grpc.PayoutLedgerServiceAsyncStub]:
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        yield ledger_grpc.PayoutLedgerServiceStub(channel)


def refunds(ledger: Ledger) -> pb_grpc.RefundServiceAsyncStub:
    return pb_grpc.RefundServiceStub(ledger.channel)


async def paid_invoice(ledger: Ledger, key: str, amount: str, paid: int) -> str:
    invoice = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount=amount), metadata=ledger.auth(key))
    ).invoice
    await ledger.observe(invoice.deposit_address, paid, "FINAL")
    return invoice.id


async def refund(ledger: Ledger, key: str, invoice_id: str, amount: str = "", **fields: Any) -> pb.Refund:
    request = pb.CreateRefundRequest(
        invoice_id=invoice_id, amount=amount, refund_address=fields.pop("address", PAYER), **fields
    )
    return (await refunds(ledger).CreateRefund(request, metadata=ledger.auth(key))).refund


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_a_partial_refund_then_the_rest_then_a_third_is_refused_and_the_payer_gets_exactly_both(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoice = await paid_invoice(ledger, key, "10", 12 * UNIT)  # overpaid by 2
    first = await refund(ledger, key, invoice, "2", reason="overpayment")
    assert (first.status, first.amount, first.refund_address) == (STATUS.REFUND_STATUS_QUEUED, "2", PAYER)
    ledger.clock.advance(seconds=1)  # oldest first: the listing below orders by creation time
    rest = await refund(ledger, key, invoice)  # no amount: all that is left
    assert rest.amount == "10"
    third = await refused(refund(ledger, key, invoice, "0.000000000000000001"))
    assert (third.code(), error_info(third).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_EXCEEDS_PAID")
    assert error_info(third).metadata["refundableBaseUnits"] == "0"
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 0,
        "merchant_reserved": 12 * UNIT,
    }
    queued = await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())
    assert [(p.id, p.invoice_id, p.destination_address, p.amount) for p in queued.payouts] == [
        (first.id, invoice, PAYER, "2"),
        (rest.id, invoice, PAYER, "10"),
    ]
    for n, r in enumerate((first, rest)):
        tx = "0x" + f"{n + 1:02x}" * 32
        await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=r.id, tx_hash=tx))
        await settlement.MarkPayoutConfirmed(
            ledger_pb.MarkPayoutConfirmedRequest(payout_id=r.id, tx_hash=tx, block_number=200 + n)
        )
    sent = await ledger.fetch(
        "SELECT destination_address, amount FROM ledger.payouts WHERE kind = 'REFUND' AND status = 'CONFIRMED' "
        "ORDER BY create_time, id"
    )
    assert [(r["destination_address"], int(r["amount"])) for r in sent] == [(PAYER, 2 * UNIT), (PAYER, 10 * UNIT)]
    treasury = await ledger.value("SELECT balance FROM ledger.accounts WHERE code = 'treasury:USDT'")
    assert int(treasury) == -12 * UNIT  # paid out of the treasury (no sweep booked in this test); no fee on refunds
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 0, "merchant_reserved": 0}
    assert await ledger.events(first.id) == ["refund.created", "refund.broadcast", "refund.confirmed"]
    listed = await refunds(ledger).ListRefunds(pb.ListRefundsRequest(invoice_id=invoice), metadata=ledger.auth(key))
    assert {r.status for r in listed.refunds} == {STATUS.REFUND_STATUS_CONFIRMED}
    await ledger.assert_books_are_sound()


async def test_a_canceled_or_failed_refund_can_be_made_again_and_releases_its_reservation(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoice = await paid_invoice(ledger, key, "5", 5 * UNIT)
    first = await refund(ledger, key, invoice)
    canceled = (
        await refunds(ledger).CancelRefund(pb.CancelRefundRequest(id=first.id), metadata=ledger.auth(key))
    ).refund
    assert canceled.status == STATUS.REFUND_STATUS_CANCELED
    second = await refund(ledger, key, invoice)
    await settlement.MarkPayoutFailed(
        ledger_pb.MarkPayoutFailedRequest(payout_id=second.id, failure_reason="nonce reused")
    )
    third = await refund(ledger, key, invoice)
    assert third.amount == "5"
    assert await ledger.events(second.id) == ["refund.created", "refund.failed"]
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 0,
        "merchant_reserved": 5 * UNIT,
    }
    await ledger.assert_books_are_sound()


async def test_refunds_are_refused_beyond_the_balance_for_unpaid_or_foreign_invoices_and_change_nothing(
    ledger: Ledger,
) -> None:
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    _other, other_key = await ledger.merchant_with_key("Other", scopes=SCOPES)
    unpaid = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="5"), metadata=ledger.auth(key))
    ).invoice.id
    nothing = await refused(refund(ledger, key, unpaid))
    assert error_info(nothing).reason == "REFUND_EXCEEDS_PAID"
    paid = await paid_invoice(ledger, key, "5", 5 * UNIT)
    foreign = await refused(refund(ledger, other_key, paid))
    assert (foreign.code(), error_info(foreign).reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    too_much = await refused(refund(ledger, key, paid, "5.000000000000000001"))
    assert error_info(too_much).reason == "REFUND_EXCEEDS_PAID"
    bad_address = await refused(refund(ledger, key, paid, "1", address="0x12"))
    assert (bad_address.code(), error_info(bad_address).metadata["field"]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "refund_address",
    )
    # The money was paid out already: the refund is refused, not overdrawn.
    await ledger.pay_out(merchant, 4 * UNIT)
    short = await refused(refund(ledger, key, paid, "2"))
    assert (short.code(), error_info(short).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0
    assert (await ledger.balances(merchant))["merchant_available"] == UNIT
    await ledger.assert_books_are_sound()
