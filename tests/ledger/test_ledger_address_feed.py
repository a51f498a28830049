"""The watcher's feed: deposit addresses made since a cursor, in commit order, none missed, nothing repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def feed(ledger: Ledger, cursor: str, page_size: int = 0) -> dep_pb.ListDepositAddressChangesResponse:
    stub = dep_grpc.DepositAddressServiceStub(ledger.watcher_channel)
    request = dep_pb.ListDepositAddressChangesRequest(chain_id=97, cursor=cursor, page_size=page_size)
    reply: dep_pb.ListDepositAddressChangesResponse = await stub.ListDepositAddressChanges(request)
    return reply


async def test_the_feed_pages_through_new_addresses_in_order_then_only_the_newer_ones(ledger: Ledger) -> None:
    _, key = await ledger.merchant_with_key()
    made = []
    for i in range(5):
        reply = await ledger.invoices.CreateInvoice(
            inv_pb.CreateInvoiceRequest(amount=str(i + 1)), metadata=ledger.auth(key)
        )
        made.append((reply.invoice.id, reply.invoice.deposit_address))

    seen: list[tuple[str, str]] = []
    cursor = ""
    deadline = asyncio.get_running_loop().time() + 10
    # The feed returns only addresses whose transactions have settled (older than every transaction still
    # running on the server: another one in flight holds the rest back), so it is read pass after pass, as
    # the watcher does, until everything made is there.
    while len(seen) < len(made):
        page = await feed(ledger, cursor, page_size=2)
        seen += [(a.invoice_id, a.address) for a in page.deposit_addresses]
        assert all(a.state == dep_pb.DEPOSIT_ADDRESS_STATE_ACTIVE for a in page.deposit_addresses)
        cursor = page.next_cursor
        if page.caught_up and len(seen) < len(made):
            assert asyncio.get_running_loop().time() < deadline, seen
            await asyncio.sleep(0.05)
    assert seen == made  # commit order, each once

    quiet = await feed(ledger, cursor)
    assert list(quiet.deposit_addresses) == []  # nothing new: nothing repeated
    assert quiet.next_cursor == cursor

    later = await ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="9"), metadata=ledger.auth(key))
    fresh = await feed(ledger, cursor)
    for _ in range(200):
        if fresh.deposit_addresses:
            break
        await asyncio.sleep(0.05)  # until the creating transaction has settled (see above)
        fresh = await feed(ledger, cursor)
    assert [a.address for a in fresh.deposit_addresses] == [later.invoice.deposit_address]


async def test_a_bad_cursor_or_chain_is_invalid_and_other_roles_are_refused(ledger: Ledger) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await feed(ledger, "not-a-cursor")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(bad.value).metadata["field"] == "cursor"

    stub = dep_grpc.DepositAddressServiceStub(ledger.watcher_channel)
    with pytest.raises(grpc.aio.AioRpcError) as chain:
        await stub.ListDepositAddressChanges(dep_pb.ListDepositAddressChangesRequest(chain_id=56))
    assert chain.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    async with mesh.channel(f"127.0.0.1:{ledger.grpc_port}", ledger.pki.files(Role.SETTLEMENT)) as settlement:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await dep_grpc.DepositAddressServiceStub(settlement).ListDepositAddressChanges(
                dep_pb.ListDepositAddressChangesRequest(chain_id=97)
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
