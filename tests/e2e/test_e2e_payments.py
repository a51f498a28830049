"""End to end, as a merchant and a customer: invoice → payment on chain → webhook → sweep → payout → reconciled.

Everything here goes through the gateway's REST API on Envoy (the merchant's key, the operator's admin key), the
chain (the customer's transfers on anvil) and the merchant's webhook receiver; see tests/e2e/conftest.py. The
tests run in file order and share one gateway; the reorg test comes last, as it pauses the chain.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import pytest
from eth_account import Account
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e.e2e_harness import COOLING_OFF_SECONDS, UNIT, Gateway, wait_until

# The gateway takes up to a few minutes to start on a loaded 2-core machine; each test bounds its own waits.
pytestmark = pytest.mark.timeout(600)

INVOICES = int(os.environ.get("STABLEGATE_E2E_INVOICES", "300"))


def flags(invoice: dict[str, Any]) -> set[str]:
    """The invoice's exception flags without their enum prefix (REST shows `INVOICE_EXCEPTION_…`)."""
    return {str(f).removeprefix("INVOICE_EXCEPTION_") for f in invoice.get("exceptions", [])} - {"NONE"}


def summary(event: dict[str, Any]) -> dict[str, Any]:
    """The invoice summary of a payment-driven `invoice.*` event."""
    data: dict[str, Any] = event["data"]
    invoice: dict[str, Any] = data.get("invoice", data)
    return invoice


def approved_settlement_address(g: Gateway, available: int) -> tuple[str, str]:
    """The merchant registers a settlement address, the operator approves it, it cools off: (address, its id).

    Before all that, a payout to it is refused and reserves nothing (`available` stays the merchant's balance).
    """
    destination = Account.create().address
    address = g.ok("POST", "/v1/settlement_addresses", {"address": destination, "label": "treasury wallet"})
    assert address["status"] == "SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION"
    refused, body = g.api("POST", "/v1/payouts", {"destination_address": destination, "amount": "25"})
    # Not usable before its confirmation and cooling-off: FAILED_PRECONDITION, nothing reserved.
    assert (refused, body["code"], body["details"][0]["reason"]) == (400, 9, "SETTLEMENT_ADDRESS_NOT_USABLE"), body
    assert g.available() == available
    status, approved = g.admin(
        "POST",
        f"/admin/v1/merchants/{g.merchant_id}/settlement_addresses/{address['id']}:approve",
        {"reason": "confirmed with the merchant by phone"},
    )
    assert status == 200, approved
    assert approved["status"] == "SETTLEMENT_ADDRESS_STATUS_COOLING_OFF", approved  # confirmed, cooling off
    g.receiver.wait_for("settlement_address.created", address["id"])
    wait_until(
        "the address ACTIVE",
        lambda: (
            g.ok("GET", f"/v1/settlement_addresses/{address['id']}")["status"] == "SETTLEMENT_ADDRESS_STATUS_ACTIVE"
        ),
        timeout=COOLING_OFF_SECONDS + 30,
    )
    return destination, address["id"]


def test_an_invoice_paid_on_chain_is_notified_swept_paid_out_to_the_merchant_and_reconciled(gateway: Gateway) -> None:
    g = gateway
    available_before = g.available()
    treasury = g.deployed["treasury"]
    treasury_before = g.balance_of(treasury)
    invoice = g.invoice("25", order_id="order-e2e-1", description="the happy path")
    assert invoice["status"] == "INVOICE_STATUS_OPEN"
    assert invoice["amount_base_units"] == str(25 * UNIT)
    assert g.receiver.wait_for("invoice.created", invoice["id"])["data"]["id"] == invoice["id"]

    # The customer pays the exact amount to the deposit address.
    g.pay(invoice["deposit_address"], 25 * UNIT)
    paid = g.receiver.wait_for("invoice.paid", invoice["id"])
    assert summary(paid)["status"] == "PAID"
    # Every delivery so far verified with the merchant's secret, and would not with another (the check is real).
    delivery = next(d for d in g.receiver.deliveries if d.headers["webhook-id"] == paid["id"])
    assert delivery.verified and not g.receiver.unverified()
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"n" * 32).decode()).verify(delivery.body, delivery.headers)
    read = g.status(invoice["id"])
    assert (read["status"], read["amount_paid_base_units"], flags(read)) == (
        "INVOICE_STATUS_PAID",
        str(25 * UNIT),
        set(),
    )
    assert g.receiver.events("invoice.payment_detected", invoice["id"])
    assert g.available() == available_before + 25 * UNIT  # the default fee plan is free

    # Settlement's sweeper moves it from the deposit forwarder into the treasury.
    wait_until("the sweep", lambda: g.balance_of(invoice["deposit_address"]) == 0, timeout=120)
    assert g.balance_of(treasury) >= treasury_before + 25 * UNIT

    # The merchant registers a settlement address; the operator approves it; it cools off, then is ACTIVE.
    destination, address_id = approved_settlement_address(g, available_before + 25 * UNIT)

    # An on-demand payout of the whole payment lands at the settlement address.
    payout = g.ok("POST", "/v1/payouts", {"destination_address": destination, "amount": "25"})
    assert payout["status"] == "PAYOUT_STATUS_QUEUED", payout
    g.receiver.wait_for("payout.confirmed", payout["id"], timeout=120)
    assert g.balance_of(destination) == 25 * UNIT
    assert g.ok("GET", f"/v1/payouts/{payout['id']}")["status"] == "PAYOUT_STATUS_CONFIRMED"
    assert g.available() == available_before

    # Then the merchant lets the schedule pay out: above a threshold, the whole available balance goes to the address.
    assert available_before > 0  # the part payment of the "short" invoice, made at the start
    g.ok(
        "POST",
        "/v1/payout_schedule",
        {"frequency": "PAYOUT_FREQUENCY_THRESHOLD", "threshold": "1", "settlement_address_id": address_id},
    )

    def scheduled() -> dict[str, Any] | None:
        payouts = g.ok("GET", "/v1/payouts").get("payouts", [])
        return next((p for p in payouts if p.get("trigger") == "PAYOUT_TRIGGER_SCHEDULED"), None)

    automatic = wait_until("the scheduled payout", scheduled, timeout=30)
    g.ok("POST", "/v1/payout_schedule", {"frequency": "PAYOUT_FREQUENCY_MANUAL"})  # the later tests count balances
    assert automatic["amount_base_units"] == str(available_before)
    g.receiver.wait_for("payout.confirmed", automatic["id"], timeout=120)
    assert g.balance_of(destination) == 25 * UNIT + available_before
    assert g.available() == 0

    # The operator reconciles: the chain and the ledger agree.
    report = g.reconciled()
    assert report["mismatch_count"] == 0
    treasury_line = next(line for line in report["lines"] if line["account"] == "treasury:USDT")
    assert treasury_line["chain_balance_base_units"] == treasury_line["ledger_balance_base_units"]


def test_an_underpayment_within_the_tolerance_pays_the_invoice_flagged_underpaid(gateway: Gateway) -> None:
    g = gateway
    invoice = g.invoice("10", underpayment_tolerance="0.5")
    g.pay(invoice["deposit_address"], 96 * UNIT // 10)
    paid = g.receiver.wait_for("invoice.paid", invoice["id"])
    read = g.status(invoice["id"])
    assert (read["status"], read["amount_paid_base_units"], flags(read)) == (
        "INVOICE_STATUS_PAID",
        str(96 * UNIT // 10),
        {"UNDERPAID"},
    )
    assert summary(paid)["status"] == "PAID"


def test_a_canceled_invoice_paid_afterwards_stays_canceled_and_is_credited_flagged_paid_late(gateway: Gateway) -> None:
    g = gateway
    before = g.available()
    invoice = g.invoice("3")
    canceled = g.ok("POST", f"/v1/invoices/{invoice['id']}:cancel", {"reason": "out of stock"})
    assert canceled["status"] == "INVOICE_STATUS_CANCELED"
    g.receiver.wait_for("invoice.canceled", invoice["id"])
    g.pay(invoice["deposit_address"], 3 * UNIT)
    updated = g.receiver.wait_for("invoice.updated", invoice["id"])
    assert summary(updated)["status"] == "CANCELED"
    wait_until("the late payment credited", lambda: g.status(invoice["id"])["amount_paid_base_units"] == str(3 * UNIT))
    read = g.status(invoice["id"])
    assert (read["status"], flags(read)) == ("INVOICE_STATUS_CANCELED", {"PAID_LATE"})
    assert g.available() == before + 3 * UNIT
    assert not g.receiver.events("invoice.paid", invoice["id"])


def test_many_invoices_paid_at_once_are_each_notified_once_and_the_books_balance(gateway: Gateway) -> None:
    g = gateway
    before = g.available()
    invoices = g.create_invoices(INVOICES)
    assert len({i["deposit_address"] for i in invoices}) == INVOICES

    # The customer pays them all at once: every transfer sent before any is mined.
    g.receipts(g.pay_at_once(invoices, [g.customer]), timeout=120)

    # Exactly one invoice.paid event per invoice (retries and redeliveries share the webhook-id).
    g.wait_all_paid(invoices)
    # All credited, every forwarder swept into the treasury, and the operator's reconciliation matches the chain.
    g.assert_books_balance(invoices, before)


def test_an_underpayment_that_the_expiry_catches_ends_expired_flagged_underpaid(gateway: Gateway) -> None:
    g = gateway
    short = g.timed["short"]  # 10 asked, 6 paid at the start, a one-minute expiry
    expired = g.receiver.wait_for("invoice.expired", short["id"], timeout=120)
    assert summary(expired)["status"] == "EXPIRED"
    read = g.status(short["id"])
    assert (read["status"], read["amount_paid_base_units"], flags(read)) == (
        "INVOICE_STATUS_EXPIRED",
        str(6 * UNIT),
        {"UNDERPAID"},
    )
    assert not g.receiver.events("invoice.paid", short["id"])


def test_an_overpayment_pays_the_invoice_flagged_overpaid_and_credits_all_of_it(gateway: Gateway) -> None:
    g = gateway
    before = g.available()
    invoice = g.invoice("5")
    g.pay(invoice["deposit_address"], 7 * UNIT)
    g.receiver.wait_for("invoice.paid", invoice["id"])
    read = g.status(invoice["id"])
    assert (read["status"], read["amount_paid_base_units"], flags(read)) == (
        "INVOICE_STATUS_PAID",
        str(7 * UNIT),
        {"OVERPAID"},
    )
    assert g.available() == before + 7 * UNIT


def test_a_payment_after_the_monitoring_window_is_never_credited(gateway: Gateway) -> None:
    g = gateway
    late = g.timed["late"]  # a one-minute expiry and no monitoring window after it
    g.receiver.wait_for("invoice.expired", late["id"], timeout=120)
    before = g.available()
    tx = g.pay(late["deposit_address"], 4 * UNIT)
    paid_in = int(g.rpc.request("eth_getTransactionReceipt", tx)["blockNumber"], 16)
    # Well past the payment's finality (anvil finalizes a few blocks behind the head), nothing is credited.
    wait_until("ten more blocks", lambda: int(g.rpc.request("eth_blockNumber"), 16) >= paid_in + 10, timeout=60)
    time.sleep(2)  # a watcher pass and a ledger call after that
    read = g.status(late["id"])
    assert (read["status"], read.get("amount_paid_base_units", "0"), flags(read)) == (
        "INVOICE_STATUS_EXPIRED",
        "0",
        set(),
    )
    assert g.available() == before
    assert not g.receiver.events("invoice.paid", late["id"])
    assert not g.receiver.events("invoice.updated", late["id"])
    g.timed["late_tx"] = {"hash": tx}


def test_a_payment_after_the_monitoring_window_is_held_unallocated_for_the_operator(gateway: Gateway) -> None:
    g = gateway
    late = g.timed["late"]
    assert "late_tx" in g.timed, "runs after test_a_payment_after_the_monitoring_window_is_never_credited"
    unallocated = g.receiver.wait_for("payment.unallocated", late["id"], timeout=5)
    assert unallocated["data"]["tx_hash"] == g.timed["late_tx"]["hash"]
    status, stray = g.admin("GET", "/admin/v1/stray_funds?kind=STRAY_FUND_KIND_UNALLOCATED_PAYMENT")
    assert status == 200, stray
    held = [
        (s["tx_hash"].lower(), s["to_address"].lower(), s["amount_base_units"], s["status"])
        for s in stray.get("stray_funds", [])
        if s.get("invoice_id") == late["id"]
    ]
    expected = (g.timed["late_tx"]["hash"].lower(), late["deposit_address"].lower(), str(4 * UNIT))
    assert held == [(*expected, "STRAY_FUND_STATUS_OPEN")], stray
    # Held, not credited: the closed invoice is still unpaid.
    read = g.status(late["id"])
    assert (read["status"], read.get("amount_paid_base_units", "0")) == ("INVOICE_STATUS_EXPIRED", "0")


def test_a_payment_reorged_away_before_finality_is_never_credited(gateway: Gateway) -> None:
    """The chain is paused, the payment mined in one block, seen, then that block replaced by an empty one."""
    g = gateway
    before = g.available()
    invoice = g.invoice("8")
    g.token.transact("mint", g.customer, 8 * UNIT, sender=g.customer)
    transfer = g.token.artifact.function("transfer").calldata((invoice["deposit_address"], 8 * UNIT))
    g.rpc.request("evm_setIntervalMining", 0)  # no blocks but ours from here
    try:
        tx = {"from": g.customer, "to": g.token.address, "data": "0x" + transfer.hex(), "gas": hex(200_000)}
        g.rpc.request("eth_sendTransaction", tx)
        g.rpc.request("evm_mine")
        g.receiver.wait_for("invoice.payment_detected", invoice["id"])
        assert g.status(invoice["id"])["status"] == "INVOICE_STATUS_PROCESSING"
        g.rpc.request("anvil_reorg", 1, [])  # the block with the payment replaced by an empty one
    finally:
        g.rpc.request("evm_setIntervalMining", 1)
    reversed_ = g.receiver.wait_for("invoice.payment_reversed", invoice["id"])
    assert summary(reversed_)["status"] in ("PROCESSING", "OPEN")
    g.wait_status(invoice["id"], "OPEN")
    assert g.balance_of(invoice["deposit_address"]) == 0
    # Well past finality, still nothing credited.
    start = int(g.rpc.request("eth_blockNumber"), 16)
    wait_until("ten more blocks", lambda: int(g.rpc.request("eth_blockNumber"), 16) >= start + 10, timeout=60)
    read = g.status(invoice["id"])
    assert (read["status"], read.get("amount_paid_base_units", "0")) == ("INVOICE_STATUS_OPEN", "0")
    assert g.available() == before
    assert not g.receiver.events("invoice.paid", invoice["id"])
