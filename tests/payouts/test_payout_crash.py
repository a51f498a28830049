"""The settlement process killed with SIGKILL mid-batch and started again: the batch signed and told to the ledger
before the kill is sent (or found) as the very same transaction, each payout lands exactly once and is CONFIRMED."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway import parts
from service_runtime.mesh import Role
from signer.keystore.base import KeyInfo
from tests.chain.fault_proxy import FaultProxy
from tests.payouts.execution_harness import (
    COOLING_OFF_SECONDS,
    SCOPES,
    active_address,
    create_payout,
    fresh_address,
    keys,
    pay_invoices,
    payout_batch_events,
    registry,
    world,
)
from tests.settlement.settlement_harness import UNIT, SweepWorld, eventually
from tests.settlement.test_sweeper_crash import kill

__all__ = ["keys", "registry", "world"]  # fixtures


async def start_settlement(
    world: SweepWorld, hot: KeyInfo, base: Path, rpc_urls: list[str], registry: list[parts.RunningProcess]
) -> parts.RunningProcess:
    """`python -m settlement` with the payout executor on (sweeper off), against this world's parts."""
    await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
    env = {
        **world.ledger.pki.files(Role.SETTLEMENT).env("settlement"),
        "STABLEGATE_SETTLEMENT_DATABASE_URL": world.db,
        "STABLEGATE_SETTLEMENT_RPC_URLS": json.dumps(rpc_urls),
        "STABLEGATE_SETTLEMENT_RPC_TIMEOUT_SECONDS": "3",
        "STABLEGATE_SETTLEMENT_LEDGER_TARGET": f"127.0.0.1:{world.ledger.grpc_port}",
        "STABLEGATE_SETTLEMENT_SIGNER_TARGET": world.signer.target,
        "STABLEGATE_SETTLEMENT_PAYOUTS_ENABLED": "true",
        "STABLEGATE_SETTLEMENT_HOT_KEY_ID": hot.key_id,
        "STABLEGATE_SETTLEMENT_HOT_ADDRESS": hot.address,
        "STABLEGATE_SETTLEMENT_TREASURY_ADDRESS": world.chain.treasury,
        "STABLEGATE_SETTLEMENT_TOKEN_CONTRACT": world.chain.token,
        "STABLEGATE_SETTLEMENT_FEE_FLOOR_GAS_PRICE_WEI": "1",
        "STABLEGATE_SETTLEMENT_SWEEP_INTERVAL_SECONDS": "0.2",
        "STABLEGATE_SETTLEMENT_REBROADCAST_SECONDS": "0.5",
        "STABLEGATE_SETTLEMENT_STUCK_AFTER_SECONDS": "3600",
        "STABLEGATE_SETTLEMENT_LEASE_RETRY_SECONDS": "0.2",
        "STABLEGATE_SETTLEMENT_DRAIN_DELAY_SECONDS": "0",
    }
    spec, _ready = parts.prepare_service("settlement", base, env)
    proc = await asyncio.to_thread(parts.start, spec)
    registry.append(proc)
    return proc


async def queued_payouts(world: SweepWorld, count: int) -> tuple[list[str], list[str], list[int]]:
    """`count` merchants paid for real and swept, each with a payout of its balance queued; (ids, destinations,
    amounts)."""
    merchants = [await world.ledger.merchant_with_key(f"Shop {i}", SCOPES) for i in range(count)]
    amounts = [(i + 2) * UNIT + i for i in range(count)]
    await pay_invoices(world, [(key, amount, amount) for (_, key), amount in zip(merchants, amounts, strict=True)])
    destinations = [fresh_address() for _ in merchants]
    for (_, key), destination in zip(merchants, destinations, strict=True):
        await active_address(world, key, destination)
    world.ledger.clock.advance(seconds=COOLING_OFF_SECONDS)
    ids = [
        await create_payout(world, key, destination, amount)
        for (_, key), destination, amount in zip(merchants, destinations, amounts, strict=True)
    ]
    return ids, destinations, amounts


async def batch_txs(world: SweepWorld) -> list[dict[str, Any]]:
    return await world.rows(
        "SELECT * FROM settlement.chain_transactions WHERE payout_batch_id IS NOT NULL ORDER BY nonce, version"
    )


async def ledger_statuses(world: SweepWorld, ids: list[str]) -> list[str]:
    rows = await world.rows("SELECT id, status FROM ledger.payouts WHERE id = ANY($1::text[])", ids)
    by_id = {r["id"]: r["status"] for r in rows}
    return [by_id[i] for i in ids]


async def mine_until_confirmed(world: SweepWorld, ids: list[str]) -> None:
    async def confirmed() -> bool:
        world.chain.mine(1)
        return await ledger_statuses(world, ids) == ["CONFIRMED"] * len(ids)

    await eventually(confirmed, "every payout CONFIRMED", within=90, interval=0.2)


async def assert_paid_once(
    world: SweepWorld, ids: list[str], destinations: list[str], amounts: list[int], before: dict[str, Any]
) -> None:
    """One batch, one transaction (the bytes stored before the kill), one PayoutBatch event; exact balances."""
    (tx,) = await batch_txs(world)
    assert (tx["nonce"], tx["version"], tx["tx_hash"], tx["raw_transaction"], tx["status"]) == (
        before["nonce"],
        0,
        before["tx_hash"],
        before["raw_transaction"],
        "MINED",
    )
    (batch,) = await world.rows("SELECT * FROM settlement.payout_batches")
    assert batch["status"] == "CONFIRMED" and batch["landed_tx_hash"] == tx["tx_hash"]
    (event,) = payout_batch_events(world)
    assert (event["batch_id"], event["tx_hash"], event["count"], event["total"]) == (
        batch["batch_id"],
        tx["tx_hash"],
        len(ids),
        sum(amounts),
    )
    assert [world.chain.token_balance(d) for d in destinations] == amounts
    assert world.chain.token_balance(world.chain.treasury) == 0 == await world.balance("treasury:USDT")
    rows = await world.rows("SELECT status, tx_hash FROM ledger.payouts WHERE id = ANY($1::text[])", ids)
    assert {(r["status"], r["tx_hash"]) for r in rows} == {("CONFIRMED", tx["tx_hash"])}
    await world.ledger.assert_books_are_sound()


async def test_killed_between_telling_the_ledger_and_broadcasting_the_stored_batch_is_sent_once(
    world: SweepWorld, keys: dict[str, KeyInfo], registry: list[parts.RunningProcess], tmp_path: Path
) -> None:
    ids, destinations, amounts = await queued_payouts(world, 3)
    # The only provider answers everything but refuses to take a transaction.
    refusing = FaultProxy(world.chain.url, refuse={"eth_sendRawTransaction"})
    await refusing.start()
    try:
        first = await start_settlement(world, keys["hot"], tmp_path / "first", [refusing.url], registry)

        async def told_not_sent() -> bool:
            rows = await batch_txs(world)
            return (
                len(rows) == 1
                and rows[0]["status"] == "SIGNED"
                and await ledger_statuses(world, ids) == ["BROADCAST"] * 3
                and refusing.method_calls.get("eth_sendRawTransaction", 0) >= 2
            )

        await eventually(told_not_sent, "the batch signed, told to the ledger, its broadcast refused", within=60)
        kill(first)
    finally:
        await refusing.close()
    (before,) = await batch_txs(world)
    assert before["broadcast_count"] == 0
    assert [world.chain.token_balance(d) for d in destinations] == [0, 0, 0]  # nothing reached the chain

    await start_settlement(world, keys["hot"], tmp_path / "second", [world.chain.url], registry)
    await mine_until_confirmed(world, ids)
    await assert_paid_once(world, ids, destinations, amounts, before)


async def test_killed_between_broadcast_and_confirmation_the_restarted_settlement_confirms_the_same_batch_once(
    world: SweepWorld, keys: dict[str, KeyInfo], registry: list[parts.RunningProcess], tmp_path: Path
) -> None:
    ids, destinations, amounts = await queued_payouts(world, 3)
    world.chain.automine(False)  # broadcast, but no receipt until the test mines
    first = await start_settlement(world, keys["hot"], tmp_path / "first", [world.chain.url], registry)

    async def in_pool() -> bool:
        rows = await batch_txs(world)
        return len(rows) == 1 and rows[0]["status"] == "BROADCAST" and rows[0]["tx_hash"] in world.chain.pool_hashes()

    await eventually(in_pool, "the batch broadcast and waiting in the pool", within=60)
    (before,) = await batch_txs(world)
    kill(first)
    world.chain.automine(True)
    world.chain.mine(1)  # it lands while no settlement runs
    assert [world.chain.token_balance(d) for d in destinations] == amounts
    assert await ledger_statuses(world, ids) == ["BROADCAST"] * 3

    await start_settlement(world, keys["hot"], tmp_path / "second", [world.chain.url], registry)
    await mine_until_confirmed(world, ids)
    await assert_paid_once(world, ids, destinations, amounts, before)
