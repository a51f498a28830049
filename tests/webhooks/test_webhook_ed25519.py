"""ed25519 (`v1a`) signing: the private key sealed at rest, the public key shown, both keys sign for 24 h after a
rotation; every v1a delivery is verified by the receiver's own ed25519 check (conftest.verify_v1a)."""

from __future__ import annotations

import base64

from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from tests.webhooks.conftest import WebhookLedger, receiving

ED25519 = wpb.WEBHOOK_SIGNING_ALGORITHM_ED25519
HMAC = wpb.WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256


async def test_an_ed25519_endpoint_signs_v1a_only_and_keeps_its_private_key_sealed(wl: WebhookLedger) -> None:
    async with receiving() as receiver:
        created = await wl.create(receiver.url, signing_algorithms=[ED25519])
        assert list(created.signing_algorithms) == [ED25519]
        assert created.secret == ""  # no HMAC secret to show: this endpoint does not sign v1
        public = created.signing_public_key
        assert public.startswith("whpk_") and len(base64.b64decode(public.removeprefix("whpk_"))) == 32
        got = await wl.endpoints.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=created.id), metadata=wl.auth)
        assert got.webhook_endpoint.signing_public_key == public  # public: shown every time
        raw = (await wl.ledger.fetch("SELECT * FROM ledger.webhook_endpoints WHERE id = $1", created.id))[0]
        assert bytes(raw["signing_key_sealed"])[:1] == b"\x01"
        assert "whsk_" not in repr(dict(raw))

        receiver.public_keys = [public]
        invoice = await wl.invoice()
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=created.id), metadata=wl.auth)
        received = await receiver.wait_for(2)
        for item in received:
            assert item.v1a_verified_by == [0]
            assert [p.split(",")[0] for p in item.headers["webhook-signature"].split(" ")] == ["v1a"]
        assert {item.json["type"] for item in received} == {"invoice.created", "webhook.test"}
        assert any(item.json["data"].get("id") == invoice for item in received)
        # A tampered body does not verify.
        from tests.webhooks.conftest import verify_v1a

        assert not verify_v1a(public, received[0].body + b" ", received[0].headers)


async def test_both_schemes_sign_and_during_a_rotation_either_key_verifies_then_only_the_new(
    wl: WebhookLedger,
) -> None:
    async with receiving() as receiver:
        created = await wl.create(receiver.url, signing_algorithms=[HMAC, ED25519])
        assert created.secret.startswith("whsec_") and created.signing_public_key.startswith("whpk_")
        rotated = (
            await wl.endpoints.RotateWebhookSecret(pb.RotateWebhookSecretRequest(id=created.id), metadata=wl.auth)
        ).webhook_endpoint
        assert rotated.signing_public_key != created.signing_public_key
        receiver.secrets = [created.secret, rotated.secret]
        receiver.public_keys = [created.signing_public_key, rotated.signing_public_key]
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=created.id), metadata=wl.auth)
        (first,) = await receiver.wait_for(1)
        assert first.verified_by == [0, 1]  # the standardwebhooks library, v1
        assert first.v1a_verified_by == [0, 1]  # the test's ed25519 check, v1a
        assert sorted(p.split(",")[0] for p in first.headers["webhook-signature"].split(" ")) == [
            "v1",
            "v1",
            "v1a",
            "v1a",
        ]
        wl.advance(hours=24, seconds=1)
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=created.id), metadata=wl.auth)
        second = (await receiver.wait_for(2))[1]
        assert second.verified_by == [1]
        assert second.v1a_verified_by == [1]
