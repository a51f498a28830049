"""The key store below the API: keys made in SoftHSM never leave it, and every signature is low-s and recovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_keys.datatypes import PublicKey

from gateway import parts
from signer.domain.ethereum import SECP256K1_N
from signer.domain.purpose import KeyPurpose
from signer.errors import BadRequest, KeyNotFound
from signer.keystore.workers import WorkerKeyStore


async def test_generated_keys_are_non_extractable_and_sensitive_and_their_value_cannot_be_read(
    keystore: WorkerKeyStore,
) -> None:
    key = await keystore.create_key(KeyPurpose.HOT, "hot-protection")
    found = await keystore.protection(key.key_id)
    assert found.sensitive and found.always_sensitive
    assert not found.extractable and found.never_extractable
    assert not found.value_readable


async def test_keys_are_listed_with_purpose_label_and_address(keystore: WorkerKeyStore) -> None:
    sweeper = await keystore.create_key(KeyPurpose.SWEEPER, "sweeper-1")
    cold = await keystore.create_key(KeyPurpose.COLD_OWNER, "cold-1")
    listed = {k.key_id: k for k in await keystore.list_keys()}
    assert listed[sweeper.key_id].purpose is KeyPurpose.SWEEPER
    assert listed[cold.key_id].label == "cold-1"
    assert listed[cold.key_id].address == PublicKey(cold.public_key[1:]).to_checksum_address()


async def test_a_label_is_unique_and_an_unknown_key_is_not_found(keystore: WorkerKeyStore) -> None:
    await keystore.create_key(KeyPurpose.HOT, "hot-unique")
    with pytest.raises(BadRequest, match="exists"):
        await keystore.create_key(KeyPurpose.HOT, "hot-unique")
    with pytest.raises(KeyNotFound):
        await keystore.sign_digest("key_hot_0000000000000000", bytes(32))


async def test_a_thousand_random_digests_sign_low_s_and_recover_to_the_keys_address(
    keystore: WorkerKeyStore,
) -> None:
    key = await keystore.create_key(KeyPurpose.HOT, "hot-thousand")
    for _ in range(1000):
        digest = os.urandom(32)
        sig = await keystore.sign_digest(key.key_id, digest)
        assert 0 < sig.s <= SECP256K1_N // 2
        assert sig.v in (0, 1)
        assert Account._recover_hash(digest, vrs=(sig.v + 27, sig.r, sig.s)) == key.address


def test_key_ceremony_cli_creates_and_lists_a_key_without_printing_the_pin(
    softhsm_token: parts.SoftHsmToken, tmp_path: Path
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm_token.user_pin)
    env = {**os.environ, **softhsm_token.env, "STABLEGATE_SIGNER_TOKEN_LABEL": softhsm_token.label}
    base = [sys.executable, "-m", "gateway", "signer", "keys"]
    created = subprocess.run(
        [*base, "create", "--purpose", "HOT", "--label", "hot-1", "--pin-file", str(pin_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = json.loads(created.stdout)
    assert key["purpose"] == "HOT" and key["label"] == "hot-1"
    listed = subprocess.run(
        [*base, "list"],
        env={**env, "STABLEGATE_SIGNER_PIN": softhsm_token.user_pin},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert key in [json.loads(line) for line in listed.stdout.splitlines()]
    wrong = subprocess.run(
        [*base, "list"],
        env={**env, "STABLEGATE_SIGNER_PIN": "not-the-pin"},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and "not-the-pin" not in wrong.stderr
    for out in (created, listed, wrong):
        assert softhsm_token.user_pin not in out.stdout + out.stderr


async def test_a_wrong_pin_fails_at_start_with_a_reason_and_without_the_pin(
    softhsm_token: parts.SoftHsmToken,
) -> None:
    from signer.errors import KeyStoreError
    from signer.keystore.pkcs11_session import HsmConfig

    store = WorkerKeyStore(HsmConfig(softhsm_token.module, softhsm_token.label, "wrong-pin-123", softhsm_token.env))
    try:
        with pytest.raises(KeyStoreError) as failed:
            await store.start()
        assert failed.value.reason == "HSM_UNAVAILABLE"
        assert "wrong-pin-123" not in str(failed.value) and softhsm_token.user_pin not in str(failed.value)
    finally:
        await store.close()
