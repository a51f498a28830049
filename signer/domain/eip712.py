"""EIP-712 typed data approvers sign with their own Ethereum keys, and recovery of the signer's address.

Two structs, under one domain `EIP712Domain(string name, string version)` = ("stablegate-signer", "1"):

- `SigningApproval(string requestId, bytes32 requestDigest, string keyId, uint256 chainId, string intentKind,
  uint256 amount, address initiator, uint256 deadline)`: approves one held signing request;
- `SigningUnfreeze(string freezeId, uint256 deadline)`: lifts one freeze.

The digest is keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)), as eth_signTypedData_v4 makes it.
Only the types used here are encoded (string, bytes32, uint256, address).
"""

from __future__ import annotations

from dataclasses import dataclass

from signer.domain.ethereum import SECP256K1_N, RecoverableSignature, keccak256, parse_address, recover_address

DOMAIN_NAME = "stablegate-signer"
DOMAIN_VERSION = "1"

Field = tuple[str, str]
"""(name, type) of one struct member."""

DOMAIN_FIELDS: tuple[Field, ...] = (("name", "string"), ("version", "string"))
APPROVAL_FIELDS: tuple[Field, ...] = (
    ("requestId", "string"),
    ("requestDigest", "bytes32"),
    ("keyId", "string"),
    ("chainId", "uint256"),
    ("intentKind", "string"),
    ("amount", "uint256"),
    ("initiator", "address"),
    ("deadline", "uint256"),
)
UNFREEZE_FIELDS: tuple[Field, ...] = (("freezeId", "string"), ("deadline", "uint256"))
ZERO_ADDRESS = "0x" + "00" * 20


class BadSignature(ValueError):
    """A signature that is malformed or recovers to nothing."""


def type_string(name: str, fields: tuple[Field, ...]) -> str:
    """`Name(type1 name1,type2 name2,...)`."""
    return f"{name}(" + ",".join(f"{t} {n}" for n, t in fields) + ")"


def _word(kind: str, value: object) -> bytes:
    if kind == "string":
        assert isinstance(value, str)
        return keccak256(value.encode())
    if kind == "bytes32":
        assert isinstance(value, bytes)
        assert len(value) == 32
        return value
    if kind == "uint256":
        assert isinstance(value, int)
        assert 0 <= value < 2**256
        return value.to_bytes(32, "big")
    if kind == "address":
        assert isinstance(value, str)
        return parse_address(value).rjust(32, b"\0")
    raise ValueError(f"unsupported EIP-712 type {kind}")


def hash_struct(name: str, fields: tuple[Field, ...], values: dict[str, object]) -> bytes:
    """keccak256(typeHash ‖ encodeData)."""
    type_hash = keccak256(type_string(name, fields).encode())
    return keccak256(type_hash + b"".join(_word(t, values[n]) for n, t in fields))


DOMAIN_SEPARATOR = hash_struct("EIP712Domain", DOMAIN_FIELDS, {"name": DOMAIN_NAME, "version": DOMAIN_VERSION})


def typed_digest(name: str, fields: tuple[Field, ...], values: dict[str, object]) -> bytes:
    """The 32 bytes an approver's wallet signs for this message."""
    return keccak256(b"\x19\x01" + DOMAIN_SEPARATOR + hash_struct(name, fields, values))


@dataclass(frozen=True)
class ApprovalSubject:
    """What a SigningApproval binds: one held request, exactly."""

    request_id: str
    request_digest: bytes
    key_id: str
    chain_id: int
    intent_kind: str
    amount: int
    initiator: str

    def values(self, deadline: int) -> dict[str, object]:
        """The message's values with a deadline."""
        return {
            "requestId": self.request_id,
            "requestDigest": self.request_digest,
            "keyId": self.key_id,
            "chainId": self.chain_id,
            "intentKind": self.intent_kind,
            "amount": self.amount,
            "initiator": self.initiator,
            "deadline": deadline,
        }

    def digest(self, deadline: int) -> bytes:
        """The EIP-712 digest for a deadline."""
        return typed_digest("SigningApproval", APPROVAL_FIELDS, self.values(deadline))

    def typed_data(self) -> dict[str, object]:
        """eth_signTypedData_v4 JSON without the deadline (the approver adds `message.deadline`)."""
        message = {k: v for k, v in self.values(0).items() if k != "deadline"}
        message["requestDigest"] = "0x" + self.request_digest.hex()
        message["amount"] = str(self.amount)
        return _full("SigningApproval", APPROVAL_FIELDS, message)


def unfreeze_digest(freeze_id: str, deadline: int) -> bytes:
    """The EIP-712 digest approvers sign to lift one freeze."""
    return typed_digest("SigningUnfreeze", UNFREEZE_FIELDS, {"freezeId": freeze_id, "deadline": deadline})


def unfreeze_typed_data(freeze_id: str) -> dict[str, object]:
    """eth_signTypedData_v4 JSON of an unfreeze without the deadline."""
    return _full("SigningUnfreeze", UNFREEZE_FIELDS, {"freezeId": freeze_id})


def _full(primary: str, fields: tuple[Field, ...], message: dict[str, object]) -> dict[str, object]:
    return {
        "types": {
            "EIP712Domain": [{"name": n, "type": t} for n, t in DOMAIN_FIELDS],
            primary: [{"name": n, "type": t} for n, t in fields],
        },
        "primaryType": primary,
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION},
        "message": message,
    }


def recover_signer(digest: bytes, signature_hex: str) -> str:
    """The checksummed address whose key made a 65-byte r‖s‖v signature over `digest` (low s only)."""
    try:
        raw = bytes.fromhex(signature_hex.removeprefix("0x"))
    except ValueError:
        raise BadSignature("a signature is 0x-prefixed hex") from None
    if len(raw) != 65:
        raise BadSignature("a signature is 65 bytes r || s || v")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    v = v - 27 if v >= 27 else v
    if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise BadSignature("r, s or v out of range (s must be low)")
    try:
        return recover_address(digest, RecoverableSignature(r, s, v))
    except ValueError:
        raise BadSignature("the signature recovers to no key") from None
