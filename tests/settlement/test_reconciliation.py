"""Reconciliation on real parts: anvil with our contracts, the ledger, the watcher's scanner, settlement over mTLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import asyncpg
import grpc
import pytest
from stablegate.settlement.v1 import reconciliation_service_pb2 as rec_pb
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as rec_grpc

from chain.client import ChainClient, ClientOptions
from gateway import parts
from service_runtime import mesh
from service_runtime.mesh import Role
from settlement.reconcile_service import Reconciler, reconcile_forever, targets_from
from settlement.reconcile_sources import ChainReader, LedgerReader
from tests.conftest import error_info
from tests.settlement.recon_harness import UNIT, World, world_on

LINE = rec_pb.ReconciliationLineStatus


@pytest.fixture
async def world(ledger_db: str) -> AsyncIterator[World]:
    async with world_on(ledger_db) as world:
        yield world


def tokens(base_units: int) -> str:
    """An amount in token units, exactly (18 decimals)."""
    return f"{base_units // UNIT}.{base_units % UNIT:018d}"


def lines(report: rec_pb.ReconciliationReport) -> dict[str, tuple[str, str, str, int]]:
    """account → (chain, ledger, difference, line status) of a report."""
    return {
        line.account: (
            line.chain_balance_base_units,
            line.ledger_balance_base_units,
            line.difference_base_units,
            line.status,
        )
        for line in report.lines
    }


async def test_paid_invoices_reconcile_to_zero_then_tokens_minted_to_the_treasury_are_a_difference(
    world: World,
) -> None:
    amounts = [10 * UNIT + 7, 3 * UNIT + 1, 25 * UNIT]  # odd base units: nothing may round
    invoices = [await world.invoice(tokens(a)) for a in amounts]
    for invoice, amount in zip(invoices, amounts, strict=True):
        world.pay(invoice.deposit_address, amount)
    await world.settle()
    assert [await world.status(i.id) for i in invoices] == ["PAID"] * 3

    report = await world.run()
    assert report.status == rec_pb.RECONCILIATION_STATUS_MATCHED, report
    assert report.mismatch_count == 0
    got = lines(report)
    assert got["chain_clearing:USDT"] == (
        str(sum(amounts)),
        str(sum(amounts)),
        "0",
        LINE.RECONCILIATION_LINE_STATUS_MATCHED,
    )
    assert got["treasury:USDT"] == ("0", "0", "0", LINE.RECONCILIATION_LINE_STATUS_MATCHED)
    assert got["cold_storage:USDT"] == ("0", "0", "0", LINE.RECONCILIATION_LINE_STATUS_MATCHED)
    gas = next(line for line in report.lines if line.kind == "gas_float")
    assert gas.status == LINE.RECONCILIATION_LINE_STATUS_SKIPPED and "no gas_float account" in gas.note
    head = int(world.contracts.chain.rpc.request("eth_blockNumber"), 16)
    assert 0 < report.block_number < head  # the finalized block, behind the head
    assert world.metric("settlement_reconciliation_difference_base_units", asset="USDT", account="treasury:USDT") == 0

    minted = 1_250_000_000_000_000_000  # exactly representable as a float, so the gauge shows it exactly too
    world.token.transact("mint", world.treasury, minted, sender=world.contracts.deployer)
    world.mine(10)
    report = await world.run()
    assert report.status == rec_pb.RECONCILIATION_STATUS_MISMATCHED
    assert report.mismatch_count == 1
    got = lines(report)
    assert got["treasury:USDT"] == (str(minted), "0", str(minted), LINE.RECONCILIATION_LINE_STATUS_MISMATCHED)
    assert got["chain_clearing:USDT"][3] == LINE.RECONCILIATION_LINE_STATUS_MATCHED
    assert world.metric(
        "settlement_reconciliation_difference_base_units", asset="USDT", account="treasury:USDT"
    ) == float(minted)

    # The report row, and the alert in the ledger's outbox; the ledger's books are untouched (never a silent fix).
    row = await world.ledger.fetch(
        "SELECT chain_balance, ledger_balance, difference, status FROM settlement.reconciliation_lines "
        "WHERE report_id = $1 AND account = 'treasury:USDT'",
        report.id,
    )
    assert [(int(r["chain_balance"]), int(r["ledger_balance"]), int(r["difference"]), r["status"]) for r in row] == [
        (minted, 0, minted, "MISMATCHED")
    ]
    events = await world.ledger.fetch(
        "SELECT event_type, merchant_id, payload FROM ledger.outbox WHERE subject_id = $1", report.id
    )
    assert [(e["event_type"], e["merchant_id"]) for e in events] == [("reconciliation.difference", None)]
    data = json.loads(events[0]["payload"])["data"]
    assert data["account"] == "treasury:USDT" and data["difference_base_units"] == str(minted)
    assert data["block_number"] == str(report.block_number)
    treasury_balance = await world.ledger.value("SELECT balance FROM ledger.accounts WHERE code = 'treasury:USDT'")
    assert treasury_balance is None  # nothing was booked to make the difference go away


async def test_a_transfer_out_of_the_treasury_the_gateway_did_not_make_is_reported_with_the_exact_difference(
    world: World,
) -> None:
    amounts = [40 * UNIT + 3, 60 * UNIT + 11]
    invoices = [await world.invoice(tokens(a)) for a in amounts]
    for invoice, amount in zip(invoices, amounts, strict=True):
        world.pay(invoice.deposit_address, amount)
    await world.settle()
    # The sweep and the move to cold happen on chain for real; their postings are what settlement's sweeper books.
    world.sweep([i.id for i in invoices])
    await world.book("sweep", [("treasury", "D", sum(amounts)), ("chain_clearing", "C", sum(amounts))])
    to_cold = 30 * UNIT
    world.move_to_cold(to_cold)
    await world.book("cold_move", [("cold_storage", "D", to_cold), ("treasury", "C", to_cold)])
    world.mine(10)
    before = await world.run()
    assert before.status == rec_pb.RECONCILIATION_STATUS_MATCHED, before
    hot = sum(amounts) - to_cold
    assert lines(before)["treasury:USDT"] == (str(hot), str(hot), "0", LINE.RECONCILIATION_LINE_STATUS_MATCHED)
    assert lines(before)["cold_storage:USDT"][:3] == (str(to_cold), str(to_cold), "0")
    assert lines(before)["chain_clearing:USDT"][:3] == ("0", "0", "0")  # swept: nothing left at the deposits

    stolen = 17 * UNIT + 5
    world.steal_from_treasury(stolen, world.contracts.accounts[7])
    world.mine(10)
    after = await world.run()
    assert after.status == rec_pb.RECONCILIATION_STATUS_MISMATCHED
    assert after.mismatch_count == 1
    assert lines(after)["treasury:USDT"] == (
        str(hot - stolen),
        str(hot),
        str(-stolen),
        LINE.RECONCILIATION_LINE_STATUS_MISMATCHED,
    )
    assert {a: v[3] for a, v in lines(after).items() if a != "treasury:USDT"} == {
        "cold_storage:USDT": LINE.RECONCILIATION_LINE_STATUS_MATCHED,
        "chain_clearing:USDT": LINE.RECONCILIATION_LINE_STATUS_MATCHED,
        "gas_float:BNB": LINE.RECONCILIATION_LINE_STATUS_SKIPPED,
    }
    gauge = world.metric("settlement_reconciliation_difference_base_units", asset="USDT", account="treasury:USDT")
    assert gauge == float(-stolen)
    events = await world.ledger.fetch("SELECT payload FROM ledger.outbox WHERE subject_id = $1", after.id)
    assert [json.loads(e["payload"])["data"]["difference_base_units"] for e in events] == [str(-stolen)]
    stored = await world.reports.GetReconciliationReport(rec_pb.GetReconciliationReportRequest(id=after.id))
    assert stored.report == after

    # A report at the earlier block still reads the chain and the ledger as they were then: matched.
    again = await world.run(block_number=before.block_number)
    assert again.status == rec_pb.RECONCILIATION_STATUS_MATCHED
    assert again.block_number == before.block_number


async def report_count(world: World) -> int:
    return int(await world.ledger.value("SELECT count(*) FROM settlement.reconciliation_reports"))


async def test_reports_are_idempotent_by_request_id_and_listed_newest_first_in_pages(world: World) -> None:
    first = await world.run("nightly-1")
    assert await world.run("nightly-1") == first  # the same request id: the first run's report, not a new run
    second, third = await world.run("nightly-2"), await world.run("nightly-3")
    assert await report_count(world) == 3

    page = await world.reports.ListReconciliationReports(rec_pb.ListReconciliationReportsRequest(page_size=2))
    assert [r.id for r in page.reports] == [third.id, second.id]
    assert all(not r.lines for r in page.reports)  # lines only in GetReconciliationReport
    rest = await world.reports.ListReconciliationReports(
        rec_pb.ListReconciliationReportsRequest(page_size=2, page_token=page.next_page_token)
    )
    assert [r.id for r in rest.reports] == [first.id] and rest.next_page_token == ""
    mismatched = await world.reports.ListReconciliationReports(
        rec_pb.ListReconciliationReportsRequest(status=rec_pb.RECONCILIATION_STATUS_MISMATCHED)
    )
    assert list(mismatched.reports) == []


@pytest.mark.parametrize(
    ("call", "code", "reason"),
    [
        ("get_unknown", grpc.StatusCode.NOT_FOUND, "REPORT_NOT_FOUND"),
        ("get_without_id", grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        ("list_bad_token", grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID"),
        ("list_token_of_other_filter", grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID"),
        ("list_negative_size", grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_INVALID"),
        ("run_without_request_id", grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        ("run_other_chain", grpc.StatusCode.INVALID_ARGUMENT, "CHAIN_MISMATCH"),
        ("run_unfinalized_block", grpc.StatusCode.INVALID_ARGUMENT, "BLOCK_NOT_FINALIZED"),
    ],
)
async def test_bad_requests_get_specific_errors_and_store_nothing(
    world: World, call: str, code: grpc.StatusCode, reason: str
) -> None:
    await world.run("seed")
    page = await world.reports.ListReconciliationReports(rec_pb.ListReconciliationReportsRequest(page_size=1))
    stub = world.reports
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get_unknown": lambda: stub.GetReconciliationReport(rec_pb.GetReconciliationReportRequest(id="rec_nope")),
        "get_without_id": lambda: stub.GetReconciliationReport(rec_pb.GetReconciliationReportRequest()),
        "list_bad_token": lambda: stub.ListReconciliationReports(
            rec_pb.ListReconciliationReportsRequest(page_token="not-a-token")
        ),
        "list_token_of_other_filter": lambda: stub.ListReconciliationReports(
            rec_pb.ListReconciliationReportsRequest(
                page_token=page.next_page_token or "x", status=rec_pb.RECONCILIATION_STATUS_MATCHED
            )
        ),
        "list_negative_size": lambda: stub.ListReconciliationReports(
            rec_pb.ListReconciliationReportsRequest(page_size=-1)
        ),
        "run_without_request_id": lambda: stub.RunReconciliation(rec_pb.RunReconciliationRequest()),
        "run_other_chain": lambda: stub.RunReconciliation(rec_pb.RunReconciliationRequest(request_id="x", chain_id=56)),
        "run_unfinalized_block": lambda: stub.RunReconciliation(
            rec_pb.RunReconciliationRequest(request_id="y", block_number=10**9)
        ),
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls[call]()
    assert caught.value.code() == code
    assert error_info(caught.value).reason == reason
    assert await report_count(world) == 1


async def test_only_operators_may_call_reconciliation(world: World) -> None:
    async with mesh.channel(f"127.0.0.1:{world.grpc_port}", world.ledger.pki.files(Role.WATCHER)) as channel:
        stub = rec_grpc.ReconciliationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunReconciliation(rec_pb.RunReconciliationRequest(request_id="z"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).reason == "MESH_ROLE_NOT_ALLOWED"
    assert await report_count(world) == 0


async def test_the_periodic_job_reconciles_inside_the_settlement_process(ledger_db: str) -> None:
    async with world_on(ledger_db, reconcile_interval_seconds=10) as world:
        deadline = time.monotonic() + 20
        while not (
            rows := await world.ledger.fetch(
                "SELECT request_id, status, error FROM settlement.reconciliation_reports WHERE trigger = 'job'"
            )
        ):
            assert time.monotonic() < deadline, "the periodic job never ran"
            await asyncio.sleep(0.1)
        assert rows[0]["status"] == "MATCHED", rows[0]["error"]
        assert rows[0]["request_id"].startswith("job:97:")  # one report per interval slot, whichever replica runs it
        # The job counts its run after the report's insert has committed (and its connection gone back to the
        # pool), so the row can be visible a moment before the count: wait for the count, within the deadline.
        while not (world.metric("settlement_reconciliation_runs_total", status="MATCHED") or 0.0) >= 1:
            assert time.monotonic() < deadline, "the periodic job's run was never counted"
            await asyncio.sleep(0.05)


async def test_a_payment_seen_above_the_finalized_block_is_left_out_on_both_sides(world: World) -> None:
    settled = await world.invoice("4")
    world.pay(settled.deposit_address, 4 * UNIT)
    await world.settle()
    fresh = await world.invoice("6")
    world.pay(fresh.deposit_address, 6 * UNIT)
    await world.scanner.tick()  # seen at the head: booked to chain clearing already, its block not final yet
    assert await world.status(fresh.id) == "PROCESSING"
    clearing = await world.ledger.value("SELECT balance FROM ledger.accounts WHERE code = 'chain_clearing:USDT'")
    assert int(clearing) == 10 * UNIT

    report = await world.run()
    assert report.status == rec_pb.RECONCILIATION_STATUS_MATCHED, report
    assert lines(report)["chain_clearing:USDT"][:3] == (str(4 * UNIT), str(4 * UNIT), "0")

    await world.settle()
    later = await world.run()
    assert lines(later)["chain_clearing:USDT"][:3] == (str(10 * UNIT), str(10 * UNIT), "0")


async def test_a_run_no_provider_answers_is_a_failed_report_with_an_alert(ledger_db: str) -> None:
    dead = f"http://127.0.0.1:{parts.free_port()}"
    async with world_on(ledger_db, rpc_urls=[dead]) as world:
        report = await world.run("no-chain")
        assert report.status == rec_pb.RECONCILIATION_STATUS_FAILED
        assert report.error.startswith("chain: no provider answered eth_getBlockByNumber")
        assert report.block_number == 0 and list(report.lines) == []
        events = await world.ledger.fetch(
            "SELECT event_type, payload FROM ledger.outbox WHERE subject_id = $1", report.id
        )
        assert [e["event_type"] for e in events] == ["reconciliation.failed"]
        assert json.loads(events[0]["payload"])["data"]["error"] == report.error
        assert world.metric("settlement_reconciliation_runs_total", status="FAILED") == 1


async def test_without_a_cold_safe_the_cold_line_is_skipped_and_says_so(ledger_db: str) -> None:
    async with world_on(ledger_db, cold_safe_address="") as world:
        # Tokens at the address that would be the Safe: with no Safe configured they are not compared.
        world.token.transact("mint", world.cold_safe, 5 * UNIT, sender=world.contracts.deployer)
        world.mine(10)
        report = await world.run()
    cold = next(line for line in report.lines if line.kind == "cold_storage")
    assert cold.status == LINE.RECONCILIATION_LINE_STATUS_SKIPPED
    assert cold.note == "no cold Safe configured: not compared"
    assert (cold.chain_balance_base_units, cold.difference_base_units) == ("", "0")
    assert report.status == rec_pb.RECONCILIATION_STATUS_MATCHED


async def test_the_periodic_job_tries_a_failed_run_again_within_its_slot(world: World) -> None:
    settings = world.settlement_settings
    assert settings.reconcile_interval_seconds == 0  # the service's own job is off: run the job's loop here
    good = targets_from(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    client = ChainClient(settings.rpc_urls, ClientOptions(timeout_seconds=5, rounds=1))
    channel = mesh.channel(settings.ledger_target, world.ledger.pki.files(Role.SETTLEMENT))
    reconciler = Reconciler(
        targets=replace(good, token_contract="0x" + "12" * 20),  # no contract there: every read fails
        chain=ChainReader(client),
        ledger=LedgerReader(channel, 97),
        pool=pool,
    )
    job = asyncio.create_task(reconcile_forever(reconciler, settings.database_url, 3600, retry_seconds=0.2))
    try:

        async def job_reports() -> list[tuple[str, str, str]]:
            rows = await world.ledger.fetch(
                "SELECT request_id, status, error FROM settlement.reconciliation_reports WHERE trigger = 'job' "
                "ORDER BY seq"
            )
            return [(r["request_id"], r["status"], r["error"]) for r in rows]

        deadline = time.monotonic() + 20
        while len(await job_reports()) < 2:
            assert time.monotonic() < deadline, "the failed run was not tried again"
            await asyncio.sleep(0.05)
        reconciler.targets = good  # the operator fixes the setting; the next retry succeeds
        while (await job_reports())[-1][1] != "MATCHED":
            assert time.monotonic() < deadline, "the job never recovered"
            await asyncio.sleep(0.05)
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await channel.close(None)
        await client.close()
        await pool.close()
    reports = await job_reports()
    assert reports[0][1] == "FAILED" and "no contract at 0x1212" in reports[0][2]
    assert len({r[0] for r in reports}) == len(reports)  # each retry is a report of its own
    assert any(r[0].endswith(":retry1") for r in reports)
