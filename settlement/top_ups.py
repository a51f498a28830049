"""BNB top-ups of the signing keys: checked against the chain, then booked in the ledger.

An operator sends BNB to a signing key (a plain transfer) and names the transaction; settlement checks it on the
chain before the ledger books it (the ledger reads no chain): the transaction exists, it succeeded, its block is
final and still canonical, it sends a positive value, and its recipient is one of the signing keys. Booked once
per transaction hash: Dr gas_float / Cr platform_capital (`TreasuryLedgerService.RecordGasTopUp`), so the keys'
BNB reconciles against `gas_float`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chain.client import ChainClient
from chain.types import quantity
from settlement import chain_io
from settlement.ledger_client import TopUpRecord

_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


class TopUpRefused(Exception):
    """The named transaction is not a final BNB top-up of a signing key; `reason` says why."""

    def __init__(self, reason: str, message: str) -> None:
        """A refusal with its UPPER_SNAKE reason."""
        super().__init__(message)
        self.reason = reason


def _object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


async def verify_top_up(client: ChainClient, chain_id: int, tx_hash: str, keys: Sequence[str]) -> TopUpRecord:
    """What the chain says about `tx_hash`, when it is a final, successful BNB transfer to one of `keys`."""
    if not _HASH.match(tx_hash):
        raise TopUpRefused("TX_HASH_INVALID", f"{tx_hash!r} is not a 0x-prefixed 32-byte transaction hash")
    tx_hash = tx_hash.lower()
    tx = await client.call("eth_getTransactionByHash", [tx_hash], _object)
    if tx is None:
        raise TopUpRefused("TX_NOT_FOUND", f"no provider knows transaction {tx_hash}")
    recipient = str(tx.get("to") or "").lower()
    wanted = {k.lower() for k in keys}
    if recipient not in wanted:
        raise TopUpRefused(
            "NOT_TO_A_SIGNING_KEY",
            f"transaction {tx_hash} sends to {recipient or 'no address (a contract creation)'}, "
            "not to a signing key (STABLEGATE_SETTLEMENT_SIGNING_KEY_ADDRESSES and the HOT and SWEEPER keys)",
        )
    value = quantity(tx.get("value"), "tx.value")
    if value <= 0:
        raise TopUpRefused("NO_VALUE", f"transaction {tx_hash} sends no BNB")
    if int(quantity(tx.get("chainId") or hex(chain_id), "tx.chainId")) != chain_id:
        raise TopUpRefused("CHAIN_MISMATCH", f"transaction {tx_hash} is for another chain")
    found = await chain_io.receipt(client, tx_hash)
    if found is None:
        raise TopUpRefused("NOT_MINED", f"transaction {tx_hash} is not mined yet")
    if int(found["status"], 16) != 1:
        raise TopUpRefused("REVERTED", f"transaction {tx_hash} reverted: it moved no BNB")
    block = int(found["blockNumber"], 16)
    block_hash = str(found["blockHash"]).lower()
    finalized, _ = await chain_io.finalized_block(client)
    if block > finalized or await chain_io.canonical_hash(client, block) != block_hash:
        raise TopUpRefused(
            "NOT_FINAL", f"transaction {tx_hash} is in block {block}, not final yet (finalized: {finalized})"
        )
    return TopUpRecord(
        chain_id=chain_id,
        tx_hash=tx_hash,
        block_number=block,
        block_hash=block_hash,
        from_address=str(tx.get("from") or "").lower(),
        key_address=recipient,
        amount_wei=value,
    )


def signing_keys(addresses: Sequence[str], *own: str | None) -> list[str]:
    """The configured signing keys plus settlement's own keys (HOT, SWEEPER), lowercase, each once."""
    found = [a.lower() for a in addresses]
    for address in own:
        if address and address.lower() not in found:
            found.append(address.lower())
    return found
