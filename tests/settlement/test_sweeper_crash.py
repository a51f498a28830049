"""The settlement process killed with SIGKILL mid-sweep and started again: the persisted signed transaction is
rebroadcast (never signed anew with another nonce), nothing is swept twice, and ledger and chain agree."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from gateway import parts
from service_runtime.mesh import Role
from tests.chain.fault_proxy import FaultProxy
from tests.settlement.settlement_harness import UNIT, SweepWorld, eventually


async def start_settlement(
    world: SweepWorld, base: Path, rpc_urls: list[str], registry: list[parts.RunningProcess]
) -> parts.RunningProcess:
    """`python -m settlement` with the sweeper on, against this world's ledger, signer and database."""
    await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
    env = {
        **world.ledger.pki.files(Role.SETTLEMENT).env("settlement"),
        "STABLEGATE_SETTLEMENT_DATABASE_URL": world.db,
        "STABLEGATE_SETTLEMENT_RPC_URLS": json.dumps(rpc_urls),
        "STABLEGATE_SETTLEMENT_RPC_TIMEOUT_SECONDS": "3",
        "STABLEGATE_SETTLEMENT_LEDGER_TARGET": f"127.0.0.1:{world.ledger.grpc_port}",
        "STABLEGATE_SETTLEMENT_SIGNER_TARGET": world.signer.target,
        "STABLEGATE_SETTLEMENT_SWEEPER_ENABLED": "true",
        "STABLEGATE_SETTLEMENT_SWEEPER_KEY_ID": world.key.key_id,
        "STABLEGATE_SETTLEMENT_SWEEPER_ADDRESS": world.key.address,
        "STABLEGATE_SETTLEMENT_FORWARDER_FACTORY": world.chain.factory.address,
        "STABLEGATE_SETTLEMENT_TOKEN_CONTRACT": world.chain.token,
        "STABLEGATE_SETTLEMENT_FEE_FLOOR_GAS_PRICE_WEI": "1",
        "STABLEGATE_SETTLEMENT_SWEEP_INTERVAL_SECONDS": "0.2",
        "STABLEGATE_SETTLEMENT_REBROADCAST_SECONDS": "0.5",
        "STABLEGATE_SETTLEMENT_STUCK_AFTER_SECONDS": "3600",
        "STABLEGATE_SETTLEMENT_LEASE_RETRY_SECONDS": "0.2",
        "STABLEGATE_SETTLEMENT_DRAIN_DELAY_SECONDS": "0",
    }
    spec, _ready = parts.prepare_service("settlement", base, env)
    proc = await asyncio.to_thread(parts.start, spec)  # the loop keeps serving the fault proxy meanwhile
    registry.append(proc)
    return proc


def kill(proc: parts.RunningProcess) -> None:
    """SIGKILL: no drain, no shutdown hook, the lease connection simply drops."""
    proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait(timeout=10)


async def transactions(world: SweepWorld) -> list[dict[str, Any]]:
    return await world.rows("SELECT * FROM settlement.chain_transactions ORDER BY nonce, version")


async def mine_until_recorded(world: SweepWorld, sweeps: int) -> None:
    async def recorded() -> bool:
        world.chain.mine(1)
        rows = await world.rows("SELECT count(*) AS n FROM settlement.sweeps WHERE status = 'RECORDED'")
        return int(rows[0]["n"]) >= sweeps

    await eventually(recorded, f"{sweeps} sweep(s) recorded", within=60, interval=0.2)


async def assert_swept_once(world: SweepWorld, amounts: list[int], tx: dict[str, Any]) -> None:
    """One sweep, one transaction (the one signed before the kill), and chain and ledger agree on it."""
    only(await transactions(world), tx)
    (sweep,) = await world.rows("SELECT * FROM settlement.sweeps")
    assert sweep["status"] == "RECORDED" and sweep["landed_tx_hash"] == tx["tx_hash"]
    assert world.chain.nonce() == 1
    assert world.chain.token_balance(world.chain.treasury) == sum(amounts)
    assert await world.rows("SELECT id, tx_hash FROM ledger.sweeps") == [{"id": sweep["id"], "tx_hash": tx["tx_hash"]}]
    assert await world.balance("treasury:USDT") == sum(amounts)
    assert await world.balance("chain_clearing:USDT") == 0
    assert await world.balance("gas_expense:BNB") == int(sweep["gas_used"]) * int(sweep["effective_gas_price_wei"])
    assert await world.sweepable() == []
    await world.ledger.assert_books_are_sound()


def only(rows: list[dict[str, Any]], before: dict[str, Any]) -> dict[str, Any]:
    """The one row, checked to carry the very bytes and hash stored before the kill."""
    (row,) = rows
    assert (row["nonce"], row["version"], row["tx_hash"]) == (before["nonce"], 0, before["tx_hash"])
    assert row["raw_transaction"] == before["raw_transaction"]
    return row


async def test_killed_between_signing_and_broadcast_the_stored_transaction_is_rebroadcast_once(
    world: SweepWorld, registry: list[parts.RunningProcess], tmp_path: Path
) -> None:
    amounts = [3 * UNIT, 5 * UNIT, 11 * UNIT]
    await world.paid_invoices(amounts)
    # The only provider answers everything but refuses to take a transaction.
    refusing = FaultProxy(world.chain.url, refuse={"eth_sendRawTransaction"})
    await refusing.start()
    try:
        first = await start_settlement(world, tmp_path / "first", [refusing.url], registry)

        async def signed() -> bool:
            rows = await transactions(world)
            return (
                len(rows) == 1
                and rows[0]["status"] == "SIGNED"
                and refusing.method_calls.get("eth_sendRawTransaction", 0) >= 2
            )

        await eventually(signed, "the sweep signed and stored, its broadcast refused", within=60)
        kill(first)
    finally:
        await refusing.close()
    (before,) = await transactions(world)
    assert before["broadcast_count"] == 0
    assert world.chain.nonce("pending") == 0  # nothing reached the chain

    await start_settlement(world, tmp_path / "second", [world.chain.url], registry)
    await mine_until_recorded(world, 1)
    await assert_swept_once(world, amounts, before)


async def test_leader_killed_between_broadcast_and_receipt_the_standby_lands_it_once_and_books_it_once(
    world: SweepWorld, registry: list[parts.RunningProcess], tmp_path: Path
) -> None:
    amounts = [2 * UNIT, 9 * UNIT]
    await world.paid_invoices(amounts)
    world.chain.automine(False)  # broadcast, but no receipt until the test mines
    first = await start_settlement(world, tmp_path / "first", [world.chain.url], registry)

    async def in_pool() -> bool:
        rows = await transactions(world)
        return len(rows) == 1 and rows[0]["status"] == "BROADCAST" and rows[0]["tx_hash"] in world.chain.pool_hashes()

    await eventually(in_pool, "the sweep broadcast and waiting in the pool", within=60)
    # A standby waits on the lease meanwhile; the leader dies without a word and the standby carries on.
    await start_settlement(world, tmp_path / "standby", [world.chain.url], registry)
    (before,) = await transactions(world)
    (led,) = await world.rows("SELECT recovered_at FROM settlement.nonces")
    kill(first)

    async def standby_leads() -> bool:
        (now,) = await world.rows("SELECT recovered_at FROM settlement.nonces")
        return bool(now["recovered_at"] > led["recovered_at"])

    await eventually(standby_leads, "the standby to take the lease and recover the key's nonces", within=30)
    # It took over while the sweep was still unmined in the pool: the chain counts it pending, not mined.
    assert await world.rows("SELECT chain_latest, chain_pending, next_nonce FROM settlement.nonces") == [
        {"chain_latest": 0, "chain_pending": 1, "next_nonce": 1}
    ]
    world.chain.automine(True)
    await mine_until_recorded(world, 1)
    await assert_swept_once(world, amounts, before)
