"""One PKCS#11 session on one thread: every call of this class must come from the thread that made it.

SoftHSM (as python-pkcs11 initialises it) crashes when two threads call into it at once, and a login is per
process, so each process that signs owns exactly one of these (PLATFORM-NOTES, "Signing").
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from signer.domain.ethereum import RecoverableSignature, address_of_public_key, finish_signature, unwrap_ec_point
from signer.domain.purpose import KeyPurpose
from signer.errors import KeyNotFound, KeyStoreError
from signer.keystore.base import KeyInfo, KeyProtection

SECP256K1_PARAMS = bytes.fromhex("06052b8104000a")
"""CKA_EC_PARAMS: the DER-encoded OID 1.3.132.0.10 (secp256k1)."""
LABEL_PREFIX = "stablegate/"
"""Our keys' CKA_LABEL is `stablegate/<PURPOSE>/<label>`: the purpose lives with the key in the HSM."""


@dataclass(frozen=True)
class HsmConfig:
    """How to reach the token: the PKCS#11 library, the token's label, the user PIN, extra environment."""

    module: Path
    token_label: str
    pin: str = field(repr=False)
    env: dict[str, str] = field(default_factory=dict)
    """Set before the library loads (SoftHSM reads SOFTHSM2_CONF at initialisation)."""


def _label(purpose: KeyPurpose, label: str) -> str:
    return f"{LABEL_PREFIX}{purpose.value}/{label}"


def _parse_label(raw: str) -> tuple[KeyPurpose, str] | None:
    if not raw.startswith(LABEL_PREFIX):
        return None
    purpose, _, label = raw.removeprefix(LABEL_PREFIX).partition("/")
    try:
        return KeyPurpose(purpose), label
    except ValueError:
        return None


TOKEN_LOOKUP_ATTEMPTS = 20
"""How often a token missing from the slot list is looked for again, 0.1 s apart, before giving up."""


def _find_token(lib: Any, label: str) -> Any:
    """The token with `label`, looked up again for a moment while it is missing.

    SoftHSM keeps each token in files that another process (a second signer worker logging in, the key
    ceremony) may be rewriting just when this one scans the slots; the token is then briefly unreadable and
    missing from the list. A token that is really absent is still reported after about two seconds.
    """
    for attempt in range(TOKEN_LOOKUP_ATTEMPTS):
        try:
            return lib.get_token(token_label=label)
        except pkcs11.NoSuchToken:
            if attempt == TOKEN_LOOKUP_ATTEMPTS - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class Pkcs11Session:
    """A logged-in session on the token, with the keys' handles and addresses cached."""

    def __init__(self, config: HsmConfig) -> None:
        os.environ.update(config.env)
        try:
            lib = pkcs11.lib(str(config.module))
            token = _find_token(lib, config.token_label)
            self._session: Any = token.open(user_pin=config.pin, rw=True)
        except (pkcs11.PKCS11Error, RuntimeError) as exc:
            # The library's messages name the failing call, never the PIN.
            raise KeyStoreError(
                f"cannot open a session on token {config.token_label!r}: {type(exc).__name__}",
                reason="HSM_UNAVAILABLE",
                metadata={"tokenLabel": config.token_label},
            ) from exc
        self._private: dict[str, Any] = {}
        self._info: dict[str, KeyInfo] = {}

    def close(self) -> None:
        """Close the session (logs this process out)."""
        self._session.close()

    def create_key(self, purpose: KeyPurpose, label: str) -> KeyInfo:
        """Generate a secp256k1 pair: private part token-resident, sensitive, never extractable."""
        if not label or "/" in label:
            raise ValueError("a key label is non-empty and has no '/'")
        if any(k.label == label for k in self.list_keys()):
            raise ValueError(f"a key labelled {label!r} exists")
        key_id = f"key_{purpose.value.lower()}_{secrets.token_hex(8)}"
        public, private = self._session.generate_keypair(
            KeyType.EC,
            public_template={
                Attribute.EC_PARAMS: SECP256K1_PARAMS,
                Attribute.TOKEN: True,
                Attribute.VERIFY: True,
                Attribute.LABEL: _label(purpose, label),
                Attribute.ID: key_id.encode(),
            },
            private_template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.LABEL: _label(purpose, label),
                Attribute.ID: key_id.encode(),
            },
        )
        info = self._describe(public)
        assert info is not None
        self._private[key_id] = private
        return info

    def _describe(self, public: Any) -> KeyInfo | None:
        parsed = _parse_label(str(public[Attribute.LABEL]))
        if parsed is None:
            return None
        point = unwrap_ec_point(bytes(public[Attribute.EC_POINT]))
        key_id = bytes(public[Attribute.ID]).decode()
        info = KeyInfo(key_id, parsed[1], parsed[0], address_of_public_key(point), point)
        self._info[key_id] = info
        return info

    def list_keys(self) -> list[KeyInfo]:
        """Every key of ours on the token."""
        found = []
        for obj in self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.EC}):
            info = self._describe(obj)
            if info is not None:
                found.append(info)
        return sorted(found, key=lambda k: k.key_id)

    def key(self, key_id: str) -> KeyInfo:
        """One key's public data."""
        if key_id not in self._info:
            self.list_keys()
        try:
            return self._info[key_id]
        except KeyError:
            raise KeyNotFound("no such key", reason="KEY_NOT_FOUND", metadata={"keyId": key_id}) from None

    def _private_key(self, key_id: str) -> Any:
        handle = self._private.get(key_id)
        if handle is None:
            self.key(key_id)
            try:
                handle = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id.encode())
            except pkcs11.NoSuchKey:
                raise KeyNotFound("no such key", reason="KEY_NOT_FOUND", metadata={"keyId": key_id}) from None
            self._private[key_id] = handle
        return handle

    def raw_sign(self, key_id: str, digest: bytes) -> bytes:
        """C_Sign with CKM_ECDSA over a prehashed 32-byte digest: raw r‖s (for benchmarks and `sign_digest`)."""
        return bytes(self._private_key(key_id).sign(digest, mechanism=Mechanism.ECDSA))

    def sign_digest(self, key_id: str, digest: bytes) -> RecoverableSignature:
        """A low-s, recoverable signature, checked against the key's address before it is returned."""
        if len(digest) != 32:
            raise ValueError("the signer signs 32-byte digests only")
        raw = self.raw_sign(key_id, digest)
        return finish_signature(raw, digest, self.key(key_id).address)

    def protection(self, key_id: str) -> KeyProtection:
        """The private key's protection attributes, and whether its value can be read (it must not)."""
        private = self._private_key(key_id)
        try:
            private[Attribute.VALUE]
            readable = True
        except (pkcs11.AttributeSensitive, pkcs11.PKCS11Error):
            readable = False
        return KeyProtection(
            extractable=bool(private[Attribute.EXTRACTABLE]),
            sensitive=bool(private[Attribute.SENSITIVE]),
            always_sensitive=bool(private[Attribute.ALWAYS_SENSITIVE]),
            never_extractable=bool(private[Attribute.NEVER_EXTRACTABLE]),
            value_readable=readable,
        )
