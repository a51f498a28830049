"""`stablegate reconcile` as an operator runs it: a process with settlement's variables, against real parts."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gateway import parts
from service_runtime.mesh import Role
from tests.settlement.recon_harness import UNIT, World, world_on


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with world_on(ledger_db) as world:
        yield world


@dataclass(frozen=True)
class Ran:
    """A finished CLI run."""

    code: int
    out: str
    err: str


def cli_env(world: World, **changes: str) -> dict[str, str]:
    """The settlement variables an operator's shell would hold for this world."""
    s = world.settlement_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    env.update(world.ledger.pki.files(Role.SETTLEMENT).env("settlement"))
    prefix = "STABLEGATE_SETTLEMENT_"
    env.update(
        {
            prefix + "PROFILE": "test",
            prefix + "DATABASE_URL": s.database_url,
            prefix + "RPC_URLS": json.dumps(s.rpc_urls),
            prefix + "LEDGER_TARGET": s.ledger_target,
            prefix + "TOKEN_CONTRACT": s.token_contract or "",
            prefix + "TREASURY_ADDRESS": s.treasury_address,
            prefix + "COLD_SAFE_ADDRESS": s.cold_safe_address,
            prefix + "SIGNING_KEY_ADDRESSES": json.dumps(s.signing_key_addresses),
        }
    )
    env.update({prefix + k: v for k, v in changes.items()})
    return env


async def reconcile(world: World, *args: str, **changes: str) -> Ran:
    """Run `stablegate reconcile` in a child process (without blocking the loop the ledger serves on)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "reconcile",
        *args,
        env=cli_env(world, **changes),
        cwd=parts.REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def test_reconcile_prints_a_matched_report_and_exits_zero_then_one_on_a_difference(world: World) -> None:
    invoice = await world.invoice("12")
    world.pay(invoice.deposit_address, 12 * UNIT)
    await world.settle()
    assert await world.status(invoice.id) == "PAID"

    ran = await reconcile(world, "--json")
    assert ran.code == 0, ran
    report = json.loads(ran.out)
    assert (report["status"], report["trigger"], report["mismatch_count"]) == ("MATCHED", "cli", 0)
    clearing = next(line for line in report["lines"] if line["account"] == "chain_clearing:USDT")
    assert clearing["chain_balance_base_units"] == clearing["ledger_balance_base_units"] == str(12 * UNIT)
    stored = await world.ledger.value(
        "SELECT status FROM settlement.reconciliation_reports WHERE id = $1 AND trigger = 'cli'", report["id"]
    )
    assert stored == "MATCHED"

    extra = 3 * UNIT + 9
    world.token.transact("mint", world.treasury, extra, sender=world.contracts.deployer)
    world.mine(10)
    ran = await reconcile(world)
    assert ran.code == 1, ran
    assert "MISMATCHED" in ran.out and str(extra) in ran.out and "treasury:USDT" in ran.out


async def test_reconcile_against_an_unreachable_database_says_so_and_exits_two(world: World) -> None:
    ran = await reconcile(world, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{parts.free_port()}/stablegate")
    assert ran.code == 2
    assert "cannot connect to the database" in ran.err


async def test_reconcile_against_an_unreachable_ledger_stores_a_failed_report_and_exits_two(world: World) -> None:
    target = f"127.0.0.1:{parts.free_port()}"
    ran = await reconcile(world, "--json", LEDGER_TARGET=target)
    assert ran.code == 2, ran
    report = json.loads(ran.out)
    assert report["status"] == "FAILED"
    assert report["error"].startswith(f"ledger at {target}: UNAVAILABLE")
    row = await world.ledger.fetch(
        "SELECT status, error, block_number FROM settlement.reconciliation_reports WHERE id = $1", report["id"]
    )
    assert [(r["status"], r["error"]) for r in row] == [("FAILED", report["error"])]


async def test_reconcile_at_a_block_not_yet_finalized_is_refused_and_stores_nothing(world: World) -> None:
    ran = await reconcile(world, "--block", str(10**9))
    assert ran.code == 2
    assert "is not finalized yet" in ran.err
    assert await world.ledger.value("SELECT count(*) FROM settlement.reconciliation_reports") == 0
