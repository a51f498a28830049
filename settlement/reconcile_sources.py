"""Reconciliation's adapters: balances from the chain (JSON-RPC) and from the ledger (gRPC over mutual TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import struct_pb2
from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc
from stablegate.ledger.v1 import journal_service_pb2 as journal_pb
from stablegate.ledger.v1 import journal_service_pb2_grpc as journal_grpc
from stablegate.ledger.v1 import operator_event_service_pb2 as event_pb
from stablegate.ledger.v1 import operator_event_service_pb2_grpc as event_grpc

from chain.client import ChainClient, ChainError
from chain.types import quantity
from settlement.reconcile import LedgerAccount

BALANCE_OF = "0x70a08231"
"""Selector of ERC-20 `balanceOf(address)`."""

LEDGER_CALL_TIMEOUT_SECONDS = 15.0
"""Deadline of each ledger call: a ledger that does not answer fails the run instead of hanging it."""


def _block_tag(block: int) -> str:
    return hex(block)


def _finalized_number(value: Any) -> int:
    if not isinstance(value, dict):
        raise ValueError("eth_getBlockByNumber(finalized): not a block")
    return quantity(value.get("number"), "finalized block number")


class ChainReader:
    """Balances at a block from the chain's providers (failover and retries are the client's)."""

    def __init__(self, client: ChainClient, concurrency: int = 16) -> None:
        self.client = client
        self._limit = asyncio.Semaphore(concurrency)

    async def finalized_block(self) -> int:
        """The newest block the providers call finalized."""
        number: int = await self.client.call("eth_getBlockByNumber", ["finalized", False], _finalized_number)
        return number

    async def _one(self, method: str, params: list[Any], what: str) -> int:
        async with self._limit:
            # An eth_call to an address without code answers "0x": the contract did not exist at that block, which
            # is a wrong address or block in the settings, not a provider answering garbage.
            value: int | None = await self.client.call(
                method, params, lambda v: None if v == "0x" else quantity(v, what)
            )
        if value is None:
            raise ChainError(f"{what}: no contract at {params[0]['to']} at block {int(params[1], 16)}")
        return value

    async def token_balances(self, token: str, addresses: Sequence[str], block: int) -> list[int]:
        """`balanceOf` of each address at the block."""
        calls = [
            self._one(
                "eth_call",
                [{"to": token, "data": BALANCE_OF + a.lower().removeprefix("0x").rjust(64, "0")}, _block_tag(block)],
                f"balanceOf({a})",
            )
            for a in addresses
        ]
        return list(await asyncio.gather(*calls))

    async def native_balances(self, addresses: Sequence[str], block: int) -> list[int]:
        """The native balance of each address at the block."""
        calls = [self._one("eth_getBalance", [a, _block_tag(block)], f"balance of {a}") for a in addresses]
        return list(await asyncio.gather(*calls))


class LedgerReader:
    """The ledger's balances, deposit addresses and operator events, as the `settlement` mesh role."""

    def __init__(self, channel: grpc.aio.Channel, chain_id: int) -> None:
        self.journal = journal_grpc.JournalServiceStub(channel)
        self.addresses = dep_grpc.DepositAddressServiceStub(channel)
        self.events = event_grpc.OperatorEventServiceStub(channel)
        self.chain_id = chain_id

    async def accounts(self, kind: str, asset: str, block: int) -> list[LedgerAccount]:
        """The accounts of a kind in an asset, as of the block."""
        found: list[LedgerAccount] = []
        token = ""
        while True:
            page = await self.journal.ListBalances(
                journal_pb.ListBalancesRequest(
                    kind=kind, asset=asset, block_number=block, page_size=1000, page_token=token
                ),
                timeout=LEDGER_CALL_TIMEOUT_SECONDS,
            )
            found += [LedgerAccount(b.account, int(b.balance_base_units)) for b in page.balances]
            token = page.next_page_token
            if not token:
                return found

    async def deposit_addresses(self) -> list[str]:
        """Every deposit address, active and retired."""
        found: list[str] = []
        for state in (dep_pb.DEPOSIT_ADDRESS_STATE_ACTIVE, dep_pb.DEPOSIT_ADDRESS_STATE_RETIRED):
            token = ""
            while True:
                page = await self.addresses.ListDepositAddresses(
                    dep_pb.ListDepositAddressesRequest(
                        chain_id=self.chain_id, state=state, page_size=5000, page_token=token
                    ),
                    timeout=LEDGER_CALL_TIMEOUT_SECONDS,
                )
                found += [a.address for a in page.deposit_addresses]
                token = page.next_page_token
                if not token:
                    break
        # An address could move from active to retired between the two listings: count it once.
        return list(dict.fromkeys(found))

    async def record_event(self, event_id: str, event_type: str, subject_id: str, data: dict[str, Any]) -> None:
        """Record an operator alert in the ledger's outbox (idempotent by event id)."""
        body = struct_pb2.Struct()
        body.update(data)
        await self.events.RecordOperatorEvent(
            event_pb.RecordOperatorEventRequest(
                event=event_pb.OperatorEvent(event_id=event_id, event_type=event_type, subject_id=subject_id, data=body)
            ),
            timeout=LEDGER_CALL_TIMEOUT_SECONDS,
        )
