"""Ethereum ABI coding of the types our contracts use, Keccak-256 and EIP-55 addresses.

Supported: `uint<M>`, `int<M>`, `address`, `bool`, `bytes<M>`, `bytes`, `string`, and dynamic arrays `T[]`
of the static ones. Tuples and fixed-size arrays are not needed by our contracts and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from Crypto.Hash import keccak

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_INT = re.compile(r"(u?)int(\d*)")
_BYTES_N = re.compile(r"bytes(\d+)")
WORD = 32


class AbiError(ValueError):
    """A value does not fit its ABI type, or data does not decode as the types say."""


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (original padding, not NIST SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address: str) -> str:
    """The EIP-55 form of a `0x` + 40 hex address in any case; `AbiError` if it is not one."""
    if not _ADDRESS.fullmatch(address):
        raise AbiError(f"not an address (0x followed by 40 hex digits): {address!r}")
    lower = address[2:].lower()
    digest = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest[:40], strict=True))


def selector(signature: str) -> bytes:
    """The 4-byte function (or error) selector of a canonical signature such as `transfer(address,uint256)`."""
    return keccak256(signature.encode())[:4]


def _is_dynamic(typ: str) -> bool:
    return typ in ("bytes", "string") or typ.endswith("[]")


def _encode_static(typ: str, value: object) -> bytes:
    if typ == "address":
        if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
            raise AbiError(f"address expected, got {value!r}")
        return bytes(12) + bytes.fromhex(value[2:])
    if typ == "bool":
        if not isinstance(value, bool):
            raise AbiError(f"bool expected, got {value!r}")
        return int(value).to_bytes(WORD, "big")
    if match := _INT.fullmatch(typ):
        bits = int(match[2] or 256)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AbiError(f"{typ} expected an int, got {value!r}")
        low, high = (0, 2**bits) if match[1] else (-(2 ** (bits - 1)), 2 ** (bits - 1))
        if not low <= value < high:
            raise AbiError(f"{value} does not fit {typ}")
        return (value % 2**256).to_bytes(WORD, "big")
    if match := _BYTES_N.fullmatch(typ):
        size = int(match[1])
        if not isinstance(value, bytes) or len(value) != size:
            raise AbiError(f"{typ} expected {size} bytes, got {value!r}")
        return value.ljust(WORD, b"\0")
    raise AbiError(f"unsupported ABI type {typ}")


def _encode_dynamic(typ: str, value: object) -> bytes:
    if typ in ("bytes", "string"):
        raw = value.encode() if typ == "string" and isinstance(value, str) else value
        if not isinstance(raw, bytes):
            raise AbiError(f"{typ} expected, got {value!r}")
        padded = raw + bytes(-len(raw) % WORD)
        return len(raw).to_bytes(WORD, "big") + padded
    element = typ[:-2]
    if _is_dynamic(element) or "[" in element:
        raise AbiError(f"unsupported ABI type {typ}: arrays of dynamic types are not needed here")
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise AbiError(f"{typ} expected a sequence, got {value!r}")
    return len(value).to_bytes(WORD, "big") + b"".join(_encode_static(element, v) for v in value)


def encode(types: Sequence[str], values: Sequence[object]) -> bytes:
    """ABI-encode `values` as the tuple `types` (function arguments, constructor arguments)."""
    if len(types) != len(values):
        raise AbiError(f"{len(types)} types but {len(values)} values")
    head_size = WORD * len(types)
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = head_size
    for typ, value in zip(types, values, strict=True):
        if _is_dynamic(typ):
            tail = _encode_dynamic(typ, value)
            heads.append(offset.to_bytes(WORD, "big"))
            tails.append(tail)
            offset += len(tail)
        else:
            heads.append(_encode_static(typ, value))
    return b"".join(heads) + b"".join(tails)


def _word(data: bytes, at: int) -> bytes:
    if at + WORD > len(data):
        raise AbiError(f"data ends at {len(data)} bytes; needed a word at {at}")
    return data[at : at + WORD]


def _decode_static(typ: str, word: bytes) -> object:
    if typ == "address":
        return to_checksum_address("0x" + word[12:].hex())
    if typ == "bool":
        return word[-1] == 1
    if match := _INT.fullmatch(typ):
        number = int.from_bytes(word, "big")
        bits = int(match[2] or 256)
        return number if match[1] or number < 2 ** (bits - 1) else number - 2**256
    if match := _BYTES_N.fullmatch(typ):
        return word[: int(match[1])]
    raise AbiError(f"unsupported ABI type {typ}")


def decode(types: Sequence[str], data: bytes) -> tuple[object, ...]:
    """Decode ABI data (call results, log data) as the tuple `types`."""
    values: list[object] = []
    for i, typ in enumerate(types):
        word = _word(data, WORD * i)
        if not _is_dynamic(typ):
            values.append(_decode_static(typ, word))
            continue
        start = int.from_bytes(word, "big")
        length = int.from_bytes(_word(data, start), "big")
        if typ in ("bytes", "string"):
            raw = data[start + WORD : start + WORD + length]
            if len(raw) != length:
                raise AbiError(f"{typ} of {length} bytes runs past the data")
            values.append(raw.decode() if typ == "string" else raw)
        else:
            element = typ[:-2]
            values.append([_decode_static(element, _word(data, start + WORD * (1 + k))) for k in range(length)])
    return tuple(values)
