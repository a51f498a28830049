"""Property: over random policies and intents, a signature comes back only when a rule allows the request, and
every refusal carries a reason code and is the audit record it points at; a Safe transaction with a delegate call
or refund parameters is never signed."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway import parts
from signer.core import ALLOWED, SignerCore
from signer.domain.ethereum import checksum_address
from signer.domain.intents import (
    Intent,
    PayoutIntent,
    PayoutLine,
    SafeTransactionIntent,
    SweepIntent,
    TransactionRequest,
)
from signer.domain.policy import Action, LoadedPolicy, Policy
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee, Fee, LegacyFee
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import SignerState
from tests.signer.conftest import hsm_config

ADDRS = [os.urandom(20) for _ in range(4)]
TREASURY, TOKEN = os.urandom(20), os.urandom(20)
GWEI = 10**9


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    store: WorkerKeyStore
    hot: KeyInfo
    sweeper: KeyInfo
    cold: KeyInfo
    tmp: Path


@pytest.fixture(scope="module")
def harness(softhsm_token: parts.SoftHsmToken) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    store = WorkerKeyStore(hsm_config(softhsm_token))
    loop.run_until_complete(store.start())
    hot = loop.run_until_complete(store.create_key(KeyPurpose.HOT, "hot-prop"))
    sweeper = loop.run_until_complete(store.create_key(KeyPurpose.SWEEPER, "sweeper-prop"))
    cold = loop.run_until_complete(store.create_key(KeyPurpose.COLD_OWNER, "cold-prop"))
    with tempfile.TemporaryDirectory() as tmp:
        yield Harness(loop, store, hot, sweeper, cold, Path(tmp))
    loop.run_until_complete(store.close())
    loop.close()


def addresses(raw: list[bytes]) -> list[str]:
    return [checksum_address(a) for a in raw]


rules = st.fixed_dictionaries(
    {
        "name": st.uuids().map(str),
        "purposes": st.lists(st.sampled_from(["HOT", "SWEEPER", "COLD_OWNER"]), min_size=1, unique=True),
        "chain_ids": st.lists(st.sampled_from([97, 56]), min_size=1, unique=True),
        "action": st.sampled_from(["ALLOW", "ALLOW", "DENY", "REQUIRE_APPROVAL"]),
    },
    optional={
        "destinations": st.lists(st.sampled_from(ADDRS[:3]), unique=True).map(addresses),
        "contracts": st.sampled_from([[checksum_address(TREASURY)], addresses(ADDRS[:1])]),
        "max_amount": st.integers(0, 1500),
        "max_gas_limit": st.integers(21_000, 400_000),
        "max_fee_per_gas_wei": st.integers(0, 50 * GWEI),
    },
).map(
    lambda r: {
        **r,
        **({"approval": {"group": "officers", "threshold": 1}} if r["action"] == "REQUIRE_APPROVAL" else {}),
    }
)

policies = st.lists(rules, max_size=3).map(
    lambda rs: {"version": 1, "approver_groups": {"officers": {"addresses": addresses(ADDRS[:2])}}, "rules": rs}
)

requests = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["hot", "sweeper", "cold"]),
        "mismatch": st.sampled_from([False] * 9 + [True]),  # ask a key for an intent of another purpose
        "other": st.sampled_from(["hot", "sweeper", "cold"]),
        "operation": st.sampled_from([0, 0, 0, 1]),  # Safe transactions: a delegate call now and then
        "refund": st.sampled_from([None, None, None, "gas_price", "gas_token", "refund_receiver"]),
        "chain_id": st.sampled_from([97, 56, 1]),
        "dest": st.sampled_from(ADDRS),
        "amount": st.integers(0, 2000),
        "gas": st.integers(21_000, 500_000),
        "fee": st.integers(1, 60 * GWEI),
        "legacy": st.booleans(),
    }
)


def intent_of(kind: str, spec: dict[str, object]) -> Intent:
    dest, amount = spec["dest"], spec["amount"]
    assert isinstance(dest, bytes) and isinstance(amount, int)
    if kind == "sweeper":
        return SweepIntent(TREASURY, TOKEN, (os.urandom(32),))
    if kind == "hot":
        return PayoutIntent(TREASURY, TOKEN, (PayoutLine(dest, amount),))
    operation = int(str(spec["operation"]))
    intent = SafeTransactionIntent(TREASURY, TOKEN, dest, amount, operation=operation)
    if spec["refund"] == "gas_price":
        return replace(intent, gas_price=1)
    if spec["refund"] == "gas_token":
        return replace(intent, gas_token=TOKEN)
    if spec["refund"] == "refund_receiver":
        return replace(intent, refund_receiver=dest)
    return intent


def conditions_hold(rule: dict[str, object], request: TransactionRequest) -> bool:
    intent = request.intent
    dests = {checksum_address(d) for d in intent.destinations}
    return (
        request.chain_id in rule["chain_ids"]  # type: ignore[operator]
        and ("contracts" not in rule or checksum_address(intent.contract) in rule["contracts"])  # type: ignore[operator]
        and ("destinations" not in rule or dests <= set(rule["destinations"]))  # type: ignore[call-overload]
        and ("max_amount" not in rule or intent.amount <= rule["max_amount"])  # type: ignore[operator]
        and ("max_gas_limit" not in rule or request.gas_limit <= rule["max_gas_limit"])  # type: ignore[operator]
        and ("max_fee_per_gas_wei" not in rule or request.fee_cap <= rule["max_fee_per_gas_wei"])  # type: ignore[operator]
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, spec=requests)
def test_a_signature_is_returned_only_when_a_rule_allows_and_every_refusal_is_audited_with_a_reason(
    harness: Harness, policy: dict[str, object], spec: dict[str, object]
) -> None:
    loaded = LoadedPolicy(Policy.model_validate(policy), "0" * 64)
    state = SignerState(harness.tmp / f"{os.urandom(6).hex()}.sqlite3")
    core = SignerCore(loaded, state, harness.store)
    key = {"hot": harness.hot, "sweeper": harness.sweeper, "cold": harness.cold}[str(spec["key"])]
    kind = str(spec["other"] if spec["mismatch"] else spec["key"])
    intent = intent_of(kind, spec)
    fee: Fee | None = LegacyFee(spec["fee"]) if spec["legacy"] else Eip1559Fee(spec["fee"], 1)  # type: ignore[arg-type]
    gas = spec["gas"]
    if kind == "cold":
        fee, gas = None, 0
    request = TransactionRequest(key.key_id, spec["chain_id"], 0, gas, fee, intent)  # type: ignore[arg-type]
    result = harness.loop.run_until_complete(core.sign("settlement", os.urandom(8).hex(), request))

    event(f"{result.decision} {result.reason}")
    record = json.loads(state.audit_records(after=result.audit_sequence - 1, limit=1)[0].body)
    assert record["decision"] == result.decision
    assert state.verify_audit().ok
    if result.decision == ALLOWED:
        rule = next(r for r in policy["rules"] if r["name"] == result.rule)  # type: ignore[attr-defined]
        assert rule["action"] == Action.ALLOW
        assert key.purpose in rule["purposes"]
        assert kind == spec["key"]
        assert conditions_hold(rule, request)
        if isinstance(intent, SafeTransactionIntent):
            assert intent.refusal() is None
            assert result.tx_hash == "0x" + request.safe_tx().hash().hex()
            assert Account._recover_hash(request.safe_tx().hash(), signature=result.signed_transaction) == key.address
        else:
            assert Account.recover_transaction(result.signed_transaction) == key.address
        assert record["tx_hash"] == result.tx_hash
    else:
        assert not result.signed_transaction and not result.tx_hash
        assert result.reason and record["reason"] == result.reason
        if isinstance(intent, SafeTransactionIntent) and kind == spec["key"] and intent.refusal() is not None:
            assert result.reason == intent.refusal()
    if not policy["rules"]:
        reasons = {"NO_RULE_MATCHED", "PURPOSE_MISMATCH", "SAFE_DELEGATE_CALL", "SAFE_REFUND_NOT_ALLOWED"}
        assert result.decision == "DENIED" and result.reason in reasons
    state.close()
