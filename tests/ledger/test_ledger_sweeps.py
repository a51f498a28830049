"""Settlement's sweeper and the ledger: which deposits are sweepable, and booking a final sweep exactly once.

On a real ledger (Postgres, mutual TLS): listing shows only FINAL unswept payments, oldest first and paged;
RecordSweep books Dr treasury / Cr chain_clearing and the gas in BNB, marks what it moved as swept, is idempotent
by sweep id, refuses bad reports naming the field with no state change, and answers only the settlement role.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc
from stablegate.ledger.v1 import sweep_ledger_service_pb2 as pb
from stablegate.ledger.v1 import sweep_ledger_service_pb2_grpc as pb_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger

UNIT = 10**18  # the test token has 18 decimals
BLOCK_HASH = "0x" + "b" * 64
GWEI = 10**9


@dataclass
class Sweeping:
    """A running ledger and a stub calling it as settlement."""

    ledger: Ledger
    sweeps: pb_grpc.SweepLedgerServiceAsyncStub
    key: str

    async def invoice(self, amount: str = "10", **fields: Any) -> tuple[str, str]:
        """A new invoice's (id, deposit address)."""
        reply = await self.ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=amount, **fields), metadata=self.ledger.auth(self.key)
        )
        return reply.invoice.id, reply.invoice.deposit_address

    async def pay(self, address: str, units: int, block: int, finality: str = "FINAL") -> str:
        """Report a transfer of `units` whole tokens to `address` in `block`; the payment id."""
        reply = await self.ledger.observe(address, units * UNIT, finality, block=block, block_hash=BLOCK_HASH)
        return reply.payment_id

    async def listing(self, page_size: int = 0, page_token: str = "") -> pb.ListSweepableDepositsResponse:
        reply: pb.ListSweepableDepositsResponse = await self.sweeps.ListSweepableDeposits(
            pb.ListSweepableDepositsRequest(chain_id=97, page_size=page_size, page_token=page_token)
        )
        return reply

    async def everything_listed(self) -> dict[str, tuple[int, list[str]]]:
        """Address → (final unswept base units, payment ids), over every page."""
        found: dict[str, tuple[int, list[str]]] = {}
        token = ""
        while True:
            page = await self.listing(page_size=2, page_token=token)
            for d in page.deposits:
                found[d.deposit_address] = (int(d.final_amount_base_units), list(d.payment_ids))
            token = page.next_page_token
            if not token:
                return found

    async def record(self, request: pb.RecordSweepRequest) -> pb.RecordSweepResponse:
        reply: pb.RecordSweepResponse = await self.sweeps.RecordSweep(request)
        return reply

    async def balance(self, code: str) -> int:
        value = await self.ledger.value("SELECT balance FROM ledger.accounts WHERE code = $1", code)
        return int(value) if value is not None else 0

    async def state(self) -> tuple[Any, ...]:
        """Everything a sweep could change: journal, balances, payments' sweep marks, sweeps, outbox."""
        journal = await self.ledger.value("SELECT count(*) FROM ledger.journal_transactions")
        balances = await self.ledger.fetch("SELECT code, balance FROM ledger.accounts ORDER BY code")
        marks = await self.ledger.fetch("SELECT id, sweep_id FROM ledger.payments ORDER BY id")
        sweeps = await self.ledger.value("SELECT count(*) FROM ledger.sweeps")
        events = await self.ledger.value("SELECT count(*) FROM ledger.outbox")
        return journal, [tuple(r) for r in balances], [tuple(r) for r in marks], sweeps, events


@pytest.fixture
async def sweeping(ledger_db: str) -> AsyncIterator[Sweeping]:
    async with running_ledger(ledger_db) as ledger:
        _, key = await ledger.merchant_with_key()
        async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as channel:
            yield Sweeping(ledger, pb_grpc.SweepLedgerServiceStub(channel), key)


def sweep_request(
    moved: dict[str, int], *, block: int = 110, sweep_id: str | None = None, tx: str | None = None, **fields: Any
) -> pb.RecordSweepRequest:
    """A RecordSweep request moving `moved` (address → base units) in `block`, 100k gas at 1 gwei."""
    values: dict[str, Any] = {
        "sweep_id": "swp_" + secrets.token_hex(6) if sweep_id is None else sweep_id,
        "chain_id": 97,
        "tx_hash": tx or "0x" + secrets.token_hex(32),
        "block_number": block,
        "block_hash": "0x" + "e" * 64,
        "sweeper_address": "0x" + "5" * 40,
        "gas_used": 100_000,
        "effective_gas_price_wei": str(GWEI),
        "swept": [pb.SweptDeposit(deposit_address=a, amount_base_units=str(v)) for a, v in moved.items()],
    }
    values.update(fields)
    return pb.RecordSweepRequest(**values)


async def test_only_final_unswept_payments_are_listed_oldest_first_with_the_forwarder_salt(
    sweeping: Sweeping,
) -> None:
    ledger = sweeping.ledger
    _, late = await sweeping.invoice("10", ttl={"seconds": 60}, monitoring_window={"seconds": 0})
    ledger.clock.advance(minutes=5)  # past that invoice's monitoring window: a payment there is unallocated
    assert (
        await ledger.value("SELECT status FROM ledger.payments WHERE id = $1", await sweeping.pay(late, 9, 90))
        == "UNALLOCATED"
    )

    a_id, a = await sweeping.invoice()
    _, b = await sweeping.invoice()
    c_id, c = await sweeping.invoice()
    d_id, d = await sweeping.invoice()
    _, e = await sweeping.invoice()
    pay_a = await sweeping.pay(a, 10, 100)
    await sweeping.pay(b, 5, 101, "SEEN")  # seen, not final: not sweepable yet
    pay_c1 = await sweeping.pay(c, 3, 102)
    pay_c2 = await sweeping.pay(c, 4, 103)
    pay_d = await sweeping.pay(d, 2, 99)
    reorged = await ledger.observe(e, 8 * UNIT, "SEEN", block=104, block_hash=BLOCK_HASH)
    await ledger.observe(e, 8 * UNIT, "REORGED", tx=await _tx_of(ledger, reorged.payment_id), block=104)

    first = await sweeping.listing(page_size=2)
    assert [x.deposit_address for x in first.deposits] == [d, a]  # oldest payment block first
    assert first.next_page_token
    second = await sweeping.listing(page_size=2, page_token=first.next_page_token)
    assert [x.deposit_address for x in second.deposits] == [c]
    assert second.next_page_token == ""

    by_address = {x.deposit_address: x for x in [*first.deposits, *second.deposits]}
    assert by_address[c].final_amount_base_units == str(7 * UNIT)
    assert list(by_address[c].payment_ids) == [pay_c1, pay_c2]
    assert by_address[c].invoice_id == c_id
    assert by_address[c].oldest_block_number == 102
    assert (by_address[a].invoice_id, list(by_address[a].payment_ids)) == (a_id, [pay_a])
    assert (by_address[d].invoice_id, list(by_address[d].payment_ids)) == (d_id, [pay_d])

    # The salt is the one the deposit-address list gives the watcher for the same address.
    listed = await dep_grpc.DepositAddressServiceStub(ledger.watcher_channel).ListDepositAddresses(
        dep_pb.ListDepositAddressesRequest(chain_id=97)
    )
    salts = {x.address: x.salt for x in listed.deposit_addresses}
    for address, deposit in by_address.items():
        assert deposit.salt == salts[address]
        assert len(bytes.fromhex(deposit.salt.removeprefix("0x"))) == 32

    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await sweeping.listing(page_token="bm90LWEtdG9rZW4")
    assert foreign.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(foreign.value).reason == "PAGE_TOKEN_INVALID"
    with pytest.raises(grpc.aio.AioRpcError) as chain:
        await sweeping.sweeps.ListSweepableDeposits(pb.ListSweepableDepositsRequest(chain_id=56))
    assert error_info(chain.value).reason == "CHAIN_MISMATCH"


async def _tx_of(ledger: Ledger, payment_id: str) -> str:
    return str(await ledger.value("SELECT tx_hash FROM ledger.payments WHERE id = $1", payment_id))


async def test_a_final_sweep_books_treasury_and_gas_balanced_and_its_payments_leave_the_list(
    sweeping: Sweeping,
) -> None:
    ledger = sweeping.ledger
    _, a = await sweeping.invoice()
    _, b = await sweeping.invoice()
    _, c = await sweeping.invoice()
    pay_a = await sweeping.pay(a, 10, 100)
    pay_b = await sweeping.pay(b, 5, 101, "SEEN")  # final on chain by the time the sweep is; the report lags
    pay_c1 = await sweeping.pay(c, 3, 102)
    pay_c2 = await sweeping.pay(c, 4, 103)
    assert (await sweeping.everything_listed()).keys() == {a, c}

    request = sweep_request({a: 10 * UNIT, b: 5 * UNIT, c: 7 * UNIT}, block=110)
    reply = await sweeping.record(request)
    assert reply.already_recorded is False
    assert sorted(reply.swept_payment_ids) == sorted([pay_a, pay_b, pay_c1, pay_c2])

    assert await sweeping.balance("treasury:USDT") == 22 * UNIT
    assert await sweeping.balance("chain_clearing:USDT") == 0  # every claim on the deposit addresses is swept
    assert await sweeping.balance("gas_expense:BNB") == 100_000 * GWEI
    assert await sweeping.balance("gas_float:BNB") == -100_000 * GWEI
    entries = await ledger.fetch(
        "SELECT a.code, e.side, e.amount FROM ledger.journal_entries e JOIN ledger.accounts a ON a.id = e.account_id "
        "WHERE e.transaction_id = $1 ORDER BY a.code",
        int(reply.journal_transaction_id),
    )
    assert [(r["code"], r["side"], int(r["amount"])) for r in entries] == [
        ("chain_clearing:USDT", "C", 22 * UNIT),
        ("gas_expense:BNB", "D", 100_000 * GWEI),
        ("gas_float:BNB", "C", 100_000 * GWEI),
        ("treasury:USDT", "D", 22 * UNIT),
    ]
    await ledger.assert_books_are_sound()
    assert await sweeping.everything_listed() == {}

    # The lagging report of b's finality credits it, and it stays swept: its tokens already left.
    await ledger.finality(105, canonical={101: BLOCK_HASH})
    assert await ledger.value("SELECT status FROM ledger.payments WHERE id = $1", pay_b) == "FINAL"
    assert await sweeping.everything_listed() == {}

    # A payment after the sweep's block waits for the next sweep.
    later = await sweeping.pay(a, 2, 120)
    assert await sweeping.everything_listed() == {a: (2 * UNIT, [later])}

    events = await ledger.fetch(
        "SELECT event_type, merchant_id, payload FROM ledger.outbox WHERE subject_id = $1", request.sweep_id
    )
    assert [(r["event_type"], r["merchant_id"]) for r in events] == [("sweep.recorded", None)]
    assert '"amount_base_units": "22000000000000000000"' in events[0]["payload"]


async def test_a_sweep_marks_only_payments_in_blocks_up_to_its_own_and_late_reports_find_it(
    sweeping: Sweeping,
) -> None:
    ledger = sweeping.ledger
    _, a = await sweeping.invoice()
    early = await sweeping.pay(a, 10, 100)
    after_sweep = await sweeping.pay(a, 6, 200)
    # The flush also took 1 token of a transfer in block 140 that the watcher has not reported yet: a surplus.
    request = sweep_request({a: 11 * UNIT}, block=150)
    reply = await sweeping.record(request)
    assert list(reply.swept_payment_ids) == [early]
    assert await sweeping.everything_listed() == {a: (6 * UNIT, [after_sweep])}
    payload = await ledger.value("SELECT payload FROM ledger.outbox WHERE subject_id = $1", request.sweep_id)
    assert '"surplus_base_units": "1000000000000000000"' in payload
    assert await sweeping.balance("chain_clearing:USDT") == 5 * UNIT  # 16 claimed, 11 moved

    # The watcher reports that transfer late: the flush took it along, so it is swept, and the clearing account
    # again holds exactly what is unswept.
    lagging = await sweeping.pay(a, 1, 140)
    assert await ledger.value("SELECT sweep_id FROM ledger.payments WHERE id = $1", lagging) == request.sweep_id
    assert await sweeping.everything_listed() == {a: (6 * UNIT, [after_sweep])}
    assert await sweeping.balance("chain_clearing:USDT") == 6 * UNIT

    # A seen payment the sweep took along, re-mined after a reorg in a block after the sweep, is unswept again.
    moved = await ledger.observe(a, 4 * UNIT, "SEEN", block=145, block_hash=BLOCK_HASH)
    assert await ledger.value("SELECT sweep_id FROM ledger.payments WHERE id = $1", moved.payment_id) is not None
    tx = await _tx_of(ledger, moved.payment_id)
    await ledger.observe(a, 4 * UNIT, "REORGED", tx=tx, block=145, block_hash=BLOCK_HASH)
    await ledger.observe(a, 4 * UNIT, "FINAL", tx=tx, block=210, block_hash="0x" + "f" * 64)
    listed = await sweeping.everything_listed()
    assert listed[a][0] == 10 * UNIT
    assert set(listed[a][1]) == {after_sweep, moved.payment_id}
    assert await sweeping.balance("chain_clearing:USDT") == 10 * UNIT
    await ledger.assert_books_are_sound()


async def test_recording_a_sweep_twice_changes_nothing_and_another_request_under_its_id_is_refused(
    sweeping: Sweeping,
) -> None:
    ledger = sweeping.ledger
    _, a = await sweeping.invoice()
    await sweeping.pay(a, 10, 100)
    request = sweep_request({a: 10 * UNIT})
    first = await sweeping.record(request)
    before = await sweeping.state()

    again = await sweeping.record(request)
    assert again.already_recorded is True
    assert again.journal_transaction_id == first.journal_transaction_id
    assert list(again.swept_payment_ids) == list(first.swept_payment_ids)
    assert await sweeping.state() == before
    # "The same request" is compared normalized: addresses in another case are the same addresses.
    lowered = pb.RecordSweepRequest()
    lowered.CopyFrom(request)
    lowered.sweeper_address = request.sweeper_address.upper().replace("0X", "0x")
    lowered.swept[0].deposit_address = request.swept[0].deposit_address.lower()
    assert (await sweeping.record(lowered)).already_recorded is True
    assert await sweeping.state() == before

    other_amount = sweep_request({a: 11 * UNIT}, sweep_id=request.sweep_id, tx=request.tx_hash)
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await sweeping.record(other_amount)
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(reused.value).reason == "SWEEP_ID_REUSED"

    same_tx = sweep_request({a: 10 * UNIT}, tx=request.tx_hash)  # another sweep id for the same transaction
    with pytest.raises(grpc.aio.AioRpcError) as double:
        await sweeping.record(same_tx)
    assert double.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(double.value).reason == "SWEEP_TX_ALREADY_RECORDED"
    assert error_info(double.value).metadata["sweepId"] == request.sweep_id
    assert await sweeping.state() == before
    await ledger.assert_books_are_sound()


async def test_concurrent_twins_of_one_sweep_book_it_once(sweeping: Sweeping) -> None:
    _, a = await sweeping.invoice()
    await sweeping.pay(a, 10, 100)
    request = sweep_request({a: 10 * UNIT})
    replies = await asyncio.gather(*(sweeping.record(request) for _ in range(4)))
    assert sorted(r.already_recorded for r in replies) == [False, True, True, True]
    assert len({r.journal_transaction_id for r in replies}) == 1
    assert await sweeping.ledger.value("SELECT count(*) FROM ledger.journal_transactions WHERE kind = 'sweep'") == 1
    assert await sweeping.balance("treasury:USDT") == 10 * UNIT


async def refusal(sweeping: Sweeping, request: pb.RecordSweepRequest) -> tuple[grpc.StatusCode, str, str] | None:
    """How RecordSweep refused the request: (status, reason, field); None if it accepted it."""
    try:
        await sweeping.record(request)
    except grpc.aio.AioRpcError as refused:
        info = error_info(refused)
        return refused.code(), info.reason, info.metadata["field"]
    return None


async def test_bad_sweep_reports_are_refused_naming_the_field_and_change_nothing(sweeping: Sweeping) -> None:
    _, a = await sweeping.invoice()
    _, b = await sweeping.invoice()
    await sweeping.pay(a, 10, 100)
    await sweeping.pay(b, 5, 100)
    good = {a: 10 * UNIT, b: 5 * UNIT}
    stranger = "0x" + "7" * 40
    invalid, precondition = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION

    def swept(*items: tuple[str, str]) -> list[pb.SweptDeposit]:
        return [pb.SweptDeposit(deposit_address=x, amount_base_units=v) for x, v in items]

    cases: list[tuple[pb.RecordSweepRequest, grpc.StatusCode, str, str]] = [
        (sweep_request(good, chain_id=56), invalid, "CHAIN_MISMATCH", "chain_id"),
        (sweep_request(good, sweep_id=""), invalid, "FIELD_REQUIRED", "sweep_id"),
        (sweep_request(good, sweep_id="has space"), invalid, "SWEEP_ID_INVALID", "sweep_id"),
        (sweep_request(good, sweep_id="x" * 201), invalid, "SWEEP_ID_INVALID", "sweep_id"),
        (sweep_request(good, tx="0x1234"), invalid, "HASH_INVALID", "tx_hash"),
        (sweep_request(good, block_hash="0x" + "g" * 64), invalid, "HASH_INVALID", "block_hash"),
        (sweep_request(good, block=0), invalid, "FIELD_REQUIRED", "block_number"),
        (sweep_request(good, sweeper_address="0x12"), invalid, "ADDRESS_INVALID", "sweeper_address"),
        (sweep_request(good, effective_gas_price_wei=""), invalid, "FIELD_REQUIRED", "effective_gas_price_wei"),
        (sweep_request(good, effective_gas_price_wei="-1"), invalid, "AMOUNT_INVALID", "effective_gas_price_wei"),
        (sweep_request(good, effective_gas_price_wei="1.5"), invalid, "AMOUNT_INVALID", "effective_gas_price_wei"),
        (sweep_request({}), invalid, "FIELD_REQUIRED", "swept"),
        (sweep_request({}, swept=swept((a, "-10"))), invalid, "AMOUNT_INVALID", "swept[0].amount_base_units"),
        (sweep_request({}, swept=swept((a, "10.5"))), invalid, "AMOUNT_INVALID", "swept[0].amount_base_units"),
        (sweep_request({}, swept=swept((a, "0"))), invalid, "AMOUNT_NOT_POSITIVE", "swept[0].amount_base_units"),
        (
            sweep_request({}, swept=swept((a, "1"), ("nope", "1"))),
            invalid,
            "ADDRESS_INVALID",
            "swept[1].deposit_address",
        ),
        (
            sweep_request({}, swept=swept((a, str(10 * UNIT)), (a.lower(), "1"))),
            invalid,
            "DEPOSIT_ADDRESS_REPEATED",
            "swept[1].deposit_address",
        ),
        (
            sweep_request({a: 10 * UNIT, stranger: 1}),
            invalid,
            "NOT_A_DEPOSIT_ADDRESS",
            "swept[1].deposit_address",
        ),
        # b is short: a, fine on its own, must not be marked or booked either.
        (
            sweep_request({a: 10 * UNIT, b: 5 * UNIT - 1}),
            precondition,
            "SWEEP_AMOUNT_SHORT",
            "swept[1].amount_base_units",
        ),
    ]
    before = await sweeping.state()
    for request, code, reason, field in cases:
        assert await refusal(sweeping, request) == (code, reason, field), request
    assert await sweeping.state() == before

    # Nothing was half-done: the right report still books in full.
    reply = await sweeping.record(sweep_request(good))
    assert len(reply.swept_payment_ids) == 2
    assert await sweeping.balance("treasury:USDT") == 15 * UNIT
    await sweeping.ledger.assert_books_are_sound()


async def test_a_sweep_with_free_gas_books_no_bnb_lines(sweeping: Sweeping) -> None:
    _, a = await sweeping.invoice()
    await sweeping.pay(a, 10, 100)
    reply = await sweeping.record(sweep_request({a: 10 * UNIT}, effective_gas_price_wei="0"))
    codes = await sweeping.ledger.fetch(
        "SELECT a.code FROM ledger.journal_entries e JOIN ledger.accounts a ON a.id = e.account_id "
        "WHERE e.transaction_id = $1 ORDER BY a.code",
        int(reply.journal_transaction_id),
    )
    assert [r["code"] for r in codes] == ["chain_clearing:USDT", "treasury:USDT"]


async def test_only_settlement_may_list_or_record_sweeps(sweeping: Sweeping) -> None:
    ledger = sweeping.ledger
    _, a = await sweeping.invoice()
    await sweeping.pay(a, 10, 100)
    target = f"127.0.0.1:{ledger.grpc_port}"
    for role in (Role.EDGE, Role.WATCHER, Role.DASHBOARD, Role.OPERATOR, Role.SIGNER, Role.LEDGER):
        async with mesh.channel(target, ledger.pki.files(role)) as channel:
            stub = pb_grpc.SweepLedgerServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as listing:
                await stub.ListSweepableDeposits(pb.ListSweepableDepositsRequest(chain_id=97))
            assert listing.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
            with pytest.raises(grpc.aio.AioRpcError) as recording:
                await stub.RecordSweep(sweep_request({a: 10 * UNIT}))
            assert recording.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
            assert error_info(recording.value).reason == "MESH_ROLE_NOT_ALLOWED"
    assert await ledger.value("SELECT count(*) FROM ledger.sweeps") == 0
    assert list(await sweeping.everything_listed()) == [a]
