"""Signer fixtures: a worker key store on the module's fresh SoftHSM token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import parts
from signer.keystore.pkcs11_session import HsmConfig
from signer.keystore.workers import WorkerKeyStore


def hsm_config(token: parts.SoftHsmToken) -> HsmConfig:
    """How the signer reaches the test token."""
    return HsmConfig(token.module, token.label, token.user_pin, dict(token.env))


@pytest.fixture(scope="module")
async def keystore(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[WorkerKeyStore]:
    """A one-worker key store on the module's token (PKCS#11 runs in the worker, never in pytest)."""
    store = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await store.start()
    yield store
    await store.close()
