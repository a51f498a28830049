"""Payout schedules and the scheduler, on a real Postgres with an injected clock: a due merchant gets one payout of
its whole available balance less the payout fee to its schedule's ACTIVE settlement address, made by CreatePayout's
code (same reservation, `payout.created`, trigger SCHEDULED), once per period whatever runs the scheduler and how
often; WEEKLY and THRESHOLD rules; below the minimum, an address still cooling off: skipped with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import payout_pb2
from stablegate.merchant.v1 import payout_schedule_service_pb2 as pb
from stablegate.merchant.v1 import payout_service_pb2 as payout_service_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as payout_grpc
from stablegate.merchant.v1 import settlement_address_service_pb2 as sa_pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as sa_grpc

from ledger.schedules import ADDRESS_NOT_USABLE, ALREADY_PAID, BELOW_MINIMUM, NOT_DUE, PAID, PAYOUT_IN_PROGRESS
from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from tests.payouts.ledger_calls import scheduled_payouts, schedules, set_schedule

UNIT = 10**18
FEE = UNIT // 2
COOLING_OFF = 3600
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
FREQ = pb.PayoutFrequency
TRIGGER = payout_pb2.PayoutTrigger
# A Wednesday, 10:00 UTC, well after every address registered "now" has cooled off.
WEDNESDAY = dt.datetime(2031, 1, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(
        ledger_db,
        settlement_address_cooling_off_seconds=COOLING_OFF,
        payout_fee_base_units=FEE,
        payout_minimum_base_units=UNIT,
    ) as running:
        yield running


def destination(n: int) -> str:
    return "0x" + f"{n + 1:040x}"


async def funded(ledger: Ledger, amount: int, n: int = 0, *, confirm: bool = True) -> tuple[str, str, str]:
    """A merchant with `amount` base units available and a settlement address (confirmed when `confirm`)."""
    merchant, key = await ledger.merchant_with_key(name=f"Shop {n}", scopes=SCOPES)
    if amount:
        await credit(ledger, key, amount)
    addresses = sa_grpc.SettlementAddressServiceStub(ledger.channel)
    created = (
        await addresses.CreateSettlementAddress(
            sa_pb.CreateSettlementAddressRequest(address=destination(n)), metadata=ledger.auth(key)
        )
    ).settlement_address
    if confirm:
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
    return merchant, key, created.id


async def credit(ledger: Ledger, key: str, amount: int) -> None:
    """Pay an invoice of `amount` base units to finality."""
    invoice = (
        await ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=str(amount / UNIT) if amount % UNIT else str(amount // UNIT)),
            metadata=ledger.auth(key),
        )
    ).invoice
    await ledger.observe(invoice.deposit_address, amount, "FINAL")


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_a_daily_run_pays_twenty_merchants_balance_less_fee_once_and_empties_their_available_balance(
    ledger: Ledger,
) -> None:
    merchants: list[tuple[str, str, str, int]] = []
    for n in range(20):
        amount = (n + 2) * UNIT + n * 1234567
        merchant, key, address = await funded(ledger, amount, n)
        merchants.append((merchant, key, address, amount))
    ledger.clock.current = WEDNESDAY
    for _, key, address, _ in merchants:
        await set_schedule(
            ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, hour_utc=9, settlement_address_id=address
        )

    outcomes = await ledger.core.schedules.run(ledger.clock())
    assert sorted(o.outcome for o in outcomes) == [PAID] * 20
    for merchant, key, address, amount in merchants:
        rows = await scheduled_payouts(ledger, merchant)
        assert [(int(r["amount"]), int(r["fee"]), r["status"]) for r in rows] == [(amount - FEE, FEE, "QUEUED")]
        assert rows[0]["request_id"] == f"schedule:{merchant}:2031-01-15"
        assert rows[0]["settlement_address_id"] == address
        assert await ledger.balances(merchant) == {
            "merchant_pending": 0,
            "merchant_available": 0,
            "merchant_reserved": amount,
        }
        payout = (
            await payout_grpc.PayoutServiceStub(ledger.channel).GetPayout(
                payout_service_pb.GetPayoutRequest(id=rows[0]["id"]), metadata=ledger.auth(key)
            )
        ).payout
        assert payout.trigger == TRIGGER.PAYOUT_TRIGGER_SCHEDULED
        assert await ledger.events(rows[0]["id"]) == ["payout.created"]
        shown = (
            await schedules(ledger).GetPayoutSchedule(pb.GetPayoutScheduleRequest(), metadata=ledger.auth(key))
        ).payout_schedule
        assert (shown.last_outcome, shown.last_payout_id) == (PAID, rows[0]["id"])

    # Settlement's executor sees them with the others, marked as scheduled.
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        queued = await ledger_grpc.PayoutLedgerServiceStub(channel).ListQueuedPayouts(
            ledger_pb.ListQueuedPayoutsRequest()
        )
    assert len(queued.payouts) == 20
    assert {p.trigger for p in queued.payouts} == {TRIGGER.PAYOUT_TRIGGER_SCHEDULED}

    # Money came in again; a second run in the same day (period) pays nothing more.
    await credit(ledger, merchants[0][1], 5 * UNIT)
    ledger.clock.advance(hours=5)
    again = await ledger.core.schedules.run(ledger.clock())
    assert sorted(o.outcome for o in again) == [ALREADY_PAID] * 20
    assert await ledger.value("SELECT count(*) FROM ledger.payouts WHERE payout_trigger = 'SCHEDULED'") == 20
    await ledger.assert_books_are_sound()

    # The next day is a new period: only the merchant with a balance is paid.
    ledger.clock.advance(hours=20)
    next_day = {o.merchant_id: o.outcome for o in await ledger.core.schedules.run(ledger.clock())}
    assert next_day.pop(merchants[0][0]) == PAID
    assert set(next_day.values()) == {BELOW_MINIMUM}
    await ledger.assert_books_are_sound()


async def test_two_concurrent_runs_pay_a_period_once(ledger: Ledger) -> None:
    pairs = [await funded(ledger, 10 * UNIT, n) for n in range(5)]
    ledger.clock.current = WEDNESDAY
    for _, key, address in pairs:
        await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=address)
    first, second = await asyncio.gather(
        ledger.core.schedules.run(ledger.clock()), ledger.core.schedules.run(ledger.clock())
    )
    assert sorted(o.outcome for o in first + second) == sorted([PAID] * 5 + [ALREADY_PAID] * 5)
    for merchant, _, _ in pairs:
        assert len(await scheduled_payouts(ledger, merchant)) == 1
    await ledger.assert_books_are_sound()


async def test_daily_is_not_due_before_its_hour(ledger: Ledger) -> None:
    _, key, address = await funded(ledger, 10 * UNIT)
    ledger.clock.current = WEDNESDAY.replace(hour=8)
    await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, hour_utc=9, settlement_address_id=address)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [NOT_DUE]
    ledger.clock.advance(hours=1)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]


async def test_weekly_is_due_only_on_its_weekday(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 10 * UNIT)
    ledger.clock.current = WEDNESDAY  # isoweekday 3
    await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_WEEKLY, weekday=4, settlement_address_id=address)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [NOT_DUE]
    assert await scheduled_payouts(ledger, merchant) == []
    ledger.clock.advance(days=1)  # Thursday
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]
    assert [int(r["amount"]) for r in await scheduled_payouts(ledger, merchant)] == [10 * UNIT - FEE]
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 0,
        "merchant_reserved": 10 * UNIT,
    }


async def test_threshold_pays_when_the_balance_reaches_it_and_waits_while_one_is_on_its_way(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 4 * UNIT)
    ledger.clock.current = WEDNESDAY
    await set_schedule(
        ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_THRESHOLD, threshold="5", settlement_address_id=address
    )
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [NOT_DUE]
    await credit(ledger, key, 2 * UNIT)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]
    assert [int(r["amount"]) for r in await scheduled_payouts(ledger, merchant)] == [6 * UNIT - FEE]
    await credit(ledger, key, 7 * UNIT)
    # The first scheduled payout is still QUEUED: no second one.
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAYOUT_IN_PROGRESS]
    assert len(await scheduled_payouts(ledger, merchant)) == 1
    payouts = payout_grpc.PayoutServiceStub(ledger.channel)
    first = (await scheduled_payouts(ledger, merchant))[0]["id"]
    await payouts.CancelPayout(payout_service_pb.CancelPayoutRequest(id=first), metadata=ledger.auth(key))
    ledger.clock.advance(minutes=1)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]
    rows = await scheduled_payouts(ledger, merchant)
    assert [(int(r["amount"]), r["status"]) for r in rows] == [
        (6 * UNIT - FEE, "CANCELED"),
        (13 * UNIT - FEE, "QUEUED"),
    ]
    await ledger.assert_books_are_sound()


async def test_below_the_minimum_is_skipped_and_nothing_changes(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 3 * UNIT)
    ledger.clock.current = WEDNESDAY
    await set_schedule(
        ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, minimum_amount="3", settlement_address_id=address
    )
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [BELOW_MINIMUM]
    assert await scheduled_payouts(ledger, merchant) == []
    balances = await ledger.balances(merchant)
    assert (balances["merchant_available"], balances.get("merchant_reserved", 0)) == (3 * UNIT, 0)
    shown = (
        await schedules(ledger).GetPayoutSchedule(pb.GetPayoutScheduleRequest(), metadata=ledger.auth(key))
    ).payout_schedule
    assert shown.last_outcome == BELOW_MINIMUM
    # Later that day the balance covers minimum + fee: the period is paid then.
    await credit(ledger, key, 1 * UNIT)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]
    assert [int(r["amount"]) for r in await scheduled_payouts(ledger, merchant)] == [4 * UNIT - FEE]


async def test_an_address_still_cooling_off_is_skipped_until_it_is_active(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 10 * UNIT)
    # A schedule may name an address that is not usable yet; the run skips it with the reason.
    shown = await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=address)
    assert shown.settlement_address_id == address
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [ADDRESS_NOT_USABLE]
    assert await scheduled_payouts(ledger, merchant) == []
    assert (await ledger.balances(merchant))["merchant_available"] == 10 * UNIT
    ledger.clock.advance(seconds=COOLING_OFF)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [PAID]


async def test_an_unconfirmed_address_is_skipped(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 10 * UNIT, confirm=False)
    ledger.clock.current = WEDNESDAY
    await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=address)
    assert [o.outcome for o in await ledger.core.schedules.run(ledger.clock())] == [ADDRESS_NOT_USABLE]
    assert await scheduled_payouts(ledger, merchant) == []


async def test_a_schedule_change_is_a_webhook_and_the_default_is_manual(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 0)
    shown = (
        await schedules(ledger).GetPayoutSchedule(pb.GetPayoutScheduleRequest(), metadata=ledger.auth(key))
    ).payout_schedule
    assert (shown.frequency, shown.minimum_amount, shown.merchant_id) == (FREQ.PAYOUT_FREQUENCY_MANUAL, "1", merchant)
    stored = await set_schedule(
        ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_WEEKLY, weekday=5, hour_utc=17, settlement_address_id=address
    )
    assert (stored.weekday, stored.hour_utc, stored.minimum_amount_base_units) == (5, 17, str(UNIT))
    rows = await ledger.fetch(
        "SELECT event_type, payload FROM ledger.outbox "
        "WHERE merchant_id = $1 AND event_type = 'payout_schedule.updated'",
        merchant,
    )
    assert len(rows) == 1
    assert json.loads(rows[0]["payload"])["data"]["frequency"] == "PAYOUT_FREQUENCY_WEEKLY"
    # Back to MANUAL: the scheduler leaves the merchant alone.
    await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_MANUAL)
    assert await ledger.core.schedules.run(ledger.clock()) == []


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY}, "settlement_address_id", "FIELD_REQUIRED"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_WEEKLY, "weekday": 8}, "weekday", "WEEKDAY_OUT_OF_RANGE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_WEEKLY}, "weekday", "WEEKDAY_OUT_OF_RANGE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY, "weekday": 2}, "weekday", "FIELD_NOT_APPLICABLE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY, "hour_utc": 24}, "hour_utc", "HOUR_OUT_OF_RANGE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_THRESHOLD, "hour_utc": 3}, "hour_utc", "FIELD_NOT_APPLICABLE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_THRESHOLD}, "threshold", "FIELD_REQUIRED"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_THRESHOLD, "threshold": "0"}, "threshold", "AMOUNT_NOT_POSITIVE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY, "threshold": "5"}, "threshold", "FIELD_NOT_APPLICABLE"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY, "minimum_amount": "0.5"}, "minimum_amount", "PAYOUT_BELOW_MINIMUM"),
        ({"frequency": FREQ.PAYOUT_FREQUENCY_DAILY, "minimum_amount": "x"}, "minimum_amount", "AMOUNT_INVALID"),
        ({"frequency": 99}, "frequency", "FIELD_INVALID"),
    ],
)
async def test_bad_schedules_are_refused_and_change_nothing(
    ledger: Ledger, fields: dict[str, Any], field: str, reason: str
) -> None:
    _, key, address = await funded(ledger, 0)
    if field != "settlement_address_id":
        fields = {"settlement_address_id": address, **fields}
    error = await refused(
        schedules(ledger).UpdatePayoutSchedule(pb.UpdatePayoutScheduleRequest(**fields), metadata=ledger.auth(key))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(error)
    assert (info.reason, info.metadata["field"]) == (reason, field)
    assert await ledger.value("SELECT count(*) FROM ledger.payout_schedules") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.outbox WHERE event_type = 'payout_schedule.updated'") == 0


async def test_another_merchants_or_a_revoked_address_is_refused(ledger: Ledger) -> None:
    _, key, address = await funded(ledger, 0, 0)
    _, _, other_address = await funded(ledger, 0, 1)
    error = await refused(
        schedules(ledger).UpdatePayoutSchedule(
            pb.UpdatePayoutScheduleRequest(frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=other_address),
            metadata=ledger.auth(key),
        )
    )
    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.NOT_FOUND, "SETTLEMENT_ADDRESS_NOT_FOUND")
    await sa_grpc.SettlementAddressServiceStub(ledger.channel).RevokeSettlementAddress(
        sa_pb.RevokeSettlementAddressRequest(id=address), metadata=ledger.auth(key)
    )
    error = await refused(
        schedules(ledger).UpdatePayoutSchedule(
            pb.UpdatePayoutScheduleRequest(frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=address),
            metadata=ledger.auth(key),
        )
    )
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SETTLEMENT_ADDRESS_REVOKED",
    )
    assert await ledger.value("SELECT count(*) FROM ledger.payout_schedules") == 0


async def test_reading_needs_payouts_read_and_changing_needs_payouts_write(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key(scopes=("payouts:read",))
    error = await refused(
        schedules(ledger).UpdatePayoutSchedule(
            pb.UpdatePayoutScheduleRequest(frequency=FREQ.PAYOUT_FREQUENCY_MANUAL), metadata=ledger.auth(key)
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    _, no_read = await ledger.merchant_with_key(name="Other", scopes=("invoices:read",))
    error = await refused(
        schedules(ledger).GetPayoutSchedule(pb.GetPayoutScheduleRequest(), metadata=ledger.auth(no_read))
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_merchant_request_id_may_not_take_the_schedulers_prefix(ledger: Ledger) -> None:
    merchant, key, _ = await funded(ledger, 10 * UNIT)
    ledger.clock.advance(seconds=COOLING_OFF)
    error = await refused(
        payout_grpc.PayoutServiceStub(ledger.channel).CreatePayout(
            payout_service_pb.CreatePayoutRequest(
                destination_address=destination(0), amount="2", request_id=f"schedule:{merchant}:2031-01-15"
            ),
            metadata=ledger.auth(key),
        )
    )
    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_RESERVED")
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0


async def test_the_cli_runs_the_schedules_at_a_given_time(ledger: Ledger) -> None:
    merchant, key, address = await funded(ledger, 10 * UNIT)
    ledger.clock.current = WEDNESDAY
    await set_schedule(ledger, key, frequency=FREQ.PAYOUT_FREQUENCY_DAILY, settlement_address_id=address)
    env = {
        **os.environ,
        "STABLEGATE_LEDGER_PAYOUT_FEE_BASE_UNITS": str(FEE),
        "STABLEGATE_LEDGER_CHAIN_ID": str(ledger.settings.chain_id),
        "STABLEGATE_LEDGER_TOKEN_CONTRACT": ledger.settings.token_contract,
        "STABLEGATE_LEDGER_PROFILE": "test",
        **ledger.pki.files(Role.LEDGER).env("ledger"),
    }
    command = [sys.executable, "-m", "gateway.cli", "payouts", "run-schedules", "--json"]
    command += ["--database-url", ledger.db_url, "--at", WEDNESDAY.isoformat()]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert (row["merchant_id"], row["outcome"], row["amount"]) == (merchant, PAID, str(10 * UNIT - FEE))
    again = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(again.stdout)[0]["outcome"] == ALREADY_PAID
    assert len(await scheduled_payouts(ledger, merchant)) == 1
