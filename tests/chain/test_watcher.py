"""The watcher against a real anvil and the real ledger: seen, credited on finality, reorgs, wrong assets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from chain.client import ChainClient, ClientOptions
from gateway import parts
from tests.chain.chain_harness import Chain, start_chain
from tests.ledger.ledger_harness import Ledger, running_ledger
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.scanner import Scanner, ScanOptions
from watcher.store.state import apply_migrations

UNIT = 10**18


@pytest.fixture
def chain() -> Iterator[Chain]:
    started: list[parts.RunningProcess] = []
    try:
        yield start_chain("watcher", started)
    finally:
        for proc in started:
            proc.stop()


@dataclass
class World:
    """A chain, a ledger that knows its token, and a scanner between them (ticked by hand)."""

    chain: Chain
    ledger: Ledger
    scanner: Scanner
    key: str

    async def invoice(self, amount: str) -> invoice_pb2.Invoice:
        reply = await self.ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=amount), metadata=self.ledger.auth(self.key)
        )
        return reply.invoice

    async def status(self, invoice_id: str) -> str:
        reply = await self.ledger.invoices.GetInvoice(
            inv_pb.GetInvoiceRequest(id=invoice_id), metadata=self.ledger.auth(self.key)
        )
        return str(invoice_pb2.InvoiceStatus.Name(reply.invoice.status)).removeprefix("INVOICE_STATUS_")

    async def observations(self) -> list[tuple[str, str, str]]:
        """(asset, status, outcome) of every observation the watcher stored."""
        rows = await self.ledger.fetch(
            "SELECT asset, status, outcome FROM watcher.observations ORDER BY block_number, log_index, status"
        )
        return [(r["asset"], r["status"], r["outcome"]) for r in rows]


@pytest.fixture
async def world(chain: Chain, ledger_db: str) -> AsyncIterator[World]:
    await apply_migrations(ledger_db)
    async with running_ledger(ledger_db, token_contract=chain.token) as ledger:
        _, key = await ledger.merchant_with_key()
        pool = await asyncpg.create_pool(ledger_db, min_size=1, max_size=2)
        client = ChainClient([chain.url], ClientOptions(timeout_seconds=5, rounds=2))
        options = ScanOptions(chain_id=97, token=chain.token, start_block=1, max_range=50)
        scanner = Scanner(client, pool, LedgerReporter(ledger.watcher_channel, 97), options, WatcherMetrics())
        try:
            yield World(chain, ledger, scanner, key)
        finally:
            await client.close()
            await pool.close()


async def test_a_payment_to_a_never_deployed_address_is_processing_then_paid_only_at_finality(world: World) -> None:
    invoice = await world.invoice("10")
    code = parts.json_rpc(world.chain.url, "eth_getCode", [invoice.deposit_address, "latest"])
    assert code == "0x"  # nothing deployed there: the address is CREATE2 math only
    tx = world.chain.pay(invoice.deposit_address, 10 * UNIT)
    block, _ = world.chain.block_of(tx)

    await world.scanner.tick()
    assert world.scanner.status.finalized < block  # anvil finalizes a few blocks behind the head
    assert await world.status(invoice.id) == "PROCESSING"
    await world.scanner.tick()  # nothing new: still not credited
    assert await world.status(invoice.id) == "PROCESSING"

    world.chain.mine(8)
    await world.scanner.tick()
    assert world.scanner.status.finalized >= block
    assert await world.status(invoice.id) == "PAID"
    balances = await world.ledger.balances(invoice.merchant_id)
    assert balances["merchant_available"] == 10 * UNIT
    assert await world.observations() == [("TOKEN", "FINAL", "MATCHED")]
    await world.ledger.assert_books_are_sound()


async def test_a_reorg_that_drops_a_seen_payment_reverses_it_and_never_credits_it(world: World) -> None:
    invoice = await world.invoice("5")
    world.chain.pay(invoice.deposit_address, 5 * UNIT)  # mint and transfer: two blocks
    await world.scanner.tick()
    assert await world.status(invoice.id) == "PROCESSING"

    world.chain.reorg(2)  # both blocks replaced by empty ones: the transfer is gone
    await world.scanner.tick()
    assert world.scanner.status.reorgs == 1
    assert await world.status(invoice.id) == "OPEN"
    assert "invoice.payment_reversed" in await world.ledger.events(invoice.id)
    world.chain.mine(10)
    await world.scanner.tick()
    assert await world.status(invoice.id) == "OPEN"
    assert (await world.ledger.balances(invoice.merchant_id)).get("merchant_available", 0) == 0
    assert await world.observations() == [("TOKEN", "REORGED", "REVERSED")]
    await world.ledger.assert_books_are_sound()


async def test_a_reorg_that_moves_a_payment_to_another_block_credits_it_once(world: World) -> None:
    invoice = await world.invoice("7")
    world.chain.mint(world.chain.token, world.chain.accounts[1], 7 * UNIT)
    world.chain.mine(3)
    tx = world.chain.transfer(invoice.deposit_address, 7 * UNIT)
    old_block, old_hash = world.chain.block_of(tx)
    await world.scanner.tick()
    assert await world.status(invoice.id) == "PROCESSING"

    # The top two blocks are replaced; the transfer comes back in the first of them, a block lower than before.
    world.chain.reorg(2, [(world.chain.raw(tx), 0)])
    world.chain.mine(1)
    new_block, new_hash = world.chain.block_of(tx)
    assert new_hash != old_hash
    await world.scanner.tick()
    world.chain.mine(10)
    await world.scanner.tick()

    assert await world.status(invoice.id) == "PAID"
    assert (await world.ledger.balances(invoice.merchant_id))["merchant_available"] == 7 * UNIT
    assert new_block == old_block - 1
    statuses = sorted(s for _, s, _ in await world.observations())
    assert statuses == ["FINAL", "REORGED"]
    await world.ledger.assert_books_are_sound()


async def test_a_lookalike_token_is_recorded_and_not_credited(world: World) -> None:
    invoice = await world.invoice("3")
    lookalike = world.chain.deploy_token()  # same code, same symbol, another address
    world.chain.pay(invoice.deposit_address, 3 * UNIT, token=lookalike)
    world.chain.mine(10)
    await world.scanner.tick()
    await world.scanner.tick()

    assert await world.status(invoice.id) == "OPEN"
    assert await world.observations() == [("OTHER_TOKEN", "FINAL", "WRONG_ASSET")]
    rows = await world.ledger.fetch("SELECT token FROM watcher.observations")
    assert [r["token"] for r in rows] == [lookalike]


async def test_an_address_made_after_its_block_was_scanned_is_still_found(world: World) -> None:
    # The watcher scans first; the invoice (and the payment) come after that block is already behind it.
    await world.scanner.tick()
    invoice = await world.invoice("2")
    world.chain.pay(invoice.deposit_address, 2 * UNIT)
    scanned_before = world.scanner.status.scanned
    world.scanner._watched = set()  # as if the feed were read before the invoice existed
    await world.scanner._scan(scanned_before, world.chain.head(), await world.scanner._finalized(world.chain.head()))
    assert await world.status(invoice.id) == "OPEN"  # the scan passed the payment by: the address was not known
    await world.scanner.tick()  # the feed brings the address; the lookback finds the payment
    assert await world.status(invoice.id) == "PROCESSING"
