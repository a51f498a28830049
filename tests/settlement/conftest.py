"""Settlement's fixtures: one SWEEPER key per module on its SoftHSM token, and a fresh world of real parts per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway import parts
from signer.domain.purpose import KeyPurpose
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from tests.settlement.settlement_harness import SweepWorld, sweep_world
from tests.signer.conftest import hsm_config


@pytest.fixture(scope="module")
async def sweeper_key(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[KeyInfo]:
    """A SWEEPER key made in the module's HSM token (the signer process signs with it)."""
    keys = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await keys.start()
    key = await keys.create_key(KeyPurpose.SWEEPER, "sweeper")
    yield key
    await keys.close()


@pytest.fixture
def registry() -> Iterator[list[parts.RunningProcess]]:
    """Processes a test starts (its anvil, signer, settlement), stopped at its end."""
    started: list[parts.RunningProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
async def world(
    sweeper_key: KeyInfo,
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A fresh chain, ledger, signer and schema (see `sweep_world`)."""
    async with sweep_world(ledger_db, sweeper_key, softhsm_token, registry, tmp_path) as made:
        yield made
