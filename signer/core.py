"""The signer's decisions: freeze, key purpose, policy, nonce guard, signing, audit, in that order.

The front process is the one writer of the state (DECISIONS): decisions and reservations are made under one
lock; the HSM signs outside it, on the worker processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from service_runtime.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from signer.domain.eip712 import ZERO_ADDRESS, ApprovalSubject, BadSignature, recover_signer, unfreeze_digest
from signer.domain.ethereum import checksum_address
from signer.domain.intents import SafeTransactionIntent, TransactionRequest, request_of
from signer.domain.policy import Action, ApprovalRequirement, Decision, LoadedPolicy, evaluate
from signer.domain.purpose import KeyPurpose
from signer.domain.safe import owner_signature
from signer.domain.transactions import Eip1559Fee, transaction_hash
from signer.errors import BadRequest
from signer.keystore.base import KeyStore
from signer.keystore.workers import WorkerKeyStore
from signer.metrics import SignerMetrics
from signer.store.state import Held, NonceRecord, SignerState

FREEZE_FLAG = "frozen"
"""Set in the state file, every signing request is refused with SIGNING_FROZEN."""


@dataclass(frozen=True)
class SignResult:
    """The outcome of one signing request; signed_transaction is set only when ALLOWED.

    For a Safe transaction, signed_transaction is the owner's 65-byte signature and tx_hash the safeTxHash.
    """

    decision: str
    reason: str = ""
    rule: str = ""
    signed_transaction: str = ""
    tx_hash: str = ""
    approval_id: str = ""
    audit_sequence: int = 0


ALLOWED, DENIED, PENDING = "ALLOWED", "DENIED", "PENDING_APPROVAL"


@dataclass(frozen=True)
class Freeze:
    """The freeze in force."""

    freeze_id: str
    reason: str
    at: float


@dataclass(frozen=True)
class Signature:
    """An approver's EIP-712 signature with the deadline it signed."""

    signature: str
    deadline: int


@dataclass(frozen=True)
class _Go:
    """A decision to sign: the rule, the key's address and the approvers that made the quorum (if any)."""

    rule: str
    address: str
    approvers: tuple[str, ...] = ()
    approval_id: str = ""


def subject_of(held: Held) -> ApprovalSubject:
    """What approvers of a held request sign."""
    request = request_of(json.loads(held.request))
    return ApprovalSubject(
        held.request_id,
        bytes.fromhex(held.request_digest),
        request.key_id,
        request.chain_id,
        request.intent.kind,
        request.intent.amount,
        held.initiator,
    )


class SignerCore:
    """Decides and signs; records every decision in the audit log."""

    def __init__(
        self,
        policy: LoadedPolicy,
        state: SignerState,
        keys: KeyStore | WorkerKeyStore,
        metrics: SignerMetrics | None = None,
    ) -> None:
        self.policy = policy
        self.state = state
        self.keys = keys
        self.metrics = metrics or SignerMetrics()
        self.metrics.frozen.set(int(self.freeze_state() is not None))
        self._lock = asyncio.Lock()
        self._inflight: dict[str, asyncio.Future[None]] = {}

    def audit(self, actor: str, action: str, **fields: object) -> int:
        """Append one record to the audit chain (and count it in the metrics once it is appended)."""
        sequence = self.state.append_audit({"actor": actor, "action": action, **fields})
        self.metrics.audited(action, fields)
        return sequence

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

    async def sign(
        self, actor: str, request_id: str, request: TransactionRequest, initiator: str = ZERO_ADDRESS
    ) -> SignResult:
        """Decide and, when the policy allows (or a quorum approved), sign; idempotent by request_id.

        Concurrent calls with one request id (a retry racing the approval that completes the quorum) run one at a
        time: the later one waits and then answers from the stored result.
        """
        waiting = self._inflight.get(request_id)
        if waiting is not None:
            await asyncio.shield(waiting)
            return await self.sign(actor, request_id, request, initiator)
        done = asyncio.get_running_loop().create_future()
        self._inflight[request_id] = done
        try:
            return await self._sign_once(actor, request_id, request, initiator)
        finally:
            del self._inflight[request_id]
            done.set_result(None)

    async def _sign_once(self, actor: str, request_id: str, request: TransactionRequest, initiator: str) -> SignResult:
        digest = request.digest().hex()
        previous = self.state.result(request_id)
        held = self.state.held_by_request(request_id)
        if previous is None and held is not None and held.request_digest != digest:
            previous = (held.request_digest, {})
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
            refusal = await self._decide(request, request_id, actor, initiator)
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
                # A denial is final for its request id, except a freeze's: it lasts only until the unfreeze.
                if refusal.decision == DENIED and refusal.reason != "SIGNING_FROZEN":
                    self.state.put_result(request_id, digest, asdict(result))
                return result
            go = refusal
            rule, address = go.rule, go.address
        safe = isinstance(request.intent, SafeTransactionIntent)
        to_sign = request.safe_tx().hash() if safe else request.unsigned().signing_hash()
        try:
            signature = await self.keys.sign_digest(request.key_id, to_sign)
        except DomainError as exc:
            async with self._lock:
                self.state.drop_spend(request_id)
                self.audit(actor, "sign", **base, decision=DENIED, reason=exc.reason, rule=rule, request=details)
            raise
        if safe:
            raw, tx_hash = owner_signature(signature), "0x" + to_sign.hex()
        else:
            raw = request.unsigned().signed(signature)
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
                approvers=list(go.approvers),
                request=details,
            )
            result = SignResult(ALLOWED, "", rule, "0x" + raw.hex(), tx_hash, go.approval_id, seq)
            self.state.put_result(request_id, digest, asdict(result))
            if go.approval_id:
                self.state.mark_held_signed(go.approval_id, tx_hash)
        return result

    async def _decide(
        self, request: TransactionRequest, request_id: str, actor: str, initiator: str
    ) -> SignResult | _Go:
        """A refusal, or what to sign with, the window reservation and nonce recorded."""
        barred = self._barred(request_id)
        if barred is not None:
            return barred
        found = await self._purpose_and_address(request.key_id)
        if found is None:
            return SignResult(DENIED, "KEY_NOT_FOUND")
        purpose, address = found
        decision = evaluate(self.policy.policy, KeyPurpose(purpose), request, self.state.window_spent)
        if decision.action is None or decision.action is Action.DENY:
            return SignResult(DENIED, decision.reason, decision.rule)
        go = _Go(decision.rule, address)
        if decision.action is Action.REQUIRE_APPROVAL:
            assert decision.approval is not None
            held = self._hold(request, request_id, actor, initiator, decision)
            approvers = self._quorum(held, decision.approval)
            if approvers is None:
                return SignResult(PENDING, "APPROVALS_REQUIRED", decision.rule, approval_id=held.approval_id)
            go = _Go(decision.rule, address, approvers, held.approval_id)
        nonce_refusal = self._nonce_guard(request, address)
        if nonce_refusal is not None:
            return SignResult(DENIED, nonce_refusal, decision.rule)
        if decision.window is not None and request.intent.amount:
            self.state.record_spend(decision.rule, request.intent.amount, request_id)
        return go

    def _barred(self, request_id: str) -> SignResult | None:
        """Refused before the policy: the freeze (until it is lifted), or a held request that lapsed unsigned.

        A lapsed one is refused for good (stored as the request's final result), so settlement may give its nonce
        to another transaction: this one can never be signed after all.
        """
        if self.state.flag(FREEZE_FLAG) is not None:
            return SignResult(DENIED, "SIGNING_FROZEN")
        held = self.state.held_by_request(request_id)
        if held is not None and not held.tx_hash and held.expires <= self.state.now():
            return SignResult(DENIED, "APPROVAL_EXPIRED", held.rule, approval_id=held.approval_id)
        return None

    def _hold(
        self, request: TransactionRequest, request_id: str, actor: str, initiator: str, decision: Decision
    ) -> Held:
        """The held request for request_id: as it was, or raised now (a lapsed one is refused before this)."""
        assert decision.approval is not None
        held = self.state.held_by_request(request_id)
        now = self.state.now()
        if held is not None:
            return held
        held = Held(
            approval_id="apr_" + secrets.token_hex(12),
            request_id=request_id,
            request_digest=request.digest().hex(),
            request=json.dumps(request.canonical(), sort_keys=True),
            initiator=initiator,
            actor=actor,
            rule=decision.rule,
            group=decision.approval.group,
            threshold=decision.approval.threshold,
            created=now,
            expires=now + self.policy.policy.approval_ttl_seconds,
        )
        self.state.put_held(held)
        return held

    def _quorum(self, held: Held, requirement: ApprovalRequirement) -> tuple[str, ...] | None:
        """The distinct live approvers of the requirement's group, never the initiator, when they are enough."""
        group = self.policy.policy.approver_groups[requirement.group].addresses
        live = [a for a in self.state.live_approvers(held.approval_id) if a in group and a != held.initiator]
        return tuple(live) if len(live) >= requirement.threshold else None

    def _check_deadline(self, deadline: int) -> None:
        now = self.state.now()
        if not now < deadline <= now + self.policy.policy.approval_ttl_seconds:
            raise InvalidArgument(
                "an approval's deadline lies in the future, at most approval_ttl_seconds ahead",
                reason="APPROVAL_DEADLINE_INVALID",
                metadata={"field": "deadline"},
            )

    async def approve(
        self,
        actor: str,
        approval_id: str,
        approval: Signature,
        comment: str = "",
        acting: Mapping[str, str] | None = None,
    ) -> tuple[str, Held]:
        """Record one approver's signature on a held request and sign it when the quorum is reached.

        Returns the approver's address and the held request afterwards. Refused (and audited): an unknown,
        signed or lapsed request, a bad deadline or signature, the initiator, an address outside the group.
        `acting` (the person the dashboard relays for, signer/api/acting.py) goes into the audit records.
        """
        async with self._lock:
            held = self.state.held(approval_id)
            if held is None:
                raise NotFound("no such approval", reason="APPROVAL_NOT_FOUND", metadata={"id": approval_id})
            base = {"request_id": held.request_id, "approval_id": approval_id, "comment": comment, **(acting or {})}

            def refuse(error: DomainError, approver: str = "") -> DomainError:
                self.audit(actor, "approve", **base, approver=approver, decision="REFUSED", reason=error.reason)
                return error

            if held.tx_hash:
                raise refuse(FailedPrecondition("already signed", reason="APPROVAL_NOT_PENDING"))
            if held.expires <= self.state.now():
                raise refuse(FailedPrecondition("the held request lapsed", reason="APPROVAL_EXPIRED"))
            try:
                self._check_deadline(approval.deadline)
                approver = recover_signer(subject_of(held).digest(approval.deadline), approval.signature)
            except BadSignature as exc:
                raise refuse(
                    InvalidArgument(str(exc), reason="BAD_SIGNATURE", metadata={"field": "signature"})
                ) from None
            except DomainError as exc:
                raise refuse(exc) from None
            if approver == held.initiator:
                raise refuse(
                    FailedPrecondition("the initiator cannot approve", reason="INITIATOR_CANNOT_APPROVE"), approver
                )
            group = self.policy.policy.approver_groups.get(held.group)
            if group is None or approver not in group.addresses:
                raise refuse(
                    FailedPrecondition("not an approver of this group", reason="APPROVER_NOT_IN_GROUP"), approver
                )
            self.state.put_approval(approval_id, approver, approval.deadline, approval.signature)
            self.audit(actor, "approve", **base, approver=approver, decision="ACCEPTED", deadline=approval.deadline)
        await self.sign(held.actor, held.request_id, request_of(json.loads(held.request)), held.initiator)
        after = self.state.held(approval_id)
        assert after is not None
        return approver, after

    def approval_view(self, held: Held) -> tuple[str, list[str]]:
        """(status, live approvers that count) of a held request."""
        group = self.policy.policy.approver_groups.get(held.group)
        members = group.addresses if group is not None else []
        live = [a for a in self.state.live_approvers(held.approval_id) if a in members and a != held.initiator]
        if held.tx_hash:
            return "APPROVED", live
        return ("EXPIRED" if held.expires <= self.state.now() else "PENDING"), live

    # --- emergency freeze ----------------------------------------------------------------------------------

    def freeze_state(self) -> Freeze | None:
        """The freeze in force, if any."""
        raw = self.state.flag(FREEZE_FLAG)
        if raw is None:
            return None
        data = json.loads(raw)
        return Freeze(str(data["id"]), str(data["reason"]), float(data["at"]))

    async def freeze(self, actor: str, reason: str) -> Freeze:
        """Refuse every signing request from now on (a second freeze keeps the first)."""
        async with self._lock:
            current = self.freeze_state()
            if current is not None:
                self.audit(actor, "freeze", freeze_id=current.freeze_id, reason=reason, decision="ALREADY_FROZEN")
                return current
            frozen = Freeze("frz_" + secrets.token_hex(12), reason, self.state.now())
            self.state.set_flag(FREEZE_FLAG, json.dumps({"id": frozen.freeze_id, "reason": reason, "at": frozen.at}))
            self.audit(actor, "freeze", freeze_id=frozen.freeze_id, reason=reason, decision="FROZEN")
            return frozen

    async def unfreeze(
        self, actor: str, freeze_id: str, signatures: list[Signature], acting: Mapping[str, str] | None = None
    ) -> list[str]:
        """Lift the freeze when the policy's `unfreeze` quorum signed its id; returns the approvers that counted.

        `acting` (the person the dashboard relays for, signer/api/acting.py) goes into the audit record.
        """
        async with self._lock:
            base = {"freeze_id": freeze_id, **(acting or {})}

            def refuse(error: DomainError, approvers: list[str] | None = None) -> DomainError:
                self.audit(
                    actor, "unfreeze", **base, decision="REFUSED", reason=error.reason, approvers=approvers or []
                )
                return error

            current = self.freeze_state()
            if current is None:
                raise refuse(FailedPrecondition("signing is not frozen", reason="NOT_FROZEN"))
            if current.freeze_id != freeze_id:
                raise refuse(FailedPrecondition("not the freeze in force", reason="FREEZE_ID_MISMATCH"))
            requirement = self.policy.policy.unfreeze
            if requirement is None:
                raise refuse(
                    FailedPrecondition("the policy names no unfreeze quorum", reason="UNFREEZE_NOT_CONFIGURED")
                )
            group = self.policy.policy.approver_groups[requirement.group].addresses
            counted: list[str] = []
            for item in signatures:
                try:
                    self._check_deadline(item.deadline)
                    who = recover_signer(unfreeze_digest(freeze_id, item.deadline), item.signature)
                except (BadSignature, DomainError):
                    continue
                if who in group and who not in counted:
                    counted.append(who)
            if len(counted) < requirement.threshold:
                raise refuse(
                    FailedPrecondition(
                        f"{len(counted)} of {requirement.threshold} approvers signed", reason="QUORUM_NOT_MET"
                    ),
                    counted,
                )
            self.state.set_flag(FREEZE_FLAG, None)
            self.audit(actor, "unfreeze", **base, decision="UNFROZEN", reason="", approvers=counted)
            return counted

    def _nonce_guard(self, request: TransactionRequest, address: str) -> str | None:
        """Refuse a second, different payload for a used nonce unless it only raises the fees.

        A Safe transaction's nonce is the Safe's: one Safe nonce gets one SafeTx, whichever owner key signs it
        (the guard is kept under the Safe's address; no fee bump applies).
        """
        if isinstance(request.intent, SafeTransactionIntent):
            safe_hash = request.safe_tx().hash().hex()
            record = NonceRecord(safe_hash, safe_hash, 0, 0)
            safe_address = checksum_address(request.intent.safe)
            used = self.state.nonce_record(request.chain_id, safe_address, request.nonce)
            if used is not None and used.payload_hash != safe_hash:
                return "NONCE_CONFLICT"
            self.state.put_nonce(request.chain_id, safe_address, request.nonce, record)
            return None
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
