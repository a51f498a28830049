"""EVM addresses: Keccak-256, EIP-55 checksums, parsing request input, and CREATE2 deposit addresses.

Every invoice gets its own deposit address, computed rather than deployed: CREATE2 (EIP-1014) over the
forwarder factory's address, a salt derived from the invoice id, and the forwarder's init-code hash. The
address is known before any contract exists, and the factory can deploy the forwarder there later to sweep.
"""

from __future__ import annotations

import re

from Crypto.Hash import keccak

from ledger.errors import InvalidAddress

ZERO_ADDRESS = "0x" + "0" * 40
"""Tokens sent here are burnt; it is never a valid destination."""

_ADDRESS = re.compile(r"0x(?P<hex>[0-9a-fA-F]{40})")
_INVOICE_SALT_DOMAIN = b"stablegate.invoice:"


def keccak256(data: bytes) -> bytes:
    """The Ethereum Keccak-256 digest of `data` (the original Keccak padding, not NIST SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of a `0x` + 40 hex address given in any case.

    Raises `ValueError` if `address` is not `0x` followed by 40 hex digits. The input's case is not checked;
    use `parse_address` for input that must carry a valid checksum.
    """
    return _checksum(_hex_body(address).lower())


def parse_address(text: str, *, field: str) -> str:
    """Validate an address from a request and return its EIP-55 checksummed form.

    All-lowercase and all-uppercase input carries no checksum and is accepted; mixed case must match EIP-55
    exactly, so a mistyped address is caught. Raises `InvalidAddress` (metadata `field`) with reason
    ADDRESS_INVALID (not `0x` + 40 hex digits), ADDRESS_CHECKSUM_MISMATCH or ADDRESS_ZERO.
    """
    match = _ADDRESS.fullmatch(text)
    if match is None:
        raise InvalidAddress(
            f"{field} must be an address: 0x followed by 40 hexadecimal digits",
            reason="ADDRESS_INVALID",
            field=field,
        )
    body = match["hex"]
    checksummed = _checksum(body.lower())
    if body not in (body.lower(), body.upper()) and text != checksummed:
        raise InvalidAddress(
            f"{field} has mixed case that does not match its EIP-55 checksum; check the address for typos",
            reason="ADDRESS_CHECKSUM_MISMATCH",
            field=field,
        )
    if checksummed == ZERO_ADDRESS:
        raise InvalidAddress(f"{field} must not be the zero address", reason="ADDRESS_ZERO", field=field)
    return checksummed


def create2_address(deployer: str, salt: bytes, init_code_hash: bytes) -> str:
    """The EIP-1014 address `deployer` creates with CREATE2: keccak256(0xff ++ deployer ++ salt ++ hash)[12:].

    Returns the checksummed address. Raises `ValueError` if `deployer` is not `0x` + 40 hex digits or if
    `salt` or `init_code_hash` is not exactly 32 bytes (these come from config and code, not from requests).
    """
    if len(salt) != 32:
        raise ValueError(f"salt must be 32 bytes, got {len(salt)}")
    if len(init_code_hash) != 32:
        raise ValueError(f"init_code_hash must be 32 bytes, got {len(init_code_hash)}")
    deployer_bytes = bytes.fromhex(_hex_body(deployer))
    digest = keccak256(b"\xff" + deployer_bytes + salt + init_code_hash)
    return _checksum(digest[12:].hex())


def invoice_salt(invoice_id: str) -> bytes:
    """The CREATE2 salt of an invoice's deposit address: keccak256(b"stablegate.invoice:" + invoice_id).

    The domain prefix keeps this salt apart from any other salt the same factory is given (another kind of
    id that happens to equal an invoice id, or a future salt scheme), so two purposes can never be assigned
    the same deposit address. Hashing makes any id length fit the 32 bytes CREATE2 takes.
    """
    return keccak256(_INVOICE_SALT_DOMAIN + invoice_id.encode())


def _hex_body(address: str) -> str:
    """The 40 hex digits of `0x` + 40 hex `address`, case kept; `ValueError` otherwise."""
    match = _ADDRESS.fullmatch(address)
    if match is None:
        raise ValueError(f"not an address (0x followed by 40 hex digits): {address!r}")
    return match["hex"]


def _checksum(lower_hex: str) -> str:
    """EIP-55: upper-case each letter whose nibble in keccak256(lowercase hex text) is 8 or more."""
    digest = keccak256(lower_hex.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower_hex, digest, strict=False))
