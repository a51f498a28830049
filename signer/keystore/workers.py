"""The PKCS#11 key store as worker processes: each owns one session on its one thread; the front dispatches.

The gRPC front never loads the PKCS#11 library itself (DECISIONS, "Signer state has one writer"): its workers
hold the sessions and sign digests, so N workers sign in parallel without two threads ever sharing a session.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import resource_tracker
from typing import Any

from service_runtime.errors import DomainError
from signer.domain.ethereum import RecoverableSignature, SignatureError
from signer.domain.purpose import KeyPurpose
from signer.errors import BadRequest, KeyNotFound, KeyStoreError, SignatureFailed
from signer.keystore.base import KeyInfo, KeyProtection
from signer.keystore.pkcs11_session import HsmConfig, Pkcs11Session

_session: Pkcs11Session | None = None
"""This worker process's one session (set by `_open`; worker processes only)."""

_open_error: tuple[str, str, str, dict[str, str]] = ("KeyStoreError", "no HSM session", "HSM_UNAVAILABLE", {})

_ERRORS: dict[str, type[DomainError]] = {
    "KeyNotFound": KeyNotFound,
    "KeyStoreError": KeyStoreError,
    "SignatureFailed": SignatureFailed,
    "BadRequest": BadRequest,
}


def _open(config: HsmConfig) -> None:
    global _session  # noqa: PLW0603 - one session per worker process is the point
    # The front decides when workers stop (after draining); a signal to the whole process group must not
    # kill a worker in the middle of a signature.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _session = Pkcs11Session(config)
    except DomainError as exc:  # reported by the first call, instead of a pool broken without a word
        global _open_error  # noqa: PLW0603
        _open_error = ("KeyStoreError", exc.message, exc.reason, exc.metadata)


def _call(method: str, *args: Any) -> tuple[str, Any]:
    # Exceptions cross the process boundary as plain tuples: domain errors take keyword arguments pickle drops.
    if _session is None:
        return "err", _open_error
    try:
        return "ok", getattr(_session, method)(*args)
    except DomainError as exc:
        name = type(exc).__name__ if type(exc).__name__ in _ERRORS else "KeyStoreError"
        return "err", (name, exc.message, exc.reason, exc.metadata)
    except SignatureError as exc:
        return "err", ("SignatureFailed", str(exc), "SIGNATURE_CHECK_FAILED", {})
    except ValueError as exc:
        return "err", ("BadRequest", str(exc), "INVALID_KEY_REQUEST", {})
    except Exception as exc:  # the PKCS#11 library's errors: name the type, never more
        return "err", ("KeyStoreError", f"HSM call failed: {type(exc).__name__}", "HSM_ERROR", {})


def stop_resource_tracker() -> None:
    """Stop spawn's resource tracker process (a service at exit: it would outlive us for a moment)."""
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if callable(stop):
        stop()


class WorkerKeyStore:
    """A `KeyStore` over N worker processes, each with its own PKCS#11 session."""

    def __init__(self, config: HsmConfig, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        context = multiprocessing.get_context("spawn")
        self._pools = [
            ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_open, initargs=(config,))
            for _ in range(workers)
        ]
        self._next = itertools.cycle(range(workers))
        self._keys: dict[str, KeyInfo] = {}

    @property
    def workers(self) -> int:
        """How many worker processes sign."""
        return len(self._pools)

    async def _run(self, pool: int, method: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        status, value = await loop.run_in_executor(self._pools[pool], _call, method, *args)
        if status == "ok":
            return value
        name, message, reason, metadata = value
        raise _ERRORS[name](message, reason=reason, metadata=metadata)

    async def start(self) -> None:
        """Open every worker's session now (fail at start, not on the first request), one worker after another.

        One at a time: a SoftHSM login may rewrite the token's files, which a worker opening at the same moment
        would find unreadable.
        """
        for i in range(len(self._pools)):
            await self._run(i, "list_keys")

    async def create_key(self, purpose: KeyPurpose, label: str) -> KeyInfo:
        """Generate a key pair in the HSM (worker 0)."""
        info: KeyInfo = await self._run(0, "create_key", purpose, label)
        self._keys[info.key_id] = info
        return info

    async def list_keys(self) -> list[KeyInfo]:
        """Every key of ours on the token."""
        keys: list[KeyInfo] = await self._run(0, "list_keys")
        self._keys.update((k.key_id, k) for k in keys)
        return keys

    async def key(self, key_id: str) -> KeyInfo:
        """One key's public data (cached after the first look)."""
        if key_id not in self._keys:
            await self.list_keys()
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyNotFound("no such key", reason="KEY_NOT_FOUND", metadata={"keyId": key_id}) from None

    async def sign_digest(self, key_id: str, digest: bytes) -> RecoverableSignature:
        """Sign on the next worker in turn."""
        signature: RecoverableSignature = await self._run(next(self._next), "sign_digest", key_id, digest)
        return signature

    async def raw_sign(self, key_id: str, digest: bytes) -> bytes:
        """Raw C_Sign on the next worker (benchmarks)."""
        raw: bytes = await self._run(next(self._next), "raw_sign", key_id, digest)
        return raw

    async def protection(self, key_id: str) -> KeyProtection:
        """The key's protection attributes."""
        found: KeyProtection = await self._run(0, "protection", key_id)
        return found

    async def close(self) -> None:
        """Stop the workers (their sessions close with them)."""
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
