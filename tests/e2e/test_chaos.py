"""Chaos (issue 24): every process of `stablegate up` killed once while payments flow, and nothing lost or doubled.

The gateway runs as `./dev up` runs it (tests/e2e/e2e_harness.py, its own, not the suite's shared one: this one's
processes are killed). `run_chaos` (tests/e2e/chaos.py) SIGKILLs each supervisord program in turn, Postgres,
Redis and the chain (anvil) included, while `STABLEGATE_CHAOS_INVOICES` (300) invoices are created over
REST and paid at once on chain; then it asserts every payment credited exactly once in the journal, one verified
`invoice.paid` per invoice, every deposit swept exactly once on chain and in the ledger, the journal balanced and
`stablegate reconcile` MATCHED.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import localrun
from tests.e2e.chaos import BACK, KILL_ORDER, run_chaos, statuses
from tests.e2e.e2e_harness import running_gateway

pytestmark = pytest.mark.timeout(900)

INVOICES = int(os.environ.get("STABLEGATE_CHAOS_INVOICES", "300"))


def test_every_process_killed_during_a_payment_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as g:
        # Every program of `up` is in the schedule (a new program must be added to KILL_ORDER).
        assert set(statuses(g.state)) == set(KILL_ORDER)
        kills, checked, times = run_chaos(g, INVOICES, interval=1.0)
        assert [k.program for k in kills] == list(KILL_ORDER)
        for kill in kills:  # supervisord started each again: a new process
            assert kill.how.startswith("SIGKILL") and kill.new_pid != kill.pid, kill
        # The chain came back as itself (its last dump loaded, not an empty chain): at most a dump interval's blocks
        # back from its head, or the kept copy's few more if the kill tore the dump being written (a block a second).
        (chain,) = [k for k in kills if k.program == "anvil"]
        before, after = (int(n) for n in chain.how.split("head ")[1].split(" → "))
        assert after >= before - (localrun.CHAIN_DUMP_SECONDS + localrun.CHAIN_KEEP_SECONDS + 1) > 0, chain
        # The processing side was faulted while payments were in flight: from their sending, before the last
        # invoice.paid arrived.
        processing = [k for k in kills if k.program in BACK]
        assert all(k.at >= times["sent"] for k in processing), (processing, times)
        assert min(k.at for k in processing) < times["last_notified"], (processing, times)
        assert (checked.invoices, checked.credited_once, checked.webhooks_paid, checked.swept_once) == (INVOICES,) * 4
        assert checked.paid_deliveries >= INVOICES
        assert checked.unbalanced == 0
