"""Gas fee estimation from the chain: EIP-1559 fields and a legacy gas price, with a floor and a cap, in integers.

The quote comes from `eth_feeHistory` over the last `HISTORY_BLOCKS` blocks: the next block's base fee (the last
entry of `baseFeePerGas`) and the median of the recent blocks' `REWARD_PERCENTILE`th-percentile tips (blocks with
no transactions carry no tip information and are left out). A node that refuses `eth_feeHistory` (a JSON-RPC
error: some providers and older nodes do not serve it) is asked `eth_gasPrice` instead, with the latest block's
base fee when it has one. Every amount is an int of wei; a malformed answer is the provider's fault and ends in a
`FeeEstimateError` that says what was wrong, never in a guess.

BNB Smart Chain: EIP-1559 is on since the London/Hertz upgrade but the base fee is fixed at 0 (BEP-226), so the tip
is the whole price, and validators refuse transactions below their minimum gas price: 0.05 gwei (50,000,000 wei)
since the validators' vote in late 2025 (it was 3 gwei, then 1 gwei, then 0.1 gwei in 2025). That minimum is a
validator setting, not a consensus rule, so it is configuration (`FeeCaps.floor_gas_price_wei`;
`BSC_MIN_GAS_PRICE_WEI` is today's value).

How the quote is made (`quote_from`):

- tip = the largest of the configured `priority_fee_wei`, the recent median tip, and what the floor needs above
  the base fee (`floor - base fee`; on BSC, with base fee 0, the floor itself);
- asked = base fee + tip: what a transaction would pay per gas now; `over_cap` when it passes `max_gas_price_wei`
  (the caller waits and asks again later; the quote still says what the chain asks);
- `max_fee_per_gas_wei` = 2 * base fee + tip (room for the base fee to rise for a few blocks), but no more than the
  cap unless the asked fee itself is over it, and never below the floor or the asked fee;
- `gas_price_wei` (legacy transactions) = asked, never below the floor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain.client import ChainClient, ChainError, RpcError
from chain.types import quantity

log = logging.getLogger("stablegate.chain.fees")

BSC_MIN_GAS_PRICE_WEI = 50_000_000
"""BSC validators' minimum gas price, 0.05 gwei, as of late 2025 (a validator setting; configure the floor)."""
HISTORY_BLOCKS = 20
"""How many recent blocks `eth_feeHistory` is asked about."""
REWARD_PERCENTILE = 50
"""Which percentile of each block's tips (weighted by gas) counts as that block's going tip."""
MAX_WEI = 2**256 - 1


class FeeEstimateError(ChainError):
    """The chain's fee data could not be read or made no sense; the message says what and from which call."""


@dataclass(frozen=True)
class FeeCaps:
    """The operator's bounds on fees, in wei."""

    floor_gas_price_wei: int
    """The chain's minimum gas price (BSC: `BSC_MIN_GAS_PRICE_WEI`); no quote goes below it."""
    max_gas_price_wei: int
    """The most we pay per gas; above it the quote is `over_cap` and the caller waits."""
    priority_fee_wei: int
    """The tip to offer at least."""

    def __post_init__(self) -> None:
        """Refuse non-integers, negative values and a cap below the floor."""
        for name in ("floor_gas_price_wei", "max_gas_price_wei", "priority_fee_wei"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEI:
                raise ValueError(f"{name} must be an integer of wei between 0 and 2**256 - 1, got {value!r}")
        if self.max_gas_price_wei < self.floor_gas_price_wei:
            raise ValueError(
                f"max_gas_price_wei ({self.max_gas_price_wei}) is below floor_gas_price_wei "
                f"({self.floor_gas_price_wei}): no transaction could ever go out"
            )


@dataclass(frozen=True)
class FeeQuote:
    """What to offer per gas now, in wei."""

    base_fee_wei: int
    """The next block's base fee (0 where the chain has none, as on BSC)."""
    max_priority_fee_per_gas_wei: int
    """EIP-1559 tip."""
    max_fee_per_gas_wei: int
    """EIP-1559 cap per gas, at least the floor and the fee asked now."""
    gas_price_wei: int
    """Legacy gas price: base fee + tip, at least the floor."""
    over_cap: bool
    """The fee the chain asks for now (base fee + tip) passes `max_gas_price_wei`."""

    @property
    def asked_wei(self) -> int:
        """What a transaction pays per gas at this quote now: base fee + tip."""
        return self.base_fee_wei + self.max_priority_fee_per_gas_wei


def median(values: Sequence[int]) -> int:
    """The median of integers (the lower middle one for an even count); 0 for none."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def quote_from(base_fee_wei: int, recent_tip_wei: int, caps: FeeCaps) -> FeeQuote:
    """The quote for a next-block base fee and a recent going tip, under `caps` (the rules in the module doc)."""
    if base_fee_wei < 0 or recent_tip_wei < 0:
        raise ValueError("fees are never negative")
    tip = max(caps.priority_fee_wei, recent_tip_wei, caps.floor_gas_price_wei - base_fee_wei)
    asked = base_fee_wei + tip
    over_cap = asked > caps.max_gas_price_wei
    headroom = 2 * base_fee_wei + tip
    max_fee = max(min(headroom, max(caps.max_gas_price_wei, asked)), asked, caps.floor_gas_price_wei)
    return FeeQuote(
        base_fee_wei=base_fee_wei,
        max_priority_fee_per_gas_wei=tip,
        max_fee_per_gas_wei=max_fee,
        gas_price_wei=max(asked, caps.floor_gas_price_wei),
        over_cap=over_cap,
    )


@dataclass(frozen=True)
class FeeHistory:
    """`eth_feeHistory`, checked: base fees (one more than blocks: the last is the next block's) and tips."""

    base_fees: tuple[int, ...]
    gas_used_ratios: tuple[float, ...]
    rewards: tuple[tuple[int, ...], ...]

    @property
    def next_base_fee(self) -> int:
        """The base fee of the block after the newest one asked about."""
        return self.base_fees[-1]

    def recent_tip(self) -> int:
        """The median over blocks that carried transactions of their first reward percentile; 0 if none did."""
        tips = [reward[0] for ratio, reward in zip(self.gas_used_ratios, self.rewards, strict=True) if ratio > 0]
        return median(tips)


def parse_fee_history(value: Any, percentiles: int = 1) -> FeeHistory:
    """Check an `eth_feeHistory` result strictly; ValueError saying what is wrong (the client calls it garbage)."""
    what = "eth_feeHistory"
    if not isinstance(value, dict):
        raise ValueError(f"{what}: not an object: {str(value)[:80]!r}")
    base_raw, ratios_raw = value.get("baseFeePerGas"), value.get("gasUsedRatio")
    if not isinstance(base_raw, list) or not base_raw:
        raise ValueError(f"{what}: baseFeePerGas is missing or empty")
    if not isinstance(ratios_raw, list) or len(ratios_raw) != len(base_raw) - 1:
        raise ValueError(f"{what}: gasUsedRatio must have one entry per block (one fewer than baseFeePerGas)")
    base_fees = tuple(quantity(item, f"{what}.baseFeePerGas") for item in base_raw)
    ratios: list[float] = []
    for item in ratios_raw:
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 <= item <= 1:
            raise ValueError(f"{what}: gasUsedRatio entries must be numbers from 0 to 1, got {str(item)[:40]!r}")
        ratios.append(float(item))
    rewards_raw = value.get("reward")
    if rewards_raw is None:
        rewards_raw = [["0x0"] * percentiles for _ in ratios]  # some nodes leave it out when no block had a tip
    if not isinstance(rewards_raw, list) or len(rewards_raw) != len(ratios):
        raise ValueError(f"{what}: reward must have one entry per block")
    rewards: list[tuple[int, ...]] = []
    for entry in rewards_raw:
        if not isinstance(entry, list) or len(entry) != percentiles:
            raise ValueError(f"{what}: each reward entry must list {percentiles} percentile(s)")
        rewards.append(tuple(quantity(item, f"{what}.reward") for item in entry))
    return FeeHistory(base_fees, tuple(ratios), tuple(rewards))


def _gas_price(value: Any) -> int:
    return quantity(value, "eth_gasPrice")


def _latest_base_fee(value: Any) -> int:
    if not isinstance(value, dict):
        raise ValueError(f"eth_getBlockByNumber: not a block: {str(value)[:80]!r}")
    raw = value.get("baseFeePerGas")
    return 0 if raw is None else quantity(raw, "eth_getBlockByNumber.baseFeePerGas")


async def estimate_fees(client: ChainClient, caps: FeeCaps) -> FeeQuote:
    """Quote fees now from `eth_feeHistory`, or from `eth_gasPrice` where the node refuses feeHistory.

    Raises `FeeEstimateError` when no provider gives a sensible answer (garbage, unreachable), naming the call.
    """
    try:
        history: FeeHistory = await client.call(
            "eth_feeHistory", [hex(HISTORY_BLOCKS), "latest", [REWARD_PERCENTILE]], parse_fee_history
        )
    except RpcError as refused:
        log.info("the node refuses eth_feeHistory; estimating from eth_gasPrice", extra={"error": str(refused)})
        return await _from_gas_price(client, caps)
    except ChainError as exc:
        raise FeeEstimateError(f"could not read eth_feeHistory: {exc}") from exc
    return quote_from(history.next_base_fee, history.recent_tip(), caps)


async def _from_gas_price(client: ChainClient, caps: FeeCaps) -> FeeQuote:
    """eth_gasPrice is the node's base fee + tip suggestion; the latest block's base fee splits it, if it has one."""
    try:
        price: int = await client.call("eth_gasPrice", [], _gas_price)
        block = await client.call("eth_getBlockByNumber", ["latest", False], _latest_base_fee)
    except ChainError as exc:
        raise FeeEstimateError(f"could not read eth_gasPrice (the node refuses eth_feeHistory): {exc}") from exc
    base_fee: int = block
    return quote_from(base_fee, max(price - base_fee, 0), caps)
