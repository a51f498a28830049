"""Ethereum encodings the signer needs: keccak, addresses, RLP, low-s signatures and recovery."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import coincurve
from Crypto.Hash import keccak as _keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class SignatureError(ValueError):
    """A signature that does not recover to the expected address (the signer fails closed)."""


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash, not SHA3-256)."""
    return _keccak.new(digest_bits=256, data=data).digest()


def checksum_address(raw: bytes) -> str:
    """EIP-55 mixed-case hex of a 20-byte address."""
    if len(raw) != 20:
        raise ValueError("an address is 20 bytes")
    plain = raw.hex()
    digest = keccak256(plain.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(plain))


def parse_address(text: str) -> bytes:
    """20 bytes from 0x-hex; mixed case must be a valid EIP-55 checksum."""
    if not _ADDRESS.match(text):
        raise ValueError(f"not an address: {text!r}")
    raw = bytes.fromhex(text[2:])
    body = text[2:]
    if body != body.lower() and body != body.upper() and checksum_address(raw) != text:
        raise ValueError(f"bad EIP-55 checksum: {text!r}")
    return raw


def normalize_address(text: str) -> str:
    """The checksummed form of an address given in any valid form."""
    return checksum_address(parse_address(text))


def address_of_public_key(uncompressed: bytes) -> str:
    """Checksummed address of an uncompressed SEC1 public key (65 bytes, 0x04 prefix)."""
    if len(uncompressed) != 65 or uncompressed[0] != 4:
        raise ValueError("expected a 65-byte uncompressed public key")
    return checksum_address(keccak256(uncompressed[1:])[12:])


def unwrap_ec_point(der: bytes) -> bytes:
    """CKA_EC_POINT as SoftHSM returns it (a DER OCTET STRING `04 41 04…`) to the raw 65-byte point."""
    if len(der) == 65 and der[0] == 4:
        return der
    if len(der) == 67 and der[0] == 0x04 and der[1] == 0x41 and der[2] == 0x04:
        return der[2:]
    raise ValueError("unexpected CKA_EC_POINT encoding")


@dataclass(frozen=True)
class RecoverableSignature:
    """An ECDSA signature with low s and its recovery id (0 or 1)."""

    r: int
    s: int
    v: int

    def to_bytes(self) -> bytes:
        """r‖s‖v, 65 bytes, v in {0, 1} (coincurve's recoverable form)."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.v])


def recover_address(digest: bytes, signature: RecoverableSignature) -> str:
    """The address that signed `digest`."""
    public = coincurve.PublicKey.from_signature_and_message(signature.to_bytes(), digest, hasher=None)
    return address_of_public_key(public.format(compressed=False))


def finish_signature(raw_rs: bytes, digest: bytes, address: str) -> RecoverableSignature:
    """From an HSM's raw r‖s: make s low, find v by trial recovery, and check it recovers to `address`."""
    if len(raw_rs) != 64 or len(digest) != 32:
        raise SignatureError("expected a 64-byte r||s over a 32-byte digest")
    r = int.from_bytes(raw_rs[:32], "big")
    s = int.from_bytes(raw_rs[32:], "big")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise SignatureError("r or s out of range")
    if s > SECP256K1_N // 2:
        s = SECP256K1_N - s
    for v in (0, 1):
        candidate = RecoverableSignature(r, s, v)
        try:
            if recover_address(digest, candidate) == address:
                return candidate
        except ValueError:
            continue
    raise SignatureError("the HSM's signature recovers to no expected address; refusing it")


RlpItem = bytes | int | Sequence["RlpItem"]


def int_bytes(value: int) -> bytes:
    """Minimal big-endian bytes of a non-negative integer (0 is empty), as RLP wants it."""
    if value < 0:
        raise ValueError("RLP integers are non-negative")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = int_bytes(length)
    return bytes([offset + 55 + len(encoded)]) + encoded


def rlp_encode(item: RlpItem) -> bytes:
    """Recursive Length Prefix encoding of bytes, non-negative integers and lists of them."""
    if isinstance(item, int):
        item = int_bytes(item)
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    payload = b"".join(rlp_encode(x) for x in item)
    return _length_prefix(len(payload), 0xC0) + payload
