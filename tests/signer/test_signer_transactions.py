"""HSM-signed transactions built from typed intents mine on anvil, EIP-1559 and legacy EIP-155 alike."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account

from gateway.parts import json_rpc
from signer.domain.abi import selector
from signer.domain.ethereum import parse_address
from signer.domain.intents import (
    ERC20_TRANSFER,
    FLUSH_BATCH,
    MOVE_TO_COLD,
    PAYOUT_BATCH,
    ColdMoveIntent,
    PayoutIntent,
    PayoutLine,
    StrayEntry,
    SweepIntent,
    TransactionRequest,
)
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee, Fee, LegacyFee
from signer.keystore.workers import WorkerKeyStore
from tests.conftest import AnvilNode

GWEI = 10**9


def receipt(url: str, tx_hash: str) -> dict[str, str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = json_rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if found is not None:
            assert isinstance(found, dict)
            return found
        time.sleep(0.05)
    raise AssertionError(f"{tx_hash} not mined")


def fund(url: str, address: str) -> None:
    accounts = json_rpc(url, "eth_accounts")
    assert isinstance(accounts, list)
    tx = json_rpc(url, "eth_sendTransaction", [{"from": accounts[0], "to": address, "value": hex(10**18)}])
    assert receipt(url, str(tx))["status"] == "0x1"


@pytest.mark.parametrize("fee", [Eip1559Fee(20 * GWEI, GWEI), LegacyFee(20 * GWEI)], ids=["eip1559", "legacy"])
async def test_an_hsm_signed_transaction_from_a_typed_intent_mines_on_anvil(
    keystore: WorkerKeyStore, anvil: AnvilNode, fee: Fee
) -> None:
    key = await keystore.create_key(KeyPurpose.HOT, f"hot-mine-{type(fee).__name__}")
    fund(anvil.url, key.address)
    treasury, token = os.urandom(20), os.urandom(20)
    intent = PayoutIntent(
        treasury, token, (PayoutLine(os.urandom(20), 1_500_000, "po_1"), PayoutLine(os.urandom(20), 7))
    )
    nonce = int(str(json_rpc(anvil.url, "eth_getTransactionCount", [key.address, "pending"])), 16)
    request = TransactionRequest(key.key_id, 97, nonce, 200_000, fee, intent)
    unsigned = request.unsigned()
    raw = unsigned.signed(await keystore.sign_digest(key.key_id, unsigned.signing_hash()))

    assert Account.recover_transaction(raw) == key.address
    tx_hash = json_rpc(anvil.url, "eth_sendRawTransaction", ["0x" + raw.hex()])
    mined = receipt(anvil.url, str(tx_hash))
    assert mined["status"] == "0x1"
    assert mined["type"] == ("0x2" if isinstance(fee, Eip1559Fee) else "0x0")
    sent = json_rpc(anvil.url, "eth_getTransactionByHash", [tx_hash])
    assert isinstance(sent, dict)
    assert parse_address(sent["to"]) == treasury
    assert sent["input"].startswith("0x" + selector(PAYOUT_BATCH).hex())


def test_calldata_is_the_abi_encoding_of_the_intent() -> None:
    from eth_abi.abi import decode

    token, treasury = os.urandom(20), os.urandom(20)
    a, b = os.urandom(20), os.urandom(20)
    intent = PayoutIntent(treasury, token, (PayoutLine(a, 5, "po_1"), PayoutLine(b, 2**200, "po_2")))
    got = decode(["bytes32", "address[]", "uint256[]"], intent.calldata()[4:])
    assert got[0] == intent.batch_id
    assert [parse_address(x) for x in got[1]] == [a, b]
    assert list(got[2]) == [5, 2**200]
    again = PayoutIntent(treasury, token, (PayoutLine(a, 5, "po_1"), PayoutLine(b, 2**200, "po_2")))
    assert again.batch_id == intent.batch_id  # re-signed, the same batch: the treasury pays it once
    salts = (os.urandom(32), os.urandom(32))
    flushed = decode(["bytes32[]", "uint256[]", "address[]"], SweepIntent(treasury, token, salts).calldata()[4:])
    assert (list(flushed[0]), list(flushed[1]), list(flushed[2])) == (list(salts), [], [])
    move = ColdMoveIntent(treasury, token, 42).calldata()
    assert decode(["address", "uint256"], move[4:])[1] == 42


def test_sweep_stray_entries_are_encoded_as_flushbatch_stray_indexes_and_tokens() -> None:
    from eth_abi.abi import decode

    from signer.domain.intents import describe, request_of
    from signer.domain.policy import DENY_ALL, evaluate

    factory, token, lookalike, other = (os.urandom(20) for _ in range(4))
    salts = (os.urandom(32), os.urandom(32), os.urandom(32))
    intent = SweepIntent(factory, token, salts, (StrayEntry(2, lookalike), StrayEntry(0, other)))
    calldata = intent.calldata()
    assert calldata[:4] == selector(FLUSH_BATCH)
    got = decode(["bytes32[]", "uint256[]", "address[]"], calldata[4:])
    assert list(got[0]) == list(salts)
    assert list(got[1]) == [2, 0]
    assert [parse_address(x) for x in got[2]] == [lookalike, other]
    # The stored description round-trips with its strays; a sweep without strays is described as before.
    request = TransactionRequest("k", 97, 0, 100_000, LegacyFee(GWEI), intent)
    assert request_of(request.canonical()).intent == intent
    assert "strays" not in describe(SweepIntent(factory, token, salts))
    # Naming the configured token as a stray is refused before any rule (the factory would revert it).
    assert intent.refusal() is None
    bad = TransactionRequest(
        "k", 97, 0, 100_000, LegacyFee(GWEI), SweepIntent(factory, token, salts, (StrayEntry(1, token),))
    )
    decision = evaluate(DENY_ALL.policy, KeyPurpose.SWEEPER, bad, lambda _rule, _seconds: 0)
    assert decision.reason == "STRAY_IS_CONFIGURED_TOKEN"


def test_every_intent_calls_a_function_our_contracts_have() -> None:
    import json

    from chain.build import ARTIFACTS_DIR

    def functions(contract: str) -> set[str]:
        abi = json.loads((ARTIFACTS_DIR / f"{contract}.json").read_text())["abi"]
        return {f"{f['name']}({','.join(i['type'] for i in f['inputs'])})" for f in abi if f.get("type") == "function"}

    assert {PAYOUT_BATCH, MOVE_TO_COLD} <= functions("Treasury")
    assert FLUSH_BATCH in functions("ForwarderFactory")
    assert ERC20_TRANSFER in functions("StablegateTestToken")  # what a Safe transaction calls on a token


def test_the_safe_execution_intent_builds_exectransaction_of_the_safe_with_no_delegate_call_and_no_refund() -> None:
    import os

    from eth_abi.abi import decode as abi_decode
    from eth_utils.crypto import keccak

    from chain.safe import safe_artifact
    from signer.domain.intents import EXEC_TRANSACTION, SafeExecutionIntent, SafeTransactionIntent

    safe_functions = {
        f"{f['name']}({','.join(i['type'] for i in f['inputs'])})"
        for f in safe_artifact().abi
        if f.get("type") == "function"
    }
    assert EXEC_TRANSACTION in safe_functions
    safe, token, dest = os.urandom(20), os.urandom(20), os.urandom(20)
    signatures = os.urandom(130)
    intent = SafeExecutionIntent(safe, token, dest, 10**18 + 3, signatures)
    data = intent.calldata()
    assert data[:4] == keccak(text=EXEC_TRANSACTION)[:4]
    fields = abi_decode(
        ["address", "uint256", "bytes", "uint8", "uint256", "uint256", "uint256", "address", "address", "bytes"],
        data[4:],
    )
    inner = SafeTransactionIntent(safe, token, dest, 10**18 + 3).calldata()
    plain = tuple(f.lower() if isinstance(f, str) else f for f in fields)
    assert plain == ("0x" + token.hex(), 0, inner, 0, 0, 0, 0, "0x" + "00" * 20, "0x" + "00" * 20, signatures)
    assert intent.contract == safe and intent.destinations == (dest,) and intent.amount == 10**18 + 3
