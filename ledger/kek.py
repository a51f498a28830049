"""The ledger's key-encryption keys (KEKs): AES-256 keys inside a PKCS#11 token of the ledger's own.

The ledger never calls the signer and never opens the signer's token: its KEKs live in a token configured by
`STABLEGATE_LEDGER_WEBHOOK_KEK_*` (SoftHSM in development and tests, the operator's HSM in production). Each
KEK is a token object labelled `webhook-kek-<version>`, generated in the token as sensitive and not
extractable: its value never leaves the token. Data keys are wrapped with CKM_AES_GCM under a KEK (associated
data: the KEK's label and the owner's id), so a wrapped key that was altered, or moved to another owner, does
not unwrap.

Every PKCS#11 call runs in one worker process on its one thread (SoftHSM is not thread-safe as python-pkcs11
initialises it, and a process loads the library once: PLATFORM-NOTES, "Signing"); `KekClient` is the
ledger's side of it. The newest version is the one new data keys are wrapped with.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

LABEL_PREFIX = "webhook-kek-"
"""A KEK's CKA_LABEL is `webhook-kek-<version>` (version 1, 2, ...)."""
_LABEL = re.compile(r"^webhook-kek-([1-9][0-9]{0,8})$")
GCM_NONCE_BYTES = 12
CALL_TIMEOUT_SECONDS = 10.0
"""How long one call into the token may take before the ledger reports the token unavailable."""


class KekError(Exception):
    """The token or a KEK could not be used; the message names the token or the label, never key material."""


class KekUnwrapRefused(KekError):
    """A wrapped data key did not unwrap: altered, moved to another owner, or wrapped by another token's KEK."""


def kek_label(version: int) -> str:
    """The token label of a KEK version."""
    return f"{LABEL_PREFIX}{version}"


def kek_version(label: str) -> int | None:
    """The version a KEK label names (None for any other label)."""
    found = _LABEL.match(label)
    return int(found.group(1)) if found else None


def wrap_aad(label: str, owner: str) -> bytes:
    """Associated data of a wrapped data key: binds it to its KEK and its owner."""
    return b"stablegate/webhook-dek\x00" + label.encode() + b"\x00" + owner.encode()


@dataclass(frozen=True)
class KekConfig:
    """How to reach the ledger's token: the PKCS#11 library, the token's label and its user PIN."""

    module: Path
    token_label: str
    pin: str = field(repr=False)
    env: dict[str, str] = field(default_factory=dict)
    """Set before the library loads (SoftHSM reads SOFTHSM2_CONF at initialisation)."""


class KekSession:
    """A logged-in session on the ledger's token (one thread only: see the module docstring)."""

    def __init__(self, config: KekConfig) -> None:
        import pkcs11  # noqa: PLC0415 - loaded only in the process that owns the session

        os.environ.update(config.env)
        self._pkcs11 = pkcs11
        try:
            lib = pkcs11.lib(str(config.module))
            token = None
            for attempt in range(20):  # SoftHSM may be rewriting the token's files (another login) for a moment
                try:
                    token = lib.get_token(token_label=config.token_label)
                    break
                except pkcs11.NoSuchToken:
                    if attempt == 19:
                        raise
                    time.sleep(0.1)
            assert token is not None
            self._session: Any = token.open(user_pin=config.pin, rw=True)
        except (pkcs11.PKCS11Error, RuntimeError) as exc:
            raise KekError(f"cannot open a session on token {config.token_label!r}: {type(exc).__name__}") from None
        self._keys: dict[str, Any] = {}

    def versions(self) -> list[int]:
        """The KEK versions present in the token, oldest first."""
        from pkcs11 import Attribute, KeyType, ObjectClass  # noqa: PLC0415

        found = []
        for obj in self._session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        ):
            version = kek_version(str(obj[Attribute.LABEL]))
            if version is not None:
                found.append(version)
        return sorted(set(found))

    def create_next(self) -> int:
        """Generate the next KEK version in the token (AES-256, sensitive, never extractable); its version."""
        from pkcs11 import Attribute, KeyType  # noqa: PLC0415

        versions = self.versions()
        version = (versions[-1] + 1) if versions else 1
        self._session.generate_key(
            KeyType.AES,
            256,
            label=kek_label(version),
            store=True,
            template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
            },
        )
        return version

    def _key(self, label: str) -> Any:
        key = self._keys.get(label)
        if key is None:
            from pkcs11 import KeyType, ObjectClass  # noqa: PLC0415

            try:
                key = self._session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label)
            except (self._pkcs11.NoSuchKey, self._pkcs11.MultipleObjectsReturned):
                raise KekError(f"no KEK labelled {label!r} in the ledger's token") from None
            self._keys[label] = key
        return key

    def wrap(self, version: int, data_key: bytes, owner: str) -> tuple[bytes, bytes]:
        """(nonce, wrapped data key) under the KEK `version`."""
        from pkcs11 import Mechanism  # noqa: PLC0415
        from pkcs11.mechanisms import GCMParams  # noqa: PLC0415

        label = kek_label(version)
        nonce = secrets.token_bytes(GCM_NONCE_BYTES)
        wrapped = self._key(label).encrypt(
            data_key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, wrap_aad(label, owner), 128)
        )
        return nonce, bytes(wrapped)

    def unwrap(self, version: int, nonce: bytes, wrapped: bytes, owner: str) -> bytes:
        """The data key; KekUnwrapRefused when the wrapped key does not open under that KEK for that owner."""
        from pkcs11 import Mechanism  # noqa: PLC0415
        from pkcs11.mechanisms import GCMParams  # noqa: PLC0415

        label = kek_label(version)
        key = self._key(label)
        try:
            return bytes(
                key.decrypt(
                    wrapped, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, wrap_aad(label, owner), 128)
                )
            )
        except self._pkcs11.PKCS11Error as exc:
            raise KekUnwrapRefused(f"a data key does not unwrap under {label} ({type(exc).__name__})") from None

    def destroy(self, version: int) -> None:
        """Remove a KEK version from the token (after nothing stored refers to it)."""
        self._key(kek_label(version)).destroy()
        self._keys.pop(kek_label(version), None)

    def close(self) -> None:
        """Close the session."""
        self._session.close()


_worker: KekSession | None = None
_worker_error = "the KEK worker has no session"
RESTART_BACKOFF_SECONDS = 1.0
"""After a worker is killed or dies, calls fail at once for this long before a new worker is started."""
STARTUP_TIMEOUT_SECONDS = 60.0
"""How long a new worker process may take to start and open its token session."""


def _open(config: KekConfig) -> None:
    global _worker, _worker_error  # noqa: PLW0603 - one session per worker process is the point
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _worker = KekSession(config)
    except KekError as exc:
        _worker_error = str(exc)


def _call(method: str, *args: Any) -> tuple[str, Any]:
    if _worker is None:
        return "err", ("KekError", _worker_error)
    try:
        return "ok", getattr(_worker, method)(*args)
    except KekUnwrapRefused as exc:
        return "err", ("KekUnwrapRefused", str(exc))
    except KekError as exc:
        return "err", ("KekError", str(exc))
    except Exception as exc:  # the PKCS#11 library's errors: name the type, never more
        return "err", ("KekError", f"token call {method} failed: {type(exc).__name__}")


def _serve(config: KekConfig, conn: Connection) -> None:
    """The worker process: open the token session, say so, then answer one call at a time until told to stop."""
    _open(config)
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        method, args = message
        conn.send(_call(method, *args))
    if _worker is not None:
        _worker.close()


class KekClient:
    """The ledger's side of the KEK worker process: synchronous calls, each bounded by `timeout` seconds.

    Calls are short (one C_Encrypt or C_Decrypt of 32 bytes) and rare: data keys are wrapped when a secret is
    sealed and unwrapped once per sealed value (callers cache them). The ledger's handlers make them off the
    event loop (`ledger.secretbox.seal_async`, `open_async`). One call runs at a time. A worker that does not
    answer in time (a hung token or library) is killed and the next call starts a fresh one, so one stuck call
    never leaves the ledger without a token (`tests/webhooks/test_webhook_kek.py::
    test_a_hung_kek_worker_is_replaced_and_the_ledger_keeps_serving`).
    """

    def __init__(self, config: KekConfig, *, timeout: float = CALL_TIMEOUT_SECONDS) -> None:
        self._config = config
        self.timeout = timeout
        self.token_label = config.token_label
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._retry_after = 0.0

    @property
    def worker_pid(self) -> int | None:
        """The worker process's pid (None before the first call or after a failure)."""
        return self._process.pid if self._process is not None else None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(self._config, theirs), name="ledger-kek", daemon=True)
        process.start()
        theirs.close()
        self._process, self._conn = process, ours
        if not ours.poll(STARTUP_TIMEOUT_SECONDS):
            self._discard()
            raise KekError(f"the KEK worker for token {self.token_label!r} did not start")
        ours.recv()
        return ours

    def _discard(self) -> None:
        """Kill the worker (it may be stuck inside the token library) and forget it; the next start waits a little."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._retry_after = time.monotonic() + RESTART_BACKOFF_SECONDS
        if conn is not None:
            conn.close()
        if process is not None:
            process.kill()
            process.join(5)

    def _run(self, method: str, *args: Any) -> Any:
        # Callers wait for the one worker at most one call's time: a hung token fails them rather than queueing
        # them (and the threads they run on) behind it.
        if not self._lock.acquire(timeout=self.timeout):
            raise KekError(f"token {self.token_label!r} is busy: an earlier call has not come back")
        try:
            if self._conn is None and time.monotonic() < self._retry_after:
                raise KekError(f"the KEK worker for token {self.token_label!r} failed just now; retry shortly")
            conn = self._conn if self._conn is not None else self._start()
            conn.send((method, args))
            if not conn.poll(self.timeout):
                self._discard()
                raise KekError(f"token {self.token_label!r} did not answer within {self.timeout:g} s")
            status, value = conn.recv()
        except (EOFError, OSError) as exc:  # the worker died
            self._discard()
            raise KekError(f"the KEK worker failed: {type(exc).__name__}") from None
        finally:
            self._lock.release()
        if status == "ok":
            return value
        name, message = value
        raise (KekUnwrapRefused if name == "KekUnwrapRefused" else KekError)(message)

    def versions(self) -> list[int]:
        """The KEK versions in the token, oldest first."""
        versions: list[int] = self._run("versions")
        return versions

    def create_next(self) -> int:
        """Make the next KEK version in the token."""
        version: int = self._run("create_next")
        return version

    def wrap(self, version: int, data_key: bytes, owner: str) -> tuple[bytes, bytes]:
        """(nonce, wrapped) of a data key under KEK `version`."""
        wrapped: tuple[bytes, bytes] = self._run("wrap", version, data_key, owner)
        return wrapped

    def unwrap(self, version: int, nonce: bytes, wrapped: bytes, owner: str) -> bytes:
        """A data key, or KekUnwrapRefused."""
        key: bytes = self._run("unwrap", version, nonce, wrapped, owner)
        return key

    def destroy(self, version: int) -> None:
        """Remove KEK `version` from the token."""
        self._run("destroy", version)

    def close(self) -> None:
        """Stop the worker process (it closes its session first)."""
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(None)
                conn.close()
            if process is not None:
                process.join(10)
                if process.is_alive():
                    process.kill()
                    process.join(5)
