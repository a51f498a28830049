"""Our compiled contracts (contracts/artifacts) and calls to them: deploy, read with eth_call, send transactions.

Transactions go through `eth_sendTransaction`, so the node signs: anvil's unlocked dev accounts in development
and tests. A production deployment needs a real signer, which this module does not have (docs/chain.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from chain import abi
from chain.rpc import JsonRpc, RpcError

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "artifacts"
RECEIPT_TIMEOUT = 60.0


class ChainError(RuntimeError):
    """A deployment or transaction did not do what was asked; the message says what happened."""


class TransactionReverted(ChainError):
    """A transaction or call reverted; `reason` names the contract's custom error when it is ours."""

    def __init__(self, what: str, reason: str, data: bytes = b"") -> None:
        super().__init__(f"{what} reverted: {reason}")
        self.reason = reason
        self.data = data


@dataclass(frozen=True)
class Function:
    """One ABI function: its canonical signature, input and output types."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def signature(self) -> str:
        """`name(type,type)`, as hashed into the selector."""
        return f"{self.name}({','.join(self.inputs)})"

    @property
    def selector(self) -> bytes:
        """The first four bytes of keccak256(signature)."""
        return abi.selector(self.signature)

    def calldata(self, args: tuple[object, ...]) -> bytes:
        """Selector plus ABI-encoded arguments."""
        return self.selector + abi.encode(self.inputs, args)


def _types(params: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(str(p["type"]) for p in params)


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its ABI and creation bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes

    def function(self, name: str) -> Function:
        """The ABI function called `name` (our contracts do not overload)."""
        for item in self.abi:
            if item.get("type") == "function" and item.get("name") == name:
                return Function(name, _types(item["inputs"]), _types(item["outputs"]))
        raise ChainError(f"{self.name} has no function {name}")

    def event_topic(self, name: str) -> bytes:
        """topic0 of the event called `name`."""
        for item in self.abi:
            if item.get("type") == "event" and item.get("name") == name:
                return abi.keccak256(f"{name}({','.join(_types(item['inputs']))})".encode())
        raise ChainError(f"{self.name} has no event {name}")

    def creation_code(self, args: tuple[object, ...] = ()) -> bytes:
        """Creation bytecode followed by the ABI-encoded constructor arguments."""
        ctor = next((i for i in self.abi if i.get("type") == "constructor"), None)
        types = _types(ctor["inputs"]) if ctor else ()
        return self.bytecode + abi.encode(types, args)

    @cached_property
    def _errors(self) -> dict[bytes, tuple[str, tuple[str, ...]]]:
        found = {}
        for item in self.abi:
            if item.get("type") == "error":
                types = _types(item["inputs"])
                found[abi.selector(f"{item['name']}({','.join(types)})")] = (str(item["name"]), types)
        return found

    def explain_revert(self, data: bytes) -> str:
        """A readable reason for revert data: our custom errors by name with their arguments, or Error(string)."""
        if data[:4] == abi.selector("Error(string)"):
            return str(abi.decode(("string",), data[4:])[0])
        known = self._errors.get(data[:4])
        if known is None:
            return "0x" + data.hex() if data else "no reason given"
        name, types = known
        try:
            args = abi.decode(types, data[4:])
        except abi.AbiError:
            return name
        shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
        return f"{name}({shown})"


def load_artifact(name: str, directory: Path = ARTIFACTS_DIR) -> Artifact:
    """Read `contracts/artifacts/<name>.json`."""
    path = directory / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ChainError(f"no artifact {path}: run ./dev contracts") from None
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
    )


@dataclass(frozen=True)
class Log:
    """One event log of a receipt."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """The outcome of a mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    contract_address: str | None
    logs: tuple[Log, ...] = field(default=())


def _revert_data(exc: RpcError) -> bytes:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


class Chain:
    """One node, spoken to with JSON-RPC, whose unlocked accounts sign (anvil in development and tests)."""

    def __init__(self, rpc: JsonRpc, receipt_timeout: float = RECEIPT_TIMEOUT) -> None:
        self.rpc = rpc
        self.receipt_timeout = receipt_timeout

    def chain_id(self) -> int:
        """eth_chainId."""
        return int(self.rpc.request("eth_chainId"), 16)

    def accounts(self) -> list[str]:
        """The node's unlocked accounts, checksummed (empty on a public node)."""
        return [abi.to_checksum_address(a) for a in self.rpc.request("eth_accounts")]

    def code(self, address: str) -> bytes:
        """The runtime code at `address` (empty when nothing is deployed there)."""
        return bytes.fromhex(self.rpc.request("eth_getCode", address, "latest")[2:])

    def balance(self, address: str) -> int:
        """Native balance of `address` in wei."""
        return int(self.rpc.request("eth_getBalance", address, "latest"), 16)

    def nonce(self, address: str) -> int:
        """Transactions sent from `address` so far (its next nonce)."""
        return int(self.rpc.request("eth_getTransactionCount", address, "latest"), 16)

    def send(
        self, sender: str, to: str | None, data: bytes, *, value: int = 0, gas: int | None = None, what: str = ""
    ) -> Receipt:
        """Send a transaction signed by the node for `sender` and wait for its receipt; raise if it reverted."""
        tx: dict[str, str] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to is not None:
            tx["to"] = to
        try:
            # Estimating first turns a revert into an error with its data, before anything is mined.
            tx["gas"] = hex(gas if gas is not None else self._estimate(tx))
            tx_hash = str(self.rpc.request("eth_sendTransaction", tx))
        except RpcError as exc:
            raise TransactionReverted(what or "transaction", exc.message, _revert_data(exc)) from exc
        receipt = self.wait_for_receipt(tx_hash)
        if receipt is None:
            # Mined but failed: replay it on the parent block's state to learn why.
            reason, revert = "status 0 in its receipt", b""
            mined = self.rpc.request("eth_getTransactionReceipt", tx_hash)
            try:
                self.rpc.request("eth_call", tx, hex(int(mined["blockNumber"], 16) - 1))
            except RpcError as exc:
                reason, revert = exc.message, _revert_data(exc)
            raise TransactionReverted(f"{what or 'transaction'} ({tx_hash})", reason, revert)
        return receipt

    def _estimate(self, tx: dict[str, str]) -> int:
        estimate = int(self.rpc.request("eth_estimateGas", tx), 16)
        # A margin for state that changes between estimate and inclusion; unused gas is refunded.
        return estimate + estimate // 5

    def wait_for_receipt(self, tx_hash: str) -> Receipt | None:
        """Poll until `tx_hash` is mined (anvil mines at once): its receipt, or None if it failed (status 0)."""
        deadline = time.monotonic() + self.receipt_timeout
        while (raw := self.rpc.request("eth_getTransactionReceipt", tx_hash)) is None:
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {tx_hash} not mined after {self.receipt_timeout:.0f}s")
            time.sleep(0.2)
        if int(raw["status"], 16) != 1:
            return None
        return Receipt(
            tx_hash=tx_hash,
            block_number=int(raw["blockNumber"], 16),
            gas_used=int(raw["gasUsed"], 16),
            contract_address=abi.to_checksum_address(raw["contractAddress"]) if raw.get("contractAddress") else None,
            logs=tuple(
                Log(
                    abi.to_checksum_address(log["address"]),
                    tuple(bytes.fromhex(t[2:]) for t in log["topics"]),
                    bytes.fromhex(log["data"][2:]),
                )
                for log in raw.get("logs", [])
            ),
        )

    def deploy(self, artifact: Artifact, *args: object, sender: str) -> Contract:
        """Deploy `artifact` with constructor `args` from `sender`; check code exists at the new address."""
        try:
            receipt = self.send(sender, None, artifact.creation_code(tuple(args)), what=f"deploying {artifact.name}")
        except TransactionReverted as exc:
            reason = artifact.explain_revert(exc.data) if exc.data else exc.reason
            raise TransactionReverted(f"deploying {artifact.name}", reason, exc.data) from exc
        if receipt.contract_address is None or not self.code(receipt.contract_address):
            raise ChainError(f"deploying {artifact.name}: no code at the new address (tx {receipt.tx_hash})")
        return Contract(self, receipt.contract_address, artifact, receipt)


class Contract:
    """A deployed contract of ours: read with `call`, write with `transact`."""

    def __init__(self, chain: Chain, address: str, artifact: Artifact, deployment: Receipt | None = None) -> None:
        self.chain = chain
        self.address = abi.to_checksum_address(address)
        self.artifact = artifact
        self.deployment = deployment

    def __repr__(self) -> str:
        return f"{self.artifact.name}({self.address})"

    def call(self, name: str, *args: object) -> tuple[object, ...]:
        """eth_call `name(args)` at the latest block and decode its outputs."""
        fn = self.artifact.function(name)
        try:
            raw = self.chain.rpc.request(
                "eth_call", {"to": self.address, "data": "0x" + fn.calldata(args).hex()}, "latest"
            )
        except RpcError as exc:
            data = _revert_data(exc)
            raise TransactionReverted(f"{self!r}.{name}", self.artifact.explain_revert(data), data) from exc
        return abi.decode(fn.outputs, bytes.fromhex(raw[2:]))

    def call1(self, name: str, *args: object) -> Any:
        """`call` for a function with exactly one output: that output."""
        (value,) = self.call(name, *args)
        return value

    def transact(self, name: str, *args: object, sender: str, value: int = 0, gas: int | None = None) -> Receipt:
        """Send `name(args)` from `sender` (signed by the node) and wait for the receipt."""
        fn = self.artifact.function(name)
        try:
            return self.chain.send(sender, self.address, fn.calldata(args), value=value, gas=gas, what=name)
        except TransactionReverted as exc:
            if exc.data:
                raise TransactionReverted(f"{self!r}.{name}", self.artifact.explain_revert(exc.data), exc.data) from exc
            raise
