"""The signer's decisions: freeze, key purpose, policy, nonce guard, signing, audit, in that order.

The front process is the one writer of the state (DECISIONS): decisions and reservations are made under one
lock; the HSM signs outside it, on the worker processes.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import asdict, dataclass

from service_runtime.errors import AlreadyExists, DomainError
from signer.domain.intents import TransactionRequest
from signer.domain.policy import Action, LoadedPolicy, evaluate
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee, transaction_hash
from signer.errors import BadRequest
from signer.keystore.base import KeyStore
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import NonceRecord, SignerState

FREEZE_FLAG = "frozen"
"""Set in the state file, every signing request is refused with SIGNING_FROZEN."""


@dataclass(frozen=True)
class SignResult:
    """The outcome of one signing request; signed_transaction is set only when ALLOWED."""

    decision: str
    reason: str = ""
    rule: str = ""
    signed_transaction: str = ""
    tx_hash: str = ""
    approval_id: str = ""
    audit_sequence: int = 0


ALLOWED, DENIED, PENDING = "ALLOWED", "DENIED", "PENDING_APPROVAL"


class SignerCore:
    """Decides and signs; records every decision in the audit log."""

    def __init__(self, policy: LoadedPolicy, state: SignerState, keys: KeyStore | WorkerKeyStore) -> None:
        self.policy = policy
        self.state = state
        self.keys = keys
        self._lock = asyncio.Lock()

    def audit(self, actor: str, action: str, **fields: object) -> int:
        """Append one record to the audit chain."""
        return self.state.append_audit({"actor": actor, "action": action, **fields})

    def record_start(self) -> int:
        """Audit the policy the signer started with (its hash)."""
        return self.audit("signer", "policy_load", policy_sha256=self.policy.sha256)

    async def _purpose_and_address(self, key_id: str) -> tuple[str, str] | None:
        if not isinstance(self.keys, WorkerKeyStore):
            found = [k for k in await self.keys.list_keys() if k.key_id == key_id]
            return (found[0].purpose, found[0].address) if found else None
        try:
            info = await self.keys.key(key_id)
        except DomainError:
            return None
        return info.purpose, info.address

    def refuse_malformed(self, actor: str, request_id: str, error: BadRequest) -> BadRequest:
        """Audit a request that could not be parsed into an intent, and hand back its error to raise."""
        self.audit(actor, "sign", request_id=request_id, decision=DENIED, reason=error.reason)
        return error

    async def sign(self, actor: str, request_id: str, request: TransactionRequest) -> SignResult:
        """Decide and, when the policy allows, sign; idempotent by request_id."""
        digest = request.digest().hex()
        previous = self.state.result(request_id)
        if previous is not None:
            if previous[0] != digest:
                raise AlreadyExists(
                    "request_id was used for another request",
                    reason="REQUEST_ID_REUSED",
                    metadata={"requestId": request_id},
                )
            return SignResult(**previous[1])  # type: ignore[arg-type]
        base = {"request_id": request_id, "key_id": request.key_id, "intent_digest": digest}
        details = request.canonical()

        async with self._lock:
            refusal = await self._decide(request, request_id)
            if isinstance(refusal, SignResult):
                seq = self.audit(
                    actor,
                    "sign",
                    **base,
                    decision=refusal.decision,
                    reason=refusal.reason,
                    rule=refusal.rule,
                    request=details,
                )
                result = SignResult(**{**asdict(refusal), "audit_sequence": seq})
                if refusal.decision == DENIED:
                    self.state.put_result(request_id, digest, asdict(result))
                return result
            rule, address = refusal
        unsigned = request.unsigned()
        try:
            signature = await self.keys.sign_digest(request.key_id, unsigned.signing_hash())
        except DomainError as exc:
            async with self._lock:
                self.state.drop_spend(request_id)
                self.audit(actor, "sign", **base, decision=DENIED, reason=exc.reason, rule=rule, request=details)
            raise
        raw = unsigned.signed(signature)
        tx_hash = "0x" + transaction_hash(raw).hex()
        async with self._lock:
            seq = self.audit(
                actor,
                "sign",
                **base,
                decision=ALLOWED,
                reason="",
                rule=rule,
                tx_hash=tx_hash,
                signer_address=address,
                request=details,
            )
            result = SignResult(ALLOWED, "", rule, "0x" + raw.hex(), tx_hash, "", seq)
            self.state.put_result(request_id, digest, asdict(result))
        return result

    async def _decide(self, request: TransactionRequest, request_id: str) -> SignResult | tuple[str, str]:
        """A refusal, or (matched rule, signer address) with the window reservation and nonce recorded."""
        if self.state.flag(FREEZE_FLAG) is not None:
            return SignResult(DENIED, "SIGNING_FROZEN")
        found = await self._purpose_and_address(request.key_id)
        if found is None:
            return SignResult(DENIED, "KEY_NOT_FOUND")
        purpose, address = found
        decision = evaluate(self.policy.policy, KeyPurpose(purpose), request, self.state.window_spent)
        if decision.action is None or decision.action is Action.DENY:
            return SignResult(DENIED, decision.reason, decision.rule)
        if decision.action is Action.REQUIRE_APPROVAL:
            # Approvals by EIP-712 signature are not built yet: held, never signed.
            return SignResult(PENDING, "APPROVALS_REQUIRED", decision.rule)
        nonce_refusal = self._nonce_guard(request, address)
        if nonce_refusal is not None:
            return SignResult(DENIED, nonce_refusal, decision.rule)
        if decision.window is not None and request.intent.amount:
            self.state.record_spend(decision.rule, request.intent.amount, request_id)
        return decision.rule, address

    def _nonce_guard(self, request: TransactionRequest, address: str) -> str | None:
        """Refuse a second, different payload for a used nonce unless it only raises the fees."""
        unsigned = request.unsigned()
        payload = hashlib.sha256(unsigned.signing_payload()).hexdigest()
        call = hashlib.sha256(unsigned.to + unsigned.value.to_bytes(32, "big") + unsigned.data).hexdigest()
        tip = request.fee.max_priority_fee_per_gas if isinstance(request.fee, Eip1559Fee) else request.fee_cap
        new = NonceRecord(payload, call, request.fee_cap, tip)
        used = self.state.nonce_record(request.chain_id, address, request.nonce)
        replacement = used is not None and used.call_hash == call and new.fee_cap > used.fee_cap and new.tip > used.tip
        if used is not None and used.payload_hash != payload and not replacement:
            return "NONCE_CONFLICT"
        self.state.put_nonce(request.chain_id, address, request.nonce, new)
        return None
