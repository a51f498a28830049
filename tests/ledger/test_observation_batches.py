"""`RecordTransferObservations`: a batch is recorded all or none, each observation exactly as if reported alone."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.merchant.v1 import invoice_pb2

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from tests.ledger.test_ledger_payments import current, journal_kinds, new_invoice

UNIT = 10**18
BLOCK_A, BLOCK_B = "0x" + "b" * 64, "0x" + "a" * 64


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


def observation(
    ledger: Ledger,
    to: str,
    amount: int,
    finality: str,
    *,
    tx: str,
    block: int = 100,
    block_hash: str = BLOCK_A,
    token: str | None = None,
) -> obs_pb.TransferObservation:
    """One observation as the watcher sends it."""
    return obs_pb.TransferObservation(
        chain_id=ledger.settings.chain_id,
        token_contract=token or ledger.settings.token_contract,
        tx_hash=tx,
        log_index=0,
        block_number=block,
        block_hash=block_hash,
        from_address="0x" + "c" * 40,
        to_address=to,
        amount_base_units=str(amount),
        finality=obs_pb.ObservationFinality.Value(f"OBSERVATION_FINALITY_{finality}"),
    )


async def batch(ledger: Ledger, items: list[obs_pb.TransferObservation]) -> list[str]:
    """Send one batch; the outcome names in order."""
    reply = await ledger.observations.RecordTransferObservations(
        obs_pb.RecordTransferObservationsRequest(observations=items)
    )
    return [obs_pb.ObservationOutcome.Name(r.outcome).removeprefix("OBSERVATION_OUTCOME_") for r in reply.results]


async def singly(ledger: Ledger, items: list[obs_pb.TransferObservation]) -> list[str]:
    """The same observations reported one call each, in order."""
    names = []
    for item in items:
        reply = await ledger.observations.RecordTransferObservation(
            obs_pb.RecordTransferObservationRequest(observation=item)
        )
        names.append(obs_pb.ObservationOutcome.Name(reply.outcome).removeprefix("OBSERVATION_OUTCOME_"))
    return names


async def scenario(
    ledger: Ledger, key: str, late: invoice_pb2.Invoice
) -> tuple[list[invoice_pb2.Invoice], list[obs_pb.TransferObservation]]:
    """Every case of the transfer state machine, several steps of one transfer inside the same list."""
    invoices = [await new_invoice(ledger, key, "10") for _ in range(4)]
    paid, reorged, moved, other = invoices
    t = ["0x" + secrets.token_hex(32) for _ in range(6)]
    items = [
        observation(ledger, paid.deposit_address, 10 * UNIT, "SEEN", tx=t[0]),
        observation(ledger, reorged.deposit_address, 10 * UNIT, "SEEN", tx=t[1]),
        observation(ledger, moved.deposit_address, 4 * UNIT, "SEEN", tx=t[2]),
        observation(ledger, "0x" + secrets.token_hex(20), 10 * UNIT, "FINAL", tx=t[3]),  # nobody's address
        observation(ledger, other.deposit_address, 10 * UNIT, "FINAL", tx=t[4], token="0x" + "e" * 40),
        observation(ledger, paid.deposit_address, 10 * UNIT, "FINAL", tx=t[0]),  # SEEN, then FINAL
        observation(ledger, reorged.deposit_address, 10 * UNIT, "REORGED", tx=t[1]),  # SEEN, then dropped
        observation(ledger, moved.deposit_address, 4 * UNIT, "REORGED", tx=t[2]),
        observation(ledger, moved.deposit_address, 4 * UNIT, "FINAL", tx=t[2], block=101, block_hash=BLOCK_B),
        observation(ledger, paid.deposit_address, 10 * UNIT, "FINAL", tx=t[0]),  # a repeat: nothing changes
        observation(ledger, late.deposit_address, 7 * UNIT, "FINAL", tx=t[5]),  # after its monitoring window
    ]
    return [*invoices, late], items


async def outcome_of(ledger: Ledger, key: str, invoice_id: str) -> tuple[Any, ...]:
    """What an invoice ended as: status, paid, payments' statuses, journal kinds, events."""
    invoice = await current(ledger, key, invoice_id)
    return (
        invoice.status,
        invoice.amount_paid,
        sorted(p.status for p in invoice.payments),
        await journal_kinds(ledger, invoice_id),
        await ledger.events(invoice_id),
    )


async def test_a_batch_does_exactly_what_the_same_reports_one_by_one_do(ledger: Ledger) -> None:
    alone_merchant, alone_key = await ledger.merchant_with_key("Alone")
    batch_merchant, batch_key = await ledger.merchant_with_key("Batched")
    # One invoice each is past its monitoring window when its payment comes: held unallocated, in both runs.
    alone_late, batch_late = await new_invoice(ledger, alone_key, "10"), await new_invoice(ledger, batch_key, "10")
    ledger.clock.advance(hours=25)
    await ledger.core.recorder.expire_due(ledger.clock())
    alone_invoices, alone_items = await scenario(ledger, alone_key, alone_late)
    batch_invoices, batch_items = await scenario(ledger, batch_key, batch_late)

    alone = await singly(ledger, alone_items)
    batched = await batch(ledger, batch_items)
    assert batched == alone
    assert batched == [
        "MATCHED",
        "MATCHED",
        "MATCHED",
        "UNKNOWN_ADDRESS",
        "WRONG_ASSET",
        "MATCHED",
        "REVERSED",
        "REVERSED",
        "MATCHED",
        "DUPLICATE",
        "MATCHED",
    ]
    for a, b in zip(alone_invoices, batch_invoices, strict=True):
        assert await outcome_of(ledger, batch_key, b.id) == await outcome_of(ledger, alone_key, a.id)
    paid, reorged, moved, _other, late = batch_invoices
    assert (await current(ledger, batch_key, paid.id)).status == invoice_pb2.INVOICE_STATUS_PAID
    assert (await current(ledger, batch_key, reorged.id)).status == invoice_pb2.INVOICE_STATUS_OPEN
    assert await journal_kinds(ledger, moved.id) == [
        "payment_seen",
        "seen_payment_reorged",
        "payment_seen",
        "payment_final",
    ]
    assert await journal_kinds(ledger, late.id) == ["unallocated_payment"]
    assert await ledger.balances(batch_merchant) == await ledger.balances(alone_merchant)
    assert (await ledger.balances(batch_merchant))["merchant_available"] == 14 * UNIT  # 10 + 4, integers
    await ledger.assert_books_are_sound()

    # The whole batch again: every observation is a duplicate and nothing moves.
    before = [await outcome_of(ledger, batch_key, b.id) for b in batch_invoices]
    again = await batch(ledger, batch_items)
    assert again[:3] == ["DUPLICATE"] * 3
    assert "MATCHED" not in again and "REVERSED" not in again
    assert [await outcome_of(ledger, batch_key, b.id) for b in batch_invoices] == before


async def _counts(ledger: Ledger) -> tuple[int, int, int]:
    return (
        await ledger.value("SELECT count(*) FROM ledger.payments"),
        await ledger.value("SELECT count(*) FROM ledger.journal_transactions"),
        await ledger.value("SELECT count(*) FROM ledger.outbox"),
    )


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"tx_hash": "0x1234"}, "observations[2].tx_hash", "HASH_INVALID"),
        ({"amount_base_units": "1.5"}, "observations[2].amount_base_units", "AMOUNT_INVALID"),
        ({"finality": 0}, "observations[2].finality", "FINALITY_INVALID"),
        ({"chain_id": 56}, "observations[2].chain_id", "CHAIN_MISMATCH"),
    ],
)
async def test_a_bad_observation_refuses_the_whole_batch_naming_it(
    ledger: Ledger, change: dict[str, Any], field: str, reason: str
) -> None:
    _, key = await ledger.merchant_with_key()
    invoices = [await new_invoice(ledger, key, "10") for _ in range(3)]
    items = [
        observation(ledger, i.deposit_address, 10 * UNIT, "FINAL", tx="0x" + secrets.token_hex(32)) for i in invoices
    ]
    for name, value in change.items():
        setattr(items[2], name, value)
    before = await _counts(ledger)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await batch(ledger, items)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(caught.value)
    assert (info.reason, info.metadata["field"], info.metadata["index"]) == (reason, field, "2")
    assert "observations[2]" in (caught.value.details() or "")
    assert await _counts(ledger) == before  # the two good ones before it were not recorded either
    assert (await current(ledger, key, invoices[0].id)).status == invoice_pb2.INVOICE_STATUS_OPEN


async def test_a_contradicting_observation_rolls_back_the_batch_and_is_named(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    first, second = await new_invoice(ledger, key, "10"), await new_invoice(ledger, key, "10")
    tx = "0x" + secrets.token_hex(32)
    await singly(ledger, [observation(ledger, first.deposit_address, 10 * UNIT, "SEEN", tx=tx)])
    before = await _counts(ledger)
    items = [
        observation(ledger, second.deposit_address, 10 * UNIT, "FINAL", tx="0x" + secrets.token_hex(32)),
        observation(ledger, first.deposit_address, 9 * UNIT, "FINAL", tx=tx),  # the same log with another amount
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await batch(ledger, items)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(caught.value)
    assert (info.reason, info.metadata["index"]) == ("OBSERVATION_CONFLICT", "1")
    assert (caught.value.details() or "").startswith("observations[1]: ")
    assert await _counts(ledger) == before
    assert (await current(ledger, key, second.id)).status == invoice_pb2.INVOICE_STATUS_OPEN
    # The good one, reported alone (as the watcher does after a refused batch), is recorded.
    assert await singly(ledger, items[:1]) == ["MATCHED"]
    assert (await ledger.balances(merchant))["merchant_available"] == 10 * UNIT


@pytest.mark.parametrize("count", [0, 501])
async def test_a_batch_holds_1_to_500_observations(ledger: Ledger, count: int) -> None:
    _, key = await ledger.merchant_with_key()
    invoice = await new_invoice(ledger, key, "10")
    items = [
        observation(ledger, invoice.deposit_address, UNIT, "SEEN", tx="0x" + secrets.token_hex(32))
        for _ in range(count)
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await batch(ledger, items)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "OBSERVATION_COUNT_INVALID"
    assert await ledger.value("SELECT count(*) FROM ledger.payments") == 0


async def test_overlapping_batches_singles_and_finality_all_succeed_and_keep_the_books(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    invoices = [await new_invoice(ledger, key, "5") for _ in range(30)]
    txs = ["0x" + secrets.token_hex(32) for _ in invoices]
    seen = [observation(ledger, i.deposit_address, 5 * UNIT, "SEEN", tx=t) for i, t in zip(invoices, txs, strict=True)]
    final = [
        observation(ledger, i.deposit_address, 5 * UNIT, "FINAL", tx=t) for i, t in zip(invoices, txs, strict=True)
    ]
    # Batches in opposite address orders, single reports and a finality call, all at once: none fails (the
    # batch locks its invoices in id order first; a deadlock with anything else is retried).
    await asyncio.gather(
        batch(ledger, seen[:20]),
        batch(ledger, list(reversed(seen[10:]))),
        singly(ledger, final[25:]),
        batch(ledger, final[:5]),
        ledger.finality(100, BLOCK_A),
    )
    await ledger.finality(101, "0x" + "d" * 64, canonical={100: BLOCK_A})
    await ledger.assert_books_are_sound()
    assert await ledger.value("SELECT count(*) FROM ledger.payments WHERE status = 'FINAL'") == 30
    assert (await ledger.balances(merchant))["merchant_available"] == 150 * UNIT
    for invoice in invoices:
        assert (await current(ledger, key, invoice.id)).status == invoice_pb2.INVOICE_STATUS_PAID


async def test_a_failing_payment_in_a_finality_group_is_isolated_and_the_rest_credited(ledger: Ledger) -> None:
    merchant, key = await ledger.merchant_with_key()
    ledger.core.recorder.finality_group = 2
    invoices = [await new_invoice(ledger, key, "1") for _ in range(5)]
    txs = ["0x" + secrets.token_hex(32) for _ in invoices]
    await batch(
        ledger,
        [observation(ledger, i.deposit_address, UNIT, "SEEN", tx=t) for i, t in zip(invoices, txs, strict=True)],
    )
    # A damaged row (crediting it would overdraw the pending balance): its group's transaction fails.
    await ledger.fetch("UPDATE ledger.payments SET amount = amount * 100 WHERE tx_hash = $1", txs[2])
    reply = await ledger.finality(100, BLOCK_A)
    assert (reply.credited_payment_count, reply.paid_invoice_count, reply.failed_payment_count) == (4, 4, 1)
    statuses = [(await current(ledger, key, i.id)).status for i in invoices]
    assert statuses.count(invoice_pb2.INVOICE_STATUS_PAID) == 4
    assert await ledger.balances(merchant) == {"merchant_pending": UNIT, "merchant_available": 4 * UNIT}
    await ledger.assert_books_are_sound()
