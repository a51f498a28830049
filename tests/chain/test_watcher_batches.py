"""The watcher's reports in batches, and finality read again during and after a long pass (real anvil, real ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc

from tests.chain.test_watcher import UNIT, World, chain, world
from watcher.reporter import LedgerReporter
from watcher.store import state
from watcher.store.state import Observed

__all__ = ["chain", "world"]  # the fixtures, shared with test_watcher.py

SERVICE = "/stablegate.ledger.v1.ChainObservationService/"


def calls(world: World, method: str, code: str = "OK") -> float:
    """How many calls of a ChainObservationService method the ledger handled with this status."""
    for label in (SERVICE + method, method):
        value = world.ledger.metric("grpc_server_handled_total", grpc_method=label, grpc_code=code)
        if value:
            return value
    return 0.0


async def test_a_burst_is_reported_in_batches_of_the_configured_size(world: World) -> None:
    world.scanner.reporter.batch_size = 3
    invoices = [await world.invoice("2") for _ in range(7)]
    world.chain.mint(world.chain.token, world.chain.accounts[1], 14 * UNIT)
    for invoice in invoices:
        world.chain.transfer(invoice.deposit_address, 2 * UNIT)
    await world.scanner.tick()

    # Every transfer recorded (those already under the finalized block reported FINAL and paid at once).
    assert {await world.status(i.id) for i in invoices} <= {"PROCESSING", "PAID"}
    assert calls(world, "RecordTransferObservations") == 3  # 3 + 3 + 1
    assert calls(world, "RecordTransferObservation") == 0
    assert [outcome for _, _, outcome in await world.observations()] == ["MATCHED"] * 7
    world.chain.mine(8)
    await world.scanner.tick()
    assert [await world.status(i.id) for i in invoices] == ["PAID"] * 7
    await world.ledger.assert_books_are_sound()


async def test_a_refused_batch_is_reported_one_by_one_and_the_bad_report_stops_the_pass(world: World) -> None:
    world.scanner.reporter.batch_size = 3
    first, bad, last = [await world.invoice("2") for _ in range(3)]
    world.chain.mint(world.chain.token, world.chain.accounts[1], 6 * UNIT)
    world.chain.transfer(first.deposit_address, 2 * UNIT)
    tx = world.chain.transfer(bad.deposit_address, 2 * UNIT)
    world.chain.transfer(last.deposit_address, 2 * UNIT)
    # The ledger already holds that transfer log with another amount: the watcher's report contradicts it.
    block, block_hash = world.chain.block_of(tx)
    await world.ledger.observe(bad.deposit_address, UNIT, "SEEN", tx=tx, block=block, block_hash=block_hash)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.scanner.tick()
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert calls(world, "RecordTransferObservations", "FAILED_PRECONDITION") == 1
    # Not dropped: the one before the bad one was recorded by its single report; the one after waits for the
    # next pass (the cursor did not move past the block), as when every report was a call of its own.
    assert await world.status(first.id) == "PROCESSING"
    assert await world.status(last.id) == "OPEN"
    async with world.scanner.pool.acquire() as conn:
        cursor = await state.cursor(conn, 97, 0)
    assert cursor.scanned_number < block


async def test_finality_is_read_again_after_a_long_pass_and_only_scanned_blocks_are_reported_final(
    world: World,
) -> None:
    invoice = await world.invoice("5")
    tx = world.chain.pay(invoice.deposit_address, 5 * UNIT)
    block, _ = world.chain.block_of(tx)
    reporter = world.scanner.reporter
    report = reporter.transfers

    async def slow_pass(items: Sequence[tuple[Observed, str, int | None]]) -> list[str]:
        # The pass takes long (a burst): the chain moves on and finalizes the payment's block meanwhile.
        done = await report(items)
        world.chain.mine(8)
        return done

    reporter.transfers = slow_pass  # type: ignore[method-assign]
    await world.scanner.tick()
    assert world.scanner.status.finalized < block  # the pass began before the payment's block was final
    assert await world.observations() == [("TOKEN", "FINAL", "MATCHED")]  # reported SEEN, then credited
    assert await world.status(invoice.id) == "PAID"  # in the same pass, not a pass later
    async with world.scanner.pool.acquire() as conn:
        cursor = await state.cursor(conn, 97, 0)
    # The finalized block is past the scan now; only what was scanned is reported final.
    head = await world.scanner.client.head()
    assert cursor.finalized_number == cursor.scanned_number < head
    await world.ledger.assert_books_are_sound()


async def test_transfers_whose_block_became_final_during_a_long_report_are_reported_final(world: World) -> None:
    world.scanner.reporter.batch_size = 2
    invoices = [await world.invoice("1") for _ in range(5)]
    world.chain.mint(world.chain.token, world.chain.accounts[1], 5 * UNIT)
    for invoice in invoices:
        world.chain.transfer(invoice.deposit_address, UNIT)
    reporter = world.scanner.reporter
    report = reporter.transfers
    sent: list[list[str]] = []

    async def slow_batches(items: Sequence[tuple[Observed, str, int | None]]) -> list[str]:
        sent.append([finality for _, finality, _ in items])
        done = await report(items)
        if len(sent) == 1:
            world.chain.mine(8)  # the first batch took long: every block of the chunk is final now
        return done

    reporter.transfers = slow_batches  # type: ignore[method-assign]
    await world.scanner.tick()
    assert sent[0][-1] == "SEEN"  # not final when the pass began
    assert sent[1:] == [["FINAL", "FINAL"], ["FINAL"]]  # final by the time they were reported
    assert [await world.status(i.id) for i in invoices] == ["PAID"] * 5
    await world.ledger.assert_books_are_sound()


class OlderLedger(obs_grpc.ChainObservationServiceServicer):
    """A ledger from before the batch call, on a real local gRPC server: single reports only."""

    def __init__(self) -> None:
        self.singles: list[str] = []
        self.batch_attempts = 0

    async def RecordTransferObservation(
        self, request: obs_pb.RecordTransferObservationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> obs_pb.RecordTransferObservationResponse:
        self.singles.append(request.observation.tx_hash)
        return obs_pb.RecordTransferObservationResponse(outcome=obs_pb.OBSERVATION_OUTCOME_MATCHED)

    async def RecordTransferObservations(
        self, request: obs_pb.RecordTransferObservationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> obs_pb.RecordTransferObservationsResponse:
        self.batch_attempts += 1
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")  # what the base class says
        raise AssertionError("unreachable")

    async def RecordFinality(
        self, request: obs_pb.RecordFinalityRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> obs_pb.RecordFinalityResponse:
        return obs_pb.RecordFinalityResponse()


async def test_a_ledger_without_the_batch_call_gets_single_reports_in_order() -> None:
    older = OlderLedger()
    server = grpc.aio.server()
    obs_grpc.add_ChainObservationServiceServicer_to_server(older, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reporter = LedgerReporter(channel, 97, batch_size=2)
            items = [
                Observed(
                    tx_hash=f"0x{n:064x}",
                    log_index=0,
                    block_hash="0x" + "b" * 64,
                    block_number=10 + n,
                    asset="TOKEN",
                    token="0x" + "e" * 40,
                    from_address="0x" + "c" * 40,
                    to_address="0x" + "d" * 40,
                    amount=UNIT,
                )
                for n in range(5)
            ]
            first = await reporter.transfers([(o, "SEEN", None) for o in items[:3]])
            second = await reporter.transfers([(o, "SEEN", None) for o in items[3:]])
    finally:
        await server.stop(None)
    assert first + second == ["MATCHED"] * 5
    assert older.singles == [o.tx_hash for o in items]  # every one, in order
    assert older.batch_attempts == 1  # asked once, then single reports from then on
