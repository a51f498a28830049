"""Small secrets sealed at rest with one configured key: AES-256-GCM, the owner's id as associated data.

A sealed value is `version byte (0x01) ‖ 12-byte nonce ‖ ciphertext+tag`; the owner's id (an endpoint id, a user
id, a merchant id) is the associated data, so a sealed value copied onto another row does not open. The ledger
seals webhook signing secrets with it (format 1, ledger/secretbox.py) and the dashboard its TOTP secrets and read
keys (dashboard/sealing.py).
"""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service_runtime.config import DEMO_SECRET_PREFIX

SEAL_VERSION = b"\x01"
KEY_BYTES = 32


class SealingKeyInvalid(ValueError):
    """The configured key is not the base64 of 32 bytes (the message never repeats the value)."""


def parse_key(value: str) -> bytes:
    """The 32-byte key from its config text: base64, optionally after the `dev-only-` demo marker."""
    try:
        key = base64.b64decode(value.removeprefix(DEMO_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise SealingKeyInvalid("must be the base64 of 32 random bytes") from None
    if len(key) != KEY_BYTES:
        raise SealingKeyInvalid("must be the base64 of 32 random bytes")
    return key


def new_dev_key() -> str:
    """A fresh key for development and tests, marked `dev-only-` so the prod profile refuses it."""
    return DEMO_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


class SecretBox:
    """Seals and opens small secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, owner: str) -> bytes:
        """The sealed secret, bound to its owner's id."""
        nonce = secrets.token_bytes(12)
        return SEAL_VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), owner.encode())

    def open(self, sealed: bytes, owner: str) -> str:
        """The plaintext; ValueError if the value was not sealed for this owner with this key."""
        if sealed[:1] != SEAL_VERSION:
            raise ValueError("unknown sealed-secret version")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], owner.encode()).decode()
        except InvalidTag:
            raise ValueError("the sealed secret does not open with this key and owner") from None
