"""`stablegate report settlement|fees`: CSV per UTC day and merchant, from the journal of real paid invoices."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gateway import parts
from tests.settlement.recon_harness import UNIT, World, world_on

GAS = 21_000 * 5 * 10**9


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with world_on(ledger_db) as world:
        yield world


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def report(*args: str) -> Ran:
    """Run `stablegate report` in a child process (the ledger keeps serving on this loop meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "report",
        *args,
        cwd=parts.REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def totals(text: str, keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
    """CSV rows summed over days by `keys` (a run across UTC midnight splits rows by day, never their sums)."""
    summed: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in csv.DictReader(io.StringIO(text)):
        dt.date.fromisoformat(row["day"])
        for name, value in row.items():
            if name not in keys and name != "day":
                summed[tuple(row[k] for k in keys)][name] += int(value)
    return {k: dict(v) for k, v in summed.items()}


async def test_settlement_and_fee_reports_per_day_and_merchant(world: World) -> None:
    merchant_a = (await world.ledger.fetch("SELECT id FROM ledger.merchants"))[0]["id"]
    merchant_b, key_b = await world.ledger.merchant_with_key("Other shop")
    paid = [
        (await world.invoice("10.000000000000000007"), 10 * UNIT + 7, world.key),
        (await world.invoice("5"), 5 * UNIT, world.key),
        (await world.invoice("20", key_b), 20 * UNIT, key_b),
    ]
    for invoice, amount, _ in paid:
        world.pay(invoice.deposit_address, amount)
    await world.settle()
    assert [await world.status(i.id, key) for i, _, key in paid] == ["PAID"] * 3
    swept = sum(a for _, a, _ in paid)
    await world.book("sweep", [("treasury", "D", swept), ("chain_clearing", "C", swept)])
    await world.book("gas", [("gas_expense", "D", GAS), ("treasury", "C", GAS)], asset="BNB")
    await world.book("fee", [("merchant_available", "D", UNIT), ("platform_fees", "C", UNIT)], merchant=merchant_a)

    today = dt.datetime.now(dt.UTC).date()
    span = ("--since", str(today - dt.timedelta(days=1)), "--until", str(today + dt.timedelta(days=1)))
    ran = await report("settlement", *span, "--database-url", world.ledger.db_url)
    assert ran.code == 0, ran
    assert ran.out.splitlines()[0] == (
        "day,merchant_id,asset,invoices_paid,payments_credited,volume_base_units,reversed_base_units"
    )
    assert totals(ran.out, ("merchant_id", "asset")) == {
        (merchant_a, "USDT"): {
            "invoices_paid": 2,
            "payments_credited": 2,
            "volume_base_units": 15 * UNIT + 7,
            "reversed_base_units": 0,
        },
        (merchant_b, "USDT"): {
            "invoices_paid": 1,
            "payments_credited": 1,
            "volume_base_units": 20 * UNIT,
            "reversed_base_units": 0,
        },
    }
    only_b = await report("settlement", *span, "--merchant", merchant_b, "--database-url", world.ledger.db_url)
    assert list(totals(only_b.out, ("merchant_id", "asset"))) == [(merchant_b, "USDT")]

    fees = await report("fees", *span, "--database-url", world.ledger.db_url)
    assert fees.code == 0, fees
    assert totals(fees.out, ("merchant_id", "asset")) == {
        (merchant_a, "USDT"): {"fees_base_units": UNIT, "gas_spent_base_units": 0, "sweeps": 0, "swept_base_units": 0},
        ("", "USDT"): {"fees_base_units": 0, "gas_spent_base_units": 0, "sweeps": 1, "swept_base_units": swept},
        ("", "BNB"): {"fees_base_units": 0, "gas_spent_base_units": GAS, "sweeps": 0, "swept_base_units": 0},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2026-13-01"), "--since must be a date as YYYY-MM-DD, got '2026-13-01'"),
        (("--since", "2026-11-02", "--until", "2026-11-01"), "--until (2026-11-01) is before --since (2026-11-02)"),
        (("--since", "2024-01-01", "--until", "2026-01-01"), "one report covers at most 366 days"),
    ],
)
async def test_bad_dates_are_refused(args: tuple[str, ...], message: str) -> None:
    ran = await report("settlement", *args, "--database-url", "postgresql://postgres@127.0.0.1:1/none")
    assert (ran.code, ran.out) == (2, "")
    assert message in ran.err


async def test_an_unreachable_database_is_said_so() -> None:
    url = f"postgresql://postgres@127.0.0.1:{parts.free_port()}/stablegate"
    ran = await report("fees", "--database-url", url)
    assert ran.code == 2
    assert "cannot read the ledger's database" in ran.err
