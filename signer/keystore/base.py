"""The key store seen by the signer: create, list and sign with keys that never leave their store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from signer.domain.ethereum import RecoverableSignature
from signer.domain.purpose import KeyPurpose


@dataclass(frozen=True)
class KeyInfo:
    """Public data of one key."""

    key_id: str
    label: str
    purpose: KeyPurpose
    address: str
    public_key: bytes


@dataclass(frozen=True)
class KeyProtection:
    """What the store reports about a private key's protection, and whether reading its value failed."""

    extractable: bool
    sensitive: bool
    always_sensitive: bool
    never_extractable: bool
    value_readable: bool


class KeyStore(Protocol):
    """A backend holding secp256k1 keys (an HSM over PKCS#11 in every profile; SoftHSM in dev and tests)."""

    async def create_key(self, purpose: KeyPurpose, label: str) -> KeyInfo:
        """Generate a non-extractable, sensitive key pair inside the store."""

    async def list_keys(self) -> list[KeyInfo]:
        """Every key of ours in the store, oldest id order."""

    async def sign_digest(self, key_id: str, digest: bytes) -> RecoverableSignature:
        """Sign a 32-byte digest: low s, recovery id found, checked to recover to the key's address."""

    async def protection(self, key_id: str) -> KeyProtection:
        """The key's protection attributes as the store reports them."""

    async def close(self) -> None:
        """Release sessions and worker processes."""
