"""Chain data as the gateway reads it, parsed strictly: a malformed answer is a ValueError, never a guess.

Addresses and hashes are kept lowercase (`0x` + hex); amounts are ints in base units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)"): topic 0 of every ERC-20/BEP-20 Transfer log."""

_HASH = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")


def quantity(value: Any, what: str) -> int:
    """An Ethereum QUANTITY (`0x` hex) as an int."""
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", value):
        raise ValueError(f"{what}: not a hex quantity: {str(value)[:40]!r}")
    return int(value, 16)


def block_hash(value: Any, what: str) -> str:
    """A 32-byte hash, lowercase."""
    if not isinstance(value, str) or not _HASH.fullmatch(value.lower()):
        raise ValueError(f"{what}: not a 32-byte hash: {str(value)[:80]!r}")
    return value.lower()


def address(value: Any, what: str) -> str:
    """A 20-byte address, lowercase."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.lower()):
        raise ValueError(f"{what}: not an address: {str(value)[:60]!r}")
    return value.lower()


def topic_address(topic: Any, what: str) -> str:
    """The address in an indexed topic (32 bytes, the address in the low 20, the rest zero)."""
    word = block_hash(topic, what)
    if word[2:26] != "0" * 24:
        raise ValueError(f"{what}: not an address topic: {word}")
    return "0x" + word[26:]


@dataclass(frozen=True)
class BlockHeader:
    """What the watcher keeps of a block: where it is and what it builds on."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


def parse_block(value: Any) -> BlockHeader | None:
    """A block from eth_getBlockBy*; None when the provider has no such block."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("block: not an object")
    return BlockHeader(
        number=quantity(value.get("number"), "block.number"),
        hash=block_hash(value.get("hash"), "block.hash"),
        parent_hash=block_hash(value.get("parentHash"), "block.parentHash"),
        timestamp=quantity(value.get("timestamp"), "block.timestamp"),
    )


@dataclass(frozen=True)
class TransferLog:
    """One Transfer log of any token contract."""

    token: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    amount: int
    removed: bool


def parse_transfer_logs(value: Any) -> list[TransferLog]:
    """The Transfer logs of an eth_getLogs answer; a log that is not a well-formed Transfer is a ValueError.

    (The call asked for topic 0 = Transfer, so anything else in the answer is the provider's garbage.)
    """
    if not isinstance(value, list):
        raise ValueError("eth_getLogs: not a list")
    logs = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"log {i}: not an object")
        topics = item.get("topics")
        if not isinstance(topics, list) or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
            raise ValueError(f"log {i}: not a Transfer(address,address,uint256) log")
        data = item.get("data")
        if not isinstance(data, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", data):
            raise ValueError(f"log {i}: data is not one 32-byte word")
        logs.append(
            TransferLog(
                token=address(item.get("address"), f"log {i}.address"),
                tx_hash=block_hash(item.get("transactionHash"), f"log {i}.transactionHash"),
                log_index=quantity(item.get("logIndex"), f"log {i}.logIndex"),
                block_number=quantity(item.get("blockNumber"), f"log {i}.blockNumber"),
                block_hash=block_hash(item.get("blockHash"), f"log {i}.blockHash"),
                from_address=topic_address(topics[1], f"log {i}.topics[1]"),
                to_address=topic_address(topics[2], f"log {i}.topics[2]"),
                amount=int(data, 16),
                removed=bool(item.get("removed", False)),
            )
        )
    return logs


def address_topic(addr: str) -> str:
    """An address as a 32-byte topic (for eth_getLogs topic filters)."""
    return "0x" + "0" * 24 + address(addr, "address")[2:]
