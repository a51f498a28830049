"""Webhook endpoints over gRPC: create, read, list, update, delete, rotate; secrets shown once, sealed at rest."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from tests.conftest import error_info
from tests.webhooks.conftest import WebhookLedger, receiving


async def test_created_endpoint_shows_its_secret_once_and_stores_it_only_sealed(wl: WebhookLedger) -> None:
    created = await wl.create(
        "http://127.0.0.1:9/hook", description="shop", enabled_events=["invoice.*", "payment.unallocated"]
    )
    assert created.id.startswith("we_")
    assert created.secret.startswith("whsec_")
    assert list(created.enabled_events) == ["invoice.*", "payment.unallocated"]
    assert created.api_version == "2026-11-25"
    assert list(created.signing_algorithms) == [wpb.WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256]
    got = await wl.endpoints.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=created.id), metadata=wl.auth)
    assert got.webhook_endpoint.secret == ""
    assert got.webhook_endpoint.url == "http://127.0.0.1:9/hook"
    listed = await wl.endpoints.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest(), metadata=wl.auth)
    assert [e.id for e in listed.webhook_endpoints] == [created.id]
    assert all(e.secret == "" for e in listed.webhook_endpoints)
    # At rest: sealed bytes only; the plaintext (and its key material) appears nowhere in the row.
    raw = await wl.ledger.fetch("SELECT * FROM ledger.webhook_endpoints WHERE id = $1", created.id)
    row_text = repr(dict(raw[0]))
    assert created.secret not in row_text
    assert created.secret.removeprefix("whsec_") not in row_text
    assert bytes(raw[0]["secret_sealed"])[:1] == b"\x01"


async def test_bad_endpoints_are_invalid_argument_naming_the_field_and_store_nothing(wl: WebhookLedger) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": ""}, "url", "FIELD_REQUIRED"),
        ({"url": "ftp://example.com/x"}, "url", "URL_INVALID"),
        ({"url": "https://user:pw@example.com/x"}, "url", "URL_INVALID"),
        ({"url": "http://10.0.0.1/x"}, "url", "URL_ADDRESS_REFUSED"),
        ({"url": "http://127.0.0.1:9/x", "enabled_events": ["invoice.bogus"]}, "enabled_events", "EVENT_TYPE_UNKNOWN"),
        ({"url": "http://127.0.0.1:9/x", "api_version": "1999-01-01"}, "api_version", "API_VERSION_UNKNOWN"),
        (
            {"url": "http://127.0.0.1:9/x", "signing_algorithms": [7]},
            "signing_algorithms",
            "SIGNING_ALGORITHM_UNSUPPORTED",
        ),
        ({"url": "http://127.0.0.1:9/x", "description": "x" * 501}, "description", "FIELD_TOO_LONG"),
    ]
    for fields, field, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await wl.create(**fields)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        info = error_info(caught.value)
        assert (info.reason, info.metadata["field"]) == (reason, field), fields
    assert await wl.ledger.value("SELECT count(*) FROM ledger.webhook_endpoints") == 0


async def test_a_create_retried_with_its_request_id_returns_the_same_endpoint(wl: WebhookLedger) -> None:
    first = await wl.create("http://127.0.0.1:9/a", request_id="r-1")
    again = await wl.create("http://127.0.0.1:9/a", request_id="r-1")
    assert (again.id, again.secret) == (first.id, first.secret)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wl.create("http://127.0.0.1:9/other", request_id="r-1")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_update_and_delete_and_another_merchant_sees_nothing(wl: WebhookLedger) -> None:
    created = await wl.create("http://127.0.0.1:9/a")
    updated = await wl.endpoints.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            id=created.id,
            webhook_endpoint=wpb.WebhookEndpoint(description="new", enabled_events=["invoice.paid"], disabled=True),
            update_mask=FieldMask(paths=["description", "enabled_events", "disabled"]),
        ),
        metadata=wl.auth,
    )
    assert (updated.webhook_endpoint.description, list(updated.webhook_endpoint.enabled_events)) == (
        "new",
        ["invoice.paid"],
    )
    assert updated.webhook_endpoint.disabled
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wl.endpoints.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                id=created.id, webhook_endpoint=wpb.WebhookEndpoint(url="http://169.254.169.254/latest")
            ),
            metadata=wl.auth,
        )
    assert error_info(caught.value).metadata["field"] == "webhook_endpoint.url"
    _, other_key = await wl.ledger.merchant_with_key("Other", scopes=("webhooks:read", "webhooks:write"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wl.endpoints.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(id=created.id), metadata=wl.ledger.auth(other_key)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await wl.endpoints.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(id=created.id), metadata=wl.auth)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await wl.endpoints.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=created.id), metadata=wl.auth)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_during_a_rotation_either_secret_verifies_and_after_24_h_only_the_new_one(wl: WebhookLedger) -> None:
    async with receiving() as receiver:
        created = await wl.create(receiver.url)
        rotated = await wl.endpoints.RotateWebhookSecret(
            pb.RotateWebhookSecretRequest(id=created.id, request_id="rot-1"), metadata=wl.auth
        )
        new_secret = rotated.webhook_endpoint.secret
        assert new_secret.startswith("whsec_") and new_secret != created.secret
        expires = rotated.webhook_endpoint.previous_secret_expire_time.ToDatetime()
        assert abs((expires - wl.ledger.clock().replace(tzinfo=None)).total_seconds() - 86400) < 5
        again = await wl.endpoints.RotateWebhookSecret(
            pb.RotateWebhookSecretRequest(id=created.id, request_id="rot-1"), metadata=wl.auth
        )
        assert again.webhook_endpoint.secret == new_secret  # a retried rotation makes no third secret
        receiver.secrets = [created.secret, new_secret]
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=created.id), metadata=wl.auth)
        (first,) = await receiver.wait_for(1)
        assert first.verified_by == [0, 1]  # each secret alone verifies: receivers can switch at any time
        assert len(first.headers["webhook-signature"].split(" ")) == 2
        wl.advance(hours=24, seconds=1)
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=created.id), metadata=wl.auth)
        second = (await receiver.wait_for(2))[1]
        assert second.verified_by == [1]
