"""Webhook secrets under envelope encryption: data keys wrapped by a KEK in the ledger's own SoftHSM token.

The ledger runs in-process (the webhook fixtures); the KEK commands run as `stablegate ledger kek ...` in
their own processes, against the same token and database, while the ledger keeps delivering.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from gateway import parts
from ledger import kek as kek_module
from ledger import secretbox
from ledger.kek import KekError, KekUnwrapRefused
from ledger.secretbox import EnvelopeBox, new_dev_key
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.webhooks.conftest import Received, receiving, webhook_ledger

HMAC = wpb.WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256
ED25519 = wpb.WEBHOOK_SIGNING_ALGORITHM_ED25519
COLUMNS = ("secret_sealed", "previous_secret_sealed", "signing_key_sealed", "previous_signing_key_sealed")


class Kek:
    """The ledger's own token (never the signer's) and a way to run `stablegate ledger kek` against it."""

    def __init__(self, token: parts.SoftHsmToken, db_url: str, pki: DevMesh) -> None:
        self.token, self.db_url, self.pki = token, db_url, pki

    @property
    def settings(self) -> dict[str, Any]:
        """The ledger's KEK settings (no configuration key: envelope encryption only)."""
        return {"webhook_kek_token_label": self.token.label, "webhook_kek_pin": self.token.user_pin}

    async def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """`stablegate ledger kek ARGS` in its own process (this event loop, and so the ledger, keeps running)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
        full |= {
            **self.token.env,
            **self.pki.files(Role.LEDGER).env("ledger"),
            "STABLEGATE_LEDGER_DATABASE_URL": self.db_url,
            "STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL": self.token.label,
            "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN": self.token.user_pin,
            **(env or {}),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "ledger",
            "kek",
            *args,
            env=full,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        code, out, err = await self.run(*args, "--json", env=env)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def kek(ledger_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kek:
    token = parts.init_softhsm_token(tmp_path / "ledger-hsm", "ledger-kek")
    # The in-process ledger's KEK worker finds the token through SOFTHSM2_CONF (inherited when it spawns).
    monkeypatch.setenv("SOFTHSM2_CONF", token.env["SOFTHSM2_CONF"])
    # New KEK versions reach the in-process ledger within half a second (5 s in production).
    monkeypatch.setattr(secretbox, "KEK_REFRESH_SECONDS", 0.5)
    return Kek(token, ledger_db, DevMesh(tmp_path / "pki"))


async def stored_versions(db_url: str) -> list[int | None]:
    """The KEK version of every sealed value stored, endpoint by endpoint (None: the configuration key)."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM ledger.webhook_endpoints ORDER BY id")
    finally:
        await conn.close()
    return [secretbox.kek_version_of(bytes(r[c])) for r in rows for c in COLUMNS if r[c] is not None]


async def drop_test_admin_key(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("DELETE FROM ledger.admin_keys WHERE id = 'adm_test'")
    finally:
        await conn.close()


async def test_a_ledger_whose_token_holds_no_kek_refuses_to_start(kek: Kek) -> None:
    with pytest.raises(KekError, match="holds no webhook KEK: run `stablegate ledger kek rotate` once"):
        async with webhook_ledger(kek.db_url, **kek.settings, webhook_secret_key=""):
            pass


async def test_a_kek_rotation_keeps_every_webhook_secret_readable_while_deliveries_continue(kek: Kek) -> None:
    first = await kek.json("rotate", "--settle-seconds", "0")
    assert first == {"version": 1, "rewrapped": 0, "current": 0, "refused": []}
    async with (
        webhook_ledger(kek.db_url, **kek.settings, webhook_secret_key="") as wl,
        receiving() as plain,
        receiving() as both,
        receiving() as rotated,
        receiving() as late,
    ):
        a = await wl.create(plain.url, enabled_events=["invoice.created"])
        b = await wl.create(both.url, enabled_events=["invoice.created"], signing_algorithms=[HMAC, ED25519])
        c = await wl.create(rotated.url, enabled_events=["invoice.created"])
        c2 = await wl.endpoints.RotateWebhookSecret(pb.RotateWebhookSecretRequest(id=c.id), metadata=wl.auth)
        plain.secrets, both.secrets, both.public_keys = [a.secret], [b.secret], [b.signing_public_key]
        rotated.secrets = [c.secret, c2.webhook_endpoint.secret]
        assert await stored_versions(kek.db_url) == [1] * 5  # a: 1, b: secret and key, c: current and previous

        created: list[str] = []
        running = asyncio.Event()
        running.set()

        async def keep_invoicing() -> None:
            while running.is_set():
                created.append(await wl.invoice("1"))
                await asyncio.sleep(0.2)

        invoicing = asyncio.create_task(keep_invoicing())
        await asyncio.sleep(0.5)
        before, delivered_before = len(created), len(plain.received)
        report = await kek.json("rotate", "--settle-seconds", "1")
        running.clear()
        await invoicing
        assert report == {"version": 2, "rewrapped": 3, "current": 0, "refused": []}
        # The ledger kept serving and delivering while the KEK rotated.
        assert len(created) > before and len(plain.received) > delivered_before
        assert await stored_versions(kek.db_url) == [2] * 5
        d = await wl.create(late.url, enabled_events=["invoice.created"])  # sealed under the new version
        late.secrets = [d.secret]
        assert await stored_versions(kek.db_url) == [2] * 6

        code, _, err = await kek.run("retire", "--version", "2")
        assert code == 1 and "version 2 is the newest KEK" in err
        code, _, err = await kek.run("retire", "--version", "1")
        assert code == 0, err
        assert await kek.json("status") == {"versions": [2], "newest": 2, "stored_values": {"2": 6}}
        # Re-wrapping again changes nothing (a stopped run resumes the same way: what is current is skipped).
        assert await kek.json("rewrap") == {"version": 2, "rewrapped": 0, "current": 4, "refused": []}

        # Deliveries go on after the old KEK is gone: each value opens under version 2 only now.
        created += [await wl.invoice("1") for _ in range(3)]
        total = len(created)
        for receiver in (plain, both, rotated):
            got = await receiver.wait_for(total, within=60)
            assert sorted(r.json["data"]["id"] for r in got) == sorted(created)
            assert all(r.verified_by for r in got)  # every delivery signed with a secret that still opened
        assert all(r.v1a_verified_by == [0] for r in both.received)
        assert all(r.verified_by == [0, 1] for r in rotated.received)  # both the old and new secret, in overlap
        assert late.received and all(r.verified_by == [0] for r in late.received)


async def test_a_tampered_or_moved_wrapped_key_is_refused(kek: Kek) -> None:
    await kek.json("rotate", "--settle-seconds", "0")
    async with (
        webhook_ledger(kek.db_url, **kek.settings, webhook_secret_key="") as wl,
        receiving() as one,
        receiving() as two,
    ):
        e1 = await wl.create(one.url)
        e2 = await wl.create(two.url)
        conn = await asyncpg.connect(kek.db_url)
        try:
            sealed = bytes(await conn.fetchval("SELECT secret_sealed FROM ledger.webhook_endpoints WHERE id=$1", e1.id))
            tampered = bytearray(sealed)
            tampered[5 + 12 + 3] ^= 0x01  # a bit of the wrapped data key
            await conn.execute(
                "UPDATE ledger.webhook_endpoints SET secret_sealed = $2 WHERE id = $1", e1.id, bytes(tampered)
            )
            other = await conn.fetchval("SELECT secret_sealed FROM ledger.webhook_endpoints WHERE id=$1", e2.id)
        finally:
            await conn.close()
        box = wl.ledger.core.secret_box
        assert isinstance(box, EnvelopeBox)
        assert box.open(sealed, e1.id) == e1.secret
        with pytest.raises(KekUnwrapRefused):
            await asyncio.to_thread(box.open, bytes(tampered), e1.id)
        with pytest.raises(KekUnwrapRefused):  # another endpoint's sealed secret does not open for this one
            await asyncio.to_thread(box.open, bytes(other), e1.id)

        code, out, err = await kek.run("rewrap", "--json")
        assert code == 1
        assert json.loads(out) == {"version": 1, "rewrapped": 0, "current": 1, "refused": [e1.id]}
        assert f"refused: {e1.id}" in err
        conn = await asyncpg.connect(kek.db_url)
        try:
            still = await conn.fetchval("SELECT secret_sealed FROM ledger.webhook_endpoints WHERE id=$1", e1.id)
        finally:
            await conn.close()
        assert bytes(still) == bytes(tampered)  # left as it was, for the operator to look at
        # The untouched endpoint still delivers, signed with its secret.
        two.secrets = [e2.secret]
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=e2.id), metadata=wl.auth)
        (got,) = await two.wait_for(1)
        assert got.verified_by == [0]


async def test_secrets_sealed_with_the_configuration_key_move_under_the_kek(kek: Kek) -> None:
    key = new_dev_key()
    async with receiving() as receiver:
        async with webhook_ledger(kek.db_url, webhook_secret_key=key) as wl:
            created = await wl.create(receiver.url)
            merchant_key = wl.key
        receiver.secrets = [created.secret]
        assert await stored_versions(kek.db_url) == [None]
        report = await kek.json("rotate", "--settle-seconds", "0", env={"STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY": key})
        assert report == {"version": 1, "rewrapped": 1, "current": 0, "refused": []}
        assert await stored_versions(kek.db_url) == [1]
        await drop_test_admin_key(kek.db_url)  # the next ledger fixture inserts it again
        # Without the configuration key now: the secret opens through the token only, and still signs.
        async with webhook_ledger(kek.db_url, **kek.settings, webhook_secret_key="") as wl:
            box = wl.ledger.core.secret_box
            assert isinstance(box, EnvelopeBox) and box.legacy is None
            await wl.endpoints.SendTestWebhook(
                pb.SendTestWebhookRequest(id=created.id), metadata=wl.ledger.auth(merchant_key)
            )
            (got,) = await receiver.wait_for(1)
            assert got.verified_by == [0]


async def endpoint_count(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM ledger.webhook_endpoints")
        return count
    finally:
        await conn.close()


async def test_a_hung_kek_worker_is_replaced_and_the_ledger_keeps_serving(kek: Kek) -> None:
    await kek.json("rotate", "--settle-seconds", "0")
    async with (
        webhook_ledger(kek.db_url, **kek.settings, webhook_secret_key="") as wl,
        receiving() as receiver,
    ):
        first = await wl.create(receiver.url)
        box = wl.ledger.core.secret_box
        assert isinstance(box, EnvelopeBox)
        box.kek.timeout = 2.0
        stuck = box.kek.worker_pid
        assert stuck is not None
        stored = await endpoint_count(kek.db_url)
        # The token hangs: its worker process stops answering mid-call (SIGSTOP; a hung HSM does the same).
        os.kill(stuck, signal.SIGSTOP)
        started = time.monotonic()
        creating = asyncio.create_task(wl.create(receiver.url))
        # Meanwhile the ledger answers what needs no token at once: its event loop is not held by the call.
        invoice = await wl.invoice("1")
        assert invoice and not creating.done()
        assert time.monotonic() - started < 1.5
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await creating
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(refused.value).reason == "KEK_UNAVAILABLE"
        assert f"token {kek.token.label!r} did not answer within 2 s" in (refused.value.details() or "")
        assert await endpoint_count(kek.db_url) == stored  # nothing stored for the refused create
        # The stuck worker was killed, and the next call gets a fresh one: the token works again.
        with pytest.raises(ProcessLookupError):
            os.kill(stuck, 0)
        await asyncio.sleep(kek_module.RESTART_BACKOFF_SECONDS)  # a failed worker is not restarted at once
        second = await wl.create(receiver.url)
        assert box.kek.worker_pid not in (None, stuck)
        assert await endpoint_count(kek.db_url) == stored + 1
        # Both secrets still open and sign (the first endpoint's data key came back through the new worker).
        box._keys.clear()
        receiver.secrets = [first.secret, second.secret]
        for endpoint in (first, second):
            await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=endpoint.id), metadata=wl.auth)

        def tests() -> list[Received]:
            return [r for r in receiver.received if r.json["type"] == "webhook.test"]

        for _ in range(300):
            if len(tests()) >= 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(r.verified_by for r in tests()) == [[0], [1]]


def test_kek_settings_need_a_pin_and_prod_needs_a_real_hsm_and_its_own_checkout_key(tmp_path: Path) -> None:
    from ledger.config import LedgerSettings
    from service_runtime.config import ConfigError, load_settings
    from tests.webhooks.conftest import PROD_CHAIN, prod_key

    tls = DevMesh(tmp_path, ca_name="example.com mesh CA").files(Role.LEDGER).settings()
    with pytest.raises(ConfigError, match="STABLEGATE_LEDGER_WEBHOOK_KEK_PIN: set the KEK token's user PIN"):
        load_settings(LedgerSettings, tls=tls, webhook_kek_token_label="ledger-kek")
    kek = {"webhook_kek_token_label": "ledger-kek", "webhook_kek_pin": "1234"}
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings, profile="prod", tls=tls, **kek, **PROD_CHAIN)
    text = str(caught.value)
    assert "STABLEGATE_LEDGER_WEBHOOK_KEK_PKCS11_MODULE: prod refuses SoftHSM" in text
    assert "STABLEGATE_LEDGER_CHECKOUT_TOKEN_KEY: prod needs it when WEBHOOK_SECRET_KEY is empty" in text
    assert "1234" not in text
    hsm = {**kek, "webhook_kek_pkcs11_module": "/opt/vendor/libvendorpkcs11.so", "checkout_token_key": prod_key()}
    settings = load_settings(LedgerSettings, profile="prod", tls=tls, **hsm, **PROD_CHAIN)
    assert settings.webhook_kek_token_label == "ledger-kek" and not settings.webhook_secret_key.get_secret_value()
