"""Settlement's view of the ledger: sweeps, hot/cold moves and top-ups, payouts, operator alerts.

SweepLedgerService, TreasuryLedgerService, PayoutLedgerService and OperatorEventService, over the mesh as the
settlement role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.struct_pb2 import Struct
from stablegate.ledger.v1 import operator_event_service_pb2 as event_pb
from stablegate.ledger.v1 import operator_event_service_pb2_grpc as event_grpc
from stablegate.ledger.v1 import payout_ledger_service_pb2 as payout_pb
from stablegate.ledger.v1 import payout_ledger_service_pb2_grpc as payout_grpc
from stablegate.ledger.v1 import sweep_ledger_service_pb2 as pb
from stablegate.ledger.v1 import sweep_ledger_service_pb2_grpc as pb_grpc
from stablegate.ledger.v1 import treasury_ledger_service_pb2 as treasury_pb
from stablegate.ledger.v1 import treasury_ledger_service_pb2_grpc as treasury_grpc

from settlement.domain.sweeps import Deposit, Quarantine


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

    async def requested_quarantines(self, chain_id: int) -> list[Quarantine]:
        """Every stray token an admin asked to quarantine that is not quarantined yet."""
        ...

    async def mark_quarantined(
        self, *, stray_id: str, chain_id: int, tx_hash: str, block_number: int, moved: int
    ) -> bool:
        """Mark a requested stray token quarantined by a final flush; True when it already was."""
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

    async def requested_quarantines(self, chain_id: int) -> list[Quarantine]:
        """Every requested, not yet quarantined stray token, page after page, oldest request first."""
        found: list[Quarantine] = []
        token = ""
        while True:
            reply = await self._stub.ListRequestedQuarantines(
                pb.ListRequestedQuarantinesRequest(chain_id=chain_id, page_size=self._page_size, page_token=token),
                timeout=self._timeout,
            )
            found += [
                Quarantine(
                    stray_id=q.stray_id,
                    deposit_address=q.deposit_address.lower(),
                    salt=q.salt.lower(),
                    invoice_id=q.invoice_id,
                    token_contract=q.token_contract.lower(),
                    amount=int(q.amount_base_units),
                )
                for q in reply.quarantines
            ]
            token = reply.next_page_token
            if not token:
                return found

    async def mark_quarantined(
        self, *, stray_id: str, chain_id: int, tx_hash: str, block_number: int, moved: int
    ) -> bool:
        """MarkQuarantined; True when the ledger had already marked it (nothing changed)."""
        reply = await self._stub.MarkQuarantined(
            pb.MarkQuarantinedRequest(
                stray_id=stray_id,
                chain_id=chain_id,
                tx_hash=tx_hash,
                block_number=block_number,
                moved_base_units=str(moved),
            ),
            timeout=self._timeout,
        )
        return reply.already_quarantined


@dataclass(frozen=True)
class ColdMoveRecord:
    """What the ledger books for a final move between the treasury and the cold Safe (idempotent by move_id)."""

    move_id: str
    chain_id: int
    into_cold: bool
    tx_hash: str
    block_number: int
    block_hash: str
    sender_address: str
    amount: int
    gas_used: int
    effective_gas_price_wei: int


@dataclass(frozen=True)
class TopUpRecord:
    """A final BNB transfer to a signing key, as the chain says (idempotent by tx_hash)."""

    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    from_address: str
    key_address: str
    amount_wei: int


class TreasuryLedger(Protocol):
    """The ledger calls of hot/cold moves and their alerts."""

    async def record_cold_move(self, record: ColdMoveRecord) -> tuple[str, bool]:
        """Book a final move; (journal transaction id, whether it was already recorded)."""
        ...

    async def record_event(self, event_id: str, event_type: str, subject_id: str, data: dict[str, Any]) -> None:
        """Record an operator alert event once per event id."""
        ...


class GrpcTreasuryLedger:
    """TreasuryLedger over the ledger's TreasuryLedgerService and OperatorEventService (mesh role settlement)."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 30.0) -> None:
        self._stub = treasury_grpc.TreasuryLedgerServiceStub(channel)
        self._events = event_grpc.OperatorEventServiceStub(channel)
        self._timeout = timeout_seconds

    async def record_cold_move(self, record: ColdMoveRecord) -> tuple[str, bool]:
        """RecordColdMove."""
        reply = await self._stub.RecordColdMove(
            treasury_pb.RecordColdMoveRequest(
                move_id=record.move_id,
                chain_id=record.chain_id,
                direction=(
                    treasury_pb.COLD_MOVE_DIRECTION_INTO_COLD
                    if record.into_cold
                    else treasury_pb.COLD_MOVE_DIRECTION_OUT_OF_COLD
                ),
                tx_hash=record.tx_hash,
                block_number=record.block_number,
                block_hash=record.block_hash,
                sender_address=record.sender_address,
                amount_base_units=str(record.amount),
                gas_used=record.gas_used,
                effective_gas_price_wei=str(record.effective_gas_price_wei),
            ),
            timeout=self._timeout,
        )
        return reply.journal_transaction_id, reply.already_recorded

    async def record_top_up(self, record: TopUpRecord) -> tuple[str, bool]:
        """RecordGasTopUp."""
        reply = await self._stub.RecordGasTopUp(
            treasury_pb.RecordGasTopUpRequest(
                chain_id=record.chain_id,
                tx_hash=record.tx_hash,
                block_number=record.block_number,
                block_hash=record.block_hash,
                from_address=record.from_address,
                key_address=record.key_address,
                amount_wei=str(record.amount_wei),
            ),
            timeout=self._timeout,
        )
        return reply.journal_transaction_id, reply.already_recorded

    async def record_event(self, event_id: str, event_type: str, subject_id: str, data: dict[str, Any]) -> None:
        """RecordOperatorEvent (a replay of the same event is a no-op at the ledger)."""
        body = Struct()
        body.update(data)
        await self._events.RecordOperatorEvent(
            event_pb.RecordOperatorEventRequest(
                event=event_pb.OperatorEvent(event_id=event_id, event_type=event_type, subject_id=subject_id, data=body)
            ),
            timeout=self._timeout,
        )


@dataclass(frozen=True)
class QueuedPayout:
    """A QUEUED payout or refund as settlement sends it (every kind alike: a destination and an amount)."""

    payout_id: str
    destination_address: str
    amount: int
    token_contract: str
    chain_id: int
    initiator_address: str = ""
    """The Ethereum address of whoever asked for it (its API key's owner address); empty when unknown."""


class PayoutLedger(Protocol):
    """The ledger calls of the payout executor."""

    async def queued(self) -> list[QueuedPayout]:
        """Every QUEUED payout, oldest first."""
        ...

    async def claim(self, payout_id: str, batch_ref: str) -> None:
        """The payout is in a batch about to be signed: the merchant can no longer cancel it."""
        ...

    async def mark_pending_approval(self, payout_id: str, approval_id: str) -> None:
        """The signer holds the payout's batch for its approvers."""
        ...

    async def mark_broadcast(self, payout_id: str, tx_hash: str) -> None:
        """The payout's transaction is about to be sent (or was replaced by `tx_hash`)."""
        ...

    async def mark_confirmed(self, payout_id: str, tx_hash: str, block_number: int) -> None:
        """The payout landed in `tx_hash` and is final."""
        ...

    async def mark_failed(self, payout_id: str, reason: str) -> None:
        """The payout can no longer land; the ledger releases its reservation."""
        ...


class GrpcPayoutLedger:
    """PayoutLedger over the ledger's PayoutLedgerService (mesh role settlement)."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 30.0, page_size: int = 1000) -> None:
        self._stub = payout_grpc.PayoutLedgerServiceStub(channel)
        self._timeout = timeout_seconds
        self._page_size = page_size

    async def queued(self) -> list[QueuedPayout]:
        """ListQueuedPayouts, page after page."""
        found: list[QueuedPayout] = []
        token = ""
        while True:
            reply = await self._stub.ListQueuedPayouts(
                payout_pb.ListQueuedPayoutsRequest(page_size=self._page_size, page_token=token),
                timeout=self._timeout,
            )
            found += [
                QueuedPayout(
                    payout_id=p.id,
                    destination_address=p.destination_address.lower(),
                    amount=int(p.amount_base_units),
                    token_contract=p.token_contract.lower(),
                    chain_id=int(p.chain_id),
                    initiator_address=reply.initiator_addresses.get(p.id, ""),
                )
                for p in reply.payouts
            ]
            token = reply.next_page_token
            if not token:
                return found

    async def claim(self, payout_id: str, batch_ref: str) -> None:
        """ClaimPayout."""
        await self._stub.ClaimPayout(
            payout_pb.ClaimPayoutRequest(payout_id=payout_id, batch_id=batch_ref), timeout=self._timeout
        )

    async def mark_pending_approval(self, payout_id: str, approval_id: str) -> None:
        """MarkPayoutPendingApproval."""
        await self._stub.MarkPayoutPendingApproval(
            payout_pb.MarkPayoutPendingApprovalRequest(payout_id=payout_id, approval_id=approval_id),
            timeout=self._timeout,
        )

    async def mark_broadcast(self, payout_id: str, tx_hash: str) -> None:
        """MarkPayoutBroadcast."""
        await self._stub.MarkPayoutBroadcast(
            payout_pb.MarkPayoutBroadcastRequest(payout_id=payout_id, tx_hash=tx_hash), timeout=self._timeout
        )

    async def mark_confirmed(self, payout_id: str, tx_hash: str, block_number: int) -> None:
        """MarkPayoutConfirmed."""
        await self._stub.MarkPayoutConfirmed(
            payout_pb.MarkPayoutConfirmedRequest(payout_id=payout_id, tx_hash=tx_hash, block_number=block_number),
            timeout=self._timeout,
        )

    async def mark_failed(self, payout_id: str, reason: str) -> None:
        """MarkPayoutFailed."""
        await self._stub.MarkPayoutFailed(
            payout_pb.MarkPayoutFailedRequest(payout_id=payout_id, failure_reason=reason), timeout=self._timeout
        )
