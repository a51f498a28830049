"""A chain for watcher tests: its own anvil, our test token deployed, and helpers to pay and reorg."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chain.build import ARTIFACTS_DIR
from gateway import parts

if TYPE_CHECKING:
    from watcher.reporter import LedgerReporter


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call to anvil (raises on an error answer)."""
    return parts.json_rpc(url, method, params or [], timeout=10)


def _word(value: int | str) -> str:
    if isinstance(value, str):
        return value.lower().removeprefix("0x").rjust(64, "0")
    return hex(value)[2:].rjust(64, "0")


SELECTORS = {"mint": "0x40c10f19", "transfer": "0xa9059cbb"}
"""mint(address,uint256) and transfer(address,uint256)."""


@dataclass
class Chain:
    """An anvil node with dev accounts and a deployed test token."""

    url: str
    accounts: list[str]
    token: str = ""

    def send(self, sender: str, to: str | None, data: str, value: int = 0) -> str:
        """Send a transaction from an unlocked dev account and mine it; its hash."""
        tx: dict[str, Any] = {"from": sender, "data": data, "value": hex(value), "gas": hex(3_000_000)}
        if to is not None:
            tx["to"] = to
        tx_hash: str = rpc(self.url, "eth_sendTransaction", [tx])
        receipt = self.receipt(tx_hash)
        assert receipt["status"] == "0x1", receipt
        return tx_hash

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """The transaction's receipt, once anvil has mined it."""
        deadline = time.monotonic() + 10  # anvil mines at once; a loaded machine may still take a moment
        while time.monotonic() < deadline:
            receipt = rpc(self.url, "eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            time.sleep(0.02)
        raise AssertionError(f"{tx_hash} was not mined")

    def deploy_token(self, symbol: str = "USDT") -> str:
        """Deploy StablegateTestToken("Test USD", symbol); its address, lowercase."""
        artifact = json.loads((ARTIFACTS_DIR / "StablegateTestToken.json").read_text())
        # constructor(string,string): two offsets, then each string as length + padded bytes.
        name, sym = b"Test USD", symbol.encode()
        args = _word(64) + _word(128) + _word(len(name)) + name.hex().ljust(64, "0")
        args += _word(len(sym)) + sym.hex().ljust(64, "0")
        tx_hash = self.send(self.accounts[0], None, artifact["bytecode"] + args)
        return str(self.receipt(tx_hash)["contractAddress"]).lower()

    def mint(self, token: str, to: str, amount: int) -> str:
        """Mint test tokens to an address."""
        return self.send(self.accounts[0], token, SELECTORS["mint"] + _word(to) + _word(amount))

    def pay(self, to: str, amount: int, *, token: str | None = None, payer: int = 1) -> str:
        """Fund a dev account and transfer from it to `to` (two blocks); the transfer's hash."""
        token = token or self.token
        self.mint(token, self.accounts[payer], amount)
        return self.transfer(to, amount, token=token, payer=payer)

    def transfer(self, to: str, amount: int, *, token: str | None = None, payer: int = 1) -> str:
        """A token transfer from an already funded dev account; the transaction hash."""
        return self.send(self.accounts[payer], token or self.token, SELECTORS["transfer"] + _word(to) + _word(amount))

    def mine(self, blocks: int) -> None:
        """Mine empty blocks."""
        rpc(self.url, "anvil_mine", [hex(blocks)])

    def head(self) -> int:
        """The head block number."""
        return int(rpc(self.url, "eth_blockNumber"), 16)

    def block_of(self, tx_hash: str) -> tuple[int, str]:
        """(number, hash) of the block holding a transaction."""
        receipt = self.receipt(tx_hash)
        return int(receipt["blockNumber"], 16), str(receipt["blockHash"])

    def raw(self, tx_hash: str) -> str:
        """The signed raw transaction (to put it back in a reorg)."""
        return str(rpc(self.url, "eth_getRawTransactionByHash", [tx_hash]))

    def reorg(self, depth: int, txs: list[tuple[str, int]] | None = None) -> None:
        """Replace the top `depth` blocks; `txs` are (raw transaction, block offset) to include in the new ones."""
        rpc(self.url, "anvil_reorg", [depth, [[raw, offset] for raw, offset in (txs or [])]])


def start_chain(base_name: str, registry: list[parts.RunningProcess]) -> Chain:
    """A fresh anvil (chain id 97, BSC-like finality) with the test token deployed."""
    port = parts.free_port()
    spec = parts.prepare_anvil(port)
    registry.append(parts.start(spec))
    url = f"http://127.0.0.1:{port}"
    chain = Chain(url, [str(a).lower() for a in rpc(url, "eth_accounts")])
    chain.token = chain.deploy_token()
    return chain


async def wait_until_fed(reporter: LedgerReporter, addresses: Iterable[str], within: float = 20.0) -> None:
    """Wait until the ledger's feed (what the watcher reads) shows every address, as a watcher would next tick.

    The feed returns only rows older than every transaction still running (so it never skips one); a concurrent
    transaction can hold a new address back for a moment, so a test waits for it instead of racing it.
    """
    wanted = {a.lower() for a in addresses}
    deadline = time.monotonic() + within
    while True:
        cursor, seen = "", set()
        while True:
            page = await reporter.feed(cursor)
            seen |= {a.lower() for a, _, _ in page.addresses}
            cursor = page.next_cursor
            if page.caught_up:
                break
        missing = wanted - seen
        if not missing:
            return
        assert time.monotonic() < deadline, f"the feed never showed {sorted(missing)}"
        await asyncio.sleep(0.02)
