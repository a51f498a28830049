"""BNB top-ups of the signing keys: `stablegate gas top-up` checks the funding transaction on the chain, the ledger
books it once (Dr gas_float / Cr platform_capital), and reconciliation then finds the keys' BNB matched."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account import Account
from stablegate.settlement.v1 import reconciliation_service_pb2 as rec_pb

from gateway import parts
from tests.settlement.recon_harness import UNIT, World, rpc, world_on
from tests.settlement.test_reconcile_cli import Ran, cli_env

KEY = Account.create().address.lower()
"""A signing key that holds no BNB until the operator tops it up."""
LINE = rec_pb.ReconciliationLineStatus


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with world_on(ledger_db, signing_key_addresses=[KEY]) as made:
        yield made


async def top_up(world: World, tx_hash: str) -> Ran:
    """Run `stablegate gas top-up --json` in a child process, as an operator would."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "gas",
        "top-up",
        "--tx-hash",
        tx_hash,
        "--json",
        env=cli_env(world, SIGNING_KEY_ADDRESSES=json.dumps([KEY])),
        cwd=parts.REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def send_bnb(world: World, to: str, wei: int) -> str:
    """A plain BNB transfer from a funded anvil account; its hash (mined at once)."""
    sender = rpc(world.anvil_url, "eth_accounts")[1]
    return str(rpc(world.anvil_url, "eth_sendTransaction", [{"from": sender, "to": to, "value": hex(wei)}]))


async def balance(world: World, code: str) -> int:
    value = await world.ledger.value("SELECT balance FROM ledger.accounts WHERE code = $1", code)
    return int(value) if value is not None else 0


async def top_up_events(world: World) -> list[dict[str, Any]]:
    rows = await world.ledger.fetch("SELECT payload FROM ledger.outbox WHERE event_type = 'gas_top_up.recorded'")
    return [json.loads(r["payload"])["data"] for r in rows]


async def test_a_bnb_top_up_is_checked_on_chain_booked_once_and_the_keys_bnb_reconciles(world: World) -> None:
    amount = 3 * UNIT + 12345
    tx_hash = send_bnb(world, KEY, amount)

    # Mined but not final yet: refused, nothing booked.
    early = await top_up(world, tx_hash)
    assert early.code == 1 and json.loads(early.err)["reason"] == "NOT_FINAL"
    assert await balance(world, "gas_float:BNB") == 0

    world.mine(10)
    booked = await top_up(world, tx_hash)
    assert booked.code == 0, booked.err
    body = json.loads(booked.out)
    assert (body["key_address"], body["amount_wei"], body["already_recorded"]) == (KEY, str(amount), False)
    assert await balance(world, "gas_float:BNB") == amount
    assert await balance(world, "platform_capital:BNB") == amount
    assert [e["amount_wei"] for e in await top_up_events(world)] == [str(amount)]

    # The same transaction again books nothing new.
    again = await top_up(world, tx_hash.upper().replace("0X", "0x"))
    assert again.code == 0 and json.loads(again.out)["already_recorded"] is True
    assert json.loads(again.out)["journal_transaction_id"] == body["journal_transaction_id"]
    assert await balance(world, "gas_float:BNB") == amount
    assert len(await top_up_events(world)) == 1

    # Transfers that are no top-up of a signing key are refused with their reason; nothing is booked.
    elsewhere = send_bnb(world, Account.create().address, UNIT)
    world.mine(10)
    refused = await top_up(world, elsewhere)
    assert refused.code == 1 and json.loads(refused.err)["reason"] == "NOT_TO_A_SIGNING_KEY"
    unknown = await top_up(world, "0x" + os.urandom(32).hex())
    assert unknown.code == 1 and json.loads(unknown.err)["reason"] == "TX_NOT_FOUND"
    assert await balance(world, "gas_float:BNB") == amount
    await world.ledger.assert_books_are_sound()

    # The key's BNB and gas_float agree.
    report = await world.run()
    gas = next(line for line in report.lines if line.kind == "gas_float")
    assert gas.status == LINE.RECONCILIATION_LINE_STATUS_MATCHED
    assert gas.chain_balance_base_units == gas.ledger_balance_base_units == str(amount)
