"""Reconciliation on real parts: anvil with our contracts, the ledger, the watcher's scanner, settlement over mTLS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from stablegate.settlement.v1 import reconciliation_service_pb2 as rec_pb

from tests.settlement.settlement_harness import UNIT, World, world_on

LINE = rec_pb.ReconciliationLineStatus


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with world_on(ledger_db) as world:
        yield world


def tokens(base_units: int) -> str:
    """An amount in token units, exactly (18 decimals)."""
    return f"{base_units // UNIT}.{base_units % UNIT:018d}"


def lines(report: rec_pb.ReconciliationReport) -> dict[str, tuple[str, str, str, int]]:
    """account → (chain, ledger, difference, line status) of a report."""
    return {
        line.account: (
            line.chain_balance_base_units,
            line.ledger_balance_base_units,
            line.difference_base_units,
            line.status,
        )
        for line in report.lines
    }


async def test_paid_invoices_reconcile_to_zero_then_tokens_minted_to_the_treasury_are_a_difference(
    world: World,
) -> None:
    amounts = [10 * UNIT + 7, 3 * UNIT + 1, 25 * UNIT]  # odd base units: nothing may round
    invoices = [await world.invoice(tokens(a)) for a in amounts]
    for invoice, amount in zip(invoices, amounts, strict=True):
        world.pay(invoice.deposit_address, amount)
    await world.settle()
    assert [await world.status(i.id) for i in invoices] == ["PAID"] * 3

    report = await world.run()
    assert report.status == rec_pb.RECONCILIATION_STATUS_MATCHED, report
    assert report.mismatch_count == 0
    got = lines(report)
    assert got["chain_clearing:USDT"] == (
        str(sum(amounts)),
        str(sum(amounts)),
        "0",
        LINE.RECONCILIATION_LINE_STATUS_MATCHED,
    )
    assert got["treasury:USDT"] == ("0", "0", "0", LINE.RECONCILIATION_LINE_STATUS_MATCHED)
    assert got["cold_storage:USDT"] == ("0", "0", "0", LINE.RECONCILIATION_LINE_STATUS_MATCHED)
    gas = next(line for line in report.lines if line.kind == "gas_float")
    assert gas.status == LINE.RECONCILIATION_LINE_STATUS_SKIPPED and "no gas_float account" in gas.note
    head = int(world.contracts.chain.rpc.request("eth_blockNumber"), 16)
    assert 0 < report.block_number < head  # the finalized block, behind the head
    assert world.metric("settlement_reconciliation_difference_base_units", asset="USDT", account="treasury:USDT") == 0

    minted = 1_250_000_000_000_000_000  # exactly representable as a float, so the gauge shows it exactly too
    world.token.transact("mint", world.treasury, minted, sender=world.contracts.deployer)
    world.mine(10)
    report = await world.run()
    assert report.status == rec_pb.RECONCILIATION_STATUS_MISMATCHED
    assert report.mismatch_count == 1
    got = lines(report)
    assert got["treasury:USDT"] == (str(minted), "0", str(minted), LINE.RECONCILIATION_LINE_STATUS_MISMATCHED)
    assert got["chain_clearing:USDT"][3] == LINE.RECONCILIATION_LINE_STATUS_MATCHED
    assert world.metric(
        "settlement_reconciliation_difference_base_units", asset="USDT", account="treasury:USDT"
    ) == float(minted)

    # The report row, and the alert in the ledger's outbox; the ledger's books are untouched (never a silent fix).
    row = await world.ledger.fetch(
        "SELECT chain_balance, ledger_balance, difference, status FROM settlement.reconciliation_lines "
        "WHERE report_id = $1 AND account = 'treasury:USDT'",
        report.id,
    )
    assert [(int(r["chain_balance"]), int(r["ledger_balance"]), int(r["difference"]), r["status"]) for r in row] == [
        (minted, 0, minted, "MISMATCHED")
    ]
    events = await world.ledger.fetch(
        "SELECT event_type, merchant_id, payload FROM ledger.outbox WHERE subject_id = $1", report.id
    )
    assert [(e["event_type"], e["merchant_id"]) for e in events] == [("reconciliation.difference", None)]
    data = json.loads(events[0]["payload"])["data"]
    assert data["account"] == "treasury:USDT" and data["difference_base_units"] == str(minted)
    assert data["block_number"] == str(report.block_number)
    treasury_balance = await world.ledger.value("SELECT balance FROM ledger.accounts WHERE code = 'treasury:USDT'")
    assert treasury_balance is None  # nothing was booked to make the difference go away
