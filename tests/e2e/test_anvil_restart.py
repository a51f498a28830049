"""anvil SIGKILLed alone while `up` runs comes back as the same chain, mining, and payments go on (issue 24).

The gateway runs as `./dev up` runs it (its own, as its chain is killed). supervisord restarts anvil with the same
command line as at the first start; `gateway/anvil_launch.py` makes that start load the newest whole dump and mine
a block a second by itself. The test kills anvil's process group once a payment is credited, swept and dumped, and
asserts the restarted anvil holds the same deployed token, the same balances and at least the same head, mines new
blocks with nobody asking, and that a payment made after the restart is credited, swept and reconciled. Then it
kills anvil just after a payment is mined and before the next dump, until a kill loses the payment's block: the
customer's wallet sends it again, and it is credited exactly once (one `payment_final`, no credit reversed, one
`invoice.paid`), swept, and the books reconcile.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from gateway import anvil_launch, localrun
from tests.e2e.chaos import psql, receipts_through_faults, statuses, wait_restarted
from tests.e2e.e2e_harness import UNIT, Gateway, Transfer, program_env, running_gateway, wait_until

pytestmark = pytest.mark.timeout(600)


def head(g: Gateway) -> int:
    """The chain's block number."""
    return int(g.rpc.request("eth_blockNumber"), 16)


def paid_and_swept(g: Gateway, amount: str) -> dict[str, object]:
    """An invoice of `amount` tokens, paid by the customer, PAID and its deposit swept into the treasury."""
    invoice = g.invoice(amount)
    g.pay(str(invoice["deposit_address"]), int(invoice["amount_base_units"]))
    g.wait_status(str(invoice["id"]), "PAID", timeout=90)
    wait_until("the deposit swept", lambda: g.balance_of(str(invoice["deposit_address"])) == 0, timeout=120, every=1)
    return invoice


def kill_anvil(g: Gateway) -> None:
    """SIGKILL anvil's process group; return once supervisord has it RUNNING again under a new pid."""
    status, pid = statuses(g.state)["anvil"]
    assert status == "RUNNING" and pid is not None
    os.killpg(pid, signal.SIGKILL)
    assert wait_restarted(g.state, "anvil", pid) != pid


def pay_and_kill_before_the_next_dump(g: Gateway) -> tuple[dict[str, object], Transfer, bool]:
    """Pay a new invoice just after anvil dumped, SIGKILL anvil once it is mined; (invoice, transfer, lost).

    The payment is mined within a block (a second) of a dump, and the next dump is `CHAIN_DUMP_SECONDS` later, so
    the kill usually loses its block: then the customer's wallet sends it again (`receipts_through_faults`).
    """
    invoice = g.invoice("1.75")
    units = int(str(invoice["amount_base_units"]))
    minted = g.token.transact("mint", g.customer, units, sender=g.customer)
    dump = g.state / localrun.CHAIN_DIR / anvil_launch.CHAIN_DUMP
    # A dump holding the mint has just been written: the next one is about CHAIN_DUMP_SECONDS away.
    wait_until("a dump with the mint", lambda: (anvil_launch.dump_height(dump) or -1) >= minted.block_number, 15, 0.05)
    call = g.token.artifact.function("transfer").calldata((invoice["deposit_address"], units))
    tx = {"from": g.customer, "to": g.token.address, "data": "0x" + call.hex(), "gas": hex(120_000)}
    tx["nonce"] = str(g.rpc.request("eth_getTransactionCount", g.customer, "pending"))
    transfer = Transfer(tx, str(g.rpc.request("eth_sendTransaction", tx)))
    wait_until("the payment mined", lambda: g.rpc.request("eth_getTransactionReceipt", transfer.hash), 10, 0.05)
    kill_anvil(g)
    lost = g.rpc.request("eth_getTransactionReceipt", transfer.hash) is None
    receipts_through_faults(g, [transfer], timeout=120)
    return invoice, transfer, lost


def test_a_sigkilled_anvil_comes_back_as_the_same_chain_that_mines_and_credits_new_payments(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as g:
        available = g.available()
        first = paid_and_swept(g, "3.25")
        token_code = g.rpc.request("eth_getCode", g.token.address, "latest")
        treasury, customer = g.deployed["treasury"], g.customer
        balances = (g.balance_of(treasury), g.balance_of(customer))
        before = head(g)
        time.sleep(localrun.CHAIN_DUMP_SECONDS + 1)  # anvil has dumped a chain at or above `before`

        kill_anvil(g)
        log = (g.state / "logs" / "anvil.log").read_text()
        assert log.count("anvil_launch: loading ") == 1, log  # the restart loaded the dump; the first start did not

        # The same chain: the token's code, the treasury's and the customer's balances, the head not gone back.
        assert g.rpc.request("eth_getCode", g.token.address, "latest") == token_code
        assert (g.balance_of(treasury), g.balance_of(customer)) == balances
        restarted = head(g)
        assert restarted >= before
        # It mines by itself, a block a second (nobody sends a transaction here).
        wait_until("new blocks after the restart", lambda: head(g) >= restarted + 3, timeout=15)

        # A payment after the restart is credited, notified and swept; the books balance and reconcile.
        second = paid_and_swept(g, "2.5")
        g.receiver.wait_for("invoice.paid", str(second["id"]), timeout=60)
        assert g.balance_of(treasury) == balances[0] + int(str(second["amount_base_units"]))
        assert int(str(first["amount_base_units"])) + int(str(second["amount_base_units"])) == 575 * UNIT // 100

        # A payment in the blocks a kill loses (tried until one is lost: the kill must beat the next dump): the
        # chain goes back under the watcher (a reorg), the customer's wallet sends the payment again, and it is
        # credited exactly once, never reversed after its credit.
        in_flight: list[dict[str, object]] = []
        for _ in range(4):
            invoice, transfer, lost = pay_and_kill_before_the_next_dump(g)
            in_flight.append(invoice)
            if lost:
                assert transfer.resent == 1, transfer
                break
        assert lost, "no kill lost the payment's block"
        for invoice in in_flight:
            g.wait_status(str(invoice["id"]), "PAID", timeout=90)
            g.receiver.wait_for("invoice.paid", str(invoice["id"]), timeout=60)
        ids = ",".join(f"'{i['id']}'" for i in in_flight)
        dsn = program_env(g.state, "ledger")["STABLEGATE_LEDGER_DATABASE_URL"]
        finals = psql(
            dsn,
            "SELECT count(*) FILTER (WHERE kind = 'payment_final'), "
            "count(*) FILTER (WHERE kind = 'credited_payment_reversed') "
            f"FROM ledger.journal_transactions WHERE invoice_id IN ({ids})",
        )
        assert finals == [[str(len(in_flight)), "0"]], finals
        assert all(len(g.receiver.events("invoice.paid", str(i["id"]))) == 1 for i in in_flight)
        g.assert_books_balance([first, second, *in_flight], available, timeout=120)
