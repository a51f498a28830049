"""What settlement reads from the ledger (balances as of a block, every deposit address) and the alerts it records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import struct_pb2
from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc
from stablegate.ledger.v1 import journal_service_pb2 as journal_pb
from stablegate.ledger.v1 import journal_service_pb2_grpc as journal_grpc
from stablegate.ledger.v1 import operator_event_service_pb2 as event_pb
from stablegate.ledger.v1 import operator_event_service_pb2_grpc as event_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


@pytest.fixture
async def settlement(ledger: Ledger) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the ledger as the settlement role."""
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        yield channel


async def deposit_address(ledger: Ledger, key: str, amount: str, window_seconds: int | None = None) -> str:
    request = inv_pb.CreateInvoiceRequest(amount=amount)
    if window_seconds is not None:
        request.monitoring_window.FromSeconds(window_seconds)
    reply = await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))
    return reply.invoice.deposit_address


async def test_balances_as_of_a_block_leave_out_payments_seen_in_later_blocks(
    ledger: Ledger, settlement: grpc.aio.Channel
) -> None:
    _, key = await ledger.merchant_with_key()
    early, late = await deposit_address(ledger, key, "5"), await deposit_address(ledger, key, "7")
    await ledger.observe(early, 5 * 10**18, "SEEN", block=100)
    await ledger.observe(late, 7 * 10**18, "SEEN", block=200)
    journal = journal_grpc.JournalServiceStub(settlement)

    async def clearing(block: int) -> tuple[str, ...]:
        reply = await journal.ListBalances(journal_pb.ListBalancesRequest(kind="chain_clearing", block_number=block))
        return tuple(b.balance_base_units for b in reply.balances)

    assert await clearing(0) == (str(12 * 10**18),)  # now: both
    assert await clearing(150) == (str(5 * 10**18),)
    assert await clearing(200) == (str(12 * 10**18),)
    assert await clearing(99) == ("0",)
    one = await journal.GetAccountBalance(
        journal_pb.GetAccountBalanceRequest(account="chain_clearing:USDT", asset="USDT")
    )
    assert (one.balance.kind, one.balance.balance_base_units) == ("chain_clearing", str(12 * 10**18))
    none = await journal.GetAccountBalance(journal_pb.GetAccountBalanceRequest(account="treasury:USDT", asset="USDT"))
    assert none.balance.balance_base_units == "0"

    pages, token = [], ""
    while True:  # every account, one per page, in code order
        page = await journal.ListBalances(journal_pb.ListBalancesRequest(page_size=1, page_token=token))
        pages += [b.account for b in page.balances]
        token = page.next_page_token
        if not token:
            break
    assert pages == sorted(pages) and len(pages) == len(set(pages)) >= 2


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (journal_pb.ListBalancesRequest(page_token="garbage"), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID"),
        (journal_pb.ListBalancesRequest(page_size=-1), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_INVALID"),
        (
            journal_pb.GetAccountBalanceRequest(account="treasury:USDT"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_REQUIRED",
        ),
        (journal_pb.PostTransactionRequest(request_id="x"), grpc.StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED"),
    ],
)
async def test_bad_journal_reads_and_unbuilt_writes_get_specific_errors(
    settlement: grpc.aio.Channel, request_: object, code: grpc.StatusCode, reason: str
) -> None:
    journal = journal_grpc.JournalServiceStub(settlement)
    method = {
        journal_pb.ListBalancesRequest: journal.ListBalances,
        journal_pb.GetAccountBalanceRequest: journal.GetAccountBalance,
        journal_pb.PostTransactionRequest: journal.PostTransaction,
    }[type(request_)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(request_)  # type: ignore[operator]
    assert caught.value.code() == code
    assert error_info(caught.value).reason == reason


async def test_settlement_lists_retired_deposit_addresses_as_well_as_active_ones(
    ledger: Ledger, settlement: grpc.aio.Channel
) -> None:
    _, key = await ledger.merchant_with_key()
    brief = await deposit_address(ledger, key, "1", window_seconds=0)
    lasting = await deposit_address(ledger, key, "2")
    stub = dep_grpc.DepositAddressServiceStub(settlement)

    async def listed(state: int) -> set[str]:
        reply = await stub.ListDepositAddresses(dep_pb.ListDepositAddressesRequest(chain_id=97, state=state))  # type: ignore[arg-type]
        return {a.address for a in reply.deposit_addresses}

    assert await listed(dep_pb.DEPOSIT_ADDRESS_STATE_RETIRED) == set()
    ledger.clock.advance(minutes=16)  # past the brief invoice's expiry and its zero-length window
    assert await listed(dep_pb.DEPOSIT_ADDRESS_STATE_RETIRED) == {brief}
    assert await listed(dep_pb.DEPOSIT_ADDRESS_STATE_ACTIVE) == {lasting}
    assert await listed(dep_pb.DEPOSIT_ADDRESS_STATE_UNSPECIFIED) == {lasting}  # the watcher's default: active


def event(
    event_id: str, event_type: str = "reconciliation.difference", difference: str = "-5"
) -> event_pb.OperatorEvent:
    data = struct_pb2.Struct()
    data.update({"account": "treasury:USDT", "difference_base_units": difference})
    return event_pb.OperatorEvent(event_id=event_id, event_type=event_type, subject_id="rec_1", data=data)


async def test_operator_events_are_recorded_once_without_a_merchant(
    ledger: Ledger, settlement: grpc.aio.Channel
) -> None:
    stub = event_grpc.OperatorEventServiceStub(settlement)
    first = await stub.RecordOperatorEvent(event_pb.RecordOperatorEventRequest(event=event("rec_1:treasury:USDT")))
    again = await stub.RecordOperatorEvent(event_pb.RecordOperatorEventRequest(event=event("rec_1:treasury:USDT")))
    assert (first.created, again.created) == (True, False)
    rows = await ledger.fetch("SELECT event_type, merchant_id, payload FROM ledger.outbox WHERE subject_id = 'rec_1'")
    assert [(r["event_type"], r["merchant_id"]) for r in rows] == [("reconciliation.difference", None)]
    assert json.loads(rows[0]["payload"])["data"] == {"account": "treasury:USDT", "difference_base_units": "-5"}

    refusals = [
        (event("rec_1:treasury:USDT", difference="-6"), grpc.StatusCode.ALREADY_EXISTS, "EVENT_ID_REUSED"),
        (event("rec_1:x", event_type="invoice.paid"), grpc.StatusCode.INVALID_ARGUMENT, "EVENT_TYPE_NOT_ALLOWED"),
        (event("bad id with spaces"), grpc.StatusCode.INVALID_ARGUMENT, "EVENT_ID_INVALID"),
    ]
    for bad, code, reason in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RecordOperatorEvent(event_pb.RecordOperatorEventRequest(event=bad))
        assert (caught.value.code(), error_info(caught.value).reason) == (code, reason)
    assert await ledger.value("SELECT count(*) FROM ledger.outbox WHERE subject_id = 'rec_1'") == 1

    # Only settlement records operator events and reads the journal; the watcher may not.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await event_grpc.OperatorEventServiceStub(ledger.watcher_channel).RecordOperatorEvent(
            event_pb.RecordOperatorEventRequest(event=event("rec_2:x"))
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await journal_grpc.JournalServiceStub(ledger.watcher_channel).ListBalances(journal_pb.ListBalancesRequest())
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
