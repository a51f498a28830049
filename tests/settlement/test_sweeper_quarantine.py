"""Stray tokens moved to quarantine for real: a lookalike token reaches deposit addresses, the watcher reports it,
an admin asks for its quarantine, and the sweeper's flush moves it to the factory's quarantine address; at finality
the ledger marks it QUARANTINED and writes `stray.quarantined` once."""

from __future__ import annotations

import grpc
import pytest
from stablegate.admin.v1 import stray_funds_admin_service_pb2 as admin_pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2_grpc as admin_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from settlement.domain.sweeps import Deposit, Quarantine
from settlement.ledger_client import GrpcSweepLedger
from settlement.store import sweeps as store
from tests.chain.chain_harness import rpc, wait_until_fed
from tests.conftest import error_info
from tests.settlement.settlement_harness import UNIT, SweepWorld, eventually
from tests.settlement.test_sweeper_end_to_end import sweep_until_recorded

STATUS = admin_pb.StrayFundStatus
KIND = admin_pb.StrayFundKind


def balance_of(world: SweepWorld, token: str, holder: str) -> int:
    """`holder`'s balance of `token` on the world's chain."""
    data = "0x70a08231" + holder.lower().removeprefix("0x").rjust(64, "0")
    return int(rpc(world.chain.url, "eth_call", [{"to": token, "data": data}, "latest"]), 16)


async def strays(world: SweepWorld) -> list[admin_pb.StrayFund]:
    """The stray tokens the admin API lists, oldest first."""
    reply = await admin_grpc.StrayFundsAdminServiceStub(world.ledger.channel).ListStrayFunds(
        admin_pb.ListStrayFundsRequest(kind=KIND.Value("STRAY_FUND_KIND_UNEXPECTED_TOKEN")),
        metadata=world.ledger.auth(world.ledger.admin_key),
    )
    return sorted(reply.stray_funds, key=lambda f: f.amount_base_units)


async def request_quarantine(world: SweepWorld, stray_id: str) -> admin_pb.StrayFund:
    reply = await admin_grpc.StrayFundsAdminServiceStub(world.ledger.channel).RequestQuarantine(
        admin_pb.RequestQuarantineRequest(id=stray_id, reason="lookalike USDT"),
        metadata=world.ledger.auth(world.ledger.admin_key),
    )
    return reply.stray_fund


async def lookalike_at(world: SweepWorld, amounts: dict[str, int]) -> str:
    """Deploy a second ERC-20 (same code and symbol as the gateway's token), send it to each address, and wait
    until the watcher has reported every transfer (one stray row each); the lookalike's address."""
    chain = world.chain.chain
    lookalike = chain.deploy_token("USDT")
    for address, amount in amounts.items():
        chain.pay(address, amount, token=lookalike)
    world.chain.mine(10)

    async def reported() -> bool:
        await world.scanner.tick()
        return len(await strays(world)) == len(amounts)

    await eventually(reported, "every lookalike transfer reported", within=60)
    return lookalike


async def unpaid_invoice_address(world: SweepWorld) -> str:
    reply = await world.ledger.invoices.CreateInvoice(
        inv_pb.CreateInvoiceRequest(amount="9"), metadata=world.ledger.auth(world.merchant_key)
    )
    address = reply.invoice.deposit_address.lower()
    await wait_until_fed(world.scanner.reporter, [address])
    return address


async def test_a_requested_stray_token_is_moved_to_quarantine_by_the_sweeper_and_marked_once(
    world: SweepWorld,
) -> None:
    [paid_id] = await world.paid_invoices([4 * UNIT])
    paid = str(await world.ledger.value("SELECT deposit_address FROM ledger.invoices WHERE id = $1", paid_id)).lower()
    unpaid = await unpaid_invoice_address(world)
    lookalike = await lookalike_at(world, {unpaid: 3 * UNIT, paid: 2 * UNIT + 1})
    quarantine = str(world.chain.factory.call1("quarantineAddress")).lower()
    assert balance_of(world, lookalike, quarantine) == 0

    listed = await strays(world)
    assert [f.status for f in listed] == [STATUS.Value("STRAY_FUND_STATUS_OPEN")] * 2
    for fund in listed:
        requested = await request_quarantine(world, fund.id)
        assert requested.status == STATUS.Value("STRAY_FUND_STATUS_QUARANTINE_REQUESTED")

    sweeper = world.sweeper()
    await sweep_until_recorded(world, sweeper, 1)

    # Chain: the quarantine address got exactly what was sent; the forwarders hold none of it; the paid invoice's
    # token went to the treasury in the same flush.
    assert balance_of(world, lookalike, quarantine) == 5 * UNIT + 1
    assert balance_of(world, lookalike, paid) == balance_of(world, lookalike, unpaid) == 0
    assert world.chain.token_balance(world.chain.treasury) == 4 * UNIT
    (sweep,) = await world.rows("SELECT * FROM settlement.sweeps")
    assert sweep["status"] == "RECORDED" and world.chain.nonce() == 1
    moved = await world.rows("SELECT stray_id, moved_amount, open FROM settlement.sweep_quarantines")
    assert sorted(int(m["moved_amount"]) for m in moved) == [2 * UNIT + 1, 3 * UNIT]
    assert not any(m["open"] for m in moved)

    # Ledger: both rows QUARANTINED, one operator event each (no merchant: never a webhook), no posting for them.
    assert [f.status for f in await strays(world)] == [STATUS.Value("STRAY_FUND_STATUS_QUARANTINED")] * 2
    events = await world.rows(
        "SELECT merchant_id, payload FROM ledger.outbox WHERE event_type = 'stray.quarantined' ORDER BY subject_id"
    )
    assert len(events) == 2 and all(e["merchant_id"] is None for e in events)
    marked = await world.rows("SELECT quarantine_tx_hash, quarantine_block_number FROM ledger.stray_deposits")
    assert {(m["quarantine_tx_hash"], m["quarantine_block_number"]) for m in marked} == {
        (sweep["landed_tx_hash"], sweep["block_number"])
    }
    assert await world.balance("treasury:USDT") == 4 * UNIT
    assert await world.balance("chain_clearing:USDT") == 0
    await world.ledger.assert_books_are_sound()

    # Asking again changes nothing: the admin's request, the ledger's mark, the sweeper's next pass.
    audits = await world.ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'stray.quarantine'")
    again = await request_quarantine(world, listed[0].id)
    assert again.status == STATUS.Value("STRAY_FUND_STATUS_QUARANTINED")
    assert (
        await world.ledger.value("SELECT count(*) FROM ledger.audit_events WHERE action = 'stray.quarantine'") == audits
    )
    ledger = GrpcSweepLedger(world.ledger_channel)
    assert await ledger.requested_quarantines(97) == []
    mark = {"stray_id": listed[0].id, "chain_id": 97, "block_number": sweep["block_number"], "moved": 1}
    assert await ledger.mark_quarantined(tx_hash=sweep["landed_tx_hash"], **mark) is True
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await ledger.mark_quarantined(tx_hash="0x" + "ab" * 32, **mark)
    assert (other.value.code(), error_info(other.value).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ALREADY_QUARANTINED",
    )
    assert len(await world.rows("SELECT 1 FROM ledger.outbox WHERE event_type = 'stray.quarantined'")) == 2
    await sweeper.tick()
    assert world.chain.nonce() == 1
    assert len(await world.rows("SELECT id FROM settlement.sweeps")) == 1


async def test_a_stray_whose_sweep_is_dropped_is_planned_again_and_one_whose_sweep_failed_is_not(
    world: SweepWorld,
) -> None:
    ledger = GrpcSweepLedger(world.ledger_channel)
    unpaid = await unpaid_invoice_address(world)
    await lookalike_at(world, {unpaid: 7 * UNIT})
    [fund] = await strays(world)
    await request_quarantine(world, fund.id)
    [requested] = await ledger.requested_quarantines(97)
    assert (requested.stray_id, requested.deposit_address, requested.amount) == (fund.id, unpaid, 7 * UNIT)

    sweeper = world.sweeper()
    [first] = await sweeper.plan()
    async with world.pool.acquire() as conn:
        assert await store.unavailable_strays(conn, 97) == {fund.id}
        [planned] = await store.sweeps_in(conn, 97, ("PLANNED",))
        assert planned.items == (Deposit(unpaid, requested.salt, requested.invoice_id, 0),)
        assert planned.quarantines == (
            Quarantine(fund.id, unpaid, requested.salt, requested.invoice_id, requested.token_contract, 7 * UNIT),
        )
        await store.set_status(conn, first, "DROPPED", failure="NONCE_USED_ELSEWHERE")
    [second] = await sweeper.plan()  # dropped: never reached the chain, so flushed again
    assert second != first
    async with world.pool.acquire() as conn:
        await store.set_status(conn, second, "FAILED", failure="REVERTED")
        assert await store.unavailable_strays(conn, 97) == {fund.id}
    assert await world.sweeper(failure_backoff_seconds=0.0).plan() == []  # failed: not planned again on its own
    assert [f.status for f in await strays(world)] == [STATUS.Value("STRAY_FUND_STATUS_QUARANTINE_REQUESTED")]
