"""Typed intents: what settlement may ask the signer to sign. The signer builds the calldata from these itself.

The functions encoded here are our contracts' (`contracts/src/`; a test compares these signatures with the
committed ABI artifacts, so the two cannot drift apart):

- `payoutBatch(bytes32 batchId, address[] recipients, uint256[] amounts)` on the treasury (HOT key); the
  batch id is derived from the payout ids, so a re-signed batch carries the same id and the treasury refuses
  to pay it twice;
- `moveToCold(address asset, uint256 amount)` on the treasury; the cold Safe's address is fixed in the
  treasury, changeable only by the Safe (HOT key);
- `flushBatch(bytes32[] salts, uint256[] strayIndexes, address[] strayTokens)` on the forwarder factory
  (SWEEPER key); the token is the factory's own, and no strays are named yet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from signer.domain.abi import WordArray, encode_call, word_address, word_bytes32, word_uint
from signer.domain.ethereum import checksum_address, keccak256, parse_address
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee, Fee, LegacyFee, UnsignedTransaction

PAYOUT_BATCH = "payoutBatch(bytes32,address[],uint256[])"
MOVE_TO_COLD = "moveToCold(address,uint256)"
FLUSH_BATCH = "flushBatch(bytes32[],uint256[],address[])"
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
class SweepIntent:
    """The factory's batch flush of forwarders into the treasury (SWEEPER)."""

    kind: ClassVar[str] = "sweep"
    factory: bytes
    token: bytes
    salts: tuple[bytes, ...]

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
        """flushBatch(salts, no stray indexes, no stray tokens)."""
        return encode_call(
            FLUSH_BATCH, [WordArray([word_bytes32(s) for s in self.salts]), WordArray([]), WordArray([])]
        )


Intent = PayoutIntent | ColdMoveIntent | SweepIntent

INTENT_PURPOSE: dict[str, KeyPurpose] = {
    PayoutIntent.kind: KeyPurpose.HOT,
    ColdMoveIntent.kind: KeyPurpose.HOT,
    SweepIntent.kind: KeyPurpose.SWEEPER,
}
"""The one purpose whose keys may sign each intent (checked before any policy rule)."""


@dataclass(frozen=True)
class TransactionRequest:
    """Everything settlement asks for one transaction: key, chain, nonce, gas, fees and the intent."""

    key_id: str
    chain_id: int
    nonce: int
    gas_limit: int
    fee: Fee
    intent: Intent

    def unsigned(self) -> UnsignedTransaction:
        """The transaction the signer builds: a call of the intent's contract with zero value."""
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
    return {
        "kind": intent.kind,
        "factory": checksum_address(intent.factory),
        "token": checksum_address(intent.token),
        "salts": ["0x" + s.hex() for s in intent.salts],
    }


def _intent_of(data: dict[str, Any]) -> Intent:
    kind = data["kind"]
    if kind == PayoutIntent.kind:
        lines = tuple(
            PayoutLine(parse_address(x["destination"]), int(x["amount"]), str(x["payout_id"])) for x in data["lines"]
        )
        return PayoutIntent(parse_address(data["treasury"]), parse_address(data["token"]), lines)
    if kind == ColdMoveIntent.kind:
        return ColdMoveIntent(parse_address(data["treasury"]), parse_address(data["token"]), int(data["amount"]))
    if kind == SweepIntent.kind:
        salts = tuple(bytes.fromhex(s.removeprefix("0x")) for s in data["salts"])
        return SweepIntent(parse_address(data["factory"]), parse_address(data["token"]), salts)
    raise ValueError(f"unknown intent kind {kind!r}")


def request_of(data: dict[str, Any]) -> TransactionRequest:
    """The request a canonical description describes (the inverse of `TransactionRequest.canonical`)."""
    fee_data = data["fee"]
    fee: Fee = (
        LegacyFee(int(fee_data["gas_price"]))
        if "gas_price" in fee_data
        else Eip1559Fee(int(fee_data["max_fee_per_gas"]), int(fee_data["max_priority_fee_per_gas"]))
    )
    return TransactionRequest(
        str(data["key_id"]),
        int(data["chain_id"]),
        int(data["nonce"]),
        int(data["gas_limit"]),
        fee,
        _intent_of(data["intent"]),
    )
