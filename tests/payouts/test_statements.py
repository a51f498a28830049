"""Monthly statements on a real Postgres: for random payments under random fee plans, with payouts, refunds and
reversals, fee + net = gross exactly on every invoice, the statement's totals are what the journal holds, its
opening and closing balances are the journal's balances at the month's bounds, closing = opening + movements, and
the CSV (`stablegate report statement`) carries the API's figures."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import payout_service_pb2 as payout_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as payout_grpc
from stablegate.merchant.v1 import refund_service_pb2 as refund_pb
from stablegate.merchant.v1 import refund_service_pb2_grpc as refund_grpc
from stablegate.merchant.v1 import settlement_address_service_pb2 as sa_pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as sa_grpc
from stablegate.merchant.v1 import statement_service_pb2 as pb
from stablegate.merchant.v1 import statement_service_pb2_grpc as pb_grpc

from gateway.report_cli import STATEMENT_TOTALS, statement_csv_rows
from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
PAYOUT_FEE = UNIT // 4
COOLING_OFF = 60
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
PAYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
BLOCK = "0x" + "ab" * 32


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(
        ledger_db, settlement_address_cooling_off_seconds=COOLING_OFF, payout_fee_base_units=PAYOUT_FEE
    ) as running:
        yield running


@pytest.fixture
async def settlement(ledger: Ledger) -> AsyncIterator[ledger_grpc.PayoutLedgerServiceAsyncStub]:
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        yield ledger_grpc.PayoutLedgerServiceStub(channel)


def month_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m")


async def get_statement(ledger: Ledger, key: str, month: str) -> pb.Statement:
    stub = pb_grpc.StatementServiceStub(ledger.channel)
    return (await stub.GetStatement(pb.GetStatementRequest(month=month), metadata=ledger.auth(key))).statement


async def journal_balance(ledger: Ledger, merchant: str, before: dt.datetime) -> int:
    """The merchant's balance (available + reserved - receivable) from the journal's entries before an instant."""
    value = await ledger.value(
        "SELECT coalesce(sum(CASE WHEN a.kind = 'merchant_receivable' THEN "
        "CASE WHEN e.side = 'D' THEN -e.amount ELSE e.amount END ELSE "
        "CASE WHEN e.side = 'C' THEN e.amount ELSE -e.amount END END), 0) "
        "FROM ledger.journal_entries e JOIN ledger.journal_transactions t ON t.id = e.transaction_id "
        "JOIN ledger.accounts a ON a.id = e.account_id WHERE a.merchant_id = $1 "
        "AND a.kind IN ('merchant_available', 'merchant_reserved', 'merchant_receivable') AND t.create_time < $2",
        merchant,
        before,
    )
    return int(value)


async def active_address(ledger: Ledger, key: str, address: str) -> None:
    addresses = sa_grpc.SettlementAddressServiceStub(ledger.channel)
    created = (
        await addresses.CreateSettlementAddress(
            sa_pb.CreateSettlementAddressRequest(address=address), metadata=ledger.auth(key)
        )
    ).settlement_address
    body = await ledger.value(
        "SELECT n.body FROM ledger.notifications n JOIN ledger.outbox o ON o.event_id = n.event_id "
        "WHERE o.subject_id = $1",
        created.id,
    )
    code = re.search(r"Confirmation code: (\d{8})", body)
    assert code is not None
    await addresses.ConfirmSettlementAddress(
        sa_pb.ConfirmSettlementAddressRequest(id=created.id, code=code.group(1)), metadata=ledger.auth(key)
    )
    ledger.clock.advance(seconds=COOLING_OFF)


async def send(settlement: ledger_grpc.PayoutLedgerServiceAsyncStub, payout_id: str, outcome: str) -> None:
    """Settlement's reports for one payout or refund: confirmed, failed, or left queued."""
    if outcome == "queued":
        return
    tx = "0x" + secrets.token_hex(32)
    await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=payout_id, tx_hash=tx))
    if outcome == "confirmed":
        await settlement.MarkPayoutConfirmed(
            ledger_pb.MarkPayoutConfirmedRequest(payout_id=payout_id, tx_hash=tx, block_number=500)
        )
    else:
        await settlement.MarkPayoutFailed(
            ledger_pb.MarkPayoutFailedRequest(payout_id=payout_id, failure_reason="reverted")
        )


plans = st.tuples(st.integers(0, 1000), st.integers(0, 8), st.integers(0, 12))
payments = st.lists(
    st.tuples(st.integers(1, 60), st.integers(0, 10**17), st.integers(0, 3 * UNIT)), min_size=1, max_size=4
)
outcomes = st.sampled_from(["confirmed", "failed", "queued"])


scenarios = st.fixed_dictionaries(
    {
        "plan": plans,
        "paid": payments,
        "reverse": st.booleans(),
        "payout_share": st.integers(0, 100),
        "payout_outcome": outcomes,
        "refund_share": st.integers(0, 100),
        "refund_outcome": outcomes,
    }
)


async def play(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub, key: str, merchant: str, s: dict[str, Any]
) -> list[str]:
    """Payments under the scenario's plan (one maybe reversed), a payout and a refund with their outcomes."""
    bps, quarters, minimum = s["plan"]
    await ledger.merchants.SetMerchantFeePlan(
        admin_pb.SetMerchantFeePlanRequest(
            merchant_id=merchant, bps=bps, fixed=str(quarters / 4), minimum=str(minimum / 4), reason="property"
        ),
        metadata=ledger.auth(ledger.admin_key),
    )
    invoices: list[str] = []
    transfers: list[tuple[str, str, int]] = []
    for whole, fraction, extra in s["paid"]:
        invoice = (
            await ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount=str(whole)), metadata=ledger.auth(key)
            )
        ).invoice
        amount = whole * UNIT + fraction + extra  # sometimes over
        tx = "0x" + secrets.token_hex(32)
        await ledger.observe(invoice.deposit_address, amount, "FINAL", tx=tx, block_hash=BLOCK)
        invoices.append(invoice.id)
        transfers.append((invoice.deposit_address, tx, amount))
    if s["reverse"]:  # the first payment's block turns out not to be canonical: its credit is reversed
        address, tx, amount = transfers[0]
        await ledger.observe(address, amount, "REORGED", tx=tx, block_hash=BLOCK)
    destination = "0x" + secrets.token_hex(20)
    await active_address(ledger, key, destination)
    available = (await ledger.balances(merchant)).get("merchant_available", 0)
    amount = (available - PAYOUT_FEE) * s["payout_share"] // 100
    if amount > 0:
        payout = (
            await payout_grpc.PayoutServiceStub(ledger.channel).CreatePayout(
                payout_pb.CreatePayoutRequest(destination_address=destination, amount=_units(amount)),
                metadata=ledger.auth(key),
            )
        ).payout
        await send(settlement, payout.id, s["payout_outcome"])
    available = (await ledger.balances(merchant)).get("merchant_available", 0)
    refund_amount = min(available, s["paid"][-1][0] * UNIT) * s["refund_share"] // 100
    if refund_amount > 0 and not (s["reverse"] and len(invoices) == 1):
        refund = (
            await refund_grpc.RefundServiceStub(ledger.channel).CreateRefund(
                refund_pb.CreateRefundRequest(
                    invoice_id=invoices[-1], refund_address=PAYER, amount=_units(refund_amount)
                ),
                metadata=ledger.auth(key),
            )
        ).refund
        await send(settlement, refund.id, s["refund_outcome"])
    return invoices


async def expected_totals(ledger: Ledger, merchant: str) -> dict[str, int]:
    """Payments, fees, payouts and refunds as the records (journal, invoices, payouts) hold them."""
    credited = await ledger.value(
        "SELECT coalesce(sum(e.amount), 0) FROM ledger.journal_entries e "
        "JOIN ledger.journal_transactions t ON t.id = e.transaction_id "
        "JOIN ledger.accounts a ON a.id = e.account_id "
        "WHERE t.kind = 'payment_final' AND a.merchant_id = $1 AND a.kind = 'merchant_pending' AND e.side = 'D'",
        merchant,
    )
    charged = await ledger.value(
        "SELECT coalesce(sum(fee_charged), 0) FROM ledger.invoices WHERE merchant_id = $1", merchant
    )
    sent = await ledger.fetch(
        "SELECT kind, amount, fee FROM ledger.payouts WHERE merchant_id = $1 AND status = 'CONFIRMED'", merchant
    )
    return {
        "payments": int(credited),
        "fees": int(charged) + sum(int(r["fee"]) for r in sent),
        "payouts": sum(int(r["amount"]) for r in sent if r["kind"] == "PAYOUT"),
        "refunds": sum(int(r["amount"]) for r in sent if r["kind"] == "REFUND"),
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios)
async def test_statements_sum_to_the_journal_for_random_payments_plans_payouts_and_refunds(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub, scenario: dict[str, Any]
) -> None:
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoices = await play(ledger, settlement, key, merchant, scenario)
    # fee + net = gross, exactly, on every invoice
    for invoice_id in invoices:
        got = (
            await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice_id), metadata=ledger.auth(key))
        ).invoice
        assert int(got.fee_base_units) + int(got.net_amount_base_units) == int(got.amount_paid_base_units)

    month = month_now()
    statement = await get_statement(ledger, key, month)
    opening, closing = int(statement.opening_balance_base_units), int(statement.closing_balance_base_units)
    totals = {name: int(getattr(statement, f"{name}_base_units")) for name in STATEMENT_TOTALS}
    event("with adjustments" if totals["adjustments"] else "without adjustments")
    # The bounds' balances are the journal's, and the closing one is what the merchant holds now.
    assert opening == await journal_balance(ledger, merchant, statement.start_time.ToDatetime(dt.UTC)) == 0
    assert closing == await journal_balance(ledger, merchant, statement.end_time.ToDatetime(dt.UTC))
    balances = await ledger.balances(merchant)
    held = sum(balances.get(k, 0) for k in ("merchant_available", "merchant_reserved"))
    assert closing == held - balances.get("merchant_receivable", 0)
    # closing = opening + movements, and the lines add up to the same.
    movements = totals["payments"] - totals["fees"] - totals["payouts"] - totals["refunds"] + totals["adjustments"]
    assert closing == opening + movements
    assert sum(int(line.net_base_units) for line in statement.lines) == closing - opening
    for line in statement.lines:
        assert int(line.gross_base_units) - int(line.fee_base_units) == int(line.net_base_units)
    if statement.lines:
        assert int(statement.lines[-1].balance_base_units) == closing
    # Each total is what the records say (the adjustments are the reversals: what is left).
    expected = await expected_totals(ledger, merchant)
    assert {k: totals[k] for k in expected} == expected
    # The CSV carries the API's figures.
    csv_rows = await statement_csv_rows(ledger.db_url, merchant, "USDT", month)
    by_section = {row[0]: row[-1] for row in csv_rows if row[0] != "line"}
    assert (by_section["opening_balance"], by_section["closing_balance"]) == (opening, closing)
    assert {name: by_section[name] for name in STATEMENT_TOTALS} == totals
    nets = [int(str(row[8])) for row in csv_rows if row[0] == "line"]
    assert nets == [int(x.net_base_units) for x in statement.lines]


def _units(base_units: int) -> str:
    whole, fraction = divmod(base_units, UNIT)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".")


async def test_an_earlier_month_is_empty_and_a_later_one_or_a_malformed_one_is_refused(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoice = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="5"), metadata=ledger.auth(key))
    ).invoice
    await ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL")
    now = dt.datetime.now(dt.UTC)
    earlier = await get_statement(ledger, key, "2001-02")
    assert (earlier.opening_balance, earlier.closing_balance, list(earlier.lines)) == ("0", "0", [])
    assert earlier.start_time.ToDatetime(dt.UTC) == dt.datetime(2001, 2, 1, tzinfo=dt.UTC)
    assert earlier.end_time.ToDatetime(dt.UTC) == dt.datetime(2001, 3, 1, tzinfo=dt.UTC)
    current = await get_statement(ledger, key, now.strftime("%Y-%m"))
    assert (current.payments, current.closing_balance, [x.category for x in current.lines]) == ("5", "5", ["PAYMENT"])
    assert current.lines[0].reference == invoice.id
    later = dt.date(now.year + 1, 1, 1).strftime("%Y-%m")
    ledger.clock.current = now  # the ledger's clock decides what "later" is
    for month, reason in [
        (later, "MONTH_IN_FUTURE"),
        ("2026-13", "MONTH_INVALID"),
        ("26-11", "MONTH_INVALID"),
        ("1999-12", "MONTH_INVALID"),
        ("", "FIELD_REQUIRED"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get_statement(ledger, key, month)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (error_info(caught.value).reason, error_info(caught.value).metadata["field"]) == (reason, "month")


async def test_a_statement_needs_balance_read(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key(scopes=("payouts:read",))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_statement(ledger, key, month_now())
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_cli_writes_the_statement_as_csv_with_the_apis_totals(ledger: Ledger, tmp_path: Any) -> None:
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoice = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="7.5"), metadata=ledger.auth(key))
    ).invoice
    await ledger.observe(invoice.deposit_address, 8 * UNIT, "FINAL")
    month = month_now()
    statement = await get_statement(ledger, key, month)
    out = tmp_path / "statement.csv"
    command = [sys.executable, "-m", "gateway.cli", "report", "statement", "--merchant", merchant, "--month", month]
    command += ["--out", str(out), "--database-url", ledger.db_url]
    done = await asyncio.to_thread(
        subprocess.run, command, env=dict(os.environ), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    sections = {row["section"]: row["amount_base_units"] for row in table if row["section"] != "line"}
    assert sections == {
        "opening_balance": statement.opening_balance_base_units,
        "payments": statement.payments_base_units,
        "fees": statement.fees_base_units,
        "payouts": statement.payouts_base_units,
        "refunds": statement.refunds_base_units,
        "adjustments": statement.adjustments_base_units,
        "closing_balance": statement.closing_balance_base_units,
    }
    assert sections["payments"] == str(8 * UNIT)
    lines = [row for row in table if row["section"] == "line"]
    assert [(r["reference"], r["net_base_units"]) for r in lines] == [(invoice.id, str(8 * UNIT))]
    bad = await asyncio.to_thread(
        subprocess.run,
        [*command[:8], "2026-1", "--database-url", ledger.db_url],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "month" in bad.stderr
