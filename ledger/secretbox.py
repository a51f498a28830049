"""Webhook signing secrets sealed at rest, in one of two formats (docs/webhooks.md, "Secrets at rest").

- Format 1, the configuration key (`WEBHOOK_SECRET_KEY`, what `stablegate up` uses): `0x01 ‖ 12-byte nonce ‖
  AES-256-GCM ciphertext+tag` under that key.
- Format 2, envelope encryption (`WEBHOOK_KEK_TOKEN_LABEL` set): each value has its own random data key;
  `0x02 ‖ KEK version (4 bytes) ‖ 12-byte wrap nonce ‖ wrapped data key (48 bytes) ‖ 12-byte nonce ‖
  ciphertext+tag`. The data key is wrapped inside the ledger's PKCS#11 token by the KEK of that version
  (ledger/kek.py), so the stored row names the KEK that opens it; rotating the KEK re-wraps the 48 bytes and
  leaves the ciphertext as it was.

In both, the endpoint id is associated data, so a sealed secret copied onto another endpoint's row does not
open. The plaintext never leaves this module except to sign a delivery or to be shown once in a create or
rotate response.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.kek import KekClient, KekError, KekUnwrapRefused
from service_runtime.errors import Unavailable
from service_runtime.sealing import KEY_BYTES, SEAL_VERSION, SealingKeyInvalid, SecretBox, new_dev_key, parse_key

SecretKeyInvalid = SealingKeyInvalid
"""The configured key is not the base64 of 32 bytes (the message never repeats the value)."""
__all__ = ["KEY_BYTES", "SEAL_VERSION", "SecretBox", "SecretKeyInvalid", "new_dev_key", "parse_key"]


class Sealer(Protocol):
    """What seals and opens webhook secrets: `SecretBox` (format 1) or `EnvelopeBox` (format 2)."""

    def seal(self, plaintext: str, owner: str) -> bytes:
        """The sealed secret, bound to its owner's id."""

    def open(self, sealed: bytes, owner: str) -> str:
        """The plaintext; ValueError if it does not open for this owner."""


async def seal_async(box: Sealer, plaintext: str, owner: str) -> bytes:
    """`box.seal` off the event loop (an `EnvelopeBox` may wait on its token); a KEK failure is Unavailable."""
    try:
        return await asyncio.to_thread(box.seal, plaintext, owner)
    except KekError as exc:
        raise Unavailable(f"webhook secrets cannot be sealed now: {exc}", reason="KEK_UNAVAILABLE") from None


async def open_async(box: Sealer, sealed: bytes, owner: str) -> str:
    """`box.open` off the event loop (an `EnvelopeBox` may wait on its token); a KEK failure is Unavailable."""
    try:
        return await asyncio.to_thread(box.open, sealed, owner)
    except KekUnwrapRefused:
        raise
    except KekError as exc:
        raise Unavailable(f"webhook secrets cannot be opened now: {exc}", reason="KEK_UNAVAILABLE") from None


ENVELOPE_VERSION = b"\x02"
_WRAP_NONCE = 12
_WRAPPED = KEY_BYTES + 16
_HEADER = 1 + 4 + _WRAP_NONCE + _WRAPPED
KEK_REFRESH_SECONDS = 5.0
"""How long the ledger keeps using the newest KEK version it saw before looking at the token again: a new
version made by `stablegate ledger kek rotate` is used for new writes by every replica within this time."""
DATA_KEY_CACHE = 4096
"""Unwrapped data keys kept in memory (per process), so a delivery does not call the token for each secret."""


class SealedFormatError(ValueError):
    """A stored value is in no format this ledger can open (or needs a key it is not configured with)."""


def kek_version_of(sealed: bytes) -> int | None:
    """The KEK version a format-2 value is wrapped under; None for a format-1 value (the configuration key)."""
    if sealed[:1] == ENVELOPE_VERSION and len(sealed) > _HEADER:
        return int.from_bytes(sealed[1:5], "big")
    if sealed[:1] == SEAL_VERSION:
        return None
    raise SealedFormatError("unknown sealed-secret format")


class EnvelopeBox:
    """Seals with a fresh data key per value, wrapped by the newest KEK in the ledger's token.

    Opens format-2 values under any KEK version still in the token, and format-1 values when `legacy` (the
    configuration key) is given, so a ledger moving from the configuration key to the token keeps reading
    what it stored before; `stablegate ledger kek rewrap` then moves every value onto the newest KEK.
    """

    def __init__(self, kek: KekClient, legacy: SecretBox | None = None) -> None:
        self.kek = kek
        self.legacy = legacy
        self._current: tuple[float, int] | None = None
        self._keys: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def current_version(self, *, fresh: bool = False) -> int:
        """The newest KEK version in the token (looked up again after KEK_REFRESH_SECONDS)."""
        now = time.monotonic()
        if fresh or self._current is None or self._current[0] <= now:
            versions = self.kek.versions()
            if not versions:
                raise KekError(
                    f"token {self.kek.token_label!r} holds no webhook KEK: run `stablegate ledger kek rotate` once"
                )
            self._current = (now + KEK_REFRESH_SECONDS, versions[-1])
        return self._current[1]

    def seal(self, plaintext: str, owner: str, *, version: int | None = None) -> bytes:
        """Format 2 under KEK `version` (default: the newest)."""
        version = self.current_version() if version is None else version
        data_key = secrets.token_bytes(KEY_BYTES)
        wrap_nonce, wrapped = self.kek.wrap(version, data_key, owner)
        nonce = secrets.token_bytes(12)
        body = AESGCM(data_key).encrypt(nonce, plaintext.encode(), owner.encode())
        return ENVELOPE_VERSION + version.to_bytes(4, "big") + wrap_nonce + wrapped + nonce + body

    def _data_key(self, sealed: bytes, owner: str) -> bytes:
        cache_key = sealed[:_HEADER] + b"\x00" + owner.encode()
        with self._lock:
            found = self._keys.get(cache_key)
            if found is not None:
                self._keys.move_to_end(cache_key)
                return found
        version = int.from_bytes(sealed[1:5], "big")
        wrap_nonce, wrapped = sealed[5 : 5 + _WRAP_NONCE], sealed[5 + _WRAP_NONCE : _HEADER]
        data_key = self.kek.unwrap(version, wrap_nonce, wrapped, owner)
        with self._lock:
            self._keys[cache_key] = data_key
            while len(self._keys) > DATA_KEY_CACHE:
                self._keys.popitem(last=False)
        return data_key

    def open(self, sealed: bytes, owner: str) -> str:
        """The plaintext of a format-1 or format-2 value; ValueError (or KekError) when it does not open."""
        if kek_version_of(sealed) is None:
            if self.legacy is None:
                raise SealedFormatError(
                    "the secret is sealed with the configuration key (format 1), and WEBHOOK_SECRET_KEY is not set"
                )
            return self.legacy.open(sealed, owner)
        data_key = self._data_key(sealed, owner)
        try:
            return (
                AESGCM(data_key)
                .decrypt(sealed[_HEADER : _HEADER + 12], sealed[_HEADER + 12 :], owner.encode())
                .decode()
            )
        except InvalidTag:
            raise ValueError("the secret does not open with its data key") from None

    def rewrap(self, sealed: bytes, owner: str, version: int) -> bytes:
        """The same secret wrapped under KEK `version`: format 2 keeps its ciphertext, format 1 is sealed anew.

        Every value is opened first, so a value that does not open (altered, moved) is refused even when it is
        already under `version`.
        """
        current = kek_version_of(sealed)
        plaintext = self.open(sealed, owner)
        if current == version:
            return sealed
        if current is None:
            return self.seal(plaintext, owner, version=version)
        data_key = self._data_key(sealed, owner)
        wrap_nonce, wrapped = self.kek.wrap(version, data_key, owner)
        return ENVELOPE_VERSION + version.to_bytes(4, "big") + wrap_nonce + wrapped + sealed[_HEADER:]

    def close(self) -> None:
        """Stop the KEK worker and forget the cached data keys."""
        with self._lock:
            self._keys.clear()
        self.kek.close()
