"""Seeded sequences of chain reports (seen, final, reorged, re-mined) under a fee plan, on a real Postgres: each
invoice's fee stays fee(amount paid), the platform's fees and the merchant's balances equal what the invoices say,
and the books stay sound. Seeds are fixed, so a failure replays exactly."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from ledger.domain.fees import FeePlan, fee_for
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
BLOCKS = {"A": "0x" + "a1" * 32, "B": "0x" + "b2" * 32}


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_under_reorgs_every_invoice_is_charged_fee_of_what_it_was_paid_and_the_books_balance(
    ledger: Ledger, seed: int
) -> None:
    rng = random.Random(seed)
    merchant, key = await ledger.merchant_with_key()
    plan = FeePlan(bps=rng.randint(0, 500), fixed=rng.randint(0, 2) * UNIT // 4, minimum=rng.randint(0, 3) * UNIT)
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(
            merchant_id=merchant,
            bps=plan.bps,
            fixed=str(plan.fixed / UNIT),
            minimum=str(plan.minimum // UNIT),
            reason="simulation",
        ),
        metadata=ledger.auth(ledger.admin_key),
    )
    invoices = [
        (
            await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="50"), metadata=ledger.auth(key))
        ).invoice
        for _ in range(2)
    ]
    transfers = [
        (f"0x{n:064x}", invoices[n % 2].deposit_address, rng.randint(1, 40) * UNIT + rng.randint(0, 10**6))
        for n in range(1, 6)
    ]
    for _ in range(30):
        tx, address, amount = rng.choice(transfers)
        finality = rng.choice(["SEEN", "FINAL", "FINAL", "REORGED"])
        block = rng.choice("AB")
        await ledger.observe(
            address, amount, finality, tx=tx, block=100 if block == "A" else 101, block_hash=BLOCKS[block]
        )
    rows = await ledger.fetch(
        "SELECT id, amount_paid, fee_bps, fee_fixed, fee_minimum, fee_charged FROM ledger.invoices "
        "WHERE merchant_id = $1",
        merchant,
    )
    for r in rows:
        invoice_plan = FeePlan(bps=r["fee_bps"], fixed=int(r["fee_fixed"]), minimum=int(r["fee_minimum"]))
        assert invoice_plan == plan
        assert int(r["fee_charged"]) == fee_for(plan, int(r["amount_paid"])), r["id"]
    charged = sum(int(r["fee_charged"]) for r in rows)
    net = sum(int(r["amount_paid"]) - int(r["fee_charged"]) for r in rows)
    fees = int(await ledger.value("SELECT coalesce(sum(balance), 0) FROM ledger.accounts WHERE kind = 'platform_fees'"))
    assert fees == charged
    balances = await ledger.balances(merchant)
    assert balances.get("merchant_available", 0) - balances.get("merchant_receivable", 0) == net
    await ledger.assert_books_are_sound()
    kinds = await ledger.fetch("SELECT kind, count(*) AS n FROM ledger.journal_transactions GROUP BY kind")
    counts = {r["kind"]: r["n"] for r in kinds}
    # The seeds are chosen so that each run credits and then reverses credited payments: the fee's give-back is met.
    assert counts.get("credited_payment_reversed", 0) >= 1 and counts.get("payment_final", 0) >= 3
