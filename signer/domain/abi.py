"""The few Solidity ABI encodings the signer's intents need (static words, dynamic arrays of them, bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from signer.domain.ethereum import keccak256


def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature like `transfer(address,uint256)`."""
    return keccak256(signature.encode())[:4]


def word_uint(value: int) -> bytes:
    """A uint256 word."""
    if not 0 <= value < 2**256:
        raise ValueError("uint256 out of range")
    return value.to_bytes(32, "big")


def word_address(raw: bytes) -> bytes:
    """An address word."""
    if len(raw) != 20:
        raise ValueError("an address is 20 bytes")
    return b"\x00" * 12 + raw


def word_bytes32(raw: bytes) -> bytes:
    """A bytes32 word."""
    if len(raw) != 32:
        raise ValueError("bytes32 is 32 bytes")
    return raw


@dataclass(frozen=True)
class WordArray:
    """A dynamic array of static words (address[], uint256[], bytes32[])."""

    words: Sequence[bytes]


@dataclass(frozen=True)
class DynamicBytes:
    """A `bytes` argument (length word, then the data padded to a whole number of words)."""

    data: bytes


def encode_call(signature: str, args: Sequence[bytes | WordArray | DynamicBytes]) -> bytes:
    """Calldata: selector, then heads (static words or offsets), then the tails of dynamic arguments."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    head_size = 32 * len(args)
    for arg in args:
        if isinstance(arg, WordArray):
            offset = head_size + sum(len(t) for t in tails)
            heads.append(word_uint(offset))
            tails.append(word_uint(len(arg.words)) + b"".join(arg.words))
        elif isinstance(arg, DynamicBytes):
            offset = head_size + sum(len(t) for t in tails)
            heads.append(word_uint(offset))
            padding = b"\x00" * (-len(arg.data) % 32)
            tails.append(word_uint(len(arg.data)) + arg.data + padding)
        else:
            heads.append(arg)
    return selector(signature) + b"".join(heads) + b"".join(tails)
