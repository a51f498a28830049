"""Settlement's view of the ledger's SweepLedgerService: which deposits to sweep, and booking a sweep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc
from stablegate.ledger.v1 import sweep_ledger_service_pb2 as pb
from stablegate.ledger.v1 import sweep_ledger_service_pb2_grpc as pb_grpc

from settlement.domain.sweeps import Deposit


@dataclass(frozen=True)
class SweepRecord:
    """What the ledger books for a final sweep (idempotent by sweep_id)."""

    sweep_id: str
    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    sweeper_address: str
    gas_used: int
    effective_gas_price_wei: int
    swept: Mapping[str, int]
    """Token base units moved to the treasury, per deposit address."""


class SweepLedger(Protocol):
    """The two ledger calls the sweeper makes."""

    async def sweepable(self, chain_id: int) -> list[Deposit]:
        """Every deposit address whose credited payments are final and not yet swept."""
        ...

    async def record_sweep(self, record: SweepRecord) -> tuple[str, bool]:
        """Book a final sweep; (journal transaction id, whether it was already recorded)."""
        ...


class GrpcSweepLedger:
    """SweepLedger over the ledger's SweepLedgerService (mesh role settlement)."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 30.0, page_size: int = 1000) -> None:
        self._stub = pb_grpc.SweepLedgerServiceStub(channel)
        self._timeout = timeout_seconds
        self._page_size = page_size

    async def sweepable(self, chain_id: int) -> list[Deposit]:
        """Every sweepable deposit, page after page, oldest first."""
        found: list[Deposit] = []
        token = ""
        while True:
            reply = await self._stub.ListSweepableDeposits(
                pb.ListSweepableDepositsRequest(chain_id=chain_id, page_size=self._page_size, page_token=token),
                timeout=self._timeout,
            )
            found += [
                Deposit(
                    deposit_address=d.deposit_address.lower(),
                    salt=d.salt.lower(),
                    invoice_id=d.invoice_id,
                    amount=int(d.final_amount_base_units),
                    payment_ids=tuple(d.payment_ids),
                )
                for d in reply.deposits
            ]
            token = reply.next_page_token
            if not token:
                return found

    async def record_sweep(self, record: SweepRecord) -> tuple[str, bool]:
        """RecordSweep; only addresses that moved something are reported (the ledger wants positive amounts)."""
        reply = await self._stub.RecordSweep(
            pb.RecordSweepRequest(
                sweep_id=record.sweep_id,
                chain_id=record.chain_id,
                tx_hash=record.tx_hash,
                block_number=record.block_number,
                block_hash=record.block_hash,
                sweeper_address=record.sweeper_address,
                gas_used=record.gas_used,
                effective_gas_price_wei=str(record.effective_gas_price_wei),
                swept=[
                    pb.SweptDeposit(deposit_address=address, amount_base_units=str(amount))
                    for address, amount in sorted(record.swept.items())
                    if amount > 0
                ],
            ),
            timeout=self._timeout,
        )
        return reply.journal_transaction_id, reply.already_recorded
