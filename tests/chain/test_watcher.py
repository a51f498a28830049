"""The watcher against a real anvil and the real ledger: seen, credited on finality, reorgs, wrong assets."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace

import asyncpg
import grpc
import pytest
from prometheus_client import CollectorRegistry
from stablegate.admin.v1 import stray_funds_admin_service_pb2 as stray_pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2_grpc as stray_grpc
from stablegate.merchant.v1 import invoice_pb2
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from chain.client import ChainClient, ChainError, ClientOptions
from gateway import parts
from tests.chain.chain_harness import Chain, rpc, start_chain, wait_until_fed
from tests.chain.fault_proxy import FaultProxy
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.scanner import InconsistentChain, MisconfiguredChain, Scanner, ScanOptions
from watcher.store.state import apply_migrations

UNIT = 10**18
GENESIS_TIME = 1_700_000_000
PAYMENTS_IN_SUITE = int(os.environ.get("STABLEGATE_FAULT_PAYMENTS", "300"))
"""The issue's 1,000 payments scaled to 300 to fit the suite's time budget (DECISIONS, "Suite time");
`bench/watcher_faults.py` runs this test with 1,000."""


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
        """A new invoice, once the watcher's feed shows its address (`wait_until_fed`)."""
        reply = await self.ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=amount), metadata=self.ledger.auth(self.key)
        )
        await wait_until_fed(self.scanner.reporter, [reply.invoice.deposit_address])
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


async def test_a_chain_rolled_back_below_the_scan_is_waited_for_then_handled_as_a_reorg(world: World) -> None:
    """What a SIGKILLed local anvil looks like when `up` loads its last dump: the head goes back below the blocks
    already scanned (a payment in them gone), then the chain makes other blocks at those heights."""
    invoice = await world.invoice("5")
    dumped = rpc(world.chain.url, "evm_snapshot")
    world.chain.pay(invoice.deposit_address, 5 * UNIT)  # mint and transfer: two blocks after the dump
    await world.scanner.tick()
    assert await world.status(invoice.id) == "PROCESSING"

    assert rpc(world.chain.url, "evm_revert", [dumped]) is True  # the chain as of the dump
    with pytest.raises(InconsistentChain, match="behind the scan"):
        await world.scanner.tick()  # it waits for the chain rather than scan or report anything
    assert await world.status(invoice.id) == "PROCESSING"
    world.chain.mine(3)  # other blocks at the same heights, and one more
    await world.scanner.tick()
    assert world.scanner.status.reorgs == 1
    assert await world.status(invoice.id) == "OPEN"
    assert "invoice.payment_reversed" in await world.ledger.events(invoice.id)
    world.chain.mine(10)
    await world.scanner.tick()
    assert await world.status(invoice.id) == "OPEN"
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
    world.scanner.watch.clear()  # as if the feed were read before the invoice existed
    head = await world.scanner.client.head()
    await world.scanner._scan(scanned_before, head, await world.scanner._finalized(head))
    assert await world.status(invoice.id) == "OPEN"  # the scan passed the payment by: the address was not known
    await world.scanner.tick()  # the feed brings the address; the lookback finds the payment
    assert await world.status(invoice.id) == "PROCESSING"


async def tick_as_the_service_does(scanner: Scanner) -> int:
    """One pass; a pass that fails on the chain is retried by the next (as `watcher.app.scan_forever` does)."""
    try:
        await scanner.tick()
    except (ChainError, InconsistentChain):
        return 1
    return 0


async def test_payments_are_each_credited_once_while_providers_die_lie_and_refuse(chain: Chain, ledger_db: str) -> None:
    """Two providers in phases of faults, at least one answering correctly at every moment (DECISIONS)."""
    a, b = FaultProxy(chain.url), FaultProxy(chain.url)
    await a.start()
    await b.start()
    registry = CollectorRegistry()
    await apply_migrations(ledger_db)
    count, amount = PAYMENTS_IN_SUITE, 3 * UNIT
    phases: list[tuple[str, str]] = [
        ("down", "ok"),
        ("http_error", "ok"),
        ("ok", "garbage"),
        ("stale", "ok"),
        ("ok", "range_limit"),
        ("rpc_error", "ok"),
        ("ok", "rate_limited"),
        ("ok", "ok"),
    ]
    async with running_ledger(ledger_db, token_contract=chain.token) as ledger:
        _, key = await ledger.merchant_with_key()
        pool = await asyncpg.create_pool(ledger_db, min_size=1, max_size=2)
        options = ClientOptions(
            timeout_seconds=2, rounds=3, backoff_seconds=0.01, fail_max=2, reset_timeout_seconds=0.3
        )
        client = ChainClient([a.url, b.url], options, registry=registry)
        scan = ScanOptions(chain_id=97, token=chain.token, start_block=1, max_range=40)
        scanner = Scanner(client, pool, LedgerReporter(ledger.watcher_channel, 97), scan, WatcherMetrics())
        world = World(chain, ledger, scanner, key)
        chain.mint(chain.token, chain.accounts[1], count * amount)
        invoices = [await world.invoice("3") for _ in range(count)]
        failed = 0
        try:
            per_phase = -(-count // len(phases))
            for index, (mode_a, mode_b) in enumerate(phases):
                if mode_a == "down":
                    await a.stop()
                elif a._runner is None:
                    await a.start()
                a.mode, b.mode = mode_a, mode_b
                for invoice in invoices[index * per_phase : (index + 1) * per_phase]:
                    chain.transfer(invoice.deposit_address, amount)
                for _ in range(3):
                    failed += await tick_as_the_service_does(scanner)
            chain.mine(10)
            await asyncio.sleep(0.4)  # past the breakers' reset timeout: the trial calls close them again
            for _ in range(3):
                assert await tick_as_the_service_does(scanner) == 0  # all well again: every pass succeeds
        finally:
            await client.close()
            await pool.close()
            await a.close()
            await b.close()

        statuses = [await world.status(i.id) for i in invoices]
        assert statuses == ["PAID"] * count
        merchant = invoices[0].merchant_id
        assert (await ledger.balances(merchant))["merchant_available"] == count * amount
        assert await ledger.value("SELECT count(*) FROM ledger.payments") == count
        await ledger.assert_books_are_sound()

    def sample(name: str, provider: str) -> float:
        return registry.get_sample_value(name, {"provider": provider}) or 0.0

    name_a, name_b = (p.name for p in client.providers)
    assert sample("chain_rpc_breaker_opened_total", name_a) >= 1  # it opened while A was down or failing
    assert sample("chain_rpc_breaker_opened_total", name_b) >= 1  # and while B answered garbage
    assert sample("chain_rpc_breaker_state", name_a) == 0  # and closed again once they answered
    assert sample("chain_rpc_breaker_state", name_b) == 0
    assert a.calls.get("range_limit", 0) + b.calls.get("range_limit", 0) > 0


async def test_the_watcher_refuses_to_scan_when_the_token_or_factory_is_not_a_contract_on_its_chain(
    chain: Chain, ledger_db: str
) -> None:
    await apply_migrations(ledger_db)
    pool = await asyncpg.create_pool(ledger_db, min_size=1, max_size=2)
    client = ChainClient([chain.url], ClientOptions(timeout_seconds=5, rounds=1))
    nowhere = "0x" + "5" * 40
    async with running_ledger(ledger_db) as ledger:
        reporter = LedgerReporter(ledger.watcher_channel, 97)
        options = ScanOptions(chain_id=97, token=nowhere, start_block=1)
        scanner = Scanner(client, pool, reporter, options, WatcherMetrics())
        no_factory = ScanOptions(chain_id=97, token=chain.token, factory=nowhere, start_block=1)
        try:
            with pytest.raises(MisconfiguredChain, match=r"token 0x5+ has no code on chain 97"):
                await scanner.tick()
            with pytest.raises(MisconfiguredChain, match=r"forwarder factory 0x5+ has no code"):
                await Scanner(client, pool, reporter, no_factory, WatcherMetrics()).tick()
            # The token is a contract, but its decimals() (18) are not the pinned ones: refused, nothing scanned.
            wrong_decimals = ScanOptions(chain_id=97, token=chain.token, token_decimals=6, start_block=1)
            with pytest.raises(MisconfiguredChain, match=r"has 18 decimals on chain 97, but 6 are pinned"):
                await Scanner(client, pool, reporter, wrong_decimals, WatcherMetrics()).tick()
            assert await ledger.value("SELECT count(*) FROM watcher.cursors") == 0  # nothing scanned
        finally:
            await client.close()
            await pool.close()


async def test_bnb_sent_directly_or_by_a_contracts_internal_call_is_found_and_reported_not_credited(
    world: World,
) -> None:
    from chain.contracts import Chain as Node
    from chain.contracts import Contract, load_artifact
    from chain.deploy import Roles, deploy
    from chain.rpc import JsonRpc

    direct, internal = await world.invoice("1"), await world.invoice("1")
    world.chain.send(world.chain.accounts[3], direct.deposit_address, "0x", value=2 * UNIT)
    # The treasury's moveNativeToCold sends BNB to its cold Safe in an internal call, which no log shows: make
    # the second invoice's deposit address that "Safe".
    node = Node(JsonRpc(world.chain.url))
    d = world.chain.accounts[0]
    roles = Roles(admin=d, sweeper=d, hot=d, cold_safe=internal.deposit_address, quarantine=world.chain.accounts[2])
    deployment = deploy(node, d, roles, token=world.chain.token)
    world.chain.send(d, deployment.treasury, "0x", value=3 * UNIT)
    Contract(node, deployment.treasury, load_artifact("Treasury")).transact("moveNativeToCold", 3 * UNIT, sender=d)
    world.chain.mine(10)
    world.scanner.options = replace(world.scanner.options, native_check_seconds=0.001)
    await world.scanner.tick()
    await world.scanner.tick()

    rows = await world.ledger.fetch(
        "SELECT to_address, amount, asset, status, outcome FROM watcher.observations ORDER BY amount"
    )
    found = [(r["to_address"], int(r["amount"]), r["asset"], r["status"], r["outcome"]) for r in rows]
    assert found == [
        (direct.deposit_address.lower(), 2 * UNIT, "NATIVE", "FINAL", "WRONG_ASSET"),
        (internal.deposit_address.lower(), 3 * UNIT, "NATIVE", "FINAL", "WRONG_ASSET"),
    ]
    for invoice in (direct, internal):
        assert await world.status(invoice.id) == "OPEN"
        assert "deposit.unexpected_asset" in await world.ledger.events(invoice.id)
    world.chain.mine(5)
    await world.scanner.tick()  # balances unchanged since: nothing reported again
    assert await world.ledger.value("SELECT count(*) FROM watcher.observations") == 2


@dataclass
class Twins:
    """Two nodes kept identical block for block: same genesis time, same transactions, same block times."""

    first: Chain
    second: Chain
    clock: Iterator[int]

    def on_both(self, action: Callable[[Chain], str]) -> str:
        """The same transaction in a block with the same time on both nodes: the same block hash."""
        at = next(self.clock)
        results = []
        for node in (self.first, self.second):
            rpc(node.url, "evm_setNextBlockTimestamp", [at])
            results.append(action(node))
        heads = [rpc(n.url, "eth_getBlockByNumber", ["latest", False])["hash"] for n in (self.first, self.second)]
        assert results[0] == results[1] and heads[0] == heads[1]
        return results[0]


@pytest.fixture
def twins() -> Iterator[Twins]:
    started: list[parts.RunningProcess] = []
    try:
        nodes = []
        for _ in range(2):
            port = parts.free_port()
            spec = parts.prepare_anvil(port)
            spec.argv += ["--timestamp", str(GENESIS_TIME)]
            started.append(parts.start(spec))
            url = f"http://127.0.0.1:{port}"
            nodes.append(Chain(url, [str(a).lower() for a in rpc(url, "eth_accounts")]))
        pair = Twins(nodes[0], nodes[1], iter(range(GENESIS_TIME + 1, GENESIS_TIME + 10_000)))
        token = pair.on_both(lambda n: n.deploy_token())
        pair.first.token = pair.second.token = token
        yield pair
    finally:
        for proc in started:
            proc.stop()


async def test_a_provider_flip_flop_reporting_a_payment_in_block_a_then_b_then_a_again_credits_it_once(
    twins: Twins, ledger_db: str
) -> None:
    """The first node reorgs the payment from block A into block B; the second keeps block A, and the watcher
    fails over to it: the payment is reported in A, then B, then A again, and credited once."""
    first, second, token = twins.first, twins.second, twins.first.token
    await apply_migrations(ledger_db)
    clients = [ChainClient([n.url], ClientOptions(timeout_seconds=5, rounds=2)) for n in (first, second)]
    async with running_ledger(ledger_db, token_contract=token) as ledger:
        _, key = await ledger.merchant_with_key()
        pool = await asyncpg.create_pool(ledger_db, min_size=1, max_size=2)
        options = ScanOptions(chain_id=97, token=token, start_block=1, max_range=50)
        scanner = Scanner(clients[0], pool, LedgerReporter(ledger.watcher_channel, 97), options, WatcherMetrics())
        world = World(first, ledger, scanner, key)
        try:
            invoice = await world.invoice("4")
            twins.on_both(lambda n: n.mint(token, n.accounts[1], 4 * UNIT))
            for _ in range(3):
                twins.on_both(lambda n: rpc(n.url, "anvil_mine", ["0x1"]) or "mined")
            tx = twins.on_both(lambda n: n.transfer(invoice.deposit_address, 4 * UNIT))
            _, hash_a = first.block_of(tx)
            await scanner.tick()  # block A, from the first node
            assert await world.status(invoice.id) == "PROCESSING"

            first.reorg(2, [(first.raw(tx), 0)])  # the first node moves the transfer to block B
            first.mine(1)
            _, hash_b = first.block_of(tx)
            assert hash_b != hash_a and second.block_of(tx)[1] == hash_a
            await scanner.tick()  # block B

            # Failover to the second node, which kept block A and has since grown past the scan.
            second.mine(20)
            scanner.client = clients[1]
            await scanner.tick()  # block A again
            second.mine(10)
            await scanner.tick()
        finally:
            await pool.close()
            for client in clients:
                await client.close()

        assert await world.status(invoice.id) == "PAID"
        assert (await ledger.balances(invoice.merchant_id))["merchant_available"] == 4 * UNIT
        assert await ledger.value("SELECT count(*) FROM ledger.payments") == 1
        rows = await ledger.fetch("SELECT block_hash, status FROM watcher.observations")
        assert sorted((r["block_hash"], r["status"]) for r in rows) == sorted([(hash_a, "FINAL"), (hash_b, "REORGED")])
        await ledger.assert_books_are_sound()


async def test_a_transfer_after_the_monitoring_window_is_held_unallocated_and_an_admin_allocates_it_once(
    world: World,
) -> None:
    """Stray funds made the real way: the watcher reports a transfer whose block is past the invoice's window."""
    late = await world.invoice("4")
    target = await world.invoice("4")
    world.chain.pay(late.deposit_address, 4 * UNIT)
    world.chain.mine(10)
    # The watcher reports it (final, so without a block time) when the ledger's clock is past the late invoice's
    # monitoring window (expiry plus 24 h): as after a watcher outage of a day.
    world.ledger.clock.advance(hours=26)
    await world.scanner.tick()
    await world.scanner.tick()
    rows = await world.ledger.fetch("SELECT id, status FROM ledger.payments WHERE invoice_id = $1", late.id)
    assert [r["status"] for r in rows] == ["UNALLOCATED"]
    payment_id = rows[0]["id"]
    stray = stray_grpc.StrayFundsAdminServiceStub(world.ledger.channel)
    auth = world.ledger.auth(world.ledger.admin_key)
    listed = await stray.ListStrayFunds(stray_pb.ListStrayFundsRequest(), metadata=auth)
    assert [(f.id, f.invoice_id) for f in listed.stray_funds] == [(payment_id, late.id)]

    allocate = stray_pb.AllocateStrayPaymentRequest(payment_id=payment_id, invoice_id=target.id, reason="late payer")
    await stray.AllocateStrayPayment(allocate, metadata=auth)
    assert await world.status(target.id) == "PAID"
    assert (await world.ledger.balances(late.merchant_id))["merchant_available"] == 4 * UNIT
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stray.AllocateStrayPayment(allocate, metadata=auth)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value).reason == "PAYMENT_ALREADY_ALLOCATED"
    assert (await world.ledger.balances(late.merchant_id))["merchant_available"] == 4 * UNIT
    await world.ledger.assert_books_are_sound()


class WatcherClock:
    """The watcher's clock, moved by hand (the ledger's is `world.ledger.clock`)."""

    def __init__(self) -> None:
        self.current = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.current


async def test_a_transfer_just_inside_the_retention_is_held_unallocated_and_one_after_it_is_not_watched(
    world: World,
) -> None:
    """Retained addresses: the configured token matched past the window (held unallocated), dropped after."""
    retention = dt.timedelta(days=2)
    world.scanner.options = replace(world.scanner.options, retention=retention)
    clock = WatcherClock()
    world.scanner.now = clock
    inside = await world.invoice("4")
    after = await world.invoice("6")
    await world.scanner.tick()  # both addresses in the watch set, inside their windows
    assert world.scanner.watch.active >= {inside.deposit_address.lower(), after.deposit_address.lower()}
    lookalike = world.chain.deploy_token()

    # Just inside the retention (a second before it ends): the token's transfer is reported and held
    # unallocated, never credited to the invoice; another token there is no longer looked for.
    end = inside.monitor_until_time.ToDatetime(tzinfo=dt.UTC)
    clock.current = end + retention - dt.timedelta(seconds=1)
    world.ledger.clock.current = clock.current  # the ledger's time too: the report (final) carries no block time
    world.chain.pay(inside.deposit_address, 4 * UNIT)
    world.chain.pay(inside.deposit_address, 1 * UNIT, token=lookalike)
    world.chain.mine(10)
    await world.scanner.tick()
    await world.scanner.tick()
    rows = await world.ledger.fetch("SELECT status, amount FROM ledger.payments WHERE invoice_id = $1", inside.id)
    assert [(r["status"], int(r["amount"])) for r in rows] == [("UNALLOCATED", 4 * UNIT)]
    assert "payment.unallocated" in await world.ledger.events(inside.id)
    assert await world.status(inside.id) in ("OPEN", "EXPIRED")  # never paid (the expiry job keeps its own time)
    assert (await world.ledger.balances(inside.merchant_id)).get("merchant_available", 0) == 0
    assert await world.observations() == [("TOKEN", "FINAL", "MATCHED")]  # the lookalike: not looked for
    assert inside.deposit_address.lower() in world.scanner.watch.retained

    # At the end of the retention the address is dropped: a transfer then is never reported.
    end = after.monitor_until_time.ToDatetime(tzinfo=dt.UTC)
    clock.current = world.ledger.clock.current = end + retention
    world.chain.pay(after.deposit_address, 6 * UNIT)
    world.chain.mine(10)
    await world.scanner.tick()
    await world.scanner.tick()
    assert not world.scanner.watch.matches(after.deposit_address.lower())
    assert await world.ledger.fetch("SELECT id FROM ledger.payments WHERE invoice_id = $1", after.id) == []
    assert len(await world.observations()) == 1
    await world.ledger.assert_books_are_sound()


async def test_a_scanner_taking_the_lease_back_reads_the_addresses_another_replica_added_meanwhile(
    world: World,
) -> None:
    """The watch set is kept in memory between passes; a feed moved by another replica makes it read again."""
    await world.scanner.tick()
    other = Scanner(
        world.scanner.client, world.scanner.pool, world.scanner.reporter, world.scanner.options, WatcherMetrics()
    )
    invoice = await world.invoice("3")
    await other.tick()  # the other replica reads the feed: the address is stored, the feed cursor moved
    assert invoice.deposit_address.lower() in other.watch.active
    world.chain.pay(invoice.deposit_address, 3 * UNIT)
    await world.scanner.tick()  # the first one again: its feed page is empty, the address comes from the table
    assert invoice.deposit_address.lower() in world.scanner.watch.active
    assert await world.status(invoice.id) == "PROCESSING"
