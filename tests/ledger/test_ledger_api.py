"""The ledger's merchant and admin APIs through a real gRPC channel, on a real Postgres."""

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

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.json_format import MessageToDict
from google.rpc import error_details_pb2
from stablegate.admin.v1 import api_key_admin_service_pb2 as keys_pb
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.ledger.v1 import credential_service_pb2 as cred_pb
from stablegate.ledger.v1 import credential_service_pb2_grpc as cred_grpc
from stablegate.merchant.v1 import balance_service_pb2 as balance_pb
from stablegate.merchant.v1 import balance_service_pb2_grpc as balance_grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from ledger.config import LedgerSettings
from ledger.domain.addresses import create2_address, invoice_salt
from ledger.store import invoices as invoice_store
from service_runtime.config import load_settings
from service_runtime.devcerts import DevMesh
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def expect_error(call: Any, code: grpc.StatusCode) -> error_details_pb2.ErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return error_info(caught.value)


async def test_invoice_lifecycle_create_get_list_cancel_with_outbox_events(ledger: Ledger) -> None:
    merchant_id, key = await ledger.merchant_with_key()
    created = await ledger.invoices.CreateInvoice(
        inv_pb.CreateInvoiceRequest(
            request_id="order-1", amount="10.50", order_id="A-1", description="Mug", metadata={"sku": "mug-1"}
        ),
        metadata=ledger.auth(key),
    )
    invoice = created.invoice
    assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert (invoice.amount, invoice.amount_base_units) == ("10.5", str(105 * 10**17))
    expected_address = create2_address(
        ledger.settings.forwarder_factory,
        invoice_salt(invoice.id),
        bytes.fromhex(ledger.settings.forwarder_init_code_hash[2:]),
    )
    assert invoice.deposit_address == expected_address
    assert invoice.payment_uri == (
        f"ethereum:{ledger.settings.token_contract}@97/transfer?address={expected_address}&uint256={105 * 10**17}"
    )
    # The checkout URL is the invoice id and its link token (docs/checkout.md), not the id alone.
    prefix, token = invoice.checkout_url.rsplit("/", 1)
    assert prefix == ledger.settings.checkout_base_url + invoice.id
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
    assert (invoice.expire_time.ToDatetime() - invoice.create_time.ToDatetime()).total_seconds() == pytest.approx(
        900, abs=2
    )

    got = await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice.id), metadata=ledger.auth(key))
    assert got.invoice == invoice
    listed = await ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(order_id="A-1"), metadata=ledger.auth(key))
    assert [i.id for i in listed.invoices] == [invoice.id]

    canceled = await ledger.invoices.CancelInvoice(
        inv_pb.CancelInvoiceRequest(id=invoice.id, reason="customer left"), metadata=ledger.auth(key)
    )
    assert canceled.invoice.status == invoice_pb2.INVOICE_STATUS_CANCELED
    events = await ledger.value(
        "SELECT count(*) FROM ledger.outbox WHERE subject_id = $1 AND event_type = ANY($2)",
        invoice.id,
        ["invoice.created", "invoice.canceled"],
    )
    assert events == 2
    balance = await balance_grpc.BalanceServiceStub(ledger.channel).GetBalance(
        balance_pb.GetBalanceRequest(), metadata=ledger.auth(key)
    )
    assert balance.balance.merchant_id == merchant_id
    assert balance.balance.assets[0].available_base_units == "0"


async def test_credentials_are_checked_and_scoped(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key(scopes=("invoices:read",))
    request = inv_pb.CreateInvoiceRequest(amount="1")
    assert (await expect_error(ledger.invoices.CreateInvoice(request), grpc.StatusCode.UNAUTHENTICATED)).reason == (
        "API_KEY_MISSING"
    )
    malformed = ledger.invoices.CreateInvoice(request, metadata=ledger.auth("sk_test_short"))
    assert (await expect_error(malformed, grpc.StatusCode.UNAUTHENTICATED)).reason == "API_KEY_MALFORMED"
    forged = ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key[:-4] + "AAAA"))
    assert (await expect_error(forged, grpc.StatusCode.UNAUTHENTICATED)).reason == "API_KEY_INVALID"
    lacking = await expect_error(
        ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key)), grpc.StatusCode.PERMISSION_DENIED
    )
    assert (lacking.reason, lacking.metadata["requiredScope"]) == ("SCOPE_MISSING", "invoices:write")
    on_admin = ledger.merchants.ListMerchants(merchants_pb.ListMerchantsRequest(), metadata=ledger.auth(key))
    assert (await expect_error(on_admin, grpc.StatusCode.PERMISSION_DENIED)).reason == "ADMIN_KEY_REQUIRED"
    admin_on_merchant = ledger.invoices.ListInvoices(
        inv_pb.ListInvoicesRequest(), metadata=ledger.auth(ledger.admin_key)
    )
    assert (await expect_error(admin_on_merchant, grpc.StatusCode.PERMISSION_DENIED)).reason == "MERCHANT_KEY_REQUIRED"
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0


async def test_a_revoked_key_stops_working(ledger: Ledger) -> None:
    merchant_id, key = await ledger.merchant_with_key()
    await ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(), metadata=ledger.auth(key))
    listed = await ledger.keys.ListApiKeys(
        keys_pb.ListApiKeysRequest(merchant_id=merchant_id), metadata=ledger.auth(ledger.admin_key)
    )
    assert [k.plaintext_key for k in listed.api_keys] == [""]  # the secret is never shown again
    assert listed.api_keys[0].last_use_time.seconds > 0
    revoked = await ledger.keys.RevokeApiKey(
        keys_pb.RevokeApiKeyRequest(merchant_id=merchant_id, id=listed.api_keys[0].id),
        metadata=ledger.auth(ledger.admin_key),
    )
    assert revoked.api_key.status == keys_pb.API_KEY_STATUS_REVOKED
    call = ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(), metadata=ledger.auth(key))
    assert (await expect_error(call, grpc.StatusCode.UNAUTHENTICATED)).reason == "API_KEY_REVOKED"


async def test_a_suspended_merchant_is_refused(ledger: Ledger) -> None:
    merchant_id, key = await ledger.merchant_with_key()
    await ledger.merchants.SuspendMerchant(
        merchants_pb.SuspendMerchantRequest(id=merchant_id, reason="fraud review"),
        metadata=ledger.auth(ledger.admin_key),
    )
    call = ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(), metadata=ledger.auth(key))
    assert (await expect_error(call, grpc.StatusCode.PERMISSION_DENIED)).reason == "MERCHANT_SUSPENDED"


async def test_the_edge_verifies_keys_through_the_credential_service(ledger: Ledger) -> None:
    merchant_id, key = await ledger.merchant_with_key()
    stub = cred_grpc.CredentialServiceStub(ledger.channel)
    reply = await stub.VerifyCredential(cred_pb.VerifyCredentialRequest(credential=f"Bearer {key}"))
    assert (reply.kind, reply.merchant_id) == (cred_pb.CREDENTIAL_KIND_MERCHANT_KEY, merchant_id)
    assert set(reply.scopes) == {"invoices:read", "invoices:write", "balance:read"}
    bad = stub.VerifyCredential(cred_pb.VerifyCredentialRequest(credential="sk_test_" + "A" * 32))
    assert (await expect_error(bad, grpc.StatusCode.UNAUTHENTICATED)).reason == "API_KEY_INVALID"


async def test_merchants_cannot_see_or_cancel_each_others_invoices(ledger: Ledger) -> None:
    _, key_a = await ledger.merchant_with_key("A")
    _, key_b = await ledger.merchant_with_key("B")
    invoice = (
        await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="5"), metadata=ledger.auth(key_a))
    ).invoice
    get = ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice.id), metadata=ledger.auth(key_b))
    assert (await expect_error(get, grpc.StatusCode.NOT_FOUND)).reason == "INVOICE_NOT_FOUND"
    cancel = ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=invoice.id), metadata=ledger.auth(key_b))
    await expect_error(cancel, grpc.StatusCode.NOT_FOUND)
    listed = await ledger.invoices.ListInvoices(inv_pb.ListInvoicesRequest(), metadata=ledger.auth(key_b))
    assert list(listed.invoices) == []
    still = await ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id=invoice.id), metadata=ledger.auth(key_a))
    assert still.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN


async def test_same_request_id_same_body_returns_the_same_invoice_other_body_conflicts(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    request = inv_pb.CreateInvoiceRequest(request_id="idem-1", amount="3.25", description="x")
    first = await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))
    again = await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))
    assert again.invoice == first.invoice
    other = inv_pb.CreateInvoiceRequest(request_id="idem-1", amount="3.26", description="x")
    info = await expect_error(
        ledger.invoices.CreateInvoice(other, metadata=ledger.auth(key)), grpc.StatusCode.ALREADY_EXISTS
    )
    assert (info.reason, info.metadata["field"]) == ("REQUEST_ID_REUSED", "request_id")
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 1


async def test_the_created_event_is_the_invoice_as_the_api_returned_it(ledger: Ledger) -> None:
    """The invoice and its event are one statement; the event's data is the created invoice's public JSON."""
    _, key = await ledger.merchant_with_key()
    requests = [
        inv_pb.CreateInvoiceRequest(amount="1"),
        inv_pb.CreateInvoiceRequest(
            amount="12.345", description="d", order_id="E-1", metadata={"k": "v"}, customer_reference="c"
        ),
        inv_pb.CreateInvoiceRequest(amount="2", underpayment_tolerance="0.5", redirect_url="https://shop.example/x"),
    ]
    for request in requests:
        created = (await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))).invoice
        rows = await ledger.fetch(
            "SELECT event_id, merchant_id, payload FROM ledger.outbox WHERE subject_id = $1 "
            "AND event_type = 'invoice.created'",
            created.id,
        )
        assert len(rows) == 1
        payload = json.loads(rows[0]["payload"])
        assert (payload["id"], payload["type"], rows[0]["merchant_id"]) == (
            rows[0]["event_id"],
            "invoice.created",
            created.merchant_id,
        )
        assert payload["data"] == MessageToDict(created, preserving_proto_field_name=True)


@pytest.mark.parametrize("micros", [0, 1, 120_000, 123_000, 123_456, 999_999])
async def test_the_database_prints_a_timestamp_as_protobuf_json_does(ledger: Ledger, micros: int) -> None:
    moment = dt.datetime(2026, 11, 25, 23, 7, 5, micros, tzinfo=dt.UTC)
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    printed = await ledger.value(f"SELECT {invoice_store.rfc3339_sql('$1::timestamptz')}", moment)
    assert printed == expected.ToJsonString()


async def test_a_retry_after_its_expire_time_became_invalid_returns_the_stored_invoice(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(ledger.clock() + dt.timedelta(minutes=2))
    request = inv_pb.CreateInvoiceRequest(request_id="late-retry", amount="1", expire_time=expire)
    first = await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))
    ledger.clock.advance(minutes=5)  # the same expire_time is now in the past: a new request would be refused
    again = await ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key))
    assert again.invoice == first.invoice
    fresh = inv_pb.CreateInvoiceRequest(request_id="late-new", amount="1", expire_time=expire)
    info = await expect_error(
        ledger.invoices.CreateInvoice(fresh, metadata=ledger.auth(key)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert info.reason == "EXPIRY_OUT_OF_RANGE"
    assert await ledger.value("SELECT count(*) FROM ledger.outbox WHERE event_type = 'invoice.created'") == 1


async def test_fifty_concurrent_identical_creates_make_exactly_one_invoice(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    request = inv_pb.CreateInvoiceRequest(request_id="burst-1", amount="7", order_id="burst")
    replies = await asyncio.gather(
        *(ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key)) for _ in range(50))
    )
    assert len({r.invoice.id for r in replies}) == 1
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 1
    assert await ledger.value("SELECT count(*) FROM ledger.outbox WHERE event_type = 'invoice.created'") == 1


async def test_a_taken_order_id_is_already_exists(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    await ledger.invoices.CreateInvoice(
        inv_pb.CreateInvoiceRequest(amount="1", order_id="O-9"), metadata=ledger.auth(key)
    )
    dup = ledger.invoices.CreateInvoice(
        inv_pb.CreateInvoiceRequest(amount="2", order_id="O-9"), metadata=ledger.auth(key)
    )
    assert (await expect_error(dup, grpc.StatusCode.ALREADY_EXISTS)).reason == "ORDER_ID_EXISTS"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"amount": "0"}, "amount", "AMOUNT_NOT_POSITIVE"),
        ({"amount": "-1"}, "amount", "AMOUNT_INVALID"),
        ({"amount": "ten"}, "amount", "AMOUNT_INVALID"),
        ({"amount": "1e5"}, "amount", "AMOUNT_INVALID"),
        ({"amount": "0.0000000000000000001"}, "amount", "AMOUNT_TOO_PRECISE"),
        ({"amount": "9" * 80}, "amount", "AMOUNT_TOO_LARGE"),
        ({"amount": ""}, "amount", "FIELD_REQUIRED"),
        ({"amount": "1", "metadata": {f"k{i}": "v" for i in range(21)}}, "metadata", "METADATA_TOO_LARGE"),
        ({"amount": "1", "metadata": {"k": "v" * 501}}, "metadata", "METADATA_TOO_LARGE"),
        ({"amount": "1", "asset": "BNB"}, "asset", "ASSET_UNSUPPORTED"),
        ({"amount": "1", "redirect_url": "javascript:alert(1)"}, "redirect_url", "URL_INVALID"),
        ({"amount": "1", "underpayment_tolerance": "1"}, "underpayment_tolerance", "TOLERANCE_TOO_LARGE"),
    ],
)
async def test_bad_invoice_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    ledger: Ledger, fields: dict[str, Any], field: str, reason: str
) -> None:
    _, key = await ledger.merchant_with_key()
    call = ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(**fields), metadata=ledger.auth(key))
    info = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert (info.metadata["field"], info.reason) == (field, reason)
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.outbox") == 0


async def test_bad_ttl_unknown_invoice_and_bad_page_token(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    far = inv_pb.CreateInvoiceRequest(amount="1")
    far.expire_time.seconds = 2**62
    info = await expect_error(
        ledger.invoices.CreateInvoice(far, metadata=ledger.auth(key)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (info.reason, info.metadata["field"]) == ("TIME_INVALID", "expire_time")
    huge = inv_pb.CreateInvoiceRequest(amount="1")
    huge.monitoring_window.seconds = 2**62
    info = await expect_error(
        ledger.invoices.CreateInvoice(huge, metadata=ledger.auth(key)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert info.metadata["field"] == "monitoring_window"
    request = inv_pb.CreateInvoiceRequest(amount="1")
    request.ttl.FromSeconds(30)
    info = await expect_error(
        ledger.invoices.CreateInvoice(request, metadata=ledger.auth(key)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert info.metadata["field"] == "ttl"
    unknown = ledger.invoices.GetInvoice(inv_pb.GetInvoiceRequest(id="inv_" + "x" * 24), metadata=ledger.auth(key))
    assert (await expect_error(unknown, grpc.StatusCode.NOT_FOUND)).metadata["field"] == "id"
    bad_token = ledger.invoices.ListInvoices(
        inv_pb.ListInvoicesRequest(page_token="garbage!"), metadata=ledger.auth(key)
    )
    assert (await expect_error(bad_token, grpc.StatusCode.INVALID_ARGUMENT)).metadata["field"] == "page_token"
    bad_address = ledger.merchants.OnboardMerchant(
        merchants_pb.OnboardMerchantRequest(name="X", contact_email="a@b.c", payout_address="0x1234"),
        metadata=ledger.auth(ledger.admin_key),
    )
    assert (await expect_error(bad_address, grpc.StatusCode.INVALID_ARGUMENT)).metadata["field"] == "payout_address"
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0
    assert await ledger.value("SELECT count(*) FROM ledger.merchants") == 1


async def test_list_pages_through_every_invoice_once_newest_first(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    made = [
        (
            await ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount=str(i + 1)), metadata=ledger.auth(key)
            )
        ).invoice.id
        for i in range(5)
    ]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await ledger.invoices.ListInvoices(
            inv_pb.ListInvoicesRequest(page_size=2, page_token=token), metadata=ledger.auth(key)
        )
        seen += [i.id for i in page.invoices]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(made))
    assert pages == 3
    filtered = ledger.invoices.ListInvoices(
        inv_pb.ListInvoicesRequest(page_size=2, page_token=token or "", status=invoice_pb2.INVOICE_STATUS_PAID),
        metadata=ledger.auth(key),
    )
    assert list((await filtered).invoices) == []


def test_admin_keys_create_prints_a_working_key_once(ledger_db: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "admin",
            "keys",
            "create",
            "--name",
            "ops",
            "--database-url",
            ledger_db,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("ak_")
    assert len(key) == 35
    assert "shown only once" in result.stderr
    stored = asyncio.run(_stored_admin_hashes(ledger_db))
    assert key.encode() not in b"".join(stored)


async def _stored_admin_hashes(url: str) -> list[bytes]:
    conn = await asyncpg.connect(url)
    try:
        return [bytes(r["secret_hash"]) for r in await conn.fetch("SELECT secret_hash FROM ledger.admin_keys")]
    finally:
        await conn.close()


def test_token_and_factory_addresses_are_checksummed_whatever_case_is_configured(
    monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh
) -> None:
    # BSC-USD's mainnet address, on mainnet (the ledger refuses it on any other chain).
    monkeypatch.setenv("STABLEGATE_LEDGER_CHAIN_ID", "56")
    monkeypatch.setenv("STABLEGATE_LEDGER_TOKEN_CONTRACT", "0x55d398326f99059ff775485246999027b3197955")
    for key, value in mesh_pki.files("ledger").env("ledger").items():
        monkeypatch.setenv(key, value)
    settings = load_settings(LedgerSettings)
    assert settings.token_contract == "0x55d398326f99059fF775485246999027B3197955"
