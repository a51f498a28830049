"""Fee estimation against a real anvil: base fees and tips from eth_feeHistory, eth_gasPrice where a node refuses
it, BSC's floor and the configured cap, and clear errors for bad answers (through the real fault proxy).

The module runs its own anvil: it moves the base fee up and down, which would disturb other tests' transactions on
the session's node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.client import ChainClient, ClientOptions
from chain.fees import (
    BSC_MIN_GAS_PRICE_WEI,
    HISTORY_BLOCKS,
    FeeCaps,
    FeeEstimateError,
    estimate_fees,
    median,
    quote_from,
)
from gateway import parts
from tests.chain.fault_proxy import FaultProxy

GWEI = 10**9
CAPS = FeeCaps(floor_gas_price_wei=BSC_MIN_GAS_PRICE_WEI, max_gas_price_wei=50 * GWEI, priority_fee_wei=1 * GWEI)
FAST = ClientOptions(rounds=1, backoff_seconds=0.01, timeout_seconds=5.0)


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    """An anvil of this module's own (chain id 97), stopped at the end."""
    port = parts.free_port()
    proc = parts.start(parts.prepare_anvil(port))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def rpc(url: str, method: str, *params: Any) -> Any:
    return parts.json_rpc(url, method, list(params), timeout=5.0)


def set_next_base_fee(url: str, wei: int) -> None:
    """Make the next block's base fee `wei`, mine it (empty), and a run of empty blocks before it."""
    rpc(url, "anvil_setNextBlockBaseFeePerGas", hex(wei))
    rpc(url, "evm_mine")


def next_after_empty(base_fee: int) -> int:
    """EIP-1559: the base fee after an empty block falls by an eighth (integer division)."""
    return base_fee - base_fee // 8


@pytest.fixture
async def client(node: str) -> AsyncIterator[ChainClient]:
    chain = ChainClient([node], FAST)
    try:
        yield chain
    finally:
        await chain.close()


@pytest.fixture
async def proxy(node: str) -> AsyncIterator[FaultProxy]:
    fault = FaultProxy(node)
    await fault.start()
    try:
        yield fault
    finally:
        await fault.close()


async def test_the_quote_follows_the_next_blocks_base_fee_as_anvil_moves_it(node: str, client: ChainClient) -> None:
    for _ in range(HISTORY_BLOCKS):
        rpc(node, "evm_mine")  # a window of empty blocks: no tips to learn from
    set_next_base_fee(node, 8 * GWEI)
    quote = await estimate_fees(client, CAPS)
    assert quote.base_fee_wei == next_after_empty(8 * GWEI) == 7 * GWEI
    assert quote.max_priority_fee_per_gas_wei == 1 * GWEI  # the configured tip: no block carried one
    assert quote.gas_price_wei == 8 * GWEI
    assert quote.max_fee_per_gas_wei == 2 * 7 * GWEI + 1 * GWEI  # room for the base fee to rise
    assert quote.over_cap is False

    set_next_base_fee(node, 400 * GWEI)  # fees spike past the 50 gwei cap: the caller holds its sweep
    spiked = await estimate_fees(client, CAPS)
    assert spiked.base_fee_wei == 350 * GWEI
    assert spiked.over_cap is True
    assert spiked.gas_price_wei == spiked.max_fee_per_gas_wei == 351 * GWEI  # what the chain asks, not the cap

    set_next_base_fee(node, 40 * GWEI)  # back under the cap, but the headroom would pass it: capped there
    calmer = await estimate_fees(client, CAPS)
    assert (calmer.base_fee_wei, calmer.over_cap) == (35 * GWEI, False)
    assert calmer.max_fee_per_gas_wei == 50 * GWEI
    assert calmer.gas_price_wei == 36 * GWEI


async def test_recent_tips_raise_the_offered_tip_above_the_configured_one(node: str, client: ChainClient) -> None:
    set_next_base_fee(node, 2 * GWEI)
    sender = rpc(node, "eth_accounts")[0]
    for _ in range(3):  # anvil mines each one in its own block: three blocks whose going tip is 3 gwei
        tx_hash = rpc(
            node,
            "eth_sendTransaction",
            {
                "from": sender,
                "to": "0x" + "1" * 40,
                "value": "0x1",
                "maxPriorityFeePerGas": hex(3 * GWEI),
                "maxFeePerGas": hex(100 * GWEI),
            },
        )
        # Automine may still be sealing the block when the hash comes back (seen under load): wait for it, so the
        # estimate below reads the three blocks and not a pending one (whose base fee it would then predict).
        deadline = time.monotonic() + 10
        while rpc(node, "eth_getTransactionReceipt", tx_hash) is None:
            assert time.monotonic() < deadline, "anvil did not mine the transaction"
            await asyncio.sleep(0.02)
    quote = await estimate_fees(client, CAPS)
    assert quote.max_priority_fee_per_gas_wei == 3 * GWEI
    latest = rpc(node, "eth_getBlockByNumber", "latest", False)
    assert quote.base_fee_wei < int(latest["baseFeePerGas"], 16)  # each block used less than its target
    assert quote.gas_price_wei == quote.base_fee_wei + 3 * GWEI


async def test_a_chain_without_base_fee_pays_bscs_floor(node: str, client: ChainClient) -> None:
    for _ in range(HISTORY_BLOCKS):
        rpc(node, "evm_mine")
    set_next_base_fee(node, 0)  # BSC: EIP-1559 with the base fee fixed at 0
    no_tip = FeeCaps(floor_gas_price_wei=BSC_MIN_GAS_PRICE_WEI, max_gas_price_wei=5 * GWEI, priority_fee_wei=0)
    quote = await estimate_fees(client, no_tip)
    assert quote.base_fee_wei == 0
    assert quote.max_priority_fee_per_gas_wei == BSC_MIN_GAS_PRICE_WEI == 50_000_000
    assert quote.max_fee_per_gas_wei == quote.gas_price_wei == BSC_MIN_GAS_PRICE_WEI
    assert quote.over_cap is False


async def test_a_node_that_refuses_fee_history_is_asked_its_gas_price(node: str, proxy: FaultProxy) -> None:
    set_next_base_fee(node, 6 * GWEI)
    proxy.refuse.add("eth_feeHistory")
    chain = ChainClient([proxy.url], FAST)
    try:
        quote = await estimate_fees(chain, CAPS)
    finally:
        await chain.close()
    assert proxy.method_calls["eth_feeHistory"] == 1
    assert proxy.method_calls["eth_gasPrice"] == 1
    node_price = int(rpc(node, "eth_gasPrice"), 16)
    latest_base = int(rpc(node, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    assert latest_base == 6 * GWEI
    assert quote.base_fee_wei == latest_base
    assert quote.max_priority_fee_per_gas_wei == max(node_price - latest_base, 1 * GWEI)
    assert quote.gas_price_wei == max(node_price, latest_base + 1 * GWEI)
    assert quote.over_cap is False


BAD_HISTORIES: list[tuple[Any, str]] = [
    ("nonsense", "not an object"),
    ({"gasUsedRatio": [0.5], "reward": [["0x1"]]}, "baseFeePerGas is missing"),
    ({"baseFeePerGas": ["0x1", "-0x5"], "gasUsedRatio": [0.5], "reward": [["0x1"]]}, "not a hex quantity"),
    ({"baseFeePerGas": ["0x1", 7], "gasUsedRatio": [0.5], "reward": [["0x1"]]}, "not a hex quantity"),
    ({"baseFeePerGas": ["0x1", "0x2"], "gasUsedRatio": [], "reward": []}, "gasUsedRatio must have one entry"),
    ({"baseFeePerGas": ["0x1", "0x2"], "gasUsedRatio": [1.5], "reward": [["0x1"]]}, "from 0 to 1"),
    ({"baseFeePerGas": ["0x1", "0x2"], "gasUsedRatio": [0.5], "reward": [["0x1", "0x2"]]}, "1 percentile"),
    ({"baseFeePerGas": ["0x1", "0x2"], "gasUsedRatio": [0.5], "reward": [["1.5"]]}, "not a hex quantity"),
]


@pytest.mark.parametrize(("answer", "complaint"), BAD_HISTORIES)
async def test_a_bad_fee_history_is_a_clear_error_not_a_guess(proxy: FaultProxy, answer: Any, complaint: str) -> None:
    proxy.answers["eth_feeHistory"] = answer
    chain = ChainClient([proxy.url], FAST)
    try:
        with pytest.raises(FeeEstimateError, match="eth_feeHistory") as bad:
            await estimate_fees(chain, CAPS)
    finally:
        await chain.close()
    assert complaint in str(bad.value)


async def test_a_bad_gas_price_or_an_unreachable_node_is_a_clear_error(proxy: FaultProxy) -> None:
    proxy.refuse.add("eth_feeHistory")
    proxy.answers["eth_gasPrice"] = "a lot"
    chain = ChainClient([proxy.url], FAST)
    try:
        with pytest.raises(FeeEstimateError, match=r"eth_gasPrice.*not a hex quantity"):
            await estimate_fees(chain, CAPS)
        proxy.refuse.clear()
        proxy.mode = "garbage"  # not even JSON
        with pytest.raises(FeeEstimateError, match=r"eth_feeHistory.*not JSON"):
            await estimate_fees(chain, CAPS)
    finally:
        await chain.close()


def test_caps_refuse_a_cap_below_the_floor_and_non_integers() -> None:
    with pytest.raises(ValueError, match="below floor"):
        FeeCaps(floor_gas_price_wei=10, max_gas_price_wei=9, priority_fee_wei=0)
    with pytest.raises(ValueError, match="integer"):
        FeeCaps(floor_gas_price_wei=1.5, max_gas_price_wei=9, priority_fee_wei=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        FeeCaps(floor_gas_price_wei=1, max_gas_price_wei=9, priority_fee_wei=-1)


def test_median_takes_the_lower_middle_of_integers() -> None:
    assert median([]) == 0
    assert median([5]) == 5
    assert median([9, 1, 5]) == 5
    assert median([4, 1, 3, 2]) == 2


wei = st.integers(min_value=0, max_value=10**13)


@given(base=wei, tip=wei, floor=wei, extra=wei, priority=wei)
def test_every_quote_respects_the_floor_and_says_when_it_passes_the_cap(
    base: int, tip: int, floor: int, extra: int, priority: int
) -> None:
    caps = FeeCaps(floor_gas_price_wei=floor, max_gas_price_wei=floor + extra, priority_fee_wei=priority)
    quote = quote_from(base, tip, caps)
    asked = base + quote.max_priority_fee_per_gas_wei
    assert quote.max_priority_fee_per_gas_wei >= max(tip, priority)
    assert asked >= floor
    assert quote.gas_price_wei == asked
    assert quote.max_fee_per_gas_wei >= asked
    assert quote.over_cap == (asked > caps.max_gas_price_wei)
    if not quote.over_cap:
        assert quote.max_fee_per_gas_wei <= caps.max_gas_price_wei
    fields = (quote.base_fee_wei, quote.max_fee_per_gas_wei, quote.gas_price_wei, quote.max_priority_fee_per_gas_wei)
    assert all(isinstance(v, int) for v in fields)
