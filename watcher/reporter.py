"""The watcher's calls to the ledger, over mutual TLS with the watcher role: the address feed and observations."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc
from stablegate.ledger.v1 import deposit_address_service_pb2 as dep_pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as dep_grpc

from watcher.store.state import Observed

_FINALITY = {
    "SEEN": obs_pb.OBSERVATION_FINALITY_SEEN,
    "FINAL": obs_pb.OBSERVATION_FINALITY_FINAL,
    "REORGED": obs_pb.OBSERVATION_FINALITY_REORGED,
}
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED)
ATTEMPTS = 5


@dataclass(frozen=True)
class FeedPage:
    """New watch-set entries from the ledger and where the feed stands."""

    addresses: list[tuple[str, str, dt.datetime]]
    next_cursor: str
    caught_up: bool


class LedgerReporter:
    """Reports observations and finality to the ledger (idempotent there), retrying what is worth retrying."""

    def __init__(self, channel: grpc.aio.Channel, chain_id: int, timeout: float = 10.0) -> None:
        self.chain_id = chain_id
        self.timeout = timeout
        self._observations = obs_grpc.ChainObservationServiceStub(channel)
        self._addresses = dep_grpc.DepositAddressServiceStub(channel)

    async def _retrying(self, call: object, request: object) -> object:
        delay = 0.1
        for attempt in range(ATTEMPTS):
            try:
                return await call(request, timeout=self.timeout)  # type: ignore[operator]
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE or attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def feed(self, cursor: str, page_size: int = 1000) -> FeedPage:
        """Deposit addresses made since `cursor`."""
        request = dep_pb.ListDepositAddressChangesRequest(chain_id=self.chain_id, cursor=cursor, page_size=page_size)
        reply: dep_pb.ListDepositAddressChangesResponse = await self._retrying(  # type: ignore[assignment]
            self._addresses.ListDepositAddressChanges, request
        )
        rows = [
            (a.address, a.invoice_id, a.monitor_until_time.ToDatetime(tzinfo=dt.UTC)) for a in reply.deposit_addresses
        ]
        return FeedPage(rows, reply.next_cursor, reply.caught_up)

    async def transfer(self, observed: Observed, finality: str, block_time: int | None = None) -> str:
        """Report one transfer (or its loss to a reorg); the ledger's outcome name."""
        message = obs_pb.TransferObservation(
            chain_id=self.chain_id,
            token_contract=observed.token,
            tx_hash=observed.tx_hash,
            log_index=observed.log_index,
            block_number=observed.block_number,
            block_hash=observed.block_hash,
            from_address=observed.from_address,
            to_address=observed.to_address,
            amount_base_units=str(observed.amount),
            finality=_FINALITY[finality],
            asset=obs_pb.TRANSFER_ASSET_NATIVE if observed.asset == "NATIVE" else obs_pb.TRANSFER_ASSET_TOKEN,
        )
        if block_time:
            message.block_time.CopyFrom(Timestamp(seconds=block_time))
        reply: obs_pb.RecordTransferObservationResponse = await self._retrying(  # type: ignore[assignment]
            self._observations.RecordTransferObservation, obs_pb.RecordTransferObservationRequest(observation=message)
        )
        return str(obs_pb.ObservationOutcome.Name(reply.outcome)).removeprefix("OBSERVATION_OUTCOME_")

    async def finality(
        self, number: int, block_hash: str, canonical: list[tuple[int, str]]
    ) -> obs_pb.RecordFinalityResponse:
        """Tell the ledger the finalized block (and the canonical blocks under it it must know)."""
        request = obs_pb.RecordFinalityRequest(
            chain_id=self.chain_id,
            finalized_block_number=number,
            finalized_block_hash=block_hash,
            canonical_blocks=[obs_pb.CanonicalBlock(number=n, hash=h) for n, h in canonical if n < number],
        )
        reply: obs_pb.RecordFinalityResponse = await self._retrying(  # type: ignore[assignment]
            self._observations.RecordFinality, request
        )
        return reply
