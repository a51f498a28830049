"""Random sequences of create / observe / finalize / reorg / expire / cancel against the real ledger.

After each sequence the books must be sound (every transaction balances per asset, stored balances equal the
fold of the journal, merchant balances are never negative), the journal must agree with the payments table,
and replaying every observation must change nothing. Seeds are fixed so a failure reproduces.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
SEEDS = range(12)
STEPS = 25


@dataclass
class Sent:
    """One observation as it was sent, so it can be replayed."""

    to: str
    amount: int
    finality: str
    tx: str


@pytest.fixture(scope="module")
async def shared_ledger(postgres_module_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(postgres_module_db) as running:
        yield running


async def counts(ledger: Ledger) -> tuple[int, int, int]:
    return (
        await ledger.value("SELECT count(*) FROM ledger.journal_transactions"),
        await ledger.value("SELECT count(*) FROM ledger.outbox"),
        await ledger.value("SELECT coalesce(sum(balance), 0) FROM ledger.accounts"),
    )


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_sequences_keep_the_books_sound_and_replay_changes_nothing(
    shared_ledger: Ledger, seed: int
) -> None:
    ledger = shared_ledger
    rng = random.Random(seed)
    merchant, key = await ledger.merchant_with_key(f"sim-{seed}")
    invoices: list[str] = []  # deposit addresses
    invoice_ids: list[str] = []
    sent: list[Sent] = []
    open_payments: dict[str, Sent] = {}  # tx → last report, for payments that can still move

    for _ in range(STEPS):
        op = rng.choices(["create", "pay", "finalize", "reorg", "expire", "cancel"], [3, 4, 3, 1, 1, 1])[0]
        if op == "create" or not invoices:
            amount = rng.randint(1, 20)
            tolerance = rng.choice(["0", "1"]) if amount > 1 else "0"
            reply = await ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount=str(amount), underpayment_tolerance=tolerance),
                metadata=ledger.auth(key),
            )
            invoices.append(reply.invoice.deposit_address)
            invoice_ids.append(reply.invoice.id)
        elif op == "pay":
            report = Sent(
                rng.choice(invoices),
                rng.randint(1, 15) * UNIT,
                rng.choice(["SEEN", "FINAL"]),
                "0x" + secrets.token_hex(32),
            )
            await ledger.observe(report.to, report.amount, report.finality, tx=report.tx)
            sent.append(report)
            open_payments[report.tx] = report
        elif op in ("finalize", "reorg") and open_payments:
            tx = rng.choice(sorted(open_payments))
            previous = open_payments[tx]
            report = Sent(previous.to, previous.amount, "FINAL" if op == "finalize" else "REORGED", tx)
            await ledger.observe(report.to, report.amount, report.finality, tx=tx)
            sent.append(report)
            if op == "reorg":
                del open_payments[tx]
        elif op == "expire":
            ledger.clock.advance(minutes=rng.choice([5, 16, 30, 60 * 25]))
            await ledger.core.recorder.expire_due(ledger.clock())
        elif op == "cancel":
            code = grpc.StatusCode.OK
            try:
                await ledger.invoices.CancelInvoice(
                    inv_pb.CancelInvoiceRequest(id=rng.choice(invoice_ids)), metadata=ledger.auth(key)
                )
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION)

    await ledger.assert_books_are_sound()
    # The journal agrees with the payments table.
    balances = await ledger.balances(merchant)
    seen = await ledger.value(
        "SELECT coalesce(sum(p.amount), 0) FROM ledger.payments p JOIN ledger.invoices i ON i.id = p.invoice_id "
        "WHERE i.merchant_id = $1 AND p.status = 'SEEN'",
        merchant,
    )
    final = await ledger.value(
        "SELECT coalesce(sum(p.amount), 0) FROM ledger.payments p JOIN ledger.invoices i ON i.id = p.invoice_id "
        "WHERE i.merchant_id = $1 AND p.status = 'FINAL'",
        merchant,
    )
    assert balances.get("merchant_pending", 0) == seen
    assert balances.get("merchant_available", 0) - balances.get("merchant_receivable", 0) == final

    before = await counts(ledger)
    for report in sent:
        await ledger.observe(report.to, report.amount, report.finality, tx=report.tx)
    assert await counts(ledger) == before
    assert await ledger.balances(merchant) == balances
