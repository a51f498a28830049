"""Reading a sweep's receipt: how much each deposit address moved to the treasury, and each stray to quarantine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chain.abi import keccak256
from chain.types import TRANSFER_TOPIC, address, quantity, topic_address

QUARANTINED_TOPIC = "0x" + keccak256(b"Quarantined(bytes32,address,address,uint256)").hex()
"""ForwarderFactory's `Quarantined(bytes32 indexed salt, address indexed forwarder, address indexed stray, uint256)`."""


def swept_amounts(
    logs: Iterable[Mapping[str, Any]], token: str, treasury: str, deposits: Iterable[str]
) -> dict[str, int]:
    """Token base units moved from each of `deposits` to `treasury`, from a receipt's Transfer logs.

    Only Transfer logs of `token` from a deposit address of the sweep to the treasury count; an address with no
    such log moved nothing. Addresses are compared lowercase.
    """
    token, treasury = token.lower(), treasury.lower()
    wanted = {d.lower() for d in deposits}
    moved: dict[str, int] = {}
    for log in logs:
        topics = [str(t).lower() for t in log.get("topics", [])]
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        if address(log.get("address"), "log.address") != token:
            continue
        source, target = topic_address(topics[1], "from"), topic_address(topics[2], "to")
        if source in wanted and target == treasury:
            moved[source] = moved.get(source, 0) + quantity(log.get("data"), "log.data")
    return moved


def quarantined_amounts(logs: Iterable[Mapping[str, Any]], factory: str) -> dict[tuple[str, str], int]:
    """Stray token base units moved to quarantine per (forwarder, stray token), from the factory's Quarantined logs.

    Only logs emitted by `factory` count (anyone can emit a lookalike event from another contract). Lowercase.
    """
    factory = factory.lower()
    moved: dict[tuple[str, str], int] = {}
    for log in logs:
        topics = [str(t).lower() for t in log.get("topics", [])]
        if len(topics) != 4 or topics[0] != QUARANTINED_TOPIC:
            continue
        if address(log.get("address"), "log.address") != factory:
            continue
        key = (topic_address(topics[2], "forwarder"), topic_address(topics[3], "stray"))
        moved[key] = moved.get(key, 0) + quantity(log.get("data"), "log.data")
    return moved
