"""anvil SIGKILLed alone while `up` runs comes back as the same chain, mining, and payments go on (issue 24).

The gateway runs as `./dev up` runs it (its own, as its chain is killed). supervisord restarts anvil with the same
command line as at the first start; `gateway/anvil_launch.py` makes that start load the newest whole dump and mine
a block a second by itself. The test kills anvil's process group once a payment is credited, swept and dumped, and
asserts the restarted anvil holds the same deployed token, the same balances and at least the same head, mines new
blocks with nobody asking, and that a payment made after the restart is credited, swept and reconciled.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from gateway import localrun
from tests.e2e.chaos import statuses, wait_restarted
from tests.e2e.e2e_harness import UNIT, Gateway, running_gateway, wait_until

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


def test_a_sigkilled_anvil_comes_back_as_the_same_chain_that_mines_and_credits_new_payments(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as g:
        available = g.available()
        first = paid_and_swept(g, "3.25")
        token_code = g.rpc.request("eth_getCode", g.token.address, "latest")
        treasury, customer = g.deployed["treasury"], g.customer
        balances = (g.balance_of(treasury), g.balance_of(customer))
        before = head(g)
        time.sleep(localrun.CHAIN_DUMP_SECONDS + 1)  # anvil has dumped a chain at or above `before`

        status, pid = statuses(g.state)["anvil"]
        assert status == "RUNNING" and pid is not None
        os.killpg(pid, signal.SIGKILL)
        assert wait_restarted(g.state, "anvil", pid) != pid
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
        g.assert_books_balance([first, second], available, timeout=120)
        assert int(str(first["amount_base_units"])) + int(str(second["amount_base_units"])) == 575 * UNIT // 100
