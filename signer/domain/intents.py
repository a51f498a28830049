"""Typed intents: what settlement may ask the signer to sign. The signer builds the calldata from these itself.

The functions encoded here are our contracts' (`contracts/src/`; a test compares these signatures with the
committed ABI artifacts, so the two cannot drift apart):

- `payoutBatch(bytes32 batchId, address[] recipients, uint256[] amounts)` on the treasury (HOT key); the
  batch id is derived from the payout ids, so a re-signed batch carries the same id and the treasury refuses
  to pay it twice;
- `moveToCold(address asset, uint256 amount)` on the treasury; the cold Safe's address is fixed in the
  treasury, changeable only by the Safe (HOT key);
- `flushBatch(bytes32[] salts, uint256[] strayIndexes, address[] strayTokens)` on the forwarder factory
  (SWEEPER key); the token is the factory's own; each stray entry (an index into the salts, a token) moves that
  forwarder's whole balance of a stray token to the factory's fixed quarantine address, and a stray token is never
  the intent's token (refused by the policy as STRAY_IS_CONFIGURED_TOKEN, and by the contract).

- `execTransaction(...)` on the cold Safe (HOT key, `SafeExecutionIntent`): relaying a transfer out of cold with
  its owners' signatures; the SafeTx is built here, only the signatures come from the caller.

A Safe transaction out of cold storage is no Ethereum transaction: a COLD_OWNER key signs the SafeTx's EIP-712
hash as one owner (`signer/domain/safe.py`). Its call is one the signer builds itself: an ERC-20
`transfer(address to, uint256 amount)` from the Safe, or a plain native value transfer; never opaque bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from signer.domain.abi import DynamicBytes, WordArray, encode_call, word_address, word_bytes32, word_uint
from signer.domain.ethereum import checksum_address, keccak256, parse_address
from signer.domain.purpose import KeyPurpose
from signer.domain.safe import CALL, ZERO, SafeTx
from signer.domain.transactions import Eip1559Fee, Fee, LegacyFee, UnsignedTransaction

PAYOUT_BATCH = "payoutBatch(bytes32,address[],uint256[])"
MOVE_TO_COLD = "moveToCold(address,uint256)"
FLUSH_BATCH = "flushBatch(bytes32[],uint256[],address[])"
ERC20_TRANSFER = "transfer(address,uint256)"
EXEC_TRANSACTION = "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)"
"""Safe 1.4.1's execTransaction(to, value, data, operation, safeTxGas, baseGas, gasPrice, gasToken,
refundReceiver, signatures)."""
OWNER_SIGNATURE_LENGTH = 65
MAX_OWNER_SIGNATURES = 20
MAX_BATCH = 200
"""The most lines (payouts or forwarders) one intent may carry."""


@dataclass(frozen=True)
class PayoutLine:
    """One payout in a batch."""

    destination: bytes
    amount: int
    payout_id: str = ""


@dataclass(frozen=True)
class PayoutIntent:
    """A batched token payout from the treasury (HOT)."""

    kind: ClassVar[str] = "payout"
    treasury: bytes
    token: bytes
    lines: tuple[PayoutLine, ...]

    @property
    def contract(self) -> bytes:
        """The contract called."""
        return self.treasury

    @property
    def destinations(self) -> tuple[bytes, ...]:
        """Where the money goes."""
        return tuple(line.destination for line in self.lines)

    @property
    def amount(self) -> int:
        """The total moved, in token base units."""
        return sum(line.amount for line in self.lines)

    @property
    def batch_id(self) -> bytes:
        """The treasury's replay guard: keccak256 over the payout ids (or, without ids, over the lines)."""
        ids = [line.payout_id for line in self.lines]
        if all(ids):
            material = "stablegate.payout-batch:" + "|".join(ids)
        else:
            material = "stablegate.payout-lines:" + "|".join(f"{x.destination.hex()}:{x.amount}" for x in self.lines)
        return keccak256(material.encode())

    def calldata(self) -> bytes:
        """payoutBatch(batchId, recipients, amounts)."""
        return encode_call(
            PAYOUT_BATCH,
            [
                word_bytes32(self.batch_id),
                WordArray([word_address(line.destination) for line in self.lines]),
                WordArray([word_uint(line.amount) for line in self.lines]),
            ],
        )


@dataclass(frozen=True)
class ColdMoveIntent:
    """A move from the treasury to the cold Safe fixed in the treasury (HOT)."""

    kind: ClassVar[str] = "cold_move"
    treasury: bytes
    token: bytes
    amount: int

    @property
    def contract(self) -> bytes:
        """The contract called."""
        return self.treasury

    @property
    def destinations(self) -> tuple[bytes, ...]:
        """None the caller chooses: the treasury holds the cold address."""
        return ()

    def calldata(self) -> bytes:
        """moveToCold(token, amount)."""
        return encode_call(MOVE_TO_COLD, [word_address(self.token), word_uint(self.amount)])


@dataclass(frozen=True)
class StrayEntry:
    """A stray token to quarantine from the forwarder of `salts[salt_index]` of a sweep."""

    salt_index: int
    token: bytes


@dataclass(frozen=True)
class SweepIntent:
    """The factory's batch flush of forwarders into the treasury, and of stray tokens to quarantine (SWEEPER)."""

    kind: ClassVar[str] = "sweep"
    factory: bytes
    token: bytes
    salts: tuple[bytes, ...]
    strays: tuple[StrayEntry, ...] = ()

    def refusal(self) -> str | None:
        """Why the policy refuses this intent before any rule, or None: a stray entry naming the configured token.

        The configured token always goes to the treasury; the factory reverts such a call too
        (ConfiguredTokenIsNotStray), so signing it would only burn gas.
        """
        if any(stray.token == self.token for stray in self.strays):
            return "STRAY_IS_CONFIGURED_TOKEN"
        return None

    @property
    def contract(self) -> bytes:
        """The contract called."""
        return self.factory

    @property
    def destinations(self) -> tuple[bytes, ...]:
        """None the caller chooses: the factory flushes into its treasury."""
        return ()

    @property
    def amount(self) -> int:
        """Sweeps move deposits home; they count nothing against caps."""
        return 0

    def calldata(self) -> bytes:
        """flushBatch(salts, stray indexes, stray tokens)."""
        return encode_call(
            FLUSH_BATCH,
            [
                WordArray([word_bytes32(s) for s in self.salts]),
                WordArray([word_uint(x.salt_index) for x in self.strays]),
                WordArray([word_address(x.token) for x in self.strays]),
            ],
        )


@dataclass(frozen=True)
class SafeTransactionIntent:
    """A move out of the cold Safe (COLD_OWNER), signed as one owner of the Safe.

    A token transfer (or, with the zero token, native value) to a destination. The refund parameters and the
    operation are carried only so that a request naming them can be refused with its reason (`refusal`): the
    signer signs plain calls without refunds.
    """

    kind: ClassVar[str] = "safe_transaction"
    safe: bytes
    token: bytes
    """The ERC-20 moved; the zero address moves the chain's native coin."""
    destination: bytes
    amount: int
    operation: int = CALL
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: bytes = ZERO
    refund_receiver: bytes = ZERO

    @property
    def contract(self) -> bytes:
        """The contract the owners' signature is for: the Safe (the policy's `contracts`)."""
        return self.safe

    @property
    def destinations(self) -> tuple[bytes, ...]:
        """Where the money goes."""
        return (self.destination,)

    @property
    def native(self) -> bool:
        """True when the chain's coin moves rather than a token."""
        return self.token == ZERO

    def refusal(self) -> str | None:
        """Why the signer will not sign this SafeTx whatever the policy says, or None."""
        if self.operation != CALL:
            return "SAFE_DELEGATE_CALL"
        if self.gas_price or self.gas_token != ZERO or self.refund_receiver != ZERO:
            return "SAFE_REFUND_NOT_ALLOWED"
        return None

    def calldata(self) -> bytes:
        """transfer(destination, amount) on the token; nothing for a native transfer."""
        if self.native:
            return b""
        return encode_call(ERC20_TRANSFER, [word_address(self.destination), word_uint(self.amount)])

    def safe_tx(self, chain_id: int, nonce: int) -> SafeTx:
        """The SafeTx for the Safe's nonce."""
        return SafeTx(
            chain_id=chain_id,
            safe=self.safe,
            to=self.destination if self.native else self.token,
            value=self.amount if self.native else 0,
            data=self.calldata(),
            operation=self.operation,
            safe_tx_gas=self.safe_tx_gas,
            base_gas=self.base_gas,
            gas_price=self.gas_price,
            gas_token=self.gas_token,
            refund_receiver=self.refund_receiver,
            nonce=nonce,
        )


@dataclass(frozen=True)
class SafeExecutionIntent:
    """Relaying a transfer out of the cold Safe (HOT): `execTransaction` on the Safe, paid by our key.

    The signer builds the SafeTx's call itself exactly as for `SafeTransactionIntent` (an ERC-20 `transfer`, or a
    native transfer), always as a plain call (operation 0) with no refund (safeTxGas, baseGas, gasPrice 0, no gas
    token, no refund receiver); only the owners' packed signatures come from the caller, and they can authorize
    nothing but this SafeTx: the Safe checks them against the hash of the call built here.
    """

    kind: ClassVar[str] = "safe_execution"
    safe: bytes
    token: bytes
    """The ERC-20 moved; the zero address moves the chain's native coin."""
    destination: bytes
    amount: int
    signatures: bytes
    """The owners' 65-byte signatures, concatenated in ascending owner order."""

    @property
    def contract(self) -> bytes:
        """The contract called: the Safe (the policy's `contracts`)."""
        return self.safe

    @property
    def destinations(self) -> tuple[bytes, ...]:
        """Where the money goes."""
        return (self.destination,)

    def safe_call(self) -> SafeTransactionIntent:
        """The SafeTx's call, built by the same code the owners' signatures are made with."""
        return SafeTransactionIntent(self.safe, self.token, self.destination, self.amount)

    def calldata(self) -> bytes:
        """execTransaction(to, value, data, 0, 0, 0, 0, 0x0, 0x0, signatures)."""
        inner = self.safe_call()
        native = inner.native
        return encode_call(
            EXEC_TRANSACTION,
            [
                word_address(self.destination if native else self.token),
                word_uint(self.amount if native else 0),
                DynamicBytes(inner.calldata()),
                word_uint(CALL),
                word_uint(0),
                word_uint(0),
                word_uint(0),
                word_address(ZERO),
                word_address(ZERO),
                DynamicBytes(self.signatures),
            ],
        )


Intent = PayoutIntent | ColdMoveIntent | SweepIntent | SafeTransactionIntent | SafeExecutionIntent

INTENT_PURPOSE: dict[str, KeyPurpose] = {
    PayoutIntent.kind: KeyPurpose.HOT,
    ColdMoveIntent.kind: KeyPurpose.HOT,
    SweepIntent.kind: KeyPurpose.SWEEPER,
    SafeTransactionIntent.kind: KeyPurpose.COLD_OWNER,
    SafeExecutionIntent.kind: KeyPurpose.HOT,
}
"""The one purpose whose keys may sign each intent (checked before any policy rule)."""


@dataclass(frozen=True)
class TransactionRequest:
    """Everything settlement asks for one transaction: key, chain, nonce, gas, fees and the intent.

    For a Safe transaction the nonce is the Safe's, and there is no gas limit (0) and no fee (None): the owners
    sign a SafeTx, and whoever calls `execTransaction` pays the gas.
    """

    key_id: str
    chain_id: int
    nonce: int
    gas_limit: int
    fee: Fee | None
    intent: Intent

    def safe_tx(self) -> SafeTx:
        """The SafeTx of a Safe transaction request."""
        assert isinstance(self.intent, SafeTransactionIntent)
        return self.intent.safe_tx(self.chain_id, self.nonce)

    def unsigned(self) -> UnsignedTransaction:
        """The transaction the signer builds: a call of the intent's contract with zero value."""
        assert self.fee is not None
        assert not isinstance(self.intent, SafeTransactionIntent)
        return UnsignedTransaction(
            chain_id=self.chain_id,
            nonce=self.nonce,
            gas_limit=self.gas_limit,
            fee=self.fee,
            to=self.intent.contract,
            value=0,
            data=self.intent.calldata(),
        )

    def canonical(self) -> dict[str, object]:
        """A JSON-ready description: what the audit log records and the request digest hashes."""
        fee: dict[str, object] = (
            {
                "max_fee_per_gas": str(self.fee.max_fee_per_gas),
                "max_priority_fee_per_gas": str(self.fee.max_priority_fee_per_gas),
            }
            if isinstance(self.fee, Eip1559Fee)
            else {"gas_price": str(self.fee.gas_price)}
            if isinstance(self.fee, LegacyFee)
            else {}
        )
        return {
            "key_id": self.key_id,
            "chain_id": self.chain_id,
            "nonce": self.nonce,
            "gas_limit": self.gas_limit,
            "fee": fee,
            "intent": describe(self.intent),
        }

    def digest(self) -> bytes:
        """SHA-256 of the canonical description (request identity for idempotency and the audit)."""
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True, separators=(",", ":")).encode()).digest()

    @property
    def fee_cap(self) -> int:
        """The most one unit of gas may cost, whatever the fee type."""
        return self.fee.fee_cap if isinstance(self.fee, Eip1559Fee | LegacyFee) else 0


def describe(intent: Intent) -> dict[str, object]:
    """The intent as plain data with checksummed addresses and integer strings."""
    if isinstance(intent, PayoutIntent):
        return {
            "kind": intent.kind,
            "treasury": checksum_address(intent.treasury),
            "token": checksum_address(intent.token),
            "lines": [
                {"destination": checksum_address(x.destination), "amount": str(x.amount), "payout_id": x.payout_id}
                for x in intent.lines
            ],
        }
    if isinstance(intent, ColdMoveIntent):
        return {
            "kind": intent.kind,
            "treasury": checksum_address(intent.treasury),
            "token": checksum_address(intent.token),
            "amount": str(intent.amount),
        }
    if isinstance(intent, SafeTransactionIntent):
        return {
            "kind": intent.kind,
            "safe": checksum_address(intent.safe),
            "token": checksum_address(intent.token),
            "destination": checksum_address(intent.destination),
            "amount": str(intent.amount),
            "operation": intent.operation,
            "safe_tx_gas": str(intent.safe_tx_gas),
            "base_gas": str(intent.base_gas),
            "gas_price": str(intent.gas_price),
            "gas_token": checksum_address(intent.gas_token),
            "refund_receiver": checksum_address(intent.refund_receiver),
        }
    if isinstance(intent, SafeExecutionIntent):
        return {
            "kind": intent.kind,
            "safe": checksum_address(intent.safe),
            "token": checksum_address(intent.token),
            "destination": checksum_address(intent.destination),
            "amount": str(intent.amount),
            "signatures": "0x" + intent.signatures.hex(),
        }
    described: dict[str, Any] = {
        "kind": intent.kind,
        "factory": checksum_address(intent.factory),
        "token": checksum_address(intent.token),
        "salts": ["0x" + s.hex() for s in intent.salts],
    }
    if intent.strays:
        # Only when present: a sweep without strays is described (and hashed) as it always was.
        described["strays"] = [[x.salt_index, checksum_address(x.token)] for x in intent.strays]
    return described


def _intent_of(data: dict[str, Any]) -> Intent:
    kind = data["kind"]
    if kind == PayoutIntent.kind:
        lines = tuple(
            PayoutLine(parse_address(x["destination"]), int(x["amount"]), str(x["payout_id"])) for x in data["lines"]
        )
        return PayoutIntent(parse_address(data["treasury"]), parse_address(data["token"]), lines)
    if kind == ColdMoveIntent.kind:
        return ColdMoveIntent(parse_address(data["treasury"]), parse_address(data["token"]), int(data["amount"]))
    if kind == SafeTransactionIntent.kind:
        return SafeTransactionIntent(
            parse_address(data["safe"]),
            parse_address(data["token"]),
            parse_address(data["destination"]),
            int(data["amount"]),
            int(data["operation"]),
            int(data["safe_tx_gas"]),
            int(data["base_gas"]),
            int(data["gas_price"]),
            parse_address(data["gas_token"]),
            parse_address(data["refund_receiver"]),
        )
    if kind == SafeExecutionIntent.kind:
        return SafeExecutionIntent(
            parse_address(data["safe"]),
            parse_address(data["token"]),
            parse_address(data["destination"]),
            int(data["amount"]),
            bytes.fromhex(str(data["signatures"]).removeprefix("0x")),
        )
    if kind == SweepIntent.kind:
        salts = tuple(bytes.fromhex(s.removeprefix("0x")) for s in data["salts"])
        strays = tuple(StrayEntry(int(index), parse_address(token)) for index, token in data.get("strays", []))
        return SweepIntent(parse_address(data["factory"]), parse_address(data["token"]), salts, strays)
    raise ValueError(f"unknown intent kind {kind!r}")


def request_of(data: dict[str, Any]) -> TransactionRequest:
    """The request a canonical description describes (the inverse of `TransactionRequest.canonical`)."""
    fee_data = data["fee"]
    fee: Fee | None = (
        LegacyFee(int(fee_data["gas_price"]))
        if "gas_price" in fee_data
        else Eip1559Fee(int(fee_data["max_fee_per_gas"]), int(fee_data["max_priority_fee_per_gas"]))
        if fee_data
        else None
    )
    return TransactionRequest(
        str(data["key_id"]),
        int(data["chain_id"]),
        int(data["nonce"]),
        int(data["gas_limit"]),
        fee,
        _intent_of(data["intent"]),
    )
