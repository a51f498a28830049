"""Payments through the ledger's gRPC API on a real Postgres: lifecycle, journal, outbox, reorgs, bad chain data."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18  # BSC-USD has 18 decimals


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def new_invoice(ledger: Ledger, key: str, amount: str = "10", **fields: Any) -> invoice_pb2.Invoice:
    reply = await ledger.invoices.CreateInvoice(
        inv_pb.CreateInvoiceRequest(amount=amount, **fields), metadata=ledger.auth(key)
    )
    return reply.invoice


async def current(ledger: Ledger, key: str, invoice_id: str) -> invoice_pb2.Invoice:
    return (
        await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice_id), metadata=ledger.auth(key))
    ).invoice


def flags(invoice: invoice_pb2.Invoice) -> set[str]:
    return {invoice_pb2.InvoiceException.Name(e).removeprefix("INVOICE_EXCEPTION_") for e in invoice.exceptions}


async def journal_kinds(ledger: Ledger, invoice_id: str) -> list[str]:
    rows = await ledger.fetch(
        "SELECT kind FROM ledger.journal_transactions WHERE invoice_id = $1 ORDER BY id", invoice_id
    )
    return [r["kind"] for r in rows]


async def test_exact_payment_is_processing_when_seen_and_paid_on_finality(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "1" * 64
    seen = await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx)
    assert seen.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING
    assert await ledger.balances(merchant) == {"merchant_pending": 10 * UNIT}

    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
    paid = await current(ledger, key, invoice.id)
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert flags(paid) == set()
    assert paid.amount_paid_base_units == str(10 * UNIT)
    assert [p.status for p in paid.payments] == [invoice_pb2.PAYMENT_STATUS_FINAL]
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 10 * UNIT}
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(invoice.id) == [
        "invoice.created",
        "invoice.payment_detected",
        "invoice.processing",
        "invoice.paid",
    ]
    await ledger.assert_books_are_sound()


async def test_the_same_observation_twice_credits_once(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "2" * 64
    for _ in range(2):
        await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
    again = await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
    assert again.outcome == obs_pb.OBSERVATION_OUTCOME_DUPLICATE
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 10 * UNIT}
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert (await ledger.events(invoice.id)).count("invoice.paid") == 1


async def test_underpaid_within_tolerance_is_paid_and_flagged(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10", underpayment_tolerance="0.5")
    await ledger.observe(invoice.deposit_address, 96 * UNIT // 10, "FINAL")
    paid = await current(ledger, key, invoice.id)
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert flags(paid) == {"UNDERPAID"}
    assert paid.amount_paid == "9.6"
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(invoice.id) == ["invoice.created", "invoice.payment_detected", "invoice.paid"]


async def test_underpaid_beyond_tolerance_stays_processing_then_expires_underpaid(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10", underpayment_tolerance="0.5")
    await ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL")
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING
    ledger.clock.advance(minutes=16)
    assert await ledger.core.recorder.expire_due(ledger.clock()) == 1
    expired = await current(ledger, key, invoice.id)
    assert expired.status == invoice_pb2.INVOICE_STATUS_EXPIRED
    assert flags(expired) == {"UNDERPAID"}
    assert (await ledger.balances(merchant))["merchant_available"] == 5 * UNIT  # what was paid stays credited
    assert expired.amount_paid == "5"
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(invoice.id) == [
        "invoice.created",
        "invoice.payment_detected",
        "invoice.processing",
        "invoice.expired",
    ]


async def test_overpaid_and_multiple_payments_are_flagged(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    over = await new_invoice(ledger, key, "10")
    await ledger.observe(over.deposit_address, 12 * UNIT, "FINAL")
    overpaid = await current(ledger, key, over.id)
    assert (overpaid.status, flags(overpaid), overpaid.amount_paid) == (
        invoice_pb2.INVOICE_STATUS_PAID,
        {"OVERPAID"},
        "12",
    )
    assert await journal_kinds(ledger, over.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(over.id) == ["invoice.created", "invoice.payment_detected", "invoice.paid"]
    two = await new_invoice(ledger, key, "10")
    await ledger.observe(two.deposit_address, 6 * UNIT, "FINAL")
    await ledger.observe(two.deposit_address, 4 * UNIT, "FINAL")
    both = await current(ledger, key, two.id)
    assert both.status == invoice_pb2.INVOICE_STATUS_PAID
    assert flags(both) == {"MULTIPLE_PAYMENTS"}
    assert both.amount_paid == "10"
    assert await journal_kinds(ledger, two.id) == ["payment_seen", "payment_final"] * 2
    assert await ledger.events(two.id) == [
        "invoice.created",
        "invoice.payment_detected",
        "invoice.processing",
        "invoice.payment_detected",
        "invoice.paid",
    ]
    assert (await ledger.balances(merchant))["merchant_available"] == 22 * UNIT
    listed = await ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(), metadata=ledger.auth(key))
    payments_by_invoice = {i.id: sorted(p.amount for p in i.payments) for i in listed.invoices}
    assert payments_by_invoice == {over.id: ["12"], two.id: ["4", "6"]}
    await ledger.assert_books_are_sound()


async def test_a_plain_expiry_and_a_late_payment_inside_the_window(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    ledger.clock.advance(minutes=20)
    await ledger.core.recorder.expire_due(ledger.clock())
    expired = await current(ledger, key, invoice.id)
    assert (expired.status, flags(expired), expired.amount_paid) == (invoice_pb2.INVOICE_STATUS_EXPIRED, set(), "0")
    assert await ledger.events(invoice.id) == ["invoice.created", "invoice.expired"]
    assert await journal_kinds(ledger, invoice.id) == []
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL")
    late = await current(ledger, key, invoice.id)
    assert late.status == invoice_pb2.INVOICE_STATUS_PAID
    assert flags(late) == {"PAID_LATE"}
    assert (await ledger.balances(merchant))["merchant_available"] == 10 * UNIT
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(invoice.id) == [
        "invoice.created",
        "invoice.expired",
        "invoice.payment_detected",
        "invoice.paid",
    ]


async def test_a_payment_after_the_monitoring_window_is_held_unallocated(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    ledger.clock.advance(hours=25)
    await ledger.core.recorder.expire_due(ledger.clock())
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL")
    held = await current(ledger, key, invoice.id)
    assert held.status == invoice_pb2.INVOICE_STATUS_EXPIRED
    assert await ledger.balances(merchant) == {}
    assert await ledger.value("SELECT balance FROM ledger.accounts WHERE kind = 'unallocated'") == 10 * UNIT
    assert held.amount_paid == "0"
    assert [p.status for p in held.payments] == [invoice_pb2.PAYMENT_STATUS_UNALLOCATED]
    assert await journal_kinds(ledger, invoice.id) == ["unallocated_payment"]
    assert await ledger.events(invoice.id) == ["invoice.created", "invoice.expired", "payment.unallocated"]
    await ledger.assert_books_are_sound()


async def test_a_canceled_invoice_credits_a_late_payment_and_stays_canceled(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    await ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice.id), metadata=ledger.auth(key))
    ledger.clock.advance(minutes=1)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL")
    canceled = await current(ledger, key, invoice.id)
    assert canceled.status == invoice_pb2.INVOICE_STATUS_CANCELED
    assert flags(canceled) == {"PAID_LATE"}
    assert canceled.amount_paid == "10"
    assert (await ledger.balances(merchant))["merchant_available"] == 10 * UNIT
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final"]
    assert await ledger.events(invoice.id) == [
        "invoice.created",
        "invoice.canceled",
        "invoice.payment_detected",
        "invoice.updated",
    ]
    cancel_again = ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice.id), metadata=ledger.auth(key))
    assert (await cancel_again).invoice.status == invoice_pb2.INVOICE_STATUS_CANCELED


async def test_a_processing_invoice_cannot_be_canceled(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice.id), metadata=ledger.auth(key))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_reorg_of_a_seen_payment_reopens_the_invoice(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "3" * 64
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx)
    gone = await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx)
    assert gone.outcome == obs_pb.OBSERVATION_OUTCOME_REVERSED
    reopened = await current(ledger, key, invoice.id)
    assert reopened.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert await ledger.balances(merchant) == {"merchant_pending": 0}
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "seen_payment_reorged"]
    assert "invoice.payment_reversed" in await ledger.events(invoice.id)
    await ledger.assert_books_are_sound()


async def test_a_reorg_of_a_credited_payment_posts_a_full_reversal(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "4" * 64
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx)
    reversed_invoice = await current(ledger, key, invoice.id)
    assert reversed_invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert reversed_invoice.payments[0].status == invoice_pb2.PAYMENT_STATUS_REVERSED
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 0}
    assert await journal_kinds(ledger, invoice.id) == ["payment_seen", "payment_final", "credited_payment_reversed"]
    await ledger.assert_books_are_sound()


async def test_finality_by_block_credits_every_canonical_seen_payment_at_or_below_it(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    a = await new_invoice(ledger, key, "1")
    b = await new_invoice(ledger, key, "2")
    await ledger.observe(a.deposit_address, UNIT, "SEEN", block=100)
    await ledger.observe(b.deposit_address, 2 * UNIT, "SEEN", block=105)
    reply = await ledger.finality(102, canonical={100: "0x" + "b" * 64})
    assert (reply.credited_payment_count, reply.paid_invoice_count, reply.not_canonical_payment_count) == (1, 1, 0)
    assert (await current(ledger, key, a.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    assert (await current(ledger, key, b.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING
    assert await ledger.balances(merchant) == {"merchant_pending": 2 * UNIT, "merchant_available": UNIT}


async def test_other_tokens_and_unknown_addresses_are_never_credited(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    lookalike = await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", token="0x" + "e" * 40)
    assert lookalike.outcome == obs_pb.OBSERVATION_OUTCOME_WRONG_ASSET
    stranger = await ledger.observe("0x" + "f" * 40, 10 * UNIT, "FINAL")
    assert stranger.outcome == obs_pb.OBSERVATION_OUTCOME_UNKNOWN_ADDRESS
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_OPEN
    assert await ledger.balances(merchant) == {}
    assert await ledger.value("SELECT count(*) FROM ledger.payments") == 0
    assert "deposit.unexpected_asset" in await ledger.events(invoice.id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tx_hash": "0x1234"}, "observation.tx_hash"),
        ({"block_hash": "nothex"}, "observation.block_hash"),
        ({"to_address": "0xnope"}, "observation.to_address"),
        ({"amount_base_units": "0"}, "observation.amount_base_units"),
        ({"amount_base_units": "1.5"}, "observation.amount_base_units"),
        ({"amount_base_units": str(2**256)}, "observation.amount_base_units"),
        ({"chain_id": 56}, "observation.chain_id"),
        ({"finality": 0}, "observation.finality"),
        ({"block_number": 0}, "observation.block_number"),
        ({"block_number": 2**63}, "observation.block_number"),
        ({"log_index": 2**31}, "observation.log_index"),
    ],
)
async def test_bad_chain_data_is_refused_naming_the_field_and_changes_nothing(
    ledger: Ledger, change: dict[str, Any], field: str
) -> None:
    _, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    observation = obs_pb.TransferObservation(
        chain_id=97,
        token_contract=ledger.settings.token_contract,
        tx_hash="0x" + "5" * 64,
        log_index=0,
        block_number=10,
        block_hash="0x" + "b" * 64,
        from_address="0x" + "c" * 40,
        to_address=invoice.deposit_address,
        amount_base_units=str(UNIT),
        finality=obs_pb.OBSERVATION_FINALITY_SEEN,
    )
    for name, value in change.items():
        setattr(observation, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger.observations.RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(observation=observation)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "") or field in str(caught.value.trailing_metadata())
    assert await ledger.value("SELECT count(*) FROM ledger.payments") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.journal_transactions") == 0


async def test_the_watcher_lists_addresses_inside_their_monitoring_window(ledger: Ledger) -> None:
    from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
    from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc

    _, key = await ledger.merchant_with_key()
    short = inv_pb.CreateInvoiceRequest(amount="1")
    short.monitoring_window.FromSeconds(0)
    brief = await ledger.invoices.CreateInvoice(short, metadata=ledger.auth(key))
    made = {(await new_invoice(ledger, key, str(i + 1))).deposit_address for i in range(3)}
    made.add(brief.invoice.deposit_address)
    stub = dep_grpc.DepositAddressServiceStub(ledger.watcher_channel)

    async def listed() -> set[str]:
        found: set[str] = set()
        token = ""
        while True:
            page = await stub.ListDepositAddresses(
                dep_pb.ListDepositAddressesRequest(chain_id=97, page_size=2, page_token=token)
            )
            found |= {a.address for a in page.deposit_addresses}
            token = page.next_page_token
            if not token:
                return found

    assert await listed() == made
    ledger.clock.advance(minutes=16)  # the brief invoice's window (expiry + 0) has passed; the others' has not
    assert await listed() == made - {brief.invoice.deposit_address}


async def test_the_idempotency_key_header_is_the_request_id(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    metadata = (*ledger.auth(key), ("idempotency-key", "checkout-42"))
    first = await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="2"), metadata=metadata)
    again = await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="2"), metadata=metadata)
    assert again.invoice.id == first.invoice.id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="3"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_payment_re_mined_after_a_reorg_is_credited_again(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "6" * 64
    old_block, new_block = "0x" + "a" * 64, "0x" + "c" * 64

    async def report(finality: str, block_hash: str, block: int) -> obs_pb.RecordTransferObservationResponse:
        observation = obs_pb.TransferObservation(
            chain_id=97,
            token_contract=ledger.settings.token_contract,
            tx_hash=tx,
            log_index=0,
            block_number=block,
            block_hash=block_hash,
            from_address="0x" + "c" * 40,
            to_address=invoice.deposit_address,
            amount_base_units=str(10 * UNIT),
            finality=obs_pb.ObservationFinality.Value(f"OBSERVATION_FINALITY_{finality}"),
        )
        return await ledger.observations.RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(observation=observation)
        )

    await report("SEEN", old_block, 100)
    await report("REORGED", old_block, 100)
    again = await report("SEEN", new_block, 103)
    assert again.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    stale = await report("REORGED", old_block, 100)  # a late report about the dropped block changes nothing
    assert stale.outcome == obs_pb.OBSERVATION_OUTCOME_DUPLICATE
    await report("FINAL", new_block, 103)
    paid = await current(ledger, key, invoice.id)
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert paid.payments[0].block_number == 103
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 10 * UNIT}
    assert await journal_kinds(ledger, invoice.id) == [
        "payment_seen",
        "seen_payment_reorged",
        "payment_seen",
        "payment_final",
    ]
    await ledger.assert_books_are_sound()


async def test_a_transfer_seen_in_its_new_block_before_the_old_one_is_reorged_follows_the_chain(
    ledger: Ledger,
) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "7" * 64
    first = await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=100)
    assert first.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    # The watcher sees the transfer in a new block 104 (other hash) first, then the reorg of block 100.
    moved = obs_pb.TransferObservation(
        chain_id=97,
        token_contract=ledger.settings.token_contract,
        tx_hash=tx,
        log_index=0,
        block_number=104,
        block_hash="0x" + "e" * 64,
        from_address="0x" + "c" * 40,
        to_address=invoice.deposit_address,
        amount_base_units=str(10 * UNIT),
        finality=obs_pb.OBSERVATION_FINALITY_SEEN,
    )
    await ledger.observations.RecordTransferObservation(obs_pb.RecordTransferObservationRequest(observation=moved))
    stale = await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx, block=100)
    assert stale.outcome == obs_pb.OBSERVATION_OUTCOME_DUPLICATE
    reply = await ledger.observations.RecordFinality(
        obs_pb.RecordFinalityRequest(chain_id=97, finalized_block_number=102, finalized_block_hash="0x" + "d" * 64)
    )
    assert reply.credited_payment_count == 0  # block 104 is not final yet
    await ledger.finality(104, "0x" + "e" * 64)  # the payment's new block is the finalized one
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    assert await ledger.balances(merchant) == {"merchant_pending": 0, "merchant_available": 10 * UNIT}


async def test_concurrent_reports_finality_and_reorgs_all_succeed_and_keep_the_books(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoices = [await new_invoice(ledger, key, "5") for _ in range(10)]
    txs = ["0x" + secrets.token_hex(32) for _ in invoices]
    await asyncio.gather(
        *(ledger.observe(i.deposit_address, 3 * UNIT, "SEEN", tx=t) for i, t in zip(invoices, txs, strict=True))
    )
    calls = [
        ledger.observe(i.deposit_address, 3 * UNIT, "REORGED", tx=t) for i, t in zip(invoices[:5], txs[:5], strict=True)
    ]
    calls += [ledger.observe(i.deposit_address, 2 * UNIT, "SEEN") for i in invoices]
    calls += [
        ledger.observe(i.deposit_address, 3 * UNIT, "FINAL", tx=t) for i, t in zip(invoices[5:], txs[5:], strict=True)
    ]
    finality = ledger.finality(100, "0x" + "b" * 64)  # the block every payment here sits in
    await asyncio.gather(*calls, finality)  # no call fails (deadlocks are avoided or retried)
    await ledger.assert_books_are_sound()
    balances = await ledger.balances(merchant)
    final = await ledger.value("SELECT coalesce(sum(amount), 0) FROM ledger.payments WHERE status = 'FINAL'")
    seen = await ledger.value("SELECT coalesce(sum(amount), 0) FROM ledger.payments WHERE status = 'SEEN'")
    assert (balances["merchant_available"], balances["merchant_pending"]) == (final, seen)


async def test_an_unallocated_payment_re_mined_after_a_reorg_stays_unallocated(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    ledger.clock.advance(hours=25)
    tx = "0x" + "8" * 64
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx)
    moved = obs_pb.TransferObservation(
        chain_id=97,
        token_contract=ledger.settings.token_contract,
        tx_hash=tx,
        log_index=0,
        block_number=101,
        block_hash="0x" + "9" * 64,
        from_address="0x" + "c" * 40,
        to_address=invoice.deposit_address,
        amount_base_units=str(10 * UNIT),
        finality=obs_pb.OBSERVATION_FINALITY_FINAL,
    )
    await ledger.observations.RecordTransferObservation(obs_pb.RecordTransferObservationRequest(observation=moved))
    assert await ledger.balances(merchant) == {}
    assert await ledger.value("SELECT balance FROM ledger.accounts WHERE kind = 'unallocated'") == 10 * UNIT
    assert await journal_kinds(ledger, invoice.id) == [
        "unallocated_payment",
        "unallocated_payment_reversed",
        "unallocated_payment",
    ]
    await ledger.assert_books_are_sound()


@pytest.mark.parametrize("first", ["SEEN", "FINAL"])
async def test_a_transfer_back_in_its_first_block_after_a_flip_flop_is_credited_exactly_once(
    ledger: Ledger, first: str
) -> None:
    # A → B → A: seen in block A, moved to B by a reorg, then reported in A again (a lagging provider after a
    # failover). Each appearance is a generation of its own, so the third one posts again.
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "a1" * 32
    a, b = "0x" + "1a" * 32, "0x" + "2b" * 32
    await ledger.observe(invoice.deposit_address, 10 * UNIT, first, tx=tx, block=100, block_hash=a)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx, block=100, block_hash=a)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=101, block_hash=b)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx, block=101, block_hash=b)
    back = await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=100, block_hash=a)
    assert back.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    balances = await ledger.balances(merchant)
    assert (balances.get("merchant_pending"), balances.get("merchant_available", 0)) == (10 * UNIT, 0)
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING

    final = await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx, block=100, block_hash=a)
    assert final.outcome == obs_pb.OBSERVATION_OUTCOME_MATCHED
    paid = await current(ledger, key, invoice.id)
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert paid.amount_paid_base_units == str(10 * UNIT)
    balances = await ledger.balances(merchant)
    assert (balances["merchant_pending"], balances["merchant_available"]) == (0, 10 * UNIT)
    assert balances.get("merchant_receivable", 0) == 0
    first_generation = ["payment_seen", "payment_final"] if first == "FINAL" else ["payment_seen"]
    first_reversal = "credited_payment_reversed" if first == "FINAL" else "seen_payment_reorged"
    assert await journal_kinds(ledger, invoice.id) == [
        *first_generation,
        first_reversal,
        "payment_seen",
        "seen_payment_reorged",
        "payment_seen",
        "payment_final",
    ]
    assert (await ledger.events(invoice.id)).count("invoice.payment_detected") == 3
    assert (await ledger.events(invoice.id)).count("invoice.payment_reversed") == 2
    await ledger.assert_books_are_sound()
    # Every report again, in order, is a replay of a history that ended in A: the last one changes nothing.
    again = await ledger.observe(invoice.deposit_address, 10 * UNIT, "FINAL", tx=tx, block=100, block_hash=a)
    assert again.outcome == obs_pb.OBSERVATION_OUTCOME_DUPLICATE


async def test_concurrent_reversals_for_one_merchant_never_fail(ledger: Ledger) -> None:
    # Reversals never fail (DECISIONS.md): what the available balance cannot cover goes to the receivable, decided
    # under a lock on the balance, so concurrent reversals for one merchant never overdraw it.
    merchant, key = await ledger.merchant_with_key()
    invoices = [await new_invoice(ledger, key, "6") for _ in range(8)]
    txs = ["0x" + secrets.token_hex(32) for _ in invoices]
    for invoice, tx in zip(invoices, txs, strict=True):
        await ledger.observe(invoice.deposit_address, 6 * UNIT, "FINAL", tx=tx)
    await ledger.pay_out(merchant, 30 * UNIT)  # 48 credited, 18 left available
    replies = await asyncio.gather(
        *(ledger.observe(i.deposit_address, 6 * UNIT, "REORGED", tx=t) for i, t in zip(invoices, txs, strict=True))
    )
    assert {r.outcome for r in replies} == {obs_pb.OBSERVATION_OUTCOME_REVERSED}
    balances = await ledger.balances(merchant)
    assert (balances["merchant_available"], balances["merchant_receivable"]) == (0, 30 * UNIT)
    shortfalls = await ledger.fetch(
        "SELECT payload FROM ledger.outbox WHERE event_type = 'merchant.balance_shortfall' AND subject_id = $1",
        merchant,
    )
    assert sum(int(json.loads(r["payload"])["data"]["shortfall_base_units"]) for r in shortfalls) == 30 * UNIT
    await ledger.assert_books_are_sound()


async def test_one_payment_failing_at_finality_does_not_stall_the_others(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    merchant, key = await ledger.merchant_with_key()
    bad, good = await new_invoice(ledger, key, "1"), await new_invoice(ledger, key, "2")
    bad_tx = "0x" + "ba" * 32
    block_100, block_101 = "0x" + "10" * 32, "0x" + "11" * 32
    await ledger.observe(bad.deposit_address, UNIT, "SEEN", tx=bad_tx, block=100, block_hash=block_100)
    await ledger.observe(good.deposit_address, 2 * UNIT, "SEEN", block=101, block_hash=block_101)
    # A damaged row (its amount no longer what was posted as pending): crediting it would overdraw the pending
    # balance, so its own transaction fails, every time.
    await ledger.fetch("UPDATE ledger.payments SET amount = amount * 100 WHERE tx_hash = $1", bad_tx)
    failures = ledger.metric("ledger_finality_payment_failures_total", error="CheckViolationError")

    reply = await ledger.finality(102, canonical={100: block_100, 101: block_101})
    assert (reply.credited_payment_count, reply.paid_invoice_count, reply.failed_payment_count) == (1, 1, 1)
    assert (await current(ledger, key, good.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    assert (await current(ledger, key, bad.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING
    assert await ledger.balances(merchant) == {"merchant_pending": UNIT, "merchant_available": 2 * UNIT}
    assert ledger.metric("ledger_finality_payment_failures_total", error="CheckViolationError") == failures + 1
    logged = [r for r in caplog.records if r.name == "stablegate.ledger.payments" and r.levelname == "ERROR"]
    assert [getattr(r, "txHash", None) for r in logged] == [bad_tx]
    await ledger.assert_books_are_sound()


async def test_finality_credits_only_payments_whose_block_is_canonical_under_the_finalized_block(
    ledger: Ledger,
) -> None:
    merchant, key = await ledger.merchant_with_key()
    finalized, canonical_100, canonical_101 = "0x" + "f0" * 32, "0x" + "a0" * 32, "0x" + "a1" * 32
    on_chain, orphaned, unlisted, rival = [await new_invoice(ledger, key, "1") for _ in range(4)]
    await ledger.observe(on_chain.deposit_address, UNIT, "SEEN", block=100, block_hash=canonical_100)
    await ledger.observe(orphaned.deposit_address, UNIT, "SEEN", block=101, block_hash="0x" + "b1" * 32)
    await ledger.observe(unlisted.deposit_address, UNIT, "SEEN", block=99, block_hash="0x" + "99" * 32)
    await ledger.observe(rival.deposit_address, UNIT, "SEEN", block=102, block_hash="0x" + "b2" * 32)

    reply = await ledger.finality(102, finalized, canonical={100: canonical_100, 101: canonical_101})
    assert (reply.credited_payment_count, reply.not_canonical_payment_count) == (1, 3)
    status = {i.id: (await current(ledger, key, i.id)).status for i in (on_chain, orphaned, unlisted, rival)}
    assert status == {
        on_chain.id: invoice_pb2.INVOICE_STATUS_PAID,
        orphaned.id: invoice_pb2.INVOICE_STATUS_PROCESSING,  # left for the watcher's reorg report
        unlisted.id: invoice_pb2.INVOICE_STATUS_PROCESSING,  # not shown canonical: not credited yet
        rival.id: invoice_pb2.INVOICE_STATUS_PROCESSING,  # at the finalized height, in another block
    }
    assert await ledger.balances(merchant) == {"merchant_pending": 3 * UNIT, "merchant_available": UNIT}

    # A later call that lists block 99 with the payment's hash credits it; the others still wait.
    later = await ledger.finality(103, "0x" + "f1" * 32, canonical={99: "0x" + "99" * 32, 101: canonical_101})
    assert (later.credited_payment_count, later.not_canonical_payment_count) == (1, 2)
    assert (await current(ledger, key, unlisted.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    await ledger.assert_books_are_sound()


async def test_a_payment_followed_back_to_a_stale_block_waits_at_finality_for_the_reorg_report(ledger: Ledger) -> None:
    # The transfer moved from block A (height 100) to B (101); a lagging provider then reports it in A again, so
    # the ledger follows it back. Finality under B must not credit it in A; the watcher's reorg report of A and
    # its report in B credit it, exactly once.
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    tx = "0x" + "c3" * 32
    a, b, canonical_100 = "0x" + "aa" * 32, "0x" + "bb" * 32, "0x" + "cc" * 32
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=100, block_hash=a)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=101, block_hash=b)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=100, block_hash=a)

    held = await ledger.finality(101, b, canonical={100: canonical_100})
    assert (held.credited_payment_count, held.not_canonical_payment_count) == (0, 1)
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PROCESSING

    await ledger.observe(invoice.deposit_address, 10 * UNIT, "REORGED", tx=tx, block=100, block_hash=a)
    await ledger.observe(invoice.deposit_address, 10 * UNIT, "SEEN", tx=tx, block=101, block_hash=b)
    credited = await ledger.finality(101, b, canonical={100: canonical_100})
    assert (credited.credited_payment_count, credited.paid_invoice_count) == (1, 1)
    assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    balances = await ledger.balances(merchant)
    assert (balances["merchant_pending"], balances["merchant_available"]) == (0, 10 * UNIT)
    assert await journal_kinds(ledger, invoice.id) == [
        "payment_seen",
        "seen_payment_reorged",
        "payment_seen",
        "payment_final",
    ]
    await ledger.assert_books_are_sound()


@pytest.mark.parametrize(
    ("canonical", "reason", "field"),
    [
        ({103: "0x" + "ab" * 32}, "CANONICAL_BLOCK_NOT_FINAL", "canonical_blocks[0].number"),
        ({102: "0x" + "ab" * 32}, "CANONICAL_BLOCK_CONFLICT", "canonical_blocks[0].hash"),
        ({100: "0x12"}, "HASH_INVALID", "canonical_blocks[0].hash"),
        ({0: "0x" + "ab" * 32}, "FIELD_REQUIRED", "canonical_blocks[0].number"),
    ],
)
async def test_bad_canonical_blocks_are_refused_naming_the_field_and_credit_nothing(
    ledger: Ledger, canonical: dict[int, str], reason: str, field: str
) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "1")
    await ledger.observe(invoice.deposit_address, UNIT, "SEEN", block=101)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger.finality(102, "0x" + "ff" * 32, canonical={101: "0x" + "b" * 64, **canonical})
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(caught.value)
    assert (info.reason, info.metadata["field"]) == (reason, field.replace("[0]", "[1]"))
    assert await ledger.balances(merchant) == {"merchant_pending": UNIT}


async def test_a_canonical_block_listed_twice_is_refused(ledger: Ledger) -> None:
    request = obs_pb.RecordFinalityRequest(
        chain_id=97,
        finalized_block_number=102,
        finalized_block_hash="0x" + "ff" * 32,
        canonical_blocks=[obs_pb.CanonicalBlock(number=101, hash="0x" + h * 32) for h in ("aa", "bb")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger.observations.RecordFinality(request)
    info = error_info(caught.value)
    assert (info.reason, info.metadata["field"]) == ("CANONICAL_BLOCK_REPEATED", "canonical_blocks[1].number")
