"""The sweeper's transactions on real parts (anvil, Postgres, SoftHSM behind the signer process): signed once with
the key's next nonce, broadcast to every provider, rebroadcast from the stored bytes, replaced with a fee bump
when stuck, held while fees pass their cap, nonces recovered from the chain."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest

from chain.client import ChainClient, ClientOptions
from chain.fees import FeeCaps
from gateway import parts
from service_runtime.devcerts import DevMesh
from settlement.domain.sweeps import Deposit, GasBudget
from settlement.ledger_client import SweepRecord
from settlement.signing import SweepSigner
from settlement.store import sweeps as store
from settlement.store.db import apply_migrations
from settlement.sweeper import Sweeper, SweeperOptions
from signer.domain.purpose import KeyPurpose
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from tests.chain.chain_harness import rpc
from tests.chain.fault_proxy import FaultProxy
from tests.settlement.settlement_harness import (
    GWEI,
    UNIT,
    SignerProcess,
    SweepChain,
    start_signer,
    start_sweep_chain,
    sweep_policy,
)
from tests.signer.conftest import hsm_config


class LedgerNotReached:
    """These tests stop before finality: the ledger is never asked (a call would be a bug in the test)."""

    async def sweepable(self, chain_id: int) -> list[Deposit]:
        raise AssertionError("the ledger is not asked in these tests")

    async def record_sweep(self, record: SweepRecord) -> tuple[str, bool]:
        raise AssertionError("the ledger is not asked in these tests")


@pytest.fixture(scope="module")
async def sweeper_key(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[KeyInfo]:
    store_ = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await store_.start()
    key = await store_.create_key(KeyPurpose.SWEEPER, "sweeper")
    yield key
    await store_.close()


@dataclass
class Parts:
    chain: SweepChain
    signer: SignerProcess
    db: str
    pool: asyncpg.Pool
    key: KeyInfo
    clients: list[ChainClient]

    def client(self, *urls: str) -> ChainClient:
        made = ChainClient(
            list(urls) or [self.chain.url], ClientOptions(timeout_seconds=5, rounds=2, backoff_seconds=0.01)
        )
        self.clients.append(made)
        return made

    def sweeper(self, client: ChainClient | None = None, **changes: object) -> Sweeper:
        options = SweeperOptions(
            chain_id=97,
            key_id=self.key.key_id,
            sweeper_address=self.key.address.lower(),
            factory=self.chain.factory.address.lower(),
            token=self.chain.token,
            batch_size=50,
            budget=GasBudget(max_gas=5_000_000, per_forwarder=60_000, base=50_000),
            fee_caps=FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=50 * GWEI, priority_fee_wei=GWEI // 10),
            stuck_after_seconds=3600,
            rebroadcast_seconds=0,
        )
        options = replace(options, **changes)  # type: ignore[arg-type]
        return Sweeper(
            client or self.client(), self.pool, SweepSigner(self.signer.channel()), LedgerNotReached(), options=options
        )

    async def deposits(self, amounts: list[int]) -> list[Deposit]:
        """Pay each amount to a new deposit address (never deployed) and describe them as the ledger would."""
        found = []
        for amount in amounts:
            salt = os.urandom(32)
            address = self.chain.deposit_address(salt)
            self.chain.chain.pay(address, amount)
            found.append(Deposit(address, "0x" + salt.hex(), f"inv_{salt.hex()[:8]}", amount, ()))
        return found

    async def plan(self, deposits: list[Deposit]) -> str:
        sweep_id = store.new_sweep_id()
        async with self.pool.acquire() as conn:
            await store.insert_sweep(
                conn,
                sweep_id=sweep_id,
                chain_id=97,
                key_id=self.key.key_id,
                sweeper_address=self.key.address,
                factory_address=self.chain.factory.address,
                token_contract=self.chain.token,
                items=deposits,
            )
        return sweep_id

    async def rows(self, sql: str, *args: object) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch(sql, *args)]

    async def sweep(self, sweep_id: str) -> dict[str, Any]:
        (row,) = await self.rows("SELECT * FROM settlement.sweeps WHERE id = $1", sweep_id)
        return row

    async def versions(self, sweep_id: str) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT * FROM settlement.chain_transactions WHERE sweep_id = $1 ORDER BY version", sweep_id
        )


@pytest.fixture
def registry() -> Iterator[list[parts.RunningProcess]]:
    started: list[parts.RunningProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
async def world(  # noqa: PLR0917 - pytest passes fixtures positionally
    sweeper_key: KeyInfo,
    softhsm_token: parts.SoftHsmToken,
    mesh_pki: DevMesh,
    empty_db: str,
    registry: list[parts.RunningProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Parts]:
    chain = start_sweep_chain(registry, sweeper_key.address)
    signer = start_signer(
        tmp_path_factory.mktemp("signer"),
        mesh_pki,
        softhsm_token,
        sweep_policy(chain.factory.address, chain.token),
        registry,
    )
    await apply_migrations(empty_db)
    pool = await asyncpg.create_pool(empty_db, min_size=1, max_size=4)
    made = Parts(chain, signer, empty_db, pool, sweeper_key, [])
    try:
        yield made
    finally:
        for client in made.clients:
            await client.close()
        await pool.close()


async def test_a_sweep_is_signed_at_the_keys_next_nonce_broadcast_and_mined_into_the_treasury(world: Parts) -> None:
    deposits = await world.deposits([3 * UNIT, 5 * UNIT, 7 * UNIT])
    sweep_id = await world.plan(deposits)
    sweeper = world.sweeper()

    assert await sweeper.recover() == 0
    await sweeper.send()  # anvil mines at once
    await sweeper.track()

    sweep = await world.sweep(sweep_id)
    (tx,) = await world.versions(sweep_id)
    assert sweep["status"] == "MINED"
    assert sweep["nonce"] == 0
    assert tx["status"] == "MINED" and tx["receipt_status"] == 1
    assert sweep["landed_tx_hash"] == tx["tx_hash"]
    # The bytes we stored are the bytes that landed.
    assert rpc(world.chain.url, "eth_getRawTransactionByHash", [tx["tx_hash"]]) == tx["raw_transaction"]
    assert world.chain.token_balance(world.chain.treasury) == 15 * UNIT
    assert [world.chain.token_balance(d.deposit_address) for d in deposits] == [0, 0, 0]
    assert world.chain.nonce() == 1


async def test_a_stored_transaction_no_provider_took_is_rebroadcast_with_the_same_bytes_and_never_resigned(
    world: Parts,
) -> None:
    refusing = FaultProxy(world.chain.url, refuse={"eth_sendRawTransaction"})
    await refusing.start()
    try:
        deposits = await world.deposits([2 * UNIT])
        sweep_id = await world.plan(deposits)
        stuck = world.sweeper(world.client(refusing.url))
        await stuck.recover()
        await stuck.send()
        (tx,) = await world.versions(sweep_id)
        assert tx["status"] == "SIGNED" and tx["broadcast_count"] == 0  # signed, stored, sent nowhere
        assert world.chain.nonce("pending") == 0

        # Two providers, one still refusing: a broadcast goes to every one, so the good one takes it.
        refused_before = refusing.method_calls["eth_sendRawTransaction"]
        healed = world.sweeper(world.client(refusing.url, world.chain.url))
        await healed.recover()
        await healed.track()
        await healed.track()
        assert refusing.method_calls["eth_sendRawTransaction"] > refused_before  # the first provider was asked too
    finally:
        await refusing.close()

    (after,) = await world.versions(sweep_id)
    assert after["tx_hash"] == tx["tx_hash"] and after["raw_transaction"] == tx["raw_transaction"]
    assert after["status"] == "MINED"
    assert (await world.sweep(sweep_id))["status"] == "MINED"
    assert world.chain.token_balance(world.chain.treasury) == 2 * UNIT
    assert world.chain.nonce() == 1


async def test_a_transaction_dropped_from_the_pool_is_rebroadcast_and_the_nonces_after_it_land(world: Parts) -> None:
    first = await world.plan(await world.deposits([1 * UNIT]))
    second = await world.plan(await world.deposits([4 * UNIT]))
    world.chain.automine(False)
    sweeper = world.sweeper()
    await sweeper.recover()
    await sweeper.send()
    (tx0,) = await world.versions(first)
    (tx1,) = await world.versions(second)
    assert (tx0["nonce"], tx1["nonce"]) == (0, 1)

    rpc(world.chain.url, "anvil_dropTransaction", [tx0["tx_hash"]])
    world.chain.mine(1)
    assert world.chain.nonce() == 0  # nonce 0 is gone, so nonce 1 cannot land: a gap on the chain
    assert str(tx0["tx_hash"]) not in world.chain.pool_hashes()

    await sweeper.track()  # no receipt, the count still at 0: the stored bytes go out again
    assert str(tx0["tx_hash"]) in world.chain.pool_hashes()
    world.chain.mine(1)
    await sweeper.track()
    assert [(await world.sweep(s))["status"] for s in (first, second)] == ["MINED", "MINED"]
    assert world.chain.nonce() == 2
    assert world.chain.token_balance(world.chain.treasury) == 5 * UNIT
    assert len(await world.rows("SELECT 1 FROM settlement.chain_transactions")) == 2


async def test_after_the_key_sent_elsewhere_the_next_nonce_is_recovered_from_the_chain(world: Parts) -> None:
    key = world.key.address
    rpc(world.chain.url, "anvil_impersonateAccount", [key])
    for _ in range(2):  # two transactions from the sweeper key that settlement never made
        world.chain.chain.send(key, key, "0x")
    rpc(world.chain.url, "anvil_stopImpersonatingAccount", [key])

    sweep_id = await world.plan(await world.deposits([6 * UNIT]))
    sweeper = world.sweeper()
    assert await sweeper.recover() == 2
    await sweeper.send()
    await sweeper.track()
    assert (await world.sweep(sweep_id))["nonce"] == 2
    assert (await world.sweep(sweep_id))["status"] == "MINED"
    assert world.chain.token_balance(world.chain.treasury) == 6 * UNIT


async def test_a_stuck_sweep_is_replaced_with_higher_fees_and_exactly_one_version_lands(world: Parts) -> None:
    deposits = await world.deposits([8 * UNIT, 9 * UNIT])
    sweep_id = await world.plan(deposits)
    world.chain.automine(False)
    sweeper = world.sweeper(stuck_after_seconds=0.0)
    await sweeper.recover()
    await sweeper.send()
    (v0,) = await world.versions(sweep_id)

    # The base fee jumps past what version 0 may pay: it stays in the pool, unmined.
    too_high = int(v0["max_fee_per_gas_wei"]) * 3
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(too_high)])
    world.chain.mine(1)
    assert world.chain.nonce() == 0

    await sweeper.track()  # stuck: a replacement at the same nonce with bumped fees
    _, v1 = await world.versions(sweep_id)
    assert v1["nonce"] == v0["nonce"] == 0 and v1["version"] == 1
    assert int(v1["max_fee_per_gas_wei"]) >= int(v0["max_fee_per_gas_wei"]) * 112 // 100
    assert int(v1["max_priority_fee_wei"]) > int(v0["max_priority_fee_wei"])
    assert v1["tx_hash"] != v0["tx_hash"]

    world.chain.mine(1)
    await sweeper.track()
    v0_final, v1_final = await world.versions(sweep_id)
    assert (v0_final["status"], v1_final["status"]) == ("REPLACED", "MINED")
    assert (await world.sweep(sweep_id))["landed_tx_hash"] == v1["tx_hash"]
    assert rpc(world.chain.url, "eth_getTransactionReceipt", [v0["tx_hash"]]) is None
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == 17 * UNIT


async def test_a_sweep_whose_fee_passes_its_cap_is_held_unsigned_and_goes_out_once_fees_fall(world: Parts) -> None:
    sweep_id = await world.plan(await world.deposits([2 * UNIT]))
    cap = 20 * GWEI
    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(40 * GWEI)])
    world.chain.mine(1)
    sweeper = world.sweeper(fee_caps=FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=cap, priority_fee_wei=GWEI // 10))
    await sweeper.recover()
    await sweeper.send()
    sweep = await world.sweep(sweep_id)
    assert (sweep["status"], sweep["hold_reason"]) == ("HELD", "FEE_OVER_CAP")
    assert await world.versions(sweep_id) == []  # nothing signed, no nonce taken
    assert sweeper.metrics.held._value.get() == 1

    rpc(world.chain.url, "anvil_setNextBlockBaseFeePerGas", [hex(GWEI)])
    world.chain.mine(1)
    await sweeper.send()
    await sweeper.track()
    assert (await world.sweep(sweep_id))["status"] == "MINED"
    assert world.chain.token_balance(world.chain.treasury) == 2 * UNIT
