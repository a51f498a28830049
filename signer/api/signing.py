"""SigningService: request message -> typed intent -> core decision -> response message."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc

from service_runtime.mesh import peer_role
from signer.api.acting import call_acting_fields
from signer.core import Freeze, Signature, SignerCore, SignResult
from signer.domain.eip712 import ZERO_ADDRESS
from signer.domain.ethereum import normalize_address, parse_address
from signer.domain.intents import (
    MAX_BATCH,
    MAX_OWNER_SIGNATURES,
    OWNER_SIGNATURE_LENGTH,
    ColdMoveIntent,
    Intent,
    PayoutIntent,
    PayoutLine,
    SafeExecutionIntent,
    SafeTransactionIntent,
    StrayEntry,
    SweepIntent,
    TransactionRequest,
)
from signer.domain.policy import policy_json
from signer.domain.transactions import Eip1559Fee, Fee, LegacyFee
from signer.errors import BadRequest

UINT256 = 2**256


def _uint(text: str, field: str) -> int:
    if not text.isdigit() or int(text) >= UINT256:
        raise BadRequest(f"{field} is an integer string", reason="INVALID_INTENT", metadata={"field": field})
    return int(text)


def _address(text: str, field: str) -> bytes:
    try:
        return parse_address(text)
    except ValueError:
        raise BadRequest(f"{field} is not an address", reason="INVALID_INTENT", metadata={"field": field}) from None


def _optional_uint(text: str, field: str) -> int:
    return _uint(text, field) if text else 0


def _optional_address(text: str, field: str) -> bytes:
    return _address(text, field) if text else b"\x00" * 20


def _salt(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32 or not text.startswith("0x"):
        raise BadRequest("a salt is 0x-prefixed 32-byte hex", reason="INVALID_INTENT", metadata={"field": "salts"})
    return raw


def _batch(count: int, field: str) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise BadRequest(f"{field} holds 1 to {MAX_BATCH} entries", reason="INVALID_INTENT", metadata={"field": field})


def _strays(strays: Sequence[pb.SweepStray], salts: int) -> tuple[StrayEntry, ...]:
    """A sweep's stray entries: at most MAX_BATCH, each naming a salt of the batch and a token address."""
    if len(strays) > MAX_BATCH:
        raise BadRequest(
            f"strays holds at most {MAX_BATCH} entries", reason="INVALID_INTENT", metadata={"field": "strays"}
        )
    entries: list[StrayEntry] = []
    for i, stray in enumerate(strays):
        if stray.salt_index >= salts:
            raise BadRequest(
                f"strays[{i}].salt_index names no salt of the batch",
                reason="INVALID_INTENT",
                metadata={"field": f"strays[{i}].salt_index"},
            )
        entries.append(StrayEntry(stray.salt_index, _address(stray.token_contract, f"strays[{i}].token_contract")))
    return tuple(entries)


def _owner_signatures(text: str) -> bytes:
    """1 to MAX_OWNER_SIGNATURES whole 65-byte signatures, as hex."""
    bad = BadRequest(
        f"owner_signatures is 0x hex of 1 to {MAX_OWNER_SIGNATURES} signatures of {OWNER_SIGNATURE_LENGTH} bytes",
        reason="INVALID_INTENT",
        metadata={"field": "owner_signatures"},
    )
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise bad from None
    count, rest = divmod(len(raw), OWNER_SIGNATURE_LENGTH)
    if rest or not 1 <= count <= MAX_OWNER_SIGNATURES:
        raise bad
    return raw


def intent_from(message: pb.SignTransactionRequest) -> Intent:
    """The typed intent of a request (BadRequest when missing or malformed)."""
    which = message.WhichOneof("intent")
    if which == "payout":
        p = message.payout
        _batch(len(p.lines), "lines")
        lines = tuple(
            PayoutLine(
                _address(x.destination_address, "destination_address"),
                _uint(x.amount_base_units, "amount_base_units"),
                x.payout_id,
            )
            for x in p.lines
        )
        return PayoutIntent(
            _address(p.treasury_address, "treasury_address"), _address(p.token_contract, "token_contract"), lines
        )
    if which == "cold_move":
        c = message.cold_move
        return ColdMoveIntent(
            _address(c.treasury_address, "treasury_address"),
            _address(c.token_contract, "token_contract"),
            _uint(c.amount_base_units, "amount_base_units"),
        )
    if which == "safe_transaction":
        t = message.safe_transaction
        if t.operation not in (0, 1):
            raise BadRequest("operation is 0 (call) or 1", reason="INVALID_INTENT", metadata={"field": "operation"})
        return SafeTransactionIntent(
            safe=_address(t.safe_address, "safe_address"),
            token=_optional_address(t.token_contract, "token_contract"),
            destination=_address(t.destination_address, "destination_address"),
            amount=_uint(t.amount_base_units, "amount_base_units"),
            operation=t.operation,
            safe_tx_gas=_optional_uint(t.safe_tx_gas, "safe_tx_gas"),
            base_gas=_optional_uint(t.base_gas, "base_gas"),
            gas_price=_optional_uint(t.gas_price_wei, "gas_price_wei"),
            gas_token=_optional_address(t.gas_token, "gas_token"),
            refund_receiver=_optional_address(t.refund_receiver, "refund_receiver"),
        )
    if which == "safe_execution":
        e = message.safe_execution
        return SafeExecutionIntent(
            safe=_address(e.safe_address, "safe_address"),
            token=_optional_address(e.token_contract, "token_contract"),
            destination=_address(e.destination_address, "destination_address"),
            amount=_uint(e.amount_base_units, "amount_base_units"),
            signatures=_owner_signatures(e.owner_signatures),
        )
    if which == "sweep":
        s = message.sweep
        _batch(len(s.salts), "salts")
        return SweepIntent(
            _address(s.factory_address, "factory_address"),
            _address(s.token_contract, "token_contract"),
            tuple(_salt(x) for x in s.salts),
            _strays(s.strays, len(s.salts)),
        )
    raise BadRequest("an intent is required", reason="INVALID_INTENT", metadata={"field": "intent"})


def fee_from(message: pb.SignTransactionRequest) -> Fee:
    """The fee of a request (BadRequest when missing)."""
    which = message.WhichOneof("fee")
    if which == "eip1559":
        f = message.eip1559
        fee = Eip1559Fee(
            _uint(f.max_fee_per_gas_wei, "max_fee_per_gas_wei"),
            _uint(f.max_priority_fee_per_gas_wei, "max_priority_fee_per_gas_wei"),
        )
        if fee.max_priority_fee_per_gas > fee.max_fee_per_gas:
            raise BadRequest("priority fee above max fee", reason="INVALID_FEE", metadata={"field": "eip1559"})
        return fee
    if which == "legacy":
        return LegacyFee(_uint(message.legacy.gas_price_wei, "gas_price_wei"))
    raise BadRequest("a fee is required", reason="INVALID_FEE", metadata={"field": "fee"})


def request_from(message: pb.SignTransactionRequest) -> TransactionRequest:
    """The typed request (BadRequest names the bad field)."""
    if message.WhichOneof("intent") == "safe_transaction":
        if not message.key_id or not message.chain_id or message.gas_limit or message.WhichOneof("fee"):
            raise BadRequest(
                "a Safe transaction names key_id and chain_id, and no gas_limit or fee",
                reason="INVALID_INTENT",
                metadata={"field": "key_id,chain_id,gas_limit,fee"},
            )
        return TransactionRequest(message.key_id, message.chain_id, message.nonce, 0, None, intent_from(message))
    if not message.key_id or not message.chain_id or message.gas_limit < 21_000:
        raise BadRequest(
            "key_id, chain_id and gas_limit (>= 21000) are required",
            reason="INVALID_INTENT",
            metadata={"field": "key_id,chain_id,gas_limit"},
        )
    return TransactionRequest(
        message.key_id, message.chain_id, message.nonce, message.gas_limit, fee_from(message), intent_from(message)
    )


def initiator_from(text: str) -> str:
    """The initiator's checksummed address (the zero address when none is named)."""
    if not text:
        return ZERO_ADDRESS
    try:
        return normalize_address(text)
    except ValueError:
        raise BadRequest(
            "initiator_address is not an address", reason="INVALID_INTENT", metadata={"field": "initiator_address"}
        ) from None


def timestamp(seconds: float) -> Timestamp:
    """A protobuf timestamp of unix seconds."""
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def freeze_message(freeze: Freeze | None) -> pb.FreezeState:
    """The freeze state message."""
    if freeze is None:
        return pb.FreezeState(frozen=False)
    return pb.FreezeState(
        frozen=True, freeze_id=freeze.freeze_id, reason=freeze.reason, freeze_time=timestamp(freeze.at)
    )


_DECISIONS = {
    "ALLOWED": pb.SIGNING_DECISION_ALLOWED,
    "DENIED": pb.SIGNING_DECISION_DENIED,
    "PENDING_APPROVAL": pb.SIGNING_DECISION_PENDING_APPROVAL,
}


def response_of(result: SignResult) -> pb.SignTransactionResponse:
    """The response message of a result."""
    return pb.SignTransactionResponse(
        decision=_DECISIONS[result.decision],
        signed_transaction=result.signed_transaction,
        tx_hash=result.tx_hash,
        reason=result.reason,
        approval_id=result.approval_id,
        audit_sequence=result.audit_sequence,
        rule=result.rule,
    )


class Signing(signing_service_pb2_grpc.SigningServiceServicer):
    """The signing RPCs."""

    def __init__(self, core: SignerCore, trust_domain: str) -> None:
        self._core = core
        self._trust_domain = trust_domain

    async def SignTransaction(
        self,
        request: pb.SignTransactionRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.SignTransactionResponse:
        """Decide and sign."""
        actor = peer_role(context, self._trust_domain) or "unknown"
        if not request.request_id:
            raise self._core.refuse_malformed(
                actor,
                "",
                BadRequest("request_id is required", reason="INVALID_INTENT", metadata={"field": "request_id"}),
            )
        try:
            typed = request_from(request)
            initiator = initiator_from(request.initiator_address)
        except BadRequest as exc:
            raise self._core.refuse_malformed(actor, request.request_id, exc) from None
        return response_of(await self._core.sign(actor, request.request_id, typed, initiator))

    async def GetPolicy(
        self,
        request: pb.GetPolicyRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.GetPolicyResponse:
        """The policy in force and its hash."""
        return pb.GetPolicyResponse(sha256=self._core.policy.sha256, policy_json=policy_json(self._core.policy))

    async def FreezeSigning(
        self,
        request: pb.FreezeSigningRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.FreezeSigningResponse:
        """Refuse every signing request until the unfreeze quorum lifts it."""
        if not request.reason:
            raise BadRequest("a reason is required", reason="INVALID_ARGUMENT", metadata={"field": "reason"})
        actor = peer_role(context, self._trust_domain) or "unknown"
        return pb.FreezeSigningResponse(state=freeze_message(await self._core.freeze(actor, request.reason)))

    async def UnfreezeSigning(
        self,
        request: pb.UnfreezeSigningRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.UnfreezeSigningResponse:
        """Lift the freeze with the approvers' signatures."""
        actor = peer_role(context, self._trust_domain) or "unknown"
        acting = call_acting_fields(context, self._trust_domain)
        signatures = [Signature(a.signature, a.deadline) for a in request.approvals]
        await self._core.unfreeze(actor, request.freeze_id, signatures, acting)
        return pb.UnfreezeSigningResponse(state=freeze_message(self._core.freeze_state()))

    async def GetFreezeState(
        self,
        request: pb.GetFreezeStateRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.GetFreezeStateResponse:
        """Whether signing is frozen, and how far ahead an unfreeze signature's deadline may lie."""
        return pb.GetFreezeStateResponse(
            state=freeze_message(self._core.freeze_state()),
            approval_ttl_seconds=self._core.policy.policy.approval_ttl_seconds,
        )
