"""Real parts for payouts executed on chain: the settlement world (anvil with our contracts, the ledger, the signer
process with the SWEEPER and HOT keys of the module's SoftHSM token), merchants paid for real and swept, settlement
addresses made ACTIVE on the ledger's clock, and the payout executor run in-process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import payout_service_pb2 as po_pb
from stablegate.merchant.v1 import payout_service_pb2_grpc as po_grpc
from stablegate.merchant.v1 import settlement_address_service_pb2 as sa_pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as sa_grpc

from chain import abi
from chain.fees import FeeCaps
from gateway import parts
from settlement.ledger_client import GrpcPayoutLedger
from settlement.payout_executor import PayoutExecutor, PayoutOptions
from settlement.signing import SweepSigner
from signer.domain.purpose import KeyPurpose
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from tests.chain.chain_harness import rpc, wait_until_fed
from tests.settlement.settlement_harness import GWEI, UNIT, SweepChain, SweepWorld, eventually, sweep_world
from tests.settlement.test_sweeper_end_to_end import sweep_until_recorded
from tests.signer.conftest import hsm_config

SCOPES = ("payouts:read", "payouts:write", "balance:read", "invoices:read", "invoices:write")
COOLING_OFF_SECONDS = 24 * 3600  # the ledger's default
PAYOUT_BATCH_TOPIC = "0x" + abi.keccak256(b"PayoutBatch(bytes32,uint256,uint256)").hex()


def payout_policy(chain: SweepChain) -> str:
    """HOT keys may pay out batches from the treasury in the test token."""
    return f"""
  - name: payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{chain.treasury}]
    tokens: [{chain.token}]
    max_gas_limit: 30000000
    action: ALLOW
"""


def token_text(amount: int) -> str:
    """Base units as a token-unit decimal string."""
    whole, frac = divmod(amount, UNIT)
    return f"{whole}.{str(frac).rjust(18, '0').rstrip('0')}" if frac else str(whole)


async def pay_invoices(world: SweepWorld, invoices: list[tuple[str, int, int]]) -> list[str]:
    """(merchant key, invoice amount, amount paid) each: invoices paid for real, credited, then swept and booked."""
    ids, addresses = [], []
    for key, amount, _ in invoices:
        reply = await world.ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=token_text(amount)), metadata=world.ledger.auth(key)
        )
        ids.append(reply.invoice.id)
        addresses.append(reply.invoice.deposit_address.lower())
    await wait_until_fed(world.scanner.reporter, addresses)
    world.chain.chain.mint(world.chain.token, world.chain.chain.accounts[1], sum(paid for _, _, paid in invoices))
    for address, (_, _, paid) in zip(addresses, invoices, strict=True):
        world.chain.chain.transfer(address, paid)
    world.chain.mine(8)

    async def all_credited() -> bool:
        await world.scanner.tick()
        rows = await world.ledger.fetch("SELECT status FROM ledger.invoices WHERE id = ANY($1::text[])", ids)
        return len(rows) == len(ids) and all(r["status"] in ("PAID", "OVERPAID") for r in rows)

    await eventually(all_credited, "every invoice credited", within=90)
    swept = len(await world.rows("SELECT id FROM settlement.sweeps WHERE status = 'RECORDED'"))
    await sweep_until_recorded(world, world.sweeper(), swept + 1)
    return ids


async def active_address(world: SweepWorld, key: str, address: str) -> str:
    """Register `address` as the merchant's settlement address and confirm it with the emailed code; its id."""
    stub = sa_grpc.SettlementAddressServiceStub(world.ledger.channel)
    created = (
        await stub.CreateSettlementAddress(
            sa_pb.CreateSettlementAddressRequest(address=address), metadata=world.ledger.auth(key)
        )
    ).settlement_address
    body = await world.ledger.value(
        "SELECT n.body FROM ledger.notifications n JOIN ledger.outbox o ON o.event_id = n.event_id "
        "WHERE o.subject_id = $1",
        created.id,
    )
    code = re.search(r"Confirmation code: (\d{8})", body)
    assert code is not None
    await stub.ConfirmSettlementAddress(
        sa_pb.ConfirmSettlementAddressRequest(id=created.id, code=code.group(1)), metadata=world.ledger.auth(key)
    )
    return created.id


async def create_payout(world: SweepWorld, key: str, destination: str, amount: int) -> str:
    """A payout of `amount` base units to the merchant's settlement address; its id."""
    reply = await po_grpc.PayoutServiceStub(world.ledger.channel).CreatePayout(
        po_pb.CreatePayoutRequest(destination_address=destination, amount=token_text(amount)),
        metadata=world.ledger.auth(key),
    )
    return reply.payout.id


def fresh_address() -> str:
    """A new address nobody holds tokens at (checksummed)."""
    return str(Account.create().address)


def executor(world: SweepWorld, hot: KeyInfo, **changes: Any) -> PayoutExecutor:
    """An in-process payout executor on this world's parts."""
    options = PayoutOptions(
        chain_id=97,
        key_id=hot.key_id,
        hot_address=hot.address.lower(),
        treasury=world.chain.treasury,
        token=world.chain.token,
        fee_caps=FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=50 * GWEI, priority_fee_wei=GWEI // 10),
        max_batch=50,
        stuck_after_seconds=3600,
        rebroadcast_seconds=0,
    )
    return PayoutExecutor(
        world.client(),
        world.pool,
        SweepSigner(world.signer.channel()),
        GrpcPayoutLedger(world.ledger_channel),
        options=replace(options, **changes),
    )


async def run_until_confirmed(world: SweepWorld, paying: PayoutExecutor, payout_ids: list[str]) -> None:
    """Executor passes, mining between them, until every payout is CONFIRMED at the ledger."""

    async def confirmed() -> bool:
        await paying.tick()
        world.chain.mine(5)  # anvil's `finalized` trails the head by a few blocks
        rows = await world.rows("SELECT status FROM ledger.payouts WHERE id = ANY($1::text[])", payout_ids)
        return len(rows) == len(payout_ids) and all(r["status"] == "CONFIRMED" for r in rows)

    await eventually(confirmed, "every payout CONFIRMED", within=90, interval=0.05)


def payout_batch_events(world: SweepWorld, batch_id: str | None = None) -> list[dict[str, Any]]:
    """The treasury's PayoutBatch events (all, or one batch id's), oldest first."""
    topics: list[Any] = [PAYOUT_BATCH_TOPIC] + ([batch_id] if batch_id else [])
    logs = rpc(
        world.chain.url,
        "eth_getLogs",
        [{"address": world.chain.treasury, "fromBlock": "0x0", "toBlock": "latest", "topics": topics}],
    )
    return [
        {
            "batch_id": str(entry["topics"][1]).lower(),
            "tx_hash": str(entry["transactionHash"]).lower(),
            "count": int(str(entry["data"])[2:66], 16),
            "total": int(str(entry["data"])[66:130], 16),
        }
        for entry in logs
    ]


@pytest.fixture(scope="module")
async def keys(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[dict[str, KeyInfo]]:
    """The SWEEPER and HOT keys, made in the module's HSM token."""
    store = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await store.start()
    made = {
        "sweeper": await store.create_key(KeyPurpose.SWEEPER, "sweeper"),
        "hot": await store.create_key(KeyPurpose.HOT, "hot"),
    }
    yield made
    await store.close()


@pytest.fixture
def registry() -> Iterator[list[parts.RunningProcess]]:
    """Processes a test starts (its anvil, signer, settlement), stopped at its end."""
    started: list[parts.RunningProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@asynccontextmanager
async def payout_world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
    **ledger_settings: Any,
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose treasury's HOT key is the HSM's, with a signer policy that lets it pay out; the ledger
    started with `ledger_settings` (e.g. `payout_fee_base_units`)."""
    async with sweep_world(
        ledger_db,
        keys["sweeper"],
        softhsm_token,
        registry,
        tmp_path,
        hot=keys["hot"].address,
        extra_policy=payout_policy,
        ledger_settings=ledger_settings,
    ) as made:
        yield made


@pytest.fixture
async def world(
    keys: dict[str, KeyInfo],
    softhsm_token: parts.SoftHsmToken,
    ledger_db: str,
    registry: list[parts.RunningProcess],
    tmp_path: Path,
) -> AsyncIterator[SweepWorld]:
    """A fresh world whose treasury's HOT key is the HSM's, with a signer policy that lets it pay out."""
    async with payout_world(keys, softhsm_token, ledger_db, registry, tmp_path) as made:
        yield made
