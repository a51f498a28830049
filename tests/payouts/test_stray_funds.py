"""Stray funds and platform revenue through the ledger's admin gRPC API on a real Postgres.

Unallocated payments are made as the watcher reports them (ChainObservationService): a transfer to an expired
invoice's deposit address after its monitoring window. Refunds and withdrawals are executed as settlement would,
through PayoutLedgerService called with the settlement mesh role.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2 as pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2_grpc as pb_grpc
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.ledger.v1 import sweep_ledger_service_pb2 as sweep_pb
from stablegate.ledger.v1 import sweep_ledger_service_pb2_grpc as sweep_grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from ledger.domain import postings
from ledger.domain.addresses import invoice_salt
from ledger.domain.credentials import new_admin_key
from ledger.store import journal, reports
from ledger.store.credentials import insert_admin_key
from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
REVENUE_ADDRESS = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"
SENDER = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"  # the harness's sender of every transfer, checksummed
TX = "0x" + "7a" * 32
KIND = pb.StrayFundKind
STATUS = pb.StrayFundStatus


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db, platform_revenue_address=REVENUE_ADDRESS) as running:
        yield running


@pytest.fixture
async def settlement(ledger: Ledger) -> AsyncIterator[ledger_grpc.PayoutLedgerServiceAsyncStub]:
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        yield ledger_grpc.PayoutLedgerServiceStub(channel)


def admin(ledger: Ledger) -> pb_grpc.StrayFundsAdminServiceAsyncStub:
    return pb_grpc.StrayFundsAdminServiceStub(ledger.channel)


async def new_invoice(ledger: Ledger, key: str, amount: str = "10") -> invoice_pb2.Invoice:
    reply = await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount=amount), metadata=ledger.auth(key))
    return reply.invoice


async def current(ledger: Ledger, key: str, invoice_id: str) -> invoice_pb2.Invoice:
    reply = await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice_id), metadata=ledger.auth(key))
    return reply.invoice


async def unallocated_payment(ledger: Ledger, key: str, amount: int = 10 * UNIT) -> tuple[invoice_pb2.Invoice, str]:
    """An expired invoice and a payment to its address after its monitoring window: held as unallocated."""
    expired = await new_invoice(ledger, key)
    ledger.clock.advance(hours=25)  # past expiry and the 24 h monitoring window
    await ledger.core.recorder.expire_due(ledger.clock())
    reply = await ledger.observe(expired.deposit_address, amount, "FINAL")
    assert await ledger.value("SELECT status FROM ledger.payments WHERE id = $1", reply.payment_id) == "UNALLOCATED"
    return expired, reply.payment_id


async def account(ledger: Ledger, kind: str) -> int:
    return int(await ledger.value("SELECT coalesce(sum(balance), 0) FROM ledger.accounts WHERE kind = $1", kind))


async def listed(ledger: Ledger, **filters: object) -> list[pb.StrayFund]:
    reply = await admin(ledger).ListStrayFunds(
        pb.ListStrayFundsRequest(**filters),  # type: ignore[arg-type]
        metadata=ledger.auth(ledger.admin_key),
    )
    return list(reply.stray_funds)


async def allocate(ledger: Ledger, payment_id: str, invoice_id: str, reason: str = "customer's late payment") -> None:
    await admin(ledger).AllocateStrayPayment(
        pb.AllocateStrayPaymentRequest(payment_id=payment_id, invoice_id=invoice_id, reason=reason),
        metadata=ledger.auth(ledger.admin_key),
    )


async def test_an_unallocated_payment_allocated_by_an_admin_credits_the_chosen_invoice_once(ledger: Ledger) -> None:
    """The issue's acceptance test: credited once, with the invoice's fee plan; a second allocation is refused."""
    merchant, key = await ledger.merchant_with_key()
    expired, payment_id = await unallocated_payment(ledger, key)
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=100, reason="contract"),
        metadata=ledger.auth(ledger.admin_key),
    )
    target = await new_invoice(ledger, key)  # a new invoice for the same order, under a 1 % plan
    [open_fund] = await listed(ledger)
    assert (open_fund.id, open_fund.kind, open_fund.status) == (
        payment_id,
        KIND.Value("STRAY_FUND_KIND_UNALLOCATED_PAYMENT"),
        STATUS.Value("STRAY_FUND_STATUS_OPEN"),
    )
    assert (open_fund.invoice_id, open_fund.merchant_id, open_fund.from_address) == (expired.id, merchant, SENDER)
    assert await account(ledger, "unallocated") == 10 * UNIT

    reply = await admin(ledger).AllocateStrayPayment(
        pb.AllocateStrayPaymentRequest(payment_id=payment_id, invoice_id=target.id, reason="paid late, ticket 42"),
        metadata=ledger.auth(ledger.admin_key),
    )
    assert (reply.invoice_status, reply.invoice_amount_paid_base_units) == ("PAID", str(10 * UNIT))
    assert reply.fee_base_units == str(UNIT // 10)
    assert reply.stray_fund.status == STATUS.Value("STRAY_FUND_STATUS_ALLOCATED")
    assert (reply.stray_fund.allocated_invoice_id, reply.stray_fund.allocated_by) == (target.id, "adm_test")
    paid = await current(ledger, key, target.id)
    assert (paid.status, paid.amount_paid, paid.fee, paid.net_amount) == (
        invoice_pb2.INVOICE_STATUS_PAID,
        "10",
        "0.1",
        "9.9",
    )
    assert (await current(ledger, key, expired.id)).amount_paid == "0"
    assert await ledger.balances(merchant) == {"merchant_available": 10 * UNIT - UNIT // 10}
    assert await account(ledger, "platform_fees") == UNIT // 10
    assert await account(ledger, "unallocated") == 0
    assert "invoice.paid" in await ledger.events(target.id)
    logged = await ledger.fetch(
        "SELECT subject, details->>'invoiceId' AS invoice FROM ledger.audit_events WHERE action = 'stray.allocate'"
    )
    assert [(r["subject"], r["invoice"]) for r in logged] == [(f"stray_funds/{payment_id}", target.id)]
    operator = await ledger.fetch("SELECT merchant_id FROM ledger.outbox WHERE event_type = 'payment.allocated'")
    assert [r["merchant_id"] for r in operator] == [None]  # operator-level: never a webhook

    for again in (target.id, expired.id):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await allocate(ledger, payment_id, again)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(refused.value).reason == "PAYMENT_ALREADY_ALLOCATED"
    assert await ledger.balances(merchant) == {"merchant_available": 10 * UNIT - UNIT // 10}
    assert (await current(ledger, key, target.id)).amount_paid == "10"
    assert await ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'stray.allocate'") == 1
    await ledger.assert_books_are_sound()


async def test_concurrent_allocations_of_one_payment_exactly_one_wins(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    _expired, payment_id = await unallocated_payment(ledger, key)
    targets = [await new_invoice(ledger, key) for _ in range(4)]
    outcomes = await asyncio.gather(*(allocate(ledger, payment_id, t.id) for t in targets), return_exceptions=True)
    won = [o for o in outcomes if o is None]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 3
    assert {error_info(e).reason for e in lost} == {"PAYMENT_ALREADY_ALLOCATED"}
    paid = [(await current(ledger, key, t.id)).amount_paid for t in targets]
    assert sorted(paid) == ["0", "0", "0", "10"]
    assert await ledger.balances(merchant) == {"merchant_available": 10 * UNIT}
    await ledger.assert_books_are_sound()


async def test_allocation_refusals_change_nothing(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    _other_merchant, other_key = await ledger.merchant_with_key("Other")
    _expired, payment_id = await unallocated_payment(ledger, key)
    foreign = await new_invoice(ledger, other_key)
    canceled = await new_invoice(ledger, key)
    await ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=canceled.id), metadata=ledger.auth(key))
    mine = await new_invoice(ledger, key)
    cases = [
        (payment_id, foreign.id, "why", grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND"),
        (payment_id, canceled.id, "why", grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_CANCELED"),
        (payment_id, mine.id, " ", grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        ("pay_nope", mine.id, "why", grpc.StatusCode.NOT_FOUND, "STRAY_PAYMENT_NOT_FOUND"),
    ]
    for pay, invoice, reason, code, why in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await allocate(ledger, pay, invoice, reason)
        assert (refused.value.code(), error_info(refused.value).reason) == (code, why)
    assert await ledger.balances(merchant) == {}
    assert await account(ledger, "unallocated") == 10 * UNIT
    assert [f.status for f in await listed(ledger)] == [STATUS.Value("STRAY_FUND_STATUS_OPEN")]
    assert await ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action LIKE 'stray.%'") == 0

    # A merchant key never reaches the admin API; a viewer reads but does not write.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await admin(ledger).ListStrayFunds(pb.ListStrayFundsRequest(), metadata=ledger.auth(key))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    viewer = new_admin_key()
    conn = await asyncpg.connect(ledger.db_url)
    try:
        await insert_admin_key(
            conn, key_id="adm_view", prefix=viewer.prefix, secret_hash=viewer.secret_hash, roles=["viewer"], name="v"
        )
    finally:
        await conn.close()
    seen = await admin(ledger).ListStrayFunds(pb.ListStrayFundsRequest(), metadata=ledger.auth(viewer.plaintext))
    assert [f.id for f in seen.stray_funds] == [payment_id]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await admin(ledger).AllocateStrayPayment(
            pb.AllocateStrayPaymentRequest(payment_id=payment_id, invoice_id=mine.id, reason="r"),
            metadata=ledger.auth(viewer.plaintext),
        )
    assert error_info(denied.value).reason == "ROLE_MISSING"


async def test_lookalike_tokens_and_native_bnb_are_listed_as_stray_and_never_credited(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key)
    lookalike = "0x" + "1d" * 20
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", token=lookalike)
    _expired, payment_id = await unallocated_payment(ledger, key)
    ledger.clock.advance(minutes=1)
    native = obs_pb.TransferObservation(  # as the watcher reports a BNB balance rise: no token, no sender
        chain_id=ledger.settings.chain_id,
        asset=obs_pb.TRANSFER_ASSET_NATIVE,
        tx_hash="0x" + "4e" * 32,
        log_index=0,
        block_number=120,
        block_hash="0x" + "e" * 64,
        to_address=invoice.deposit_address,
        amount_base_units=str(3 * 10**16),
        finality=obs_pb.OBSERVATION_FINALITY_FINAL,
    )
    await ledger.observations.RecordTransferObservation(obs_pb.RecordTransferObservationRequest(observation=native))
    everything = await listed(ledger)
    assert [f.kind for f in everything] == [
        KIND.Value("STRAY_FUND_KIND_NATIVE"),
        KIND.Value("STRAY_FUND_KIND_UNALLOCATED_PAYMENT"),
        KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN"),
    ]
    bnb, token = everything[0], everything[2]
    assert (bnb.token_contract, bnb.from_address, bnb.amount_base_units) == ("", "", str(3 * 10**16))
    assert token.token_contract.lower() == lookalike
    assert (token.amount_base_units, token.invoice_id, token.merchant_id) == (str(10 * UNIT), invoice.id, merchant)
    only_tokens = await listed(ledger, kind=KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN"))
    assert [f.id for f in only_tokens] == [token.id]
    only_open_payments = await listed(
        ledger, kind=KIND.Value("STRAY_FUND_KIND_UNALLOCATED_PAYMENT"), status=STATUS.Value("STRAY_FUND_STATUS_OPEN")
    )
    assert [f.id for f in only_open_payments] == [payment_id]
    assert await listed(ledger, merchant_id="mer_other") == []
    pages: list[str] = []
    token_text = ""
    for _ in range(3):
        page = await admin(ledger).ListStrayFunds(
            pb.ListStrayFundsRequest(page_size=1, page_token=token_text), metadata=ledger.auth(ledger.admin_key)
        )
        pages += [f.id for f in page.stray_funds]
        token_text = page.next_page_token
    assert pages == [bnb.id, payment_id, token.id]
    assert (await current(ledger, key, invoice.id)).amount_paid == "0"
    assert await ledger.balances(merchant) == {}
    # The same report again is kept once.
    await ledger.observations.RecordTransferObservation(obs_pb.RecordTransferObservationRequest(observation=native))
    assert len(await listed(ledger)) == 3


async def test_a_stray_refund_goes_to_the_sender_out_of_unallocated_and_is_booked_at_confirmation(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await ledger.merchant_with_key()
    _expired, payment_id = await unallocated_payment(ledger, key)
    reply = await admin(ledger).RefundStrayPayment(
        pb.RefundStrayPaymentRequest(payment_id=payment_id, reason="sender asked"),
        metadata=ledger.auth(ledger.admin_key),
    )
    refund = reply.refund
    assert reply.stray_fund.status == STATUS.Value("STRAY_FUND_STATUS_REFUND_QUEUED")
    assert (refund.destination_address, refund.amount_base_units) == (SENDER, str(10 * UNIT))
    assert (await account(ledger, "unallocated"), await account(ledger, "unallocated_reserved")) == (0, 10 * UNIT)
    queued = await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())
    assert [(p.id, p.destination_address) for p in queued.payouts] == [(refund.id, SENDER)]
    # Being refunded, it cannot be allocated, nor refunded twice.
    for call in (
        allocate(ledger, payment_id, (await new_invoice(ledger, key)).id),
        admin(ledger).RefundStrayPayment(
            pb.RefundStrayPaymentRequest(payment_id=payment_id, reason="again"), metadata=ledger.auth(ledger.admin_key)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert error_info(refused.value).reason == "STRAY_REFUND_EXISTS"

    await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=refund.id, tx_hash=TX))
    await settlement.MarkPayoutConfirmed(
        ledger_pb.MarkPayoutConfirmedRequest(payout_id=refund.id, tx_hash=TX, block_number=200)
    )
    assert [f.status for f in await listed(ledger)] == [STATUS.Value("STRAY_FUND_STATUS_REFUNDED")]
    assert await account(ledger, "unallocated_reserved") == 0
    assert await account(ledger, "treasury") == -10 * UNIT  # paid out of the treasury
    assert await ledger.balances(merchant) == {}  # never the merchant's money
    events = await ledger.fetch(
        "SELECT event_type, merchant_id FROM ledger.outbox WHERE subject_id = $1 ORDER BY id", refund.id
    )
    assert [(e["event_type"], e["merchant_id"]) for e in events] == [
        ("stray_refund.created", None),
        ("stray_refund.broadcast", None),
        ("stray_refund.confirmed", None),
    ]
    assert await ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'stray.refund'") == 1
    await ledger.assert_books_are_sound()


async def test_a_failed_stray_refund_gives_the_payment_back_to_allocate(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    _merchant, key = await ledger.merchant_with_key()
    _expired, payment_id = await unallocated_payment(ledger, key)
    reply = await admin(ledger).RefundStrayPayment(
        pb.RefundStrayPaymentRequest(payment_id=payment_id, reason="sender asked"),
        metadata=ledger.auth(ledger.admin_key),
    )
    await settlement.MarkPayoutFailed(
        ledger_pb.MarkPayoutFailedRequest(payout_id=reply.refund.id, failure_reason="nonce reused")
    )
    assert (await account(ledger, "unallocated"), await account(ledger, "unallocated_reserved")) == (10 * UNIT, 0)
    assert [f.status for f in await listed(ledger)] == [STATUS.Value("STRAY_FUND_STATUS_OPEN")]
    target = await new_invoice(ledger, key)
    await allocate(ledger, payment_id, target.id)
    assert (await current(ledger, key, target.id)).amount_paid == "10"
    await ledger.assert_books_are_sound()


async def test_platform_revenue_is_withdrawn_to_the_configured_address_never_beyond_the_fees(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await ledger.merchant_with_key()
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=1000, reason="contract"),
        metadata=ledger.auth(ledger.admin_key),
    )
    invoice = await new_invoice(ledger, key)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL")  # 1 USDT of fees
    auth = ledger.auth(ledger.admin_key)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin(ledger).WithdrawPlatformRevenue(
            pb.WithdrawPlatformRevenueRequest(amount="1.5", reason="monthly"), metadata=auth
        )
    assert error_info(refused.value).reason == "INSUFFICIENT_PLATFORM_FEES"
    assert await account(ledger, "platform_fees") == UNIT
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0

    request = pb.WithdrawPlatformRevenueRequest(request_id="w-1", amount="0.6", reason="monthly")
    withdrawal = (await admin(ledger).WithdrawPlatformRevenue(request, metadata=auth)).withdrawal
    replay = (await admin(ledger).WithdrawPlatformRevenue(request, metadata=auth)).withdrawal
    assert replay.id == withdrawal.id
    assert (withdrawal.destination_address, withdrawal.amount_base_units) == (REVENUE_ADDRESS, str(6 * UNIT // 10))
    revenue = await admin(ledger).GetPlatformRevenue(pb.GetPlatformRevenueRequest(), metadata=auth)
    assert (revenue.available, revenue.reserved, revenue.revenue_address) == ("0.4", "0.6", REVENUE_ADDRESS)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin(ledger).WithdrawPlatformRevenue(
            pb.WithdrawPlatformRevenueRequest(amount="0.5", reason="again"), metadata=auth
        )
    assert error_info(refused.value).reason == "INSUFFICIENT_PLATFORM_FEES"  # what is reserved is not available

    queued = await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())
    assert [p.id for p in queued.payouts] == [withdrawal.id]
    await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=withdrawal.id, tx_hash=TX))
    await settlement.MarkPayoutConfirmed(
        ledger_pb.MarkPayoutConfirmedRequest(payout_id=withdrawal.id, tx_hash=TX, block_number=300)
    )
    assert await account(ledger, "platform_fees") == 4 * UNIT // 10
    assert await account(ledger, "platform_fees_reserved") == 0
    assert await account(ledger, "treasury") == -6 * UNIT // 10
    events = await ledger.fetch(
        "SELECT event_type, merchant_id FROM ledger.outbox WHERE subject_id = $1", withdrawal.id
    )
    assert [(e["event_type"], e["merchant_id"]) for e in events] == [
        ("revenue_withdrawal.created", None),
        ("revenue_withdrawal.broadcast", None),
        ("revenue_withdrawal.confirmed", None),
    ]
    logged = await ledger.fetch("SELECT details FROM ledger.audit_events WHERE action = 'platform_revenue.withdraw'")
    assert [json.loads(r["details"])["amountBaseUnits"] for r in logged] == [str(6 * UNIT // 10)]

    second = (
        await admin(ledger).WithdrawPlatformRevenue(
            pb.WithdrawPlatformRevenueRequest(amount="0.4", reason="rest"), metadata=auth
        )
    ).withdrawal
    await settlement.MarkPayoutFailed(ledger_pb.MarkPayoutFailedRequest(payout_id=second.id, failure_reason="reverted"))
    assert await account(ledger, "platform_fees") == 4 * UNIT // 10  # released back
    await ledger.assert_books_are_sound()


async def test_a_revenue_withdrawal_without_a_configured_address_is_refused(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin(ledger).WithdrawPlatformRevenue(
                pb.WithdrawPlatformRevenueRequest(amount="1", reason="monthly"), metadata=ledger.auth(ledger.admin_key)
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(refused.value).reason == "REVENUE_ADDRESS_NOT_CONFIGURED"
        assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0


async def test_a_reorg_of_an_allocated_payment_undoes_the_credit_and_a_re_mine_holds_it_unallocated_again(
    ledger: Ledger,
) -> None:
    merchant, key = await ledger.merchant_with_key()
    expired = await new_invoice(ledger, key)
    ledger.clock.advance(hours=25)
    await ledger.core.recorder.expire_due(ledger.clock())
    tx = "0x" + "ab" * 32
    reply = await ledger.observe(expired.deposit_address, 10 * UNIT, "SEEN", tx=tx, block_hash="0x" + "1" * 64)
    target = await new_invoice(ledger, key)
    await allocate(ledger, reply.payment_id, target.id)
    assert (await current(ledger, key, target.id)).status == invoice_pb2.INVOICE_STATUS_PAID

    await ledger.observe(expired.deposit_address, 10 * UNIT, "REORGED", tx=tx, block_hash="0x" + "1" * 64)
    undone = await current(ledger, key, target.id)
    assert (undone.status, undone.amount_paid) == (invoice_pb2.INVOICE_STATUS_OPEN, "0")
    assert await ledger.balances(merchant) == {"merchant_available": 0}
    assert await account(ledger, "unallocated") == 0
    row = await ledger.fetch(
        "SELECT invoice_id, status, allocated_from_invoice_id FROM ledger.payments WHERE id = $1", reply.payment_id
    )
    assert [tuple(r) for r in row] == [(expired.id, "REVERSED", None)]
    assert await listed(ledger) == []

    # Re-mined in another block: held as unallocated again (it came after the window), open to allocate.
    await ledger.observe(expired.deposit_address, 10 * UNIT, "FINAL", tx=tx, block_hash="0x" + "2" * 64)
    assert [f.status for f in await listed(ledger)] == [STATUS.Value("STRAY_FUND_STATUS_OPEN")]
    await allocate(ledger, reply.payment_id, target.id)
    assert (await current(ledger, key, target.id)).amount_paid == "10"
    await ledger.assert_books_are_sound()


async def test_the_reserve_accounts_can_never_go_negative(ledger: Ledger) -> None:
    """The schema's reserved_balance_not_negative backs the checks taken under the account locks."""
    for kind in ("STRAY_REFUND", "REVENUE"):
        posting = postings.platform_transfer(kind, "confirmed", ledger.settings.asset, 1)
        conn = await asyncpg.connect(ledger.db_url)
        try:
            with pytest.raises(asyncpg.CheckViolationError, match="reserved_balance_not_negative"):
                async with conn.transaction():
                    await journal.post(conn, posting, request_id=f"overdraw:{kind}")
        finally:
            await conn.close()
    assert await account(ledger, "unallocated_reserved") == 0
    assert await account(ledger, "platform_fees_reserved") == 0


async def test_reports_count_an_allocation_as_a_credit_and_a_revenue_withdrawal_as_no_fee(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    _expired, payment_id = await unallocated_payment(ledger, key)
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(merchant_id=merchant, bps=100, reason="contract"),
        metadata=ledger.auth(ledger.admin_key),
    )
    await allocate(ledger, payment_id, (await new_invoice(ledger, key)).id)
    await admin(ledger).WithdrawPlatformRevenue(
        pb.WithdrawPlatformRevenueRequest(amount="0.05", reason="monthly"), metadata=ledger.auth(ledger.admin_key)
    )
    today = dt.datetime.now(dt.UTC).date()
    conn = await asyncpg.connect(ledger.db_url)
    try:
        credited = await reports.settlement_report(conn, today - dt.timedelta(days=1), today + dt.timedelta(days=2))
        fees = await reports.fee_report(conn, today - dt.timedelta(days=1), today + dt.timedelta(days=2))
    finally:
        await conn.close()
    assert {r.merchant_id for r in credited} == {merchant}
    assert sum(r.payments_credited for r in credited) == 1
    assert sum(r.volume for r in credited) == 10 * UNIT - UNIT // 10
    assert sum(r.fees for r in fees) == UNIT // 10  # earned once; the withdrawal's reservation is not a negative fee


async def test_a_quarantine_request_for_a_stray_token_is_recorded_once_and_refused_for_anything_else(
    ledger: Ledger,
) -> None:
    _merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key)
    await ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL", token="0x" + "1d" * 20)
    _expired, payment_id = await unallocated_payment(ledger, key)
    [token] = await listed(ledger, kind=KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN"))
    auth = ledger.auth(ledger.admin_key)
    request = pb.RequestQuarantineRequest(id=token.id, reason="lookalike USDT, ticket 7")
    first = (await admin(ledger).RequestQuarantine(request, metadata=auth)).stray_fund
    assert (first.status, first.allocated_by, first.allocate_reason) == (
        STATUS.Value("STRAY_FUND_STATUS_QUARANTINE_REQUESTED"),
        "adm_test",
        "lookalike USDT, ticket 7",
    )
    again = (await admin(ledger).RequestQuarantine(request, metadata=auth)).stray_fund
    assert again.status == STATUS.Value("STRAY_FUND_STATUS_QUARANTINE_REQUESTED")
    assert await ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'stray.quarantine'") == 1
    requested = await listed(ledger, status=STATUS.Value("STRAY_FUND_STATUS_QUARANTINE_REQUESTED"))
    assert [f.id for f in requested] == [token.id]

    for stray_id, code, reason in (
        (payment_id, grpc.StatusCode.FAILED_PRECONDITION, "QUARANTINE_NOT_APPLICABLE"),
        ("sd_nope", grpc.StatusCode.NOT_FOUND, "STRAY_FUND_NOT_FOUND"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin(ledger).RequestQuarantine(pb.RequestQuarantineRequest(id=stray_id, reason="r"), metadata=auth)
        assert (refused.value.code(), error_info(refused.value).reason) == (code, reason)
    assert [f.status for f in await listed(ledger, kind=KIND.Value("STRAY_FUND_KIND_UNALLOCATED_PAYMENT"))] == [
        STATUS.Value("STRAY_FUND_STATUS_OPEN")
    ]


async def test_marking_a_quarantine_writes_its_event_once_and_refuses_bad_input_changing_nothing(
    ledger: Ledger,
) -> None:
    _merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key)
    lookalike = "0x" + "1d" * 20
    await ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL", token=lookalike)
    await ledger.observe(invoice.deposit_address, 2 * UNIT, "FINAL", token=lookalike)
    first, second = sorted(
        await listed(ledger, kind=KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN")), key=lambda f: f.amount_base_units
    )
    _expired, payment_id = await unallocated_payment(ledger, key)
    auth = ledger.auth(ledger.admin_key)
    await admin(ledger).RequestQuarantine(pb.RequestQuarantineRequest(id=second.id, reason="lookalike"), metadata=auth)
    tx = "0x" + "5e" * 32
    chain = ledger.settings.chain_id

    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        sweeps = sweep_grpc.SweepLedgerServiceStub(channel)
        listed_requests = await sweeps.ListRequestedQuarantines(
            sweep_pb.ListRequestedQuarantinesRequest(chain_id=chain)
        )
        [requested] = listed_requests.quarantines
        assert (requested.stray_id, requested.token_contract, requested.amount_base_units) == (
            second.id,
            lookalike,
            str(5 * UNIT),
        )
        assert requested.deposit_address == invoice.deposit_address.lower()
        assert requested.salt == "0x" + invoice_salt(invoice.id).hex()

        def mark(**changes: object) -> sweep_pb.MarkQuarantinedRequest:
            fields: dict[str, object] = {
                "stray_id": second.id,
                "chain_id": chain,
                "tx_hash": tx,
                "block_number": 120,
                "moved_base_units": str(7 * UNIT),
            }
            return sweep_pb.MarkQuarantinedRequest(**{**fields, **changes})  # type: ignore[arg-type]

        for request, code, reason in (
            (mark(stray_id=""), grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
            (mark(tx_hash="0x12"), grpc.StatusCode.INVALID_ARGUMENT, "HASH_INVALID"),
            (mark(block_number=0), grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
            (mark(moved_base_units="-1"), grpc.StatusCode.INVALID_ARGUMENT, None),
            (mark(chain_id=chain + 1), grpc.StatusCode.INVALID_ARGUMENT, "CHAIN_MISMATCH"),
            (mark(stray_id="sd_nope"), grpc.StatusCode.NOT_FOUND, "STRAY_FUND_NOT_FOUND"),
            (mark(stray_id=first.id), grpc.StatusCode.FAILED_PRECONDITION, "QUARANTINE_NOT_REQUESTED"),
            (mark(stray_id=payment_id), grpc.StatusCode.NOT_FOUND, "STRAY_FUND_NOT_FOUND"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await sweeps.MarkQuarantined(request)
            assert refused.value.code() == code
            if reason is not None:
                assert error_info(refused.value).reason == reason
        assert await ledger.value("SELECT count(*) FROM ledger.outbox WHERE event_type = 'stray.quarantined'") == 0
        assert (
            await ledger.value("SELECT count(*) FROM ledger.stray_deposits WHERE quarantine_tx_hash IS NOT NULL") == 0
        )

        journal_before = await ledger.value("SELECT count(*) FROM ledger.journal_transactions")
        replies = await asyncio.gather(*(sweeps.MarkQuarantined(mark()) for _ in range(4)))
        assert sorted(r.already_quarantined for r in replies) == [False, True, True, True]
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await sweeps.MarkQuarantined(mark(tx_hash="0x" + "6f" * 32))
        assert error_info(other.value).reason == "ALREADY_QUARANTINED"
        assert (
            await sweeps.ListRequestedQuarantines(sweep_pb.ListRequestedQuarantinesRequest(chain_id=chain))
        ).quarantines == []

    events = await ledger.fetch("SELECT merchant_id, payload FROM ledger.outbox WHERE event_type = 'stray.quarantined'")
    assert len(events) == 1 and events[0]["merchant_id"] is None
    data = json.loads(events[0]["payload"])["data"]
    assert (data["stray_id"], data["tx_hash"], data["moved_base_units"]) == (second.id, tx, str(7 * UNIT))
    assert await ledger.value("SELECT count(*) FROM ledger.journal_transactions") == journal_before  # nothing booked
    statuses = {f.id: f.status for f in await listed(ledger, kind=KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN"))}
    assert statuses == {
        first.id: STATUS.Value("STRAY_FUND_STATUS_OPEN"),
        second.id: STATUS.Value("STRAY_FUND_STATUS_QUARANTINED"),
    }
    # The admin API cannot reach the internal service; settlement's role is the only one let in.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await sweep_grpc.SweepLedgerServiceStub(ledger.channel).MarkQuarantined(mark(), metadata=auth)
    assert denied.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
