"""What settlement asks of the chain: broadcasts to every provider, counts, receipts, finality, gas estimates."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from chain.client import ChainClient, ChainError, RpcError
from chain.types import block_hash, quantity

log = logging.getLogger("stablegate.settlement.chain")

# A node that already holds or has mined these bytes says so in its own words; none of these is a failure.
_KNOWN = re.compile(
    r"already known|known transaction|already imported|already exists|nonce too low|replacement transaction "
    r"underpriced|transaction underpriced.*replace|AlreadyKnown|NonceTooLow",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BroadcastOutcome:
    """How a broadcast went: providers that took it, that knew it already, and that failed (with why)."""

    accepted: int
    known: int
    failed: dict[str, str]

    @property
    def reached(self) -> bool:
        """At least one provider holds the transaction (took it now or knew it)."""
        return self.accepted + self.known > 0


async def broadcast(client: ChainClient, raw: str) -> BroadcastOutcome:
    """eth_sendRawTransaction to every provider at once; "already known" and "nonce too low" count as known."""
    accepted = known = 0
    failed: dict[str, str] = {}
    for name, answer in await client.call_each("eth_sendRawTransaction", [raw]):
        if isinstance(answer, RpcError) and _KNOWN.search(answer.rpc_message):
            known += 1
        elif isinstance(answer, ChainError):
            failed[name] = str(answer)[:200]
        else:
            accepted += 1
    if failed:
        log.info("broadcast refused by some providers", extra={"failed": failed, "accepted": accepted, "known": known})
    return BroadcastOutcome(accepted, known, failed)


async def transaction_count(client: ChainClient, address: str, tag: str) -> int:
    """eth_getTransactionCount at `latest` (mined) or `pending` (with the pool)."""
    return int(
        await client.call("eth_getTransactionCount", [address, tag], lambda v: quantity(v, "eth_getTransactionCount"))
    )


def _receipt(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("receipt: not an object")
    quantity(value.get("blockNumber"), "receipt.blockNumber")
    block_hash(value.get("blockHash"), "receipt.blockHash")
    quantity(value.get("status"), "receipt.status")
    quantity(value.get("gasUsed"), "receipt.gasUsed")
    return value


async def receipt(client: ChainClient, tx_hash: str) -> dict[str, Any] | None:
    """The receipt of a transaction, or None while no provider asked has it mined."""
    found: dict[str, Any] | None = await client.call("eth_getTransactionReceipt", [tx_hash], _receipt)
    return found


async def finalized_block(client: ChainClient) -> tuple[int, str]:
    """(number, hash) of the chain's `finalized` block."""

    def parse(value: Any) -> tuple[int, str]:
        if not isinstance(value, dict):
            raise ValueError("finalized block: not an object")
        return quantity(value.get("number"), "block.number"), block_hash(value.get("hash"), "block.hash")

    found: tuple[int, str] = await client.call("eth_getBlockByNumber", ["finalized", False], parse)
    return found


async def canonical_hash(client: ChainClient, number: int) -> str | None:
    """The hash of the canonical block at `number` (None when the provider has none)."""

    def parse(value: Any) -> str | None:
        return None if value is None else block_hash(value.get("hash"), "block.hash")

    found: str | None = await client.call("eth_getBlockByNumber", [hex(number), False], parse)
    return found


async def estimate_gas(client: ChainClient, sender: str, to: str, data: bytes) -> int:
    """eth_estimateGas of a call from `sender` (a revert surfaces as RpcError)."""
    tx = {"from": sender, "to": to, "data": "0x" + data.hex()}
    return int(await client.call("eth_estimateGas", [tx], lambda v: quantity(v, "eth_estimateGas")))


async def call_address(client: ChainClient, to: str, data: bytes) -> str:
    """eth_call returning one address word, lowercase."""

    def parse(value: Any) -> str:
        word = str(value)
        if not re.fullmatch(r"0x[0-9a-fA-F]{64}", word):
            raise ValueError("eth_call: not one word")
        return "0x" + word[-40:].lower()

    found: str = await client.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"], parse)
    return found


@dataclass(frozen=True)
class RecoveredNonce:
    """A key's transaction counts on chain and the next nonce our rows and the chain agree on."""

    latest: int
    pending: int
    following: int


async def recover_nonce(client: ChainClient, pool: asyncpg.Pool, chain_id: int, address: str) -> RecoveredNonce:
    """Read the key's mined and pending counts and set its next nonce from them and our rows (one key, any mover)."""
    from settlement.store import sweeps as tx_store  # noqa: PLC0415 - the store never imports chain I/O

    latest = await transaction_count(client, address, "latest")
    pending = await transaction_count(client, address, "pending")
    async with pool.acquire() as conn:
        following = await tx_store.recover_nonce(conn, chain_id, address, latest, pending)
    return RecoveredNonce(latest, pending, following)


async def token_balance(client: ChainClient, token: str, holder: str, block: int | str = "latest") -> int:
    """balanceOf(holder) on `token` at `block` (a number, or a tag such as `latest`)."""
    data = "0x70a08231" + holder.lower().removeprefix("0x").rjust(64, "0")
    at = hex(block) if isinstance(block, int) else block
    return int(await client.call("eth_call", [{"to": token, "data": data}, at], lambda v: int(str(v), 16)))
