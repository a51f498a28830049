"""The watcher's calls to the ledger, over mutual TLS with the watcher role: the address feed and observations."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
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
REPORT_BATCH = 200
"""Observations per batch call by default: a batch is one ledger transaction, kept short."""
BATCH_SECONDS_PER_OBSERVATION = 0.05
"""Added to a batch call's deadline per observation (200: 10 s more), beyond the single call's timeout."""
log = logging.getLogger("stablegate.watcher.reporter")


@dataclass(frozen=True)
class FeedPage:
    """New watch-set entries from the ledger and where the feed stands."""

    addresses: list[tuple[str, str, dt.datetime]]
    next_cursor: str
    caught_up: bool


def _outcome(reply: obs_pb.RecordTransferObservationResponse) -> str:
    return str(obs_pb.ObservationOutcome.Name(reply.outcome)).removeprefix("OBSERVATION_OUTCOME_")


class LedgerReporter:
    """Reports observations and finality to the ledger (idempotent there), retrying what is worth retrying."""

    def __init__(
        self, channel: grpc.aio.Channel, chain_id: int, timeout: float = 10.0, batch_size: int = REPORT_BATCH
    ) -> None:
        self.chain_id = chain_id
        self.timeout = timeout
        self.batch_size = batch_size
        """Observations per `RecordTransferObservations` call (the ledger takes at most 500)."""
        self._batches = True
        self._observations = obs_grpc.ChainObservationServiceStub(channel)
        self._addresses = dep_grpc.DepositAddressServiceStub(channel)

    async def _retrying(self, call: object, request: object, deadline: float | None = None) -> object:
        delay = 0.1
        for attempt in range(ATTEMPTS):
            try:
                return await call(request, timeout=deadline or self.timeout)  # type: ignore[operator]
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

    def _message(self, observed: Observed, finality: str, block_time: int | None) -> obs_pb.TransferObservation:
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
        return message

    async def transfer(self, observed: Observed, finality: str, block_time: int | None = None) -> str:
        """Report one transfer (or its loss to a reorg); the ledger's outcome name."""
        request = obs_pb.RecordTransferObservationRequest(observation=self._message(observed, finality, block_time))
        reply: obs_pb.RecordTransferObservationResponse = await self._retrying(  # type: ignore[assignment]
            self._observations.RecordTransferObservation, request
        )
        return _outcome(reply)

    async def transfers(self, items: Sequence[tuple[Observed, str, int | None]]) -> list[str]:
        """Report transfers in order, `batch_size` per call (`RecordTransferObservations`); outcome names in order.

        A batch is recorded all or none. One the ledger refuses (a bad or contradicting observation) is reported
        again one by one, so those before the bad one are recorded and the bad one raises its own error, as it
        would have alone. A ledger without the batch call (UNIMPLEMENTED) is sent single reports from then on.
        """
        outcomes: list[str] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            if not self._batches:
                outcomes += [await self.transfer(*item) for item in chunk]
                continue
            request = obs_pb.RecordTransferObservationsRequest(observations=[self._message(*item) for item in chunk])
            try:
                # A batch is one ledger transaction doing a call's work per observation: its deadline grows with it.
                deadline = self.timeout + BATCH_SECONDS_PER_OBSERVATION * len(chunk)
                reply: obs_pb.RecordTransferObservationsResponse = await self._retrying(  # type: ignore[assignment]
                    self._observations.RecordTransferObservations, request, deadline
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _RETRYABLE:
                    raise
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._batches = False
                else:
                    log.warning(
                        "a batch of observations was refused; reporting them one by one",
                        extra={"count": len(chunk), "error": exc.details()},
                    )
                outcomes += [await self.transfer(*item) for item in chunk]
                continue
            if len(reply.results) != len(chunk):
                raise RuntimeError(f"the ledger answered {len(reply.results)} results for {len(chunk)} observations")
            outcomes += [_outcome(result) for result in reply.results]
        return outcomes

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
