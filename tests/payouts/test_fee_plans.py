"""Platform fee plans through the ledger's gRPC API on a real Postgres: set by an admin, charged at finality."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from tests.payouts.ledger_calls import set_plan

UNIT = 10**18


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def new_invoice(ledger: Ledger, key: str, amount: str) -> invoice_pb2.Invoice:
    reply = await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount=amount), metadata=ledger.auth(key))
    return reply.invoice


async def current(ledger: Ledger, key: str, invoice_id: str) -> invoice_pb2.Invoice:
    return (
        await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice_id), metadata=ledger.auth(key))
    ).invoice


async def platform_fees(ledger: Ledger) -> int:
    value = await ledger.value("SELECT balance FROM ledger.accounts WHERE code = 'platform_fees:USDT'")
    return int(value or 0)


async def test_an_invoice_paid_in_two_transfers_pays_its_plan_once_and_shows_fee_and_net(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    plan = await set_plan(ledger, merchant, bps=100, fixed="0.5", minimum="1")
    assert (plan.bps, plan.fixed_base_units, plan.minimum_base_units, plan.default) == (
        100,
        str(UNIT // 2),
        str(UNIT),
        False,
    )
    invoice = await new_invoice(ledger, key, "100")
    assert (invoice.fee, invoice.net_amount) == ("0", "0")
    await ledger.observe(invoice.deposit_address, 60 * UNIT, "FINAL")
    after_first = await current(ledger, key, invoice.id)
    assert after_first.fee == "1.1"  # 1 % of 60 + 0.5
    await ledger.observe(invoice.deposit_address, 40 * UNIT, "FINAL")
    paid = await current(ledger, key, invoice.id)
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    # 1 % of 100 + 0.5, once for the invoice: the second transfer paid only the increase (0.4).
    assert (paid.fee, paid.fee_base_units) == ("1.5", str(15 * UNIT // 10))
    assert (paid.net_amount, paid.net_amount_base_units) == ("98.5", str(985 * UNIT // 10))
    assert Decimal(paid.fee) + Decimal(paid.net_amount) == Decimal(paid.amount_paid)
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 985 * UNIT // 10}
    assert await platform_fees(ledger) == 15 * UNIT // 10
    fees_by_payment = await ledger.fetch(
        "SELECT fee FROM ledger.payments WHERE invoice_id = $1 ORDER BY observe_time, id", invoice.id
    )
    assert sum(int(r["fee"]) for r in fees_by_payment) == 15 * UNIT // 10
    await ledger.assert_books_are_sound()


async def test_a_plan_change_applies_to_invoices_created_afterwards_and_is_kept_with_its_admin(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    before = await new_invoice(ledger, key, "10")
    await set_plan(ledger, merchant, bps=250)
    after = await new_invoice(ledger, key, "10")
    await ledger.observe(before.deposit_address, 10 * UNIT, "FINAL")
    await ledger.observe(after.deposit_address, 10 * UNIT, "FINAL")
    assert (await current(ledger, key, before.id)).fee == "0"  # made under the (free) default plan
    assert (await current(ledger, key, after.id)).fee == "0.25"
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 20 * UNIT - UNIT // 4}
    history = await ledger.fetch(
        "SELECT bps, actor, reason FROM ledger.fee_plan_changes WHERE merchant_id = $1", merchant
    )
    assert [(r["bps"], r["actor"], r["reason"]) for r in history] == [(250, "adm_test", "contract 2026-11")]
    audit = await ledger.fetch("SELECT merchant_id, payload FROM ledger.outbox WHERE event_type = 'fee_plan.changed'")
    assert len(audit) == 1 and audit[0]["merchant_id"] is None  # operator-level: never a webhook
    assert json.loads(audit[0]["payload"])["data"]["actor"] == "adm_test"
    logged = await ledger.fetch(
        "SELECT actor, subject, details->>'bps' AS bps, details->>'reason' AS reason FROM ledger.audit_events "
        "WHERE action = 'merchant.set_fee_plan'"
    )
    assert [(r["actor"], r["subject"], r["bps"], r["reason"]) for r in logged] == [
        ("admin_key:adm_test", f"merchants/{merchant}/fee_plan", "250", "contract 2026-11")
    ]
    got = await ledger.merchants.GetMerchantFeePlan(
        admin_pb.GetMerchantFeePlanRequest(merchant_id=merchant), metadata=ledger.auth(ledger.admin_key)
    )
    assert (got.fee_plan.bps, got.fee_plan.updated_by, got.fee_plan.default) == (250, "adm_test", False)
    await ledger.assert_books_are_sound()


async def test_a_reversed_credited_payment_gives_its_fee_back(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    await set_plan(ledger, merchant, bps=0, fixed="1")
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "4" * 64
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
    assert await platform_fees(ledger) == UNIT
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx)
    assert await platform_fees(ledger) == 0
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 0}
    assert (await current(ledger, key, invoice.id)).fee == "0"
    await ledger.assert_books_are_sound()


async def test_bad_plans_are_refused_naming_the_field_and_change_nothing(ledger: Ledger) -> None:
    merchant, _key = await ledger.merchant_with_key()
    admin = ledger.auth(ledger.admin_key)
    cases = [
        (
            admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=10_001, reason="x"),
            "FEE_BPS_OUT_OF_RANGE",
            "bps",
        ),
        (
            admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, fixed="0." + "1" * 19, reason="x"),
            None,
            "fixed",
        ),
        (admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, minimum="-1", reason="x"), None, "minimum"),
        (admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=5), "FIELD_REQUIRED", "reason"),
    ]
    for request, reason, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ledger.merchants.SetMerchantFeePlan(request, metadata=admin)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(refused.value)
        assert info.metadata["field"] == field
        if reason is not None:
            assert info.reason == reason
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await ledger.merchants.SetMerchantFeePlan(
            admin_pb.SetMerchantFeePlanRequest(merchant_id="mer_nope", bps=5, reason="x"), metadata=admin
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert await ledger.value("SELECT count(*) FROM ledger.fee_plan_changes") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.fee_plans") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'merchant.set_fee_plan'") == 0


async def test_merchant_keys_cannot_set_a_fee_plan(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.merchants.SetMerchantFeePlan(
            admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=0, reason="mine"), metadata=ledger.auth(key)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await ledger.value("SELECT count(*) FROM ledger.fee_plans") == 0


async def test_merchants_without_a_plan_pay_the_configured_default(ledger_db: str) -> None:
    async with running_ledger(ledger_db, default_fee_bps=200, default_fee_minimum_base_units=UNIT) as ledger:
        merchant, key = await ledger.merchant_with_key()
        got = await ledger.merchants.GetMerchantFeePlan(
            admin_pb.GetMerchantFeePlanRequest(merchant_id=merchant), metadata=ledger.auth(ledger.admin_key)
        )
        assert (got.fee_plan.bps, got.fee_plan.minimum, got.fee_plan.default) == (200, "1", True)
        small = await new_invoice(ledger, key, "10")
        large = await new_invoice(ledger, key, "100")
        await ledger.observe(small.deposit_address, 10 * UNIT, "FINAL")
        await ledger.observe(large.deposit_address, 100 * UNIT, "FINAL")
        assert (await current(ledger, key, small.id)).fee == "1"  # 2 % is 0.2, below the minimum
        assert (await current(ledger, key, large.id)).fee == "2"
        assert await platform_fees(ledger) == 3 * UNIT
        await ledger.assert_books_are_sound()
