"""Internal ChainObservationService: the watcher reports transfers and finality to the ledger."""

from __future__ import annotations

import re
from typing import Any

import grpc
from stablegate.ledger.v1 import chain_observation_service_pb2 as pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as pb_grpc

from ledger.api.convert import from_timestamp
from ledger.core import LedgerCore
from ledger.domain.addresses import parse_address
from ledger.domain.finality import CanonicalChain
from ledger.domain.money import parse_base_units
from ledger.payments import Finality, Observation
from service_runtime.errors import InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
MAX_BLOCK_NUMBER = 2**63 - 1  # Postgres bigint
MAX_LOG_INDEX = 2**31 - 1  # Postgres integer
MAX_CANONICAL_BLOCKS = 10_000
MAX_OBSERVATIONS_PER_CALL = 500
_FINALITY: dict[int, Finality] = {
    pb.OBSERVATION_FINALITY_SEEN: "SEEN",
    pb.OBSERVATION_FINALITY_FINAL: "FINAL",
    pb.OBSERVATION_FINALITY_REORGED: "REORGED",
}
_OUTCOME = {
    "MATCHED": pb.OBSERVATION_OUTCOME_MATCHED,
    "DUPLICATE": pb.OBSERVATION_OUTCOME_DUPLICATE,
    "UNKNOWN_ADDRESS": pb.OBSERVATION_OUTCOME_UNKNOWN_ADDRESS,
    "WRONG_ASSET": pb.OBSERVATION_OUTCOME_WRONG_ASSET,
    "REVERSED": pb.OBSERVATION_OUTCOME_REVERSED,
}


def _hash(value: str, field: str) -> str:
    lowered = value.lower()
    if not _HASH.match(lowered):
        raise InvalidArgument(f"{field} must be 0x and 64 hex digits", reason="HASH_INVALID", metadata={"field": field})
    return lowered


def parse_observation(message: pb.TransferObservation, f: str = "observation.") -> Observation:
    """Validate chain data before it touches the ledger: every field checked, nothing trusted.

    `f` prefixes the field names in errors (`observations[3].` for the fourth of a batch).
    """
    if message.finality not in _FINALITY:
        raise InvalidArgument(
            "finality must be SEEN, FINAL or REORGED", reason="FINALITY_INVALID", metadata={"field": f + "finality"}
        )
    if message.chain_id == 0 or message.block_number == 0:
        field = f + ("chain_id" if message.chain_id == 0 else "block_number")
        raise InvalidArgument(f"{field} is required", reason="FIELD_REQUIRED", metadata={"field": field})
    for field, value, limit in (
        ("block_number", message.block_number, MAX_BLOCK_NUMBER),
        ("log_index", message.log_index, MAX_LOG_INDEX),
        ("chain_id", message.chain_id, MAX_BLOCK_NUMBER),
    ):
        if value > limit:
            raise InvalidArgument(
                f"{f}{field} is out of range (at most {limit})", reason="OUT_OF_RANGE", metadata={"field": f + field}
            )
    if message.asset not in (pb.TRANSFER_ASSET_UNSPECIFIED, pb.TRANSFER_ASSET_TOKEN, pb.TRANSFER_ASSET_NATIVE):
        raise InvalidArgument("asset must be TOKEN or NATIVE", reason="ASSET_INVALID", metadata={"field": f + "asset"})
    native = message.asset == pb.TRANSFER_ASSET_NATIVE
    if native and (message.token_contract or message.from_address):
        raise InvalidArgument(
            "a native (BNB) observation names no token contract and no sender",
            reason="NATIVE_WITH_TOKEN",
            metadata={"field": f + ("token_contract" if message.token_contract else "from_address")},
        )
    return Observation(
        chain_id=message.chain_id,
        token_contract="" if native else parse_address(message.token_contract.lower(), field=f + "token_contract"),
        tx_hash=_hash(message.tx_hash, f + "tx_hash"),
        log_index=message.log_index,
        block_number=message.block_number,
        block_hash=_hash(message.block_hash, f + "block_hash"),
        from_address="" if native else parse_address(message.from_address.lower(), field=f + "from_address"),
        to_address=parse_address(message.to_address.lower(), field=f + "to_address"),
        amount=parse_base_units(message.amount_base_units, field=f + "amount_base_units"),
        finality=_FINALITY[message.finality],
        block_time=from_timestamp(message.block_time, f + "block_time") if message.HasField("block_time") else None,
    )


def parse_canonical_chain(request: pb.RecordFinalityRequest) -> CanonicalChain:
    """The finalized block and the canonical blocks below it; each bad entry is refused naming its field."""
    finalized = request.finalized_block_number
    finalized_hash = _hash(request.finalized_block_hash, "finalized_block_hash")
    if len(request.canonical_blocks) > MAX_CANONICAL_BLOCKS:
        raise InvalidArgument(
            f"at most {MAX_CANONICAL_BLOCKS} canonical_blocks per call",
            reason="TOO_MANY_CANONICAL_BLOCKS",
            metadata={"field": "canonical_blocks"},
        )
    older: dict[int, str] = {}
    for index, block in enumerate(request.canonical_blocks):
        f = f"canonical_blocks[{index}]."
        if block.number == 0:
            raise InvalidArgument(f"{f}number is required", reason="FIELD_REQUIRED", metadata={"field": f + "number"})
        if block.number > finalized:
            raise InvalidArgument(
                f"{f}number {block.number} is above the finalized block {finalized}: not final",
                reason="CANONICAL_BLOCK_NOT_FINAL",
                metadata={"field": f + "number"},
            )
        block_hash = _hash(block.hash, f + "hash")
        if block.number == finalized:
            if block_hash != finalized_hash:
                raise InvalidArgument(
                    f"{f}hash differs from finalized_block_hash for the same block number",
                    reason="CANONICAL_BLOCK_CONFLICT",
                    metadata={"field": f + "hash"},
                )
            continue
        if block.number in older:
            raise InvalidArgument(
                f"{f}number {block.number} is listed twice",
                reason="CANONICAL_BLOCK_REPEATED",
                metadata={"field": f + "number"},
            )
        older[block.number] = block_hash
    return CanonicalChain(finalized, finalized_hash, older)


class ChainObservations(pb_grpc.ChainObservationServiceServicer):
    """Record transfers and finality reported by the watcher."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def RecordTransferObservation(
        self, request: pb.RecordTransferObservationRequest, context: Context
    ) -> pb.RecordTransferObservationResponse:
        """Record one transfer log at a deposit address; idempotent on (chain id, tx hash, log index, block hash)."""
        observation = parse_observation(request.observation)
        done = await self.core.recorder.record(observation, self.core.now())
        return pb.RecordTransferObservationResponse(
            outcome=_OUTCOME[done.outcome],
            invoice_id=done.invoice_id,
            payment_id=done.payment_id,
            transaction_id=done.transaction_id,
        )

    async def RecordTransferObservations(
        self, request: pb.RecordTransferObservationsRequest, context: Context
    ) -> pb.RecordTransferObservationsResponse:
        """Record up to 500 observations in order, all or none, in one ledger transaction (see the proto)."""
        count = len(request.observations)
        if not 1 <= count <= MAX_OBSERVATIONS_PER_CALL:
            raise InvalidArgument(
                f"observations must hold 1 to {MAX_OBSERVATIONS_PER_CALL} entries, got {count}",
                reason="OBSERVATION_COUNT_INVALID",
                metadata={"field": "observations"},
            )
        parsed = []
        for index, observation in enumerate(request.observations):
            try:
                parsed.append(parse_observation(observation, f"observations[{index}]."))
            except InvalidArgument as exc:
                name = f"observations[{index}]"
                message = exc.message if exc.message.startswith(name) else f"{name}: {exc.message}"
                metadata = {**exc.metadata, "index": str(index)}
                raise InvalidArgument(message, reason=exc.reason, metadata=metadata) from exc
        done = await self.core.recorder.record_many(parsed, self.core.now())
        return pb.RecordTransferObservationsResponse(
            results=[
                pb.RecordTransferObservationResponse(
                    outcome=_OUTCOME[d.outcome],
                    invoice_id=d.invoice_id,
                    payment_id=d.payment_id,
                    transaction_id=d.transaction_id,
                )
                for d in done
            ]
        )

    async def RecordFinality(self, request: pb.RecordFinalityRequest, context: Context) -> pb.RecordFinalityResponse:
        """Credit every SEEN payment in a block canonical under the finalized block; report what was done."""
        if request.finalized_block_number > MAX_BLOCK_NUMBER:
            raise InvalidArgument(
                "finalized_block_number is out of range",
                reason="OUT_OF_RANGE",
                metadata={"field": "finalized_block_number"},
            )
        if request.finalized_block_number == 0:
            raise InvalidArgument(
                "finalized_block_number is required",
                reason="FIELD_REQUIRED",
                metadata={"field": "finalized_block_number"},
            )
        chain = parse_canonical_chain(request)
        done = await self.core.recorder.record_finality(request.chain_id, chain, self.core.now())
        return pb.RecordFinalityResponse(
            credited_payment_count=done.credited,
            paid_invoice_count=done.paid_invoices,
            failed_payment_count=done.failed,
            not_canonical_payment_count=done.not_canonical,
            finalized_block_number=request.finalized_block_number,
        )
