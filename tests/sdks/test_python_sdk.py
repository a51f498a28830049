"""The Python SDK (sdks/python) against the live edge: invoices, pagination, a payout quote, typed errors with
their reason codes, retries that keep the Idempotency-Key, and webhooks signed by the gateway's dispatcher."""

from __future__ import annotations

import json
import time

import pytest
from stablegate_sdk import (
    AsyncStablegate,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    ServiceUnavailableError,
    Stablegate,
    TimeoutError,
    WebhookVerificationError,
    WebhookVerifier,
    verify_webhook,
)
from stablegate_sdk.models import InvoiceStatus

from tests.edge.conftest import Stack
from tests.sdks.conftest import FlakyProxy, WebhookReceiver, base_url


def client(stack: Stack, key: str, **options: object) -> Stablegate:
    return Stablegate(key, base_url=base_url(stack), **options)  # type: ignore[arg-type]


def test_create_get_list_every_page_and_cancel(sdk_stack: Stack, merchant_key: str) -> None:
    with client(sdk_stack, merchant_key) as sg:
        made = [sg.invoices.create("10.50", order_id=f"order-{i}", description="2 coffees") for i in range(5)]
        assert all(inv.status == InvoiceStatus.INVOICE_STATUS_OPEN for inv in made)
        assert (made[0].amount, made[0].amount_base_units) == ("10.5", "10500000000000000000")
        got = sg.invoices.get(str(made[2].id))
        assert (got.id, got.order_id, got.deposit_address) == (made[2].id, "order-2", made[2].deposit_address)

        first = sg.invoices.list_page(page_size=2)
        assert len(first.invoices or []) == 2 and first.next_page_token
        listed = [inv.id for inv in sg.invoices.list(page_size=2)]
        assert listed == [inv.id for inv in reversed(made)], "every invoice once, newest first, across 3 pages"

        canceled = sg.invoices.cancel(str(made[0].id), reason="customer changed their mind")
        assert canceled.status == InvoiceStatus.INVOICE_STATUS_CANCELED
        assert sg.invoices.cancel(str(made[0].id)).status == InvoiceStatus.INVOICE_STATUS_CANCELED
        still_open = [inv.id for inv in sg.invoices.list(status="INVOICE_STATUS_OPEN", page_size=3)]
        assert still_open == [inv.id for inv in reversed(made[1:])]
        assert [inv.id for inv in sg.invoices.list(order_id="order-3")] == [made[3].id]


def test_a_payout_quote_and_the_balance(sdk_stack: Stack, merchant_key: str) -> None:
    with client(sdk_stack, merchant_key) as sg:
        quote = sg.payouts.quote("1")
        assert (quote.amount, quote.available, quote.fee, bool(quote.covered)) == ("1", "0", "0", False)
        balance = sg.balance.get()
        assert [a.asset for a in balance.assets or []] == ["USDT"]


def test_errors_are_typed_and_carry_the_reason_code(sdk_stack: Stack, merchant_key: str) -> None:
    with client(sdk_stack, merchant_key) as sg:
        with pytest.raises(BadRequestError) as bad:
            sg.invoices.create("1.5e3")
        assert (bad.value.status, bad.value.code, bad.value.reason, bad.value.field) == (
            400,
            3,
            "AMOUNT_INVALID",
            "amount",
        )
        with pytest.raises(NotFoundError) as missing:
            sg.invoices.get("inv_doesnotexist000000000000")
        assert missing.value.reason == "INVOICE_NOT_FOUND"
        sg.invoices.create("5", idempotency_key="order-77")
        with pytest.raises(ConflictError) as reused:
            sg.invoices.create("6", idempotency_key="order-77")
        assert (reused.value.reason, reused.value.field) == ("REQUEST_ID_REUSED", "request_id")
    with client(sdk_stack, "sk_test_" + "A" * 32) as stranger, pytest.raises(AuthenticationError) as unknown:
        stranger.invoices.list_page()
    assert (unknown.value.status, unknown.value.reason) == (401, "API_KEY_INVALID")
    _, narrow = sdk_stack.merchant_key(("invoices:read",))
    with client(sdk_stack, narrow) as reader, pytest.raises(PermissionDeniedError) as denied:
        reader.payouts.quote("1")
    assert (denied.value.reason, denied.value.metadata.get("requiredScope")) == ("SCOPE_MISSING", "payouts:read")


def test_a_create_retried_with_the_same_idempotency_key_returns_the_same_invoice(
    sdk_stack: Stack, merchant_key: str
) -> None:
    with client(sdk_stack, merchant_key) as sg:
        first = sg.invoices.create("10.50", order_id="order-1001", idempotency_key="order-1001")
        again = sg.invoices.create("10.50", order_id="order-1001", idempotency_key="order-1001")
        assert again.id == first.id
        assert [inv.id for inv in sg.invoices.list()] == [first.id]


def test_a_lost_answer_is_retried_with_the_same_idempotency_key_and_makes_one_invoice(
    sdk_stack: Stack, merchant_key: str, flaky_proxy: FlakyProxy
) -> None:
    flaky_proxy.script = ["lose", "503"]
    delays: list[float] = []
    with Stablegate(merchant_key, base_url=flaky_proxy.url, sleep=delays.append) as sg:
        invoice = sg.invoices.create("3", order_id="order-lost")
    posts = [seen for seen in flaky_proxy.seen if seen.method == "POST"]
    assert [seen.action for seen in posts] == ["lose", "503", "forward"]
    keys = {seen.headers["idempotency-key"] for seen in posts}
    assert len(keys) == 1 and next(iter(keys)).startswith("sdk_"), keys
    assert delays[1] == 0.0, "the 503's Retry-After: 0 is honoured"
    with client(sdk_stack, merchant_key) as sg:
        assert [inv.id for inv in sg.invoices.list(order_id="order-lost")] == [invoice.id], "one invoice, not two"


def test_retries_stop_at_max_retries_with_the_last_error(merchant_key: str, flaky_proxy: FlakyProxy) -> None:
    flaky_proxy.script = ["503", "503", "503"]
    once = RetryPolicy(max_retries=1)
    with (
        Stablegate(merchant_key, base_url=flaky_proxy.url, retry=once, sleep=lambda _: None) as sg,
        pytest.raises(ServiceUnavailableError) as failed,
    ):
        sg.balance.get()
    assert (failed.value.reason, failed.value.retryable) == ("UNAVAILABLE", True)
    assert len(flaky_proxy.seen) == 2


async def test_the_async_client_creates_pages_and_cancels(sdk_stack: Stack, merchant_key: str) -> None:
    async with AsyncStablegate(merchant_key, base_url=base_url(sdk_stack)) as sg:
        made = [await sg.invoices.create("1", order_id=f"async-{i}") for i in range(3)]
        seen = [inv.id async for inv in sg.invoices.list(page_size=1)]
        assert seen == [inv.id for inv in reversed(made)]
        assert (await sg.invoices.get(str(made[1].id))).order_id == "async-1"
        canceled = await sg.invoices.cancel(str(made[1].id))
        assert canceled.status == InvoiceStatus.INVOICE_STATUS_CANCELED
        with pytest.raises(NotFoundError) as missing:
            await sg.invoices.cancel("inv_doesnotexist000000000000")
        assert missing.value.reason == "INVOICE_NOT_FOUND"


def test_a_webhook_signed_by_the_dispatcher_verifies_and_a_tampered_or_stale_one_does_not(
    sdk_stack: Stack, merchant_key: str, receiver: WebhookReceiver
) -> None:
    with client(sdk_stack, merchant_key) as sg:
        endpoint = sg.webhook_endpoints.create(
            receiver.url,
            enabled_events=["invoice.*"],
            signing_algorithms=["WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256", "WEBHOOK_SIGNING_ALGORITHM_ED25519"],
        )
        secret, public_key = str(endpoint.secret), str(endpoint.signing_public_key)
        assert secret.startswith("whsec_") and public_key.startswith("whpk_")
        invoice = sg.invoices.create("7", order_id="hooked")
    delivery = receiver.wait_for("invoice.created")
    versions = sorted(part.split(",")[0] for part in delivery.headers["webhook-signature"].split())
    assert versions == ["v1", "v1a"]

    event = verify_webhook(delivery.body, delivery.headers, secret=secret)
    assert (event.type, event.data["id"], event.api_version) == ("invoice.created", invoice.id, "2026-11-25")
    assert event.id == delivery.headers["webhook-id"]
    assert WebhookVerifier(public_keys=public_key).verify(delivery.body, delivery.headers).id == event.id

    tampered = json.loads(delivery.body)
    tampered["data"]["amount"] = "7000"
    for verifier in (WebhookVerifier(secret), WebhookVerifier(public_keys=public_key)):
        with pytest.raises(WebhookVerificationError) as forged:
            verifier.verify(json.dumps(tampered).encode(), delivery.headers)
        assert forged.value.reason == "SIGNATURE_INVALID"
    other_secret = "whsec_" + "A" * 43 + "="
    with pytest.raises(WebhookVerificationError) as wrong:
        verify_webhook(delivery.body, delivery.headers, secret=other_secret)
    assert wrong.value.reason == "SIGNATURE_INVALID"

    later = float(delivery.headers["webhook-timestamp"]) + 301
    with pytest.raises(WebhookVerificationError) as stale:
        WebhookVerifier(secret, clock=lambda: later).verify(delivery.body, delivery.headers)
    assert stale.value.reason == "TIMESTAMP_TOO_OLD"
    earlier = float(delivery.headers["webhook-timestamp"]) - 301
    with pytest.raises(WebhookVerificationError) as early:
        WebhookVerifier(secret, clock=lambda: earlier).verify(delivery.body, delivery.headers)
    assert early.value.reason == "TIMESTAMP_TOO_NEW"
    with pytest.raises(WebhookVerificationError) as headless:
        verify_webhook(delivery.body, {"webhook-id": event.id}, secret=secret)
    assert headless.value.reason == "HEADERS_MISSING"
    assert abs(time.time() - int(delivery.headers["webhook-timestamp"])) < 60


def test_a_test_event_sent_through_the_sdk_arrives_verifiable(
    sdk_stack: Stack, merchant_key: str, receiver: WebhookReceiver
) -> None:
    with client(sdk_stack, merchant_key) as sg:
        endpoint = sg.webhook_endpoints.create(receiver.url, enabled_events=["webhook.test"])
        assert [e.id for e in sg.webhook_endpoints.list()] == [endpoint.id]
        sg.webhook_endpoints.send_test(str(endpoint.id))
        delivery = receiver.wait_for("webhook.test")
        event = verify_webhook(delivery.body, delivery.headers, secret=str(endpoint.secret))
        assert event.data == {"test": True, "endpoint_id": endpoint.id}
        sg.webhook_endpoints.delete(str(endpoint.id))
        assert list(sg.webhook_endpoints.list()) == []


def test_a_client_without_a_key_or_with_a_bad_base_url_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="api_key is empty"):
        Stablegate(" ", base_url="http://127.0.0.1:8080")
    with pytest.raises(ValueError, match="base_url must start with http"):
        Stablegate("sk_test_x", base_url="127.0.0.1:8080")
    with pytest.raises(ValueError, match="at least one endpoint secret"):
        WebhookVerifier()
    with pytest.raises(ValueError, match="whsec_ followed by base64"):
        WebhookVerifier("whsec_not base64!")


def test_envoys_plain_text_timeout_becomes_a_typed_error_with_its_documented_reason(
    merchant_key: str, flaky_proxy: FlakyProxy
) -> None:
    flaky_proxy.script = ["504text", "504text"]
    delays: list[float] = []
    with (
        Stablegate(merchant_key, base_url=flaky_proxy.url, retry=RetryPolicy(max_retries=1), sleep=delays.append) as sg,
        pytest.raises(TimeoutError) as timed_out,
    ):
        sg.invoices.get("inv_any")
    assert (timed_out.value.status, timed_out.value.code, timed_out.value.reason) == (504, None, "UPSTREAM_TIMEOUT")
    assert timed_out.value.message == "upstream request timeout"
    assert len(delays) == 1 and 0.25 <= delays[0] <= 0.5, "one retry after the first backoff (0.5 s with jitter)"
