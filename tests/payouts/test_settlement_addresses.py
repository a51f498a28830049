"""Settlement addresses on a real Postgres: registered, confirmed by the emailed code or an admin, usable only
after the cooling-off period (on the ledger's injectable clock), every change an event."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import grpc
import pytest
from stablegate.admin.v1 import merchant_admin_service_pb2 as admin_pb
from stablegate.merchant.v1 import settlement_address_service_pb2 as pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as pb_grpc

from ledger.domain.notifications import Preferences, check_preferences, messages
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from tests.webhooks.conftest import webhook_ledger
from tests.webhooks.test_notifications import smtp_server

COOLING_OFF = 3600
SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
ADDRESS = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"
STATUS = pb.SettlementAddressStatus


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db, settlement_address_cooling_off_seconds=COOLING_OFF) as running:
        yield running


def stub(ledger: Ledger) -> pb_grpc.SettlementAddressServiceAsyncStub:
    return pb_grpc.SettlementAddressServiceStub(ledger.channel)


async def register(
    ledger: Ledger, key: str, address: str = ADDRESS, idempotency_key: str = "", label: str = "Treasury wallet"
) -> pb.SettlementAddress:
    metadata = ledger.auth(key) + ((("idempotency-key", idempotency_key),) if idempotency_key else ())
    reply = await stub(ledger).CreateSettlementAddress(
        pb.CreateSettlementAddressRequest(address=address, label=label), metadata=metadata
    )
    return reply.settlement_address


async def emailed_code(ledger: Ledger, address_id: str) -> str:
    """The code in the confirmation email queued for the address (what the notifier sends)."""
    rows = await ledger.fetch(
        "SELECT n.body FROM ledger.notifications n JOIN ledger.outbox o ON o.event_id = n.event_id "
        "WHERE o.subject_id = $1 AND n.channel = 'email'",
        address_id,
    )
    assert len(rows) == 1
    found = re.search(r"Confirmation code: (\d{8})", rows[0]["body"])
    assert found is not None
    return found.group(1)


async def status_of(ledger: Ledger, key: str, address_id: str) -> int:
    reply = await stub(ledger).GetSettlementAddress(
        pb.GetSettlementAddressRequest(id=address_id), metadata=ledger.auth(key)
    )
    return reply.settlement_address.status


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_the_code_goes_by_email_and_a_confirmed_address_is_usable_only_after_its_cooling_off(
    ledger_db: str,
) -> None:
    async with (
        smtp_server() as (mailbox, smtp_port),
        webhook_ledger(
            ledger_db,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            email_from="alerts@gateway.example",
            settlement_address_cooling_off_seconds=COOLING_OFF,
        ) as wl,
    ):
        ledger = wl.ledger
        _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
        created = await register(ledger, key)
        assert created.status == STATUS.SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION
        assert created.cooling_off_end_time.ToDatetime().timestamp() == pytest.approx(
            created.create_time.ToDatetime().timestamp() + COOLING_OFF
        )
        await asyncio.wait_for(mailbox.arrived.wait(), 15)
        envelope, message = mailbox.messages[0]
        assert envelope.rcpt_tos == ["ops@shop.example"]
        body = str(message.get_payload())
        found = re.search(r"Confirmation code: (\d{8})", body)
        assert found is not None and ADDRESS in body
        code = found.group(1)
        wrong = "0" * 8 if code != "0" * 8 else "1" * 8
        bad = await refused(
            stub(ledger).ConfirmSettlementAddress(
                pb.ConfirmSettlementAddressRequest(id=created.id, code=wrong), metadata=ledger.auth(key)
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (error_info(bad).reason, error_info(bad).metadata["attemptsLeft"]) == ("CONFIRMATION_CODE_WRONG", "4")
        assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION
        confirmed = (
            await stub(ledger).ConfirmSettlementAddress(
                pb.ConfirmSettlementAddressRequest(id=created.id, code=code), metadata=ledger.auth(key)
            )
        ).settlement_address
        assert confirmed.status == STATUS.SETTLEMENT_ADDRESS_STATUS_COOLING_OFF
        assert confirmed.confirmed_by == pb.SETTLEMENT_ADDRESS_CONFIRMATION_EMAIL_CODE
        ledger.clock.advance(seconds=COOLING_OFF - 1)
        assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_COOLING_OFF
        ledger.clock.advance(seconds=1)
        assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_ACTIVE
        assert await ledger.events(created.id) == ["settlement_address.created", "settlement_address.confirmed"]
        payloads = await ledger.fetch("SELECT payload FROM ledger.outbox WHERE subject_id = $1", created.id)
        assert all(code not in r["payload"] for r in payloads)  # the code travels by email only
        assert json.loads(payloads[0]["payload"])["data"]["address"] == ADDRESS


async def test_a_replayed_registration_returns_the_first_and_another_under_its_key_or_address_is_refused(
    ledger: Ledger,
) -> None:
    _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    first = await register(ledger, key, idempotency_key="reg-1")
    again = await register(ledger, key, idempotency_key="reg-1")
    assert again.id == first.id
    reused = await refused(register(ledger, key, idempotency_key="reg-1", label="other"))
    assert (reused.code(), error_info(reused).reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    twice = await refused(register(ledger, key, address=ADDRESS.lower(), idempotency_key="reg-2"))
    assert (twice.code(), error_info(twice).reason) == (grpc.StatusCode.ALREADY_EXISTS, "SETTLEMENT_ADDRESS_EXISTS")
    assert await ledger.value("SELECT count(*) FROM ledger.settlement_addresses") == 1
    assert await ledger.value("SELECT count(*) FROM ledger.notifications") == 1
    assert await ledger.events(first.id) == ["settlement_address.created"]


async def test_after_too_many_wrong_codes_only_an_admin_can_confirm_and_the_cooling_off_still_applies(
    ledger: Ledger,
) -> None:
    _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    created = await register(ledger, key)
    code = await emailed_code(ledger, created.id)
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    for _ in range(5):
        await refused(
            stub(ledger).ConfirmSettlementAddress(
                pb.ConfirmSettlementAddressRequest(id=created.id, code=wrong), metadata=ledger.auth(key)
            )
        )
    exhausted = await refused(
        stub(ledger).ConfirmSettlementAddress(
            pb.ConfirmSettlementAddressRequest(id=created.id, code=code), metadata=ledger.auth(key)
        )
    )
    assert (exhausted.code(), error_info(exhausted).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONFIRMATION_ATTEMPTS_EXHAUSTED",
    )
    approved = (
        await ledger.merchants.ApproveSettlementAddress(
            admin_pb.ApproveSettlementAddressRequest(
                merchant_id=created.merchant_id, id=created.id, reason="called the merchant's CFO"
            ),
            metadata=ledger.auth(ledger.admin_key),
        )
    ).settlement_address
    assert approved.status == STATUS.SETTLEMENT_ADDRESS_STATUS_COOLING_OFF
    assert approved.confirmed_by == pb.SETTLEMENT_ADDRESS_CONFIRMATION_ADMIN
    row = (await ledger.fetch("SELECT approved_by, approve_reason FROM ledger.settlement_addresses"))[0]
    assert (row["approved_by"], row["approve_reason"]) == ("adm_test", "called the merchant's CFO")
    logged = await ledger.fetch(
        "SELECT actor, subject FROM ledger.audit_events WHERE action = 'settlement_address.approve'"
    )
    assert [(r["actor"], r["subject"]) for r in logged] == [
        ("admin_key:adm_test", f"merchants/{created.merchant_id}/settlement_addresses/{created.id}")
    ]
    ledger.clock.advance(seconds=COOLING_OFF)
    assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_ACTIVE


async def test_a_code_that_is_not_eight_digits_is_refused_and_not_counted_as_an_attempt(ledger: Ledger) -> None:
    _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    created = await register(ledger, key)
    for malformed in ("1234", "12345678a", "abcdefgh", "1234 5678"):
        bad = await refused(
            stub(ledger).ConfirmSettlementAddress(
                pb.ConfirmSettlementAddressRequest(id=created.id, code=malformed), metadata=ledger.auth(key)
            )
        )
        assert (bad.code(), error_info(bad).reason, error_info(bad).metadata["field"]) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_INVALID",
            "code",
        )
    assert await ledger.value("SELECT code_attempts FROM ledger.settlement_addresses") == 0
    code = await emailed_code(ledger, created.id)
    confirmed = await stub(ledger).ConfirmSettlementAddress(
        pb.ConfirmSettlementAddressRequest(id=created.id, code=f" {code} "), metadata=ledger.auth(key)
    )
    assert confirmed.settlement_address.status == STATUS.SETTLEMENT_ADDRESS_STATUS_COOLING_OFF


async def test_an_expired_code_is_refused(ledger_db: str) -> None:
    async with running_ledger(ledger_db, settlement_address_code_ttl_seconds=600) as ledger:
        _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
        created = await register(ledger, key)
        code = await emailed_code(ledger, created.id)
        ledger.clock.advance(seconds=600)
        expired = await refused(
            stub(ledger).ConfirmSettlementAddress(
                pb.ConfirmSettlementAddressRequest(id=created.id, code=code), metadata=ledger.auth(key)
            )
        )
        assert (expired.code(), error_info(expired).reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CONFIRMATION_CODE_EXPIRED",
        )
        assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION


async def test_a_revoked_address_stays_revoked_and_can_be_registered_anew(ledger: Ledger) -> None:
    _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    created = await register(ledger, key)
    code = await emailed_code(ledger, created.id)
    revoke = stub(ledger).RevokeSettlementAddress
    revoked = (
        await revoke(pb.RevokeSettlementAddressRequest(id=created.id), metadata=ledger.auth(key))
    ).settlement_address
    assert revoked.status == STATUS.SETTLEMENT_ADDRESS_STATUS_REVOKED
    await revoke(pb.RevokeSettlementAddressRequest(id=created.id), metadata=ledger.auth(key))  # changes nothing
    late = await refused(
        stub(ledger).ConfirmSettlementAddress(
            pb.ConfirmSettlementAddressRequest(id=created.id, code=code), metadata=ledger.auth(key)
        )
    )
    assert error_info(late).reason == "SETTLEMENT_ADDRESS_REVOKED"
    ledger.clock.advance(seconds=COOLING_OFF)
    assert await status_of(ledger, key, created.id) == STATUS.SETTLEMENT_ADDRESS_STATUS_REVOKED
    assert await ledger.events(created.id) == ["settlement_address.created", "settlement_address.revoked"]
    anew = await register(ledger, key)
    assert anew.id != created.id and anew.status == STATUS.SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION


async def test_bad_registrations_and_other_merchants_addresses_are_refused_and_change_nothing(ledger: Ledger) -> None:
    _merchant, key = await ledger.merchant_with_key(scopes=SCOPES)
    _other, other_key = await ledger.merchant_with_key("Other shop", scopes=SCOPES)
    for address, reason in [
        ("0x1234", "ADDRESS_INVALID"),
        ("0x" + "0" * 40, "ADDRESS_ZERO"),
        (ADDRESS[:-1] + "b", "ADDRESS_CHECKSUM_MISMATCH"),
        ("", "FIELD_REQUIRED"),
    ]:
        bad = await refused(register(ledger, key, address=address))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (error_info(bad).reason, error_info(bad).metadata["field"]) == (reason, "address")
    long_label = await refused(register(ledger, key, label="x" * 101))
    assert error_info(long_label).metadata["field"] == "label"
    assert await ledger.value("SELECT count(*) FROM ledger.settlement_addresses") == 0
    created = await register(ledger, key)
    code = await emailed_code(ledger, created.id)
    stranger = await refused(
        stub(ledger).ConfirmSettlementAddress(
            pb.ConfirmSettlementAddressRequest(id=created.id, code=code), metadata=ledger.auth(other_key)
        )
    )
    assert (stranger.code(), error_info(stranger).reason) == (grpc.StatusCode.NOT_FOUND, "SETTLEMENT_ADDRESS_NOT_FOUND")
    listed = await stub(ledger).ListSettlementAddresses(
        pb.ListSettlementAddressesRequest(), metadata=ledger.auth(other_key)
    )
    assert list(listed.settlement_addresses) == []
    read_only = (await ledger.merchant_with_key("Reader", scopes=("payouts:read",)))[1]
    denied = await refused(register(ledger, read_only))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_new_settlement_address_is_a_critical_event_a_merchant_may_get_by_sms() -> None:
    prefs = Preferences("mer_1", "", (), "+15551234567", ("settlement_address.created",))
    check_preferences([], ["settlement_address.created"], "+15551234567")
    data = {"id": "sad_1", "address": ADDRESS}
    sent = messages(prefs, "ops@shop.example", "evt_1", "settlement_address.created", data)
    assert [(m.channel, m.recipient) for m in sent] == [("sms", "+15551234567")]
    assert ADDRESS in sent[0].body and "revoke it (sad_1)" in sent[0].body
