"""INTERIM, deleted when branch `ledger-sweep` lands `chain/fees.py`: its interface, over a bare eth_gasPrice read.

Settlement is written against `chain.fees` (FeeCaps, FeeQuote, estimate_fees); this stand-in has exactly that
shape so the switch is an import change. It is the only place settlement reads a gas price.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.client import ChainClient
from chain.types import quantity


@dataclass(frozen=True)
class FeeCaps:
    """BSC's floor and the configured ceiling of a gas price, and the priority fee offered."""

    floor_gas_price_wei: int
    max_gas_price_wei: int
    priority_fee_wei: int


@dataclass(frozen=True)
class FeeQuote:
    """What a transaction would pay now; `over_cap` when that passes the configured ceiling."""

    base_fee_wei: int
    max_priority_fee_per_gas_wei: int
    max_fee_per_gas_wei: int
    gas_price_wei: int
    over_cap: bool


async def estimate_fees(client: ChainClient, caps: FeeCaps) -> FeeQuote:
    """A quote from eth_gasPrice alone (interim)."""
    price = max(int(await client.call("eth_gasPrice", [], lambda v: quantity(v, "eth_gasPrice"))), 0)
    price = max(price, caps.floor_gas_price_wei)
    tip = caps.priority_fee_wei
    max_fee = max(2 * price, price + tip)
    return FeeQuote(price, tip, max_fee, price, price > caps.max_gas_price_wei)
