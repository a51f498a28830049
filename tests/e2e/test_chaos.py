"""Chaos (issue 24): every process of `stablegate up` killed once while payments flow, and nothing lost or doubled.

The gateway runs as `./dev up --replicas 2` runs it (tests/e2e/e2e_harness.py, its own, not the suite's shared one: this
one's processes are killed): two of every service but the signer. `run_chaos` (tests/e2e/chaos.py) SIGKILLs each
supervisord program in turn, every replica, Postgres, Redis and the chain (anvil) included (it comes back from its
last dump), while
`STABLEGATE_CHAOS_INVOICES` (300) invoices are created over REST and paid at once on chain; then it asserts every
payment credited exactly once in the journal, one verified `invoice.paid` per invoice, every deposit swept exactly once
on chain and in the ledger, the journal balanced and `stablegate reconcile` MATCHED.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import localrun
from gateway.localrun import REPLICATED_SERVICES
from tests.e2e.chaos import BACK, KILL_ORDER, run_chaos, statuses, with_replicas
from tests.e2e.e2e_harness import running_gateway

pytestmark = pytest.mark.timeout(900)

INVOICES = int(os.environ.get("STABLEGATE_CHAOS_INVOICES", "300"))
REPLICAS = 2
"""`up --replicas 2`: two of every service but the signer, each replica killed in turn (docs/operations.md)."""


def test_every_process_killed_during_a_payment_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with running_gateway(tmp_path, replicas=REPLICAS) as g:
        # Every program of `up` is in the schedule (a new program must be added to KILL_ORDER), each replicated
        # service twice.
        programs = statuses(g.state)
        order = with_replicas(KILL_ORDER, programs)
        assert set(programs) == set(order)
        assert {f"{s}-2" for s in REPLICATED_SERVICES} <= set(order)
        kills, checked, times = run_chaos(g, INVOICES, interval=1.0)
        assert [k.program for k in kills] == list(order)
        for kill in kills:  # supervisord started each again: a new process
            assert kill.how.startswith("SIGKILL") and kill.new_pid != kill.pid, kill
        # The chain came back as itself (its last dump loaded, not an empty chain): at most a dump interval's blocks
        # back from its head, or the kept copy's few more if the kill tore the dump being written (a block a second).
        (chain,) = [k for k in kills if k.program == "anvil"]
        before, after = (int(n) for n in chain.how.split("head ")[1].split(" → "))
        assert after >= before - (localrun.CHAIN_DUMP_SECONDS + localrun.CHAIN_KEEP_SECONDS + 1) > 0, chain
        # The processing side was faulted while payments were in flight: from their sending, before the last
        # invoice.paid arrived.
        processing = [k for k in kills if k.program.split("-")[0] in BACK]
        assert all(k.at >= times["sent"] for k in processing), (processing, times)
        assert min(k.at for k in processing) < times["last_notified"], (processing, times)
        assert (checked.invoices, checked.credited_once, checked.webhooks_paid, checked.swept_once) == (INVOICES,) * 4
        assert checked.paid_deliveries >= INVOICES
        assert checked.unbalanced == 0
