"""Settlement's client of the signer: SignTransaction with settlement's intents, over the mesh (role settlement).

A request the signer holds for its approvers is not asked for again while it waits: given the approval id it got
back (`awaiting_approval`), the client reads that approval (`ApprovalService.GetApproval`, no audit record at the
signer) and asks `SignTransaction` again only once it is no longer pending: signed by the quorum (the stored
signature comes back) or lapsed (the signer answers DENIED `APPROVAL_EXPIRED`, final for that request id).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from prometheus_client import CollectorRegistry, Gauge
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from chain.abi import keccak256
from settlement.domain.fees import TxFees

log = logging.getLogger("stablegate.settlement.signing")
FROZEN_REASON = "SIGNING_FROZEN"


@dataclass(frozen=True)
class Signed:
    """The signer signed: raw bytes for eth_sendRawTransaction and their hash."""

    raw_transaction: str
    tx_hash: str


@dataclass(frozen=True)
class Refused:
    """The signer did not sign: DENIED (final for this request id) or PENDING_APPROVAL, with its reason."""

    decision: str
    reason: str
    approval_id: str = ""
    """The signer's approval to wait for, when PENDING_APPROVAL."""

    @property
    def frozen(self) -> bool:
        """Refused because signing is frozen: not final, the same request id is asked again after the unfreeze."""
        return self.decision == "DENIED" and self.reason == FROZEN_REASON


class SigningFreeze:
    """What settlement knows of the signer's freeze, shared by its signer clients (one per process and registry).

    Set by a `SIGNING_FROZEN` refusal, cleared by a read of the freeze state that finds it lifted;
    `settlement_signing_frozen` is 1 while set.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.frozen = False
        self.gauge = Gauge(
            "settlement_signing_frozen",
            "1 while the signer refuses settlement's requests with SIGNING_FROZEN (they wait, none fails)",
            registry=registry,
        )

    def set(self, frozen: bool) -> None:
        """Record the freeze state, logging when it changes."""
        if frozen != self.frozen:
            if frozen:
                log.warning(
                    "signing is frozen at the signer: settlement's requests wait (none fails) until it is lifted"
                )
            else:
                log.warning("signing is no longer frozen: settlement asks for its waiting requests again")
        self.frozen = frozen
        self.gauge.set(int(frozen))


def _refused(reply: pb.SignTransactionResponse) -> Refused:
    """The signer's answer when it did not sign (its decision without the enum's prefix)."""
    return Refused(
        pb.SigningDecision.Name(reply.decision).removeprefix("SIGNING_DECISION_"), reply.reason, reply.approval_id
    )


class SweepSigner:
    """Asks the signer for settlement's transactions (sweeps, payouts, moves into and out of cold).

    One request id always gets the same answer (the signer stores it).
    """

    def __init__(
        self, channel: grpc.aio.Channel, timeout_seconds: float = 30.0, freeze: SigningFreeze | None = None
    ) -> None:
        self._stub = pb_grpc.SigningServiceStub(channel)
        self._approvals = apb_grpc.ApprovalServiceStub(channel)
        self._timeout = timeout_seconds
        self.freeze = freeze or SigningFreeze()

    async def _still_frozen(self) -> bool:
        """After a freeze refusal: True while the signer's freeze state (a read, not audited) says it is frozen."""
        if not self.freeze.frozen:
            return False
        reply = await self._stub.GetFreezeState(pb.GetFreezeStateRequest(), timeout=self._timeout)
        self.freeze.set(reply.state.frozen)
        return bool(reply.state.frozen)

    async def _ask(self, request: pb.SignTransactionRequest) -> pb.SignTransactionResponse | Refused:
        """SignTransaction, unless a freeze known to be still on answers for it (the signer is not asked then)."""
        if await self._still_frozen():
            return Refused("DENIED", FROZEN_REASON)
        reply = await self._stub.SignTransaction(request, timeout=self._timeout)
        if reply.decision == pb.SIGNING_DECISION_DENIED and reply.reason == FROZEN_REASON:
            self.freeze.set(True)
        return reply

    async def still_held(self, request_id: str, approval_id: str) -> bool:
        """True while the signer's approval `approval_id` of `request_id` waits for its quorum (a read only).

        False when there is nothing to wait for (no id), when it was signed or lapsed, when its quorum is there but
        nothing was signed yet (the Approve that completed it was refused by a freeze), and when the signer does
        not know it (or it holds another request): then the caller asks `SignTransaction` with the same request id.
        """
        if not approval_id:
            return False
        try:
            reply = await self._approvals.GetApproval(apb.GetApprovalRequest(id=approval_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        approval = reply.approval
        return (
            approval.request_id == request_id
            and approval.status == apb.APPROVAL_STATUS_PENDING
            and len(approval.approvers) < approval.quorum
        )

    @staticmethod
    def _waiting(approval_id: str) -> Refused:
        return Refused("PENDING_APPROVAL", "APPROVALS_REQUIRED", approval_id)

    async def sign_sweep(
        self,
        *,
        request_id: str,
        key_id: str,
        chain_id: int,
        nonce: int,
        gas_limit: int,
        fees: TxFees,
        factory: str,
        token: str,
        salts: Sequence[str],
        strays: Sequence[tuple[int, str]] = (),
    ) -> Signed | Refused:
        """Sign flushBatch(salts, strays) on the factory with the SWEEPER key at `nonce`.

        `strays` are (index into `salts`, stray token) pairs moved to the factory's quarantine address.
        """
        request = pb.SignTransactionRequest(
            request_id=request_id,
            key_id=key_id,
            chain_id=chain_id,
            nonce=nonce,
            gas_limit=gas_limit,
            sweep=pb.SweepIntent(
                factory_address=factory,
                token_contract=token,
                salts=list(salts),
                strays=[pb.SweepStray(salt_index=index, token_contract=stray) for index, stray in strays],
            ),
        )
        return await self._sign(request, fees, "")

    async def sign_cold_move(
        self,
        *,
        request_id: str,
        key_id: str,
        chain_id: int,
        nonce: int,
        gas_limit: int,
        fees: TxFees,
        treasury: str,
        token: str,
        amount: int,
        initiator: str = "",
        awaiting_approval: str = "",
    ) -> Signed | Refused:
        """Sign moveToCold(token, amount) on the treasury with the HOT key at `nonce`.

        Above the approval threshold the signer holds it (PENDING_APPROVAL) until the quorum approves; then the same
        request id returns it signed. `awaiting_approval`: the approval id it is held under (module docstring).
        """
        request = pb.SignTransactionRequest(
            request_id=request_id,
            key_id=key_id,
            chain_id=chain_id,
            nonce=nonce,
            gas_limit=gas_limit,
            cold_move=pb.ColdMoveIntent(treasury_address=treasury, token_contract=token, amount_base_units=str(amount)),
            initiator_address=initiator,
        )
        return await self._sign(request, fees, awaiting_approval)

    async def sign_payout(
        self,
        *,
        request_id: str,
        key_id: str,
        chain_id: int,
        nonce: int,
        gas_limit: int,
        fees: TxFees,
        treasury: str,
        token: str,
        lines: Sequence[tuple[str, str, int]],
        initiator: str = "",
        awaiting_approval: str = "",
    ) -> Signed | Refused:
        """Sign payoutBatch(batchId, recipients, amounts) on the treasury with the HOT key at `nonce`.

        `lines` are (payout id, destination, amount); the signer derives the batch id from the payout ids.
        """
        request = pb.SignTransactionRequest(
            request_id=request_id,
            key_id=key_id,
            chain_id=chain_id,
            nonce=nonce,
            gas_limit=gas_limit,
            payout=pb.PayoutIntent(
                treasury_address=treasury,
                token_contract=token,
                lines=[
                    pb.PayoutLine(destination_address=destination, amount_base_units=str(amount), payout_id=payout_id)
                    for payout_id, destination, amount in lines
                ],
            ),
            initiator_address=initiator,
        )
        return await self._sign(request, fees, awaiting_approval)

    async def sign_safe_owner(
        self,
        *,
        request_id: str,
        key_id: str,
        chain_id: int,
        safe_nonce: int,
        safe: str,
        token: str,
        destination: str,
        amount: int,
        initiator: str = "",
        awaiting_approval: str = "",
    ) -> Signed | Refused:
        """One COLD_OWNER key's signature of the SafeTx transfer(destination, amount) at the Safe's nonce.

        `Signed.raw_transaction` is then the owner's 65-byte signature and `tx_hash` the safeTxHash.
        """
        request = pb.SignTransactionRequest(
            request_id=request_id,
            key_id=key_id,
            chain_id=chain_id,
            nonce=safe_nonce,
            safe_transaction=pb.SafeTransactionIntent(
                safe_address=safe, token_contract=token, destination_address=destination, amount_base_units=str(amount)
            ),
            initiator_address=initiator,
        )
        if await self.still_held(request_id, awaiting_approval):
            return self._waiting(awaiting_approval)
        reply = await self._ask(request)
        if isinstance(reply, Refused):
            return reply
        if reply.decision == pb.SIGNING_DECISION_ALLOWED:
            return Signed(reply.signed_transaction, reply.tx_hash.lower())
        return _refused(reply)

    async def sign_safe_execution(
        self,
        *,
        request_id: str,
        key_id: str,
        chain_id: int,
        nonce: int,
        gas_limit: int,
        fees: TxFees,
        safe: str,
        token: str,
        destination: str,
        amount: int,
        owner_signatures: bytes,
        initiator: str = "",
        awaiting_approval: str = "",
    ) -> Signed | Refused:
        """ExecTransaction on the Safe relaying transfer(destination, amount) with the owners' packed signatures."""
        request = pb.SignTransactionRequest(
            request_id=request_id,
            key_id=key_id,
            chain_id=chain_id,
            nonce=nonce,
            gas_limit=gas_limit,
            safe_execution=pb.SafeExecutionIntent(
                safe_address=safe,
                token_contract=token,
                destination_address=destination,
                amount_base_units=str(amount),
                owner_signatures="0x" + owner_signatures.hex(),
            ),
            initiator_address=initiator,
        )
        return await self._sign(request, fees, awaiting_approval)

    async def _sign(self, request: pb.SignTransactionRequest, fees: TxFees, awaiting_approval: str) -> Signed | Refused:
        if await self.still_held(request.request_id, awaiting_approval):
            return self._waiting(awaiting_approval)
        if fees.legacy:
            request.legacy.CopyFrom(pb.LegacyFee(gas_price_wei=str(fees.max_fee_per_gas)))
        else:
            request.eip1559.CopyFrom(
                pb.Eip1559Fee(
                    max_fee_per_gas_wei=str(fees.max_fee_per_gas),
                    max_priority_fee_per_gas_wei=str(fees.max_priority_fee_per_gas),
                )
            )
        reply = await self._ask(request)
        if isinstance(reply, Refused):
            return reply
        if reply.decision == pb.SIGNING_DECISION_ALLOWED:
            raw = reply.signed_transaction
            tx_hash = "0x" + keccak256(bytes.fromhex(raw.removeprefix("0x"))).hex()
            if tx_hash != reply.tx_hash.lower():
                raise ValueError(f"the signer's tx_hash {reply.tx_hash} is not the hash of its raw transaction")
            return Signed(raw, tx_hash)
        return _refused(reply)
