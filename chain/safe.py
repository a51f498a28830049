"""The cold-storage multisig: a Safe 1.4.1 from `@safe-global/safe-contracts`, deployed, read and executed.

The Safe comes from the npm package's published build artifacts, never recompiled, through its proxy factory.

The signer signs a SafeTx as one owner (`signer.domain.intents.SafeTransactionIntent`); whoever executes it only
relays the owners' signatures, which the Safe wants concatenated in ascending order of owner address.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chain import abi
from chain.contracts import Artifact, Chain, ChainError, Contract, Receipt, load_artifact

SAFE_ARTIFACTS = (
    Path(__file__).resolve().parent.parent / "node_modules/@safe-global/safe-contracts/build/artifacts/contracts"
)
"""Where `npm install` puts the Safe package's compiled artifacts (`./dev setup` installs it)."""

ZERO_ADDRESS = "0x" + "00" * 20
SIGNATURE_LENGTH = 65


@dataclass(frozen=True)
class SafeState:
    """What a Safe holds as its configuration right now."""

    address: str
    owners: tuple[str, ...]
    """Checksummed owner addresses, in the Safe's own order."""
    threshold: int
    nonce: int
    """The nonce its next SafeTx must carry."""


def safe_artifact() -> Artifact:
    """The Safe singleton's artifact (its ABI serves every proxy)."""
    return load_artifact("Safe", SAFE_ARTIFACTS / "Safe.sol")


def deploy_safe(chain: Chain, deployer: str, owners: list[str], threshold: int, salt: int | None = None) -> Contract:
    """Deploy a Safe 1.4.1 singleton and proxy factory, then a proxy set up with `owners` and `threshold`.

    Raises ValueError for a threshold the Safe would refuse (0, or more than the owners) or repeated owners.
    """
    if len({o.lower() for o in owners}) != len(owners):
        raise ValueError("Safe owners must be distinct addresses")
    if not 1 <= threshold <= len(owners):
        raise ValueError(
            f"a Safe threshold must be between 1 and the number of owners ({len(owners)}), not {threshold}"
        )
    artifact = safe_artifact()
    singleton = chain.deploy(artifact, sender=deployer)
    factory = chain.deploy(
        load_artifact("SafeProxyFactory", SAFE_ARTIFACTS / "proxies/SafeProxyFactory.sol"), sender=deployer
    )
    initializer = artifact.function("setup").calldata(
        (owners, threshold, ZERO_ADDRESS, b"", ZERO_ADDRESS, ZERO_ADDRESS, 0, ZERO_ADDRESS)
    )
    nonce = int.from_bytes(os.urandom(8), "big") if salt is None else salt
    proxy = factory.call1("createProxyWithNonce", singleton.address, initializer, nonce)
    factory.transact("createProxyWithNonce", singleton.address, initializer, nonce, sender=deployer)
    return Contract(chain, str(proxy), artifact)


def read_safe(chain: Chain, address: str) -> SafeState:
    """Owners, threshold and nonce of the Safe at `address`; ChainError when no contract is there."""
    if not chain.code(address):
        raise ChainError(f"no contract at {address}: the configured cold Safe is not deployed on this chain")
    safe = Contract(chain, address, safe_artifact())
    owners = tuple(abi.to_checksum_address(str(o)) for o in safe.call1("getOwners"))
    return SafeState(
        abi.to_checksum_address(address), owners, int(safe.call1("getThreshold")), int(safe.call1("nonce"))
    )


def pack_signatures(signatures: dict[str, bytes]) -> bytes:
    """Owners' 65-byte ECDSA signatures, keyed by owner address, concatenated as the Safe checks them.

    The Safe walks signatures in strictly ascending owner order (GS026 otherwise), so they are sorted here.
    """
    for owner, signature in signatures.items():
        if len(signature) != SIGNATURE_LENGTH:
            raise ValueError(f"the signature of owner {owner} is {len(signature)} bytes, not {SIGNATURE_LENGTH}")
    return b"".join(signatures[o] for o in sorted(signatures, key=lambda a: int(a, 16)))


def execute(safe: Contract, sender: str, to: str, value: int, data: bytes, *, signatures: bytes) -> Receipt:
    """Relay a plain call (operation 0, no refund) from the Safe with the owners' packed signatures."""
    return safe.transact(
        "execTransaction",
        to,
        value,
        data,
        0,
        0,
        0,
        0,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        signatures,
        sender=sender,
        gas=500_000,
    )
