"""A daily payout schedule end to end, on the real parts (anvil with our contracts, the SoftHSM signer, the ledger on
Postgres with its injected clock, settlement's executor): merchants on fee plans are paid for real, the scheduler
makes each one payout of its whole available balance less the payout fee, and the executor pays them all in one
payoutBatch transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from stablegate.merchant.v1 import payout_pb2
from stablegate.merchant.v1 import payout_schedule_service_pb2 as schedule_pb
from stablegate.merchant.v1 import payout_service_pb2 as po_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as po_grpc

from gateway import parts
from ledger.schedules import ALREADY_PAID, PAID
from signer.keystore.base import KeyInfo
from tests.payouts.execution_harness import (
    SCOPES,
    active_address,
    executor,
    fresh_address,
    keys,
    pay_invoices,
    payout_batch_events,
    payout_world,
    registry,
    run_until_confirmed,
    token_text,
)
from tests.payouts.ledger_calls import scheduled_payouts, set_plan, set_schedule
from tests.settlement.settlement_harness import UNIT, SweepWorld

__all__ = ["keys", "registry"]  # fixtures

PAYOUT_FEE = UNIT // 10 + 3  # STABLEGATE_LEDGER_PAYOUT_FEE_BASE_UNITS, odd base units included
BPS = 10_000
# (bps, fixed, minimum) in base units: a percentage, a percentage plus a fixed part, and a minimum that wins.
PLANS = [(150, 0, 0), (100, UNIT // 4, 0), (10, 0, UNIT // 2)]
PAYOUT_HOUR = 10


@pytest.fixture
async def world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A payout world whose ledger charges PAYOUT_FEE per payout."""
    async with payout_world(
        keys, softhsm_token, ledger_db, registry, tmp_path, payout_fee_base_units=PAYOUT_FEE
    ) as made:
        yield made


def plan_fee(plan: tuple[int, int, int], gross: int) -> int:
    """What a fee plan charges on `gross` (each of these grosses is above every plan's fee)."""
    bps, fixed, minimum = plan
    return max(minimum, fixed + gross * bps // BPS)


async def test_a_daily_schedule_pays_twenty_merchants_balance_minus_fees_in_one_batch(
    world: SweepWorld, keys: dict[str, KeyInfo]
) -> None:
    ledger = world.ledger
    merchants = [await ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(20)]
    plans = [PLANS[i % len(PLANS)] for i in range(20)]
    for (merchant_id, _), (bps, fixed, minimum) in zip(merchants, plans, strict=True):
        await set_plan(ledger, merchant_id, bps, fixed=token_text(fixed), minimum=token_text(minimum))
    grosses = [(i % 5 + 3) * UNIT + 7919 * i + 1 for i in range(20)]  # distinct, odd base units included
    await pay_invoices(world, [(key, gross, gross) for (_, key), gross in zip(merchants, grosses, strict=True)])
    available = [gross - plan_fee(plan, gross) for gross, plan in zip(grosses, plans, strict=True)]
    for (merchant_id, _), expected in zip(merchants, available, strict=True):
        assert (await ledger.balances(merchant_id))["merchant_available"] == expected

    destinations = [fresh_address() for _ in merchants]
    address_ids = [await active_address(world, key, d) for (_, key), d in zip(merchants, destinations, strict=True)]
    # Two days on (the addresses' cooling-off is over), at the schedules' hour.
    ledger.clock.current = (ledger.clock() + dt.timedelta(days=2)).replace(
        hour=PAYOUT_HOUR, minute=0, second=0, microsecond=0
    )
    for (_, key), address_id in zip(merchants, address_ids, strict=True):
        await set_schedule(
            ledger,
            key,
            frequency=schedule_pb.PAYOUT_FREQUENCY_DAILY,
            hour_utc=PAYOUT_HOUR,
            settlement_address_id=address_id,
        )
    received_before = [world.chain.token_balance(d) for d in destinations]

    outcomes = await ledger.core.schedules.run(ledger.clock())
    assert sorted(o.outcome for o in outcomes) == [PAID] * 20
    payout_ids = []
    for (merchant_id, _), expected in zip(merchants, available, strict=True):
        (payout,) = await scheduled_payouts(ledger, merchant_id)
        assert (int(payout["amount"]), int(payout["fee"]), payout["status"]) == (
            expected - PAYOUT_FEE,
            PAYOUT_FEE,
            "QUEUED",
        )
        payout_ids.append(payout["id"])

    await run_until_confirmed(world, executor(world, keys["hot"]), payout_ids)

    # One batch, one transaction for all twenty payouts, one PayoutBatch event of 20 lines.
    amounts = [a - PAYOUT_FEE for a in available]
    (batch,) = await world.rows("SELECT * FROM settlement.payout_batches")
    assert batch["status"] == "CONFIRMED"
    (tx,) = await world.rows("SELECT * FROM settlement.chain_transactions WHERE payout_batch_id = $1", batch["id"])
    assert tx["status"] == "MINED"
    (event,) = payout_batch_events(world)
    assert event == {"batch_id": batch["batch_id"], "tx_hash": tx["tx_hash"], "count": 20, "total": sum(amounts)}
    payouts = await world.rows(
        "SELECT status, payout_trigger, tx_hash FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids
    )
    assert {p["tx_hash"] for p in payouts} == {tx["tx_hash"]}
    assert {(p["status"], p["payout_trigger"]) for p in payouts} == {("CONFIRMED", "SCHEDULED")}
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 20
    for (_, key), payout_id in zip(merchants, payout_ids, strict=True):
        shown = (
            await po_grpc.PayoutServiceStub(ledger.channel).GetPayout(
                po_pb.GetPayoutRequest(id=payout_id), metadata=ledger.auth(key)
            )
        ).payout
        assert (shown.status, shown.trigger) == (
            payout_pb2.PAYOUT_STATUS_CONFIRMED,
            payout_pb2.PAYOUT_TRIGGER_SCHEDULED,
        )

    # Each settlement address received exactly its available balance less the payout fee.
    received = [world.chain.token_balance(d) - before for d, before in zip(destinations, received_before, strict=True)]
    assert received == amounts
    # The journal balances; nothing is left available or reserved; the treasury keeps exactly the fees.
    for merchant_id, _ in merchants:
        assert await ledger.balances(merchant_id) == {
            "merchant_pending": 0,
            "merchant_available": 0,
            "merchant_reserved": 0,
        }
    fees = sum(grosses) - sum(available) + 20 * PAYOUT_FEE
    assert await world.balance("platform_fees:USDT") == fees
    assert world.chain.token_balance(world.chain.treasury) == fees == await world.balance("treasury:USDT")
    await ledger.assert_books_are_sound()

    # Later the same day the scheduler runs again: the period is paid, no second payout.
    ledger.clock.advance(hours=5)
    again = await ledger.core.schedules.run(ledger.clock())
    assert sorted(o.outcome for o in again) == [ALREADY_PAID] * 20
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 20
    await ledger.assert_books_are_sound()
