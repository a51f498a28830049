"""On-demand payouts, ledger side, on a real Postgres: quoted, accepted only to an ACTIVE settlement address and
only when the available balance covers amount plus fee (reserved from acceptance), canceled while queued, and
executed by settlement's internal RPCs: broadcast, confirmed (paid from the treasury) or failed (released)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2 as ledger_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as ledger_grpc
from stablegate.merchant.v1 import balance_service_pb2 as balance_pb
from stablegate.merchant.v1 import balance_service_pb2_grpc as balance_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import payout_pb2
from stablegate.merchant.v1 import payout_service_pb2 as pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as pb_grpc
from stablegate.merchant.v1 import settlement_address_service_pb2 as sa_pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as sa_grpc

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18
FEE = UNIT // 2  # 0.5 USDT per payout
COOLING_OFF = 3600
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
DESTINATION = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"
TX = "0x" + "5e" * 32
STATUS = payout_pb2.PayoutStatus


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(
        ledger_db, settlement_address_cooling_off_seconds=COOLING_OFF, payout_fee_base_units=FEE
    ) as running:
        yield running


@pytest.fixture
async def settlement(ledger: Ledger) -> AsyncIterator[ledger_grpc.PayoutLedgerServiceAsyncStub]:
    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
        yield ledger_grpc.PayoutLedgerServiceStub(channel)


def payouts(ledger: Ledger) -> pb_grpc.PayoutServiceAsyncStub:
    return pb_grpc.PayoutServiceStub(ledger.channel)


async def funded_merchant(ledger: Ledger, amount: str = "100", *, active: bool = True) -> tuple[str, str]:
    """A merchant with `amount` credited and (if `active`) an ACTIVE settlement address for DESTINATION."""
    merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    invoice = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount=amount), metadata=ledger.auth(key))
    ).invoice
    await ledger.observe(invoice.deposit_address, int(amount) * UNIT, "FINAL")
    addresses = sa_grpc.SettlementAddressServiceStub(ledger.channel)
    created = (
        await addresses.CreateSettlementAddress(
            sa_pb.CreateSettlementAddressRequest(address=DESTINATION), metadata=ledger.auth(key)
        )
    ).settlement_address
    if active:
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
        ledger.clock.advance(seconds=COOLING_OFF)
    return merchant, key


async def create(ledger: Ledger, key: str, amount: str, **fields: Any) -> payout_pb2.Payout:
    metadata = ledger.auth(key)
    if "idempotency_key" in fields:
        metadata += (("idempotency-key", fields.pop("idempotency_key")),)
    request = pb.CreatePayoutRequest(
        destination_address=fields.pop("destination", DESTINATION), amount=amount, **fields
    )
    return (await payouts(ledger).CreatePayout(request, metadata=metadata)).payout


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def platform(ledger: Ledger, kind: str) -> int:
    return int(await ledger.value("SELECT balance FROM ledger.accounts WHERE code = $1", f"{kind}:USDT") or 0)


async def test_a_quoted_payout_reserves_amount_plus_fee_and_confirmation_pays_it_from_the_treasury(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await funded_merchant(ledger)
    quote = (
        await payouts(ledger).GetPayoutQuote(pb.GetPayoutQuoteRequest(amount="40"), metadata=ledger.auth(key))
    ).payout_quote
    assert (quote.fee, quote.total, quote.available, quote.covered) == ("0.5", "40.5", "100", True)
    payout = await create(ledger, key, "40", idempotency_key="po-1", description="November")
    assert payout.status == STATUS.PAYOUT_STATUS_QUEUED
    assert (payout.amount, payout.fee, payout.total) == ("40", "0.5", "40.5")
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT - 40 * UNIT - FEE,
        "merchant_reserved": 40 * UNIT + FEE,
    }
    balance = await balance_grpc.BalanceServiceStub(ledger.channel).GetBalance(
        balance_pb.GetBalanceRequest(), metadata=ledger.auth(key)
    )
    assert (balance.balance.assets[0].available, balance.balance.assets[0].reserved) == ("59.5", "40.5")
    queued = await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())
    assert [p.id for p in queued.payouts] == [payout.id]
    sent = (
        await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=payout.id, tx_hash=TX))
    ).payout
    assert (sent.status, sent.tx_hash) == (STATUS.PAYOUT_STATUS_BROADCAST, TX)
    assert list((await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())).payouts) == []
    late_cancel = await refused(
        payouts(ledger).CancelPayout(pb.CancelPayoutRequest(id=payout.id), metadata=ledger.auth(key))
    )
    assert (late_cancel.code(), error_info(late_cancel).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYOUT_NOT_CANCELABLE",
    )
    confirm = ledger_pb.MarkPayoutConfirmedRequest(payout_id=payout.id, tx_hash=TX, block_number=123)
    done = (await settlement.MarkPayoutConfirmed(confirm)).payout
    again = (await settlement.MarkPayoutConfirmed(confirm)).payout  # a repeated report changes nothing
    assert done.status == again.status == STATUS.PAYOUT_STATUS_CONFIRMED and done.block_number == 123
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT - 40 * UNIT - FEE,
        "merchant_reserved": 0,
    }
    assert await platform(ledger, "treasury") == -40 * UNIT  # no sweep booked in this test: the treasury owes it
    assert await platform(ledger, "platform_fees") == FEE
    assert await ledger.events(payout.id) == ["payout.created", "payout.broadcast", "payout.confirmed"]
    kinds = await ledger.fetch(
        "SELECT kind FROM ledger.journal_transactions WHERE request_id LIKE $1 ORDER BY id", f"{payout.id}:%"
    )
    assert [r["kind"] for r in kinds] == ["payout_reserved", "payout_confirmed"]
    await ledger.assert_books_are_sound()


async def test_a_payout_beyond_the_available_balance_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    merchant, key = await funded_merchant(ledger, "10")
    before = await ledger.balances(merchant)
    # 10 available: 9.5 + 0.5 fee fits exactly, 9.500000000000000001 does not.
    too_much = await refused(create(ledger, key, "9.500000000000000001"))
    assert (too_much.code(), error_info(too_much).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_BALANCE",
    )
    assert error_info(too_much).metadata["availableBaseUnits"] == str(10 * UNIT)
    assert await ledger.balances(merchant) == before
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0
    exact = await create(ledger, key, "9.5")
    assert exact.status == STATUS.PAYOUT_STATUS_QUEUED
    assert (await ledger.balances(merchant))["merchant_available"] == 0
    await ledger.assert_books_are_sound()


async def test_two_concurrent_payouts_that_together_overdraw_exactly_one_is_accepted(ledger: Ledger) -> None:
    merchant, key = await funded_merchant(ledger, "100")
    results = await asyncio.gather(
        *(create(ledger, key, "60", idempotency_key=f"race-{n}") for n in range(2)), return_exceptions=True
    )
    accepted = [r for r in results if isinstance(r, payout_pb2.Payout)]
    rejected = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(accepted) == 1 and len(rejected) == 1
    assert error_info(rejected[0]).reason == "INSUFFICIENT_BALANCE"
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 40 * UNIT - FEE,
        "merchant_reserved": 60 * UNIT + FEE,
    }
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 1
    await ledger.assert_books_are_sound()


async def test_a_fresh_settlement_address_cannot_receive_a_payout_before_its_cooling_off_ends(ledger: Ledger) -> None:
    merchant, key = await funded_merchant(ledger, active=False)
    pending = await refused(create(ledger, key, "10"))
    assert (pending.code(), error_info(pending).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SETTLEMENT_ADDRESS_NOT_USABLE",
    )
    assert error_info(pending).metadata["status"] == "PENDING_CONFIRMATION"
    unknown = await refused(create(ledger, key, "10", destination="0x" + "12" * 20))
    assert error_info(unknown).reason == "SETTLEMENT_ADDRESS_NOT_REGISTERED"
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 0
    assert (await ledger.balances(merchant))["merchant_available"] == 100 * UNIT


async def test_a_canceled_or_failed_payout_releases_its_reservation(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await funded_merchant(ledger)
    first = await create(ledger, key, "30")
    canceled = (
        await payouts(ledger).CancelPayout(
            pb.CancelPayoutRequest(id=first.id, reason="typo"), metadata=ledger.auth(key)
        )
    ).payout
    assert canceled.status == STATUS.PAYOUT_STATUS_CANCELED
    again = (await payouts(ledger).CancelPayout(pb.CancelPayoutRequest(id=first.id), metadata=ledger.auth(key))).payout
    assert again.status == STATUS.PAYOUT_STATUS_CANCELED  # changes nothing
    canceled_send = await refused(
        settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=first.id, tx_hash=TX))
    )
    assert error_info(canceled_send).reason == "PAYOUT_STATE_CONFLICT"
    second = await create(ledger, key, "30")
    await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=second.id, tx_hash=TX))
    failed = (
        await settlement.MarkPayoutFailed(
            ledger_pb.MarkPayoutFailedRequest(payout_id=second.id, failure_reason="reverted")
        )
    ).payout
    assert (failed.status, failed.failure_reason) == (STATUS.PAYOUT_STATUS_FAILED, "reverted")
    wrong = await refused(
        settlement.MarkPayoutConfirmed(
            ledger_pb.MarkPayoutConfirmedRequest(payout_id=second.id, tx_hash=TX, block_number=9)
        )
    )
    assert error_info(wrong).reason == "PAYOUT_STATE_CONFLICT"
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT,
        "merchant_reserved": 0,
    }
    assert await platform(ledger, "platform_fees") == 0
    assert await ledger.events(first.id) == ["payout.created", "payout.canceled"]
    assert await ledger.events(second.id) == ["payout.created", "payout.broadcast", "payout.failed"]
    listed = await payouts(ledger).ListPayouts(
        pb.ListPayoutsRequest(status=STATUS.PAYOUT_STATUS_FAILED), metadata=ledger.auth(key)
    )
    assert [p.id for p in listed.payouts] == [second.id]
    await ledger.assert_books_are_sound()


async def test_a_replayed_payout_is_the_first_and_bad_requests_are_refused_naming_the_field(ledger: Ledger) -> None:
    merchant, key = await funded_merchant(ledger)
    first = await create(ledger, key, "10", idempotency_key="same")
    assert (await create(ledger, key, "10", idempotency_key="same")).id == first.id
    reused = await refused(create(ledger, key, "11", idempotency_key="same"))
    assert (reused.code(), error_info(reused).reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    for amount, field in [("", "amount"), ("-1", "amount"), ("0.0000000000000000001", "amount"), ("abc", "amount")]:
        bad = await refused(create(ledger, key, amount))
        assert (bad.code(), error_info(bad).metadata["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    bad_address = await refused(create(ledger, key, "1", destination="0x1234"))
    assert error_info(bad_address).metadata["field"] == "destination_address"
    capped = await refused(create(ledger, key, "1", max_fee="0.1"))
    assert (capped.code(), error_info(capped).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYOUT_FEE_ABOVE_MAX")
    assert await ledger.value("SELECT count(*) FROM ledger.payouts") == 1
    assert (await ledger.balances(merchant))["merchant_reserved"] == 10 * UNIT + FEE


async def test_only_settlement_may_execute_payouts(ledger: Ledger) -> None:
    _merchant, key = await funded_merchant(ledger)
    payout = await create(ledger, key, "1")
    as_watcher = ledger_grpc.PayoutLedgerServiceStub(ledger.watcher_channel)
    denied = await refused(
        as_watcher.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=payout.id, tx_hash=TX))
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    as_edge = ledger_grpc.PayoutLedgerServiceStub(ledger.channel)
    denied = await refused(as_edge.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest(), metadata=ledger.auth(key)))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await ledger.events(payout.id) == ["payout.created"]


async def test_a_claimed_payout_cannot_be_canceled_and_a_replacement_hash_is_kept_and_the_landed_one_confirmed(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, key = await funded_merchant(ledger)
    first, second = await create(ledger, key, "10"), await create(ledger, key, "20")
    canceled = await create(ledger, key, "5")
    await payouts(ledger).CancelPayout(pb.CancelPayoutRequest(id=canceled.id), metadata=ledger.auth(key))
    not_queued = await refused(
        settlement.ClaimPayout(ledger_pb.ClaimPayoutRequest(payout_id=canceled.id, batch_id="pob_1"))
    )
    assert (error_info(not_queued).reason, error_info(not_queued).metadata["status"]) == (
        "PAYOUT_STATE_CONFLICT",
        "CANCELED",
    )
    no_batch = await refused(settlement.ClaimPayout(ledger_pb.ClaimPayoutRequest(payout_id=first.id)))
    assert (no_batch.code(), error_info(no_batch).reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED")
    for payout in (first, second):
        claim = ledger_pb.ClaimPayoutRequest(payout_id=payout.id, batch_id="pob_1")
        claimed = (await settlement.ClaimPayout(claim)).payout
        assert claimed.status == STATUS.PAYOUT_STATUS_QUEUED
        assert (await settlement.ClaimPayout(claim)).payout.status == STATUS.PAYOUT_STATUS_QUEUED  # again: no change
    late = await refused(payouts(ledger).CancelPayout(pb.CancelPayoutRequest(id=first.id), metadata=ledger.auth(key)))
    assert (late.code(), error_info(late).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYOUT_NOT_CANCELABLE")

    # One batch transaction carries both payouts; a fee bump replaces it; the original lands.
    bumped = "0x" + "7b" * 32
    for payout in (first, second):
        await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=payout.id, tx_hash=TX))
        replaced = (
            await settlement.MarkPayoutBroadcast(
                ledger_pb.MarkPayoutBroadcastRequest(payout_id=payout.id, tx_hash=bumped)
            )
        ).payout
        assert (replaced.status, replaced.tx_hash) == (STATUS.PAYOUT_STATUS_BROADCAST, bumped)
        done = (
            await settlement.MarkPayoutConfirmed(
                ledger_pb.MarkPayoutConfirmedRequest(payout_id=payout.id, tx_hash=TX, block_number=77)
            )
        ).payout
        assert (done.status, done.tx_hash, done.block_number) == (STATUS.PAYOUT_STATUS_CONFIRMED, TX, 77)
        assert await ledger.events(payout.id) == ["payout.created", "payout.broadcast", "payout.confirmed"]
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT - 30 * UNIT - 2 * FEE,
        "merchant_reserved": 0,
    }
    await ledger.assert_books_are_sound()


async def test_the_key_owner_is_the_payouts_initiator_and_a_held_payout_is_pending_approval_until_sent(
    ledger: Ledger, settlement: ledger_grpc.PayoutLedgerServiceAsyncStub
) -> None:
    merchant, plain_key = await funded_merchant(ledger)
    owner = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"
    admin = ledger.auth(ledger.admin_key)
    mixed = owner[:2] + owner[2:].swapcase()  # mixed case that breaks the checksum
    bad = await refused(
        ledger.keys.IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=merchant, scopes=list(SCOPES), owner_address=mixed), metadata=admin
        )
    )
    assert (bad.code(), error_info(bad).reason, error_info(bad).metadata["field"]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ADDRESS_CHECKSUM_MISMATCH",
        "owner_address",
    )
    listed = await ledger.keys.ListApiKeys(keys_pb.ListApiKeysRequest(merchant_id=merchant), metadata=admin)
    assert len(listed.api_keys) == 1  # the refusal stored nothing
    issued = (
        await ledger.keys.IssueApiKey(
            keys_pb.IssueApiKeyRequest(merchant_id=merchant, scopes=list(SCOPES), owner_address=owner.lower()),
            metadata=admin,
        )
    ).api_key
    assert issued.owner_address == owner  # stored checksummed
    owned = await create(ledger, issued.plaintext_key, "30")
    ledger.clock.advance(seconds=1)  # oldest first: the listing orders by creation time
    anonymous = await create(ledger, plain_key, "20")
    queued = await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())
    assert [p.id for p in queued.payouts] == [owned.id, anonymous.id]
    assert dict(queued.initiator_addresses) == {owned.id: owner}  # a key without an owner names nobody

    hold = ledger_pb.MarkPayoutPendingApprovalRequest(payout_id=owned.id, approval_id="apr_1")
    held = (await settlement.MarkPayoutPendingApproval(hold)).payout
    assert (held.status, held.approval_id) == (STATUS.PAYOUT_STATUS_PENDING_APPROVAL, "apr_1")
    assert (await settlement.MarkPayoutPendingApproval(hold)).payout.status == STATUS.PAYOUT_STATUS_PENDING_APPROVAL
    no_id = await refused(
        settlement.MarkPayoutPendingApproval(ledger_pb.MarkPayoutPendingApprovalRequest(payout_id=owned.id))
    )
    assert (no_id.code(), error_info(no_id).reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED")
    await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=anonymous.id, tx_hash=TX))
    sent = await refused(
        settlement.MarkPayoutPendingApproval(
            ledger_pb.MarkPayoutPendingApprovalRequest(payout_id=anonymous.id, approval_id="apr_2")
        )
    )
    assert (error_info(sent).reason, error_info(sent).metadata["status"]) == ("PAYOUT_STATE_CONFLICT", "BROADCAST")
    assert [p.id for p in (await settlement.ListQueuedPayouts(ledger_pb.ListQueuedPayoutsRequest())).payouts] == []
    approved = (
        await settlement.MarkPayoutBroadcast(ledger_pb.MarkPayoutBroadcastRequest(payout_id=owned.id, tx_hash=TX))
    ).payout
    assert (approved.status, approved.approval_id) == (STATUS.PAYOUT_STATUS_BROADCAST, "apr_1")
    assert await ledger.events(owned.id) == ["payout.created", "payout.pending_approval", "payout.broadcast"]
    assert await ledger.balances(merchant) == {
        "merchant_pending": 0,
        "merchant_available": 100 * UNIT - 50 * UNIT - 2 * FEE,
        "merchant_reserved": 50 * UNIT + 2 * FEE,
    }
