"""`stablegate up` seals webhook secrets under the ledger's own KEK token, and moves older ones under it.

A real `up` (every part started, Envoy in front): the ledger runs with a SoftHSM token of its own made at
setup (gateway/ledger_kek_dev.py), so a webhook endpoint's secret is stored KEK-wrapped (format 2, KEK version
1) and its deliveries verify with the secret the merchant was shown. A secret sealed with the configuration key
(as a state dir from before the KEK keeps it) is re-wrapped under the KEK at the next start, and still signs.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from gateway import localrun, parts
from gateway.ledger_kek_dev import LEDGER_KEK_LABEL, SECRETS_FILE
from ledger.secretbox import SecretBox, kek_version_of, parse_key
from tests.e2e.e2e_harness import (
    UP_TIMEOUT,
    WebhookReceiver,
    printed,
    program_env,
    receiving,
    rest,
    start_up,
    stop_up,
    wait_until,
)

pytestmark = pytest.mark.timeout(600)


def wait_up(proc: subprocess.Popen[bytes], out: Path) -> str:
    """`up`'s output once it says the gateway is up (fails at once, with the output, if `up` exits)."""

    def ready() -> str:
        assert proc.poll() is None, out.read_text()
        return out.read_text() if b"gateway is up" in out.read_bytes() else ""

    return str(wait_until("gateway is up", ready, UP_TIMEOUT))


def stored(dsn: str) -> dict[str, bytes]:
    """Each webhook endpoint's sealed signing secret, by endpoint id."""

    async def read() -> dict[str, bytes]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT id, secret_sealed FROM ledger.webhook_endpoints")
        finally:
            await conn.close()
        return {r["id"]: bytes(r["secret_sealed"]) for r in rows}

    return asyncio.run(read())


def overwrite(dsn: str, endpoint_id: str, sealed: bytes) -> None:
    """Store a sealed secret as a ledger from before the KEK would have (format 1, the configuration key)."""

    async def write() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "UPDATE ledger.webhook_endpoints SET secret_sealed = $2 WHERE id = $1", endpoint_id, sealed
            )
        finally:
            await conn.close()

    asyncio.run(write())


def delivered_and_verified(port: int, key: str, endpoint_id: str, receiver: WebhookReceiver) -> None:
    """A test delivery to the endpoint arrives and verifies with the secret the merchant was shown."""
    status, delivery = rest(port, "POST", f"/v1/webhook_endpoints/{endpoint_id}:send_test", key, {})
    assert status == 200, delivery
    wait_until("the test delivery", lambda: receiver.deliveries, timeout=60)
    assert all(d.verified for d in receiver.deliveries), "a delivery did not verify with the endpoint's secret"


def test_up_wraps_webhook_secrets_with_the_ledgers_kek_and_moves_configuration_key_ones_at_start(
    tmp_path: Path,
) -> None:
    base = parts.free_port_block(len(localrun.assign_ports(20000)))
    ports = localrun.assign_ports(base)
    state = tmp_path / "state"
    dsn = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/stablegate"
    outs = [tmp_path / "up0.out", tmp_path / "up1.out"]
    proc = start_up(state, base, outs[0], {})
    try:
        text = wait_up(proc, outs[0])
        key = printed(text, "API key: ")
        # The ledger runs with its own token: another label than the signer's, PINs generated and kept private.
        ledger_env = program_env(state, "ledger")
        assert ledger_env["STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL"] == LEDGER_KEK_LABEL
        assert ledger_env["STABLEGATE_LEDGER_WEBHOOK_KEK_PIN"].startswith("dev-only-")
        signer_env = program_env(state, "signer")
        assert signer_env["STABLEGATE_SIGNER_TOKEN_LABEL"] != LEDGER_KEK_LABEL
        assert signer_env["STABLEGATE_SIGNER_PIN"] != ledger_env["STABLEGATE_LEDGER_WEBHOOK_KEK_PIN"]
        assert not any("WEBHOOK_KEK" in name for name in signer_env)
        assert (state / SECRETS_FILE).stat().st_mode & 0o777 == 0o600
        assert json.loads((state / SECRETS_FILE).read_text())["label"] == LEDGER_KEK_LABEL

        # A secret stored after `up`: wrapped under KEK version 1, and deliveries verify with it.
        with receiving() as first, receiving() as second:
            status, endpoint = rest(ports["envoy"], "POST", "/v1/webhook_endpoints", key, {"url": first.url})
            assert status == 200, endpoint
            first.secret = endpoint["secret"]
            assert kek_version_of(stored(dsn)[endpoint["id"]]) == 1
            delivered_and_verified(ports["envoy"], key, endpoint["id"], first)

            # Another endpoint's secret as a ledger before the KEK sealed it: with the configuration key.
            status, older = rest(ports["envoy"], "POST", "/v1/webhook_endpoints", key, {"url": second.url})
            assert status == 200, older
            second.secret = older["secret"]
            configuration_key = parse_key((state / "webhook-secret-key").read_text().strip())
            overwrite(dsn, older["id"], SecretBox(configuration_key).seal(older["secret"], older["id"]))
            assert kek_version_of(stored(dsn)[older["id"]]) is None
            stop_up(proc, state)

            # The next start re-wraps it under the KEK; it still signs with the same secret.
            proc = start_up(state, base, outs[1], {})
            again = wait_up(proc, outs[1])
            assert "moved 1 webhook endpoints' secrets under the ledger's KEK" in again
            assert {i: kek_version_of(v) for i, v in stored(dsn).items()} == {endpoint["id"]: 1, older["id"]: 1}
            delivered_and_verified(ports["envoy"], key, older["id"], second)
        assert "dev-only-" not in outs[0].read_text() + outs[1].read_text()
    finally:
        stop_up(proc, state)
        shutil.rmtree(localrun.postgres_base_for(state), ignore_errors=True)
