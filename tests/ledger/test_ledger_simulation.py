"""Random sequences of create / observe / finalize / reorg / expire / cancel against the real ledger.

The sequences also move transfers between blocks and back (A → B → A, with and without the reorg reports in
between, as a lagging provider after a failover reports them), reverse several credited payments of one
merchant at once, and pay out part of the merchant's available balance (so reversals meet shortfalls).

After each sequence the books must be sound (every transaction balances per asset, stored balances equal the
fold of the journal, merchant balances are never negative), the journal must agree with the payments table,
and replaying every observation must change nothing (for a transfer that moved back and forth, its history was
superseded: its last report is replayed, and every step of the move was sent twice as it happened). Seeds are
fixed so a failure reproduces.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc
import pytest
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
SEEDS = range(12)
STEPS = 30


@dataclass
class Sent:
    """One observation as it was sent, so it can be replayed."""

    to: str
    amount: int
    finality: str
    tx: str
    block: int
    block_hash: str


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


async def send(ledger: Ledger, report: Sent) -> None:
    await ledger.observe(
        report.to, report.amount, report.finality, tx=report.tx, block=report.block, block_hash=report.block_hash
    )


async def send_twice(ledger: Ledger, report: Sent) -> None:
    """Send a report, then again: the second delivery must change nothing."""
    await send(ledger, report)
    before = await counts(ledger)
    await send(ledger, report)
    assert await counts(ledger) == before


def new_block_hash() -> str:
    return "0x" + secrets.token_hex(32)


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_sequences_keep_the_books_sound_and_replay_changes_nothing(  # noqa: PLR0912, PLR0915
    shared_ledger: Ledger, seed: int
) -> None:
    ledger = shared_ledger
    rng = random.Random(seed)
    merchant, key = await ledger.merchant_with_key(f"sim-{seed}")
    invoices: list[str] = []  # deposit addresses
    invoice_ids: list[str] = []
    history: dict[str, list[Sent]] = {}  # tx → the reports to replay, in order
    open_payments: dict[str, Sent] = {}  # tx → last report, for payments that can still move
    paid_out = 0

    for _ in range(STEPS):
        op = rng.choices(
            ["create", "pay", "finalize", "reorg", "expire", "cancel", "flip_flop", "reversals", "payout"],
            [3, 4, 3, 1, 1, 1, 2, 2, 1],
        )[0]
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
                rng.randint(100, 120),
                new_block_hash(),
            )
            await send(ledger, report)
            history[report.tx] = [report]
            open_payments[report.tx] = report
        elif op in ("finalize", "reorg") and open_payments:
            tx = rng.choice(sorted(open_payments))
            report = replace(open_payments[tx], finality="FINAL" if op == "finalize" else "REORGED")
            await send(ledger, report)
            history[tx].append(report)
            if op == "reorg":
                del open_payments[tx]
            else:
                open_payments[tx] = report
        elif op == "flip_flop" and open_payments:
            # A → B → A: the transfer moves to block B and comes back to A, with the reorg reports in between or
            # (a lagging provider) without them. Every step is delivered twice.
            tx = rng.choice(sorted(open_payments))
            in_a = open_payments[tx]
            in_b = replace(in_a, finality="SEEN", block=in_a.block + rng.randint(1, 3), block_hash=new_block_hash())
            back = replace(in_a, finality=rng.choice(["SEEN", "FINAL"]))
            if rng.random() < 0.5:
                steps = [replace(in_a, finality="REORGED"), in_b, replace(in_b, finality="REORGED"), back]
            else:
                steps = [in_b, back]
            for step in steps:
                await send_twice(ledger, step)
            history[tx] = [back]  # the moves superseded the history; the last report stands for it
            open_payments[tx] = back
        elif op == "reversals" and open_payments:
            # Several payments of this merchant reorged out at once: every reversal succeeds.
            chosen = rng.sample(sorted(open_payments), min(len(open_payments), rng.randint(2, 4)))
            reports = [replace(open_payments[tx], finality="REORGED") for tx in chosen]
            await asyncio.gather(*(send(ledger, report) for report in reports))
            for report in reports:
                history[report.tx].append(report)
                del open_payments[report.tx]
        elif op == "payout":
            available = (await ledger.balances(merchant)).get("merchant_available", 0)
            if available:
                amount = rng.randint(1, available)
                await ledger.pay_out(merchant, amount)
                paid_out += amount
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
    # The journal agrees with the payments table (and the payouts taken from the available balance).
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
    assert balances.get("merchant_available", 0) - balances.get("merchant_receivable", 0) == final - paid_out

    before = await counts(ledger)
    for reports in history.values():
        for report in reports:
            await send(ledger, report)
    assert await counts(ledger) == before
    assert await ledger.balances(merchant) == balances
