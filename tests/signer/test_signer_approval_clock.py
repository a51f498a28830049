"""Held requests against the signer's clock: a held request lapses for good (never signed after); a policy without an
`unfreeze` quorum cannot lift a freeze. The core on a real SoftHSM key store, with the state's clock moved."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from prometheus_client import CollectorRegistry

from service_runtime.errors import DomainError
from signer.core import DENIED, PENDING, Signature, SignerCore, subject_of
from signer.domain.ethereum import checksum_address
from signer.domain.intents import PayoutIntent, PayoutLine, TransactionRequest
from signer.domain.policy import parse_policy
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee
from signer.keystore.workers import WorkerKeyStore
from signer.metrics import SignerMetrics
from signer.store.state import SignerState

TREASURY, TOKEN, DEST = (os.urandom(20) for _ in range(3))
OFFICERS = [Account.create() for _ in range(2)]
TTL = 600
POLICY = f"""
version: 1
approval_ttl_seconds: {TTL}
approver_groups:
  officers: {{addresses: [{", ".join(a.address for a in OFFICERS)}]}}
rules:
  - name: held
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{checksum_address(TREASURY)}]
    action: REQUIRE_APPROVAL
    approval: {{group: officers, threshold: 2}}
"""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def request(key_id: str) -> TransactionRequest:
    intent = PayoutIntent(TREASURY, TOKEN, (PayoutLine(DEST, 10**6, "po_clock"),))
    return TransactionRequest(key_id, 97, 1, 200_000, Eip1559Fee(20 * 10**9, 10**9), intent)


async def test_a_held_request_lapses_for_good_and_unfreezing_needs_a_configured_quorum(
    keystore: WorkerKeyStore, tmp_path: Path
) -> None:
    hot = await keystore.create_key(KeyPurpose.HOT, "hot-clock")
    clock = Clock()
    first_registry = CollectorRegistry()
    core = SignerCore(
        parse_policy(POLICY.encode()),
        SignerState(tmp_path / "state.sqlite3", clock),
        keystore,
        SignerMetrics(first_registry),
    )
    first = await core.sign("settlement", "req-clock", request(hot.key_id))
    assert first.decision == PENDING
    held = core.state.held(first.approval_id)
    assert held is not None and core.approval_view(held)[0] == "PENDING"

    clock.now += TTL + 1
    assert core.approval_view(held)[0] == "EXPIRED"
    typed = subject_of(held).typed_data()
    deadline = int(clock.now) + 60
    typed["message"]["deadline"] = deadline  # type: ignore[index]
    signed = OFFICERS[0].sign_message(encode_typed_data(full_message=json.loads(json.dumps(typed))))
    approval = Signature("0x" + signed.signature.hex(), deadline)
    with pytest.raises(DomainError) as lapsed:
        await core.approve("operator", held.approval_id, approval)
    assert lapsed.value.reason == "APPROVAL_EXPIRED"

    # Lapsed for good: a retried SignTransaction is refused (a final answer, audited once), never raised again.
    # Settlement may then give the nonce to another transaction: this one can never be signed after all.
    again = await core.sign("settlement", "req-clock", request(hot.key_id))
    assert (again.decision, again.reason, again.approval_id) == (DENIED, "APPROVAL_EXPIRED", first.approval_id)
    assert again.signed_transaction == ""
    later = await core.sign("settlement", "req-clock", request(hot.key_id))
    assert later == again  # the stored result: no second decision
    assert core.approval_view(held) == ("EXPIRED", [])
    with pytest.raises(DomainError) as still:
        await core.approve("operator", held.approval_id, approval)
    assert still.value.reason == "APPROVAL_EXPIRED"
    assert core.state.nonce_record(97, hot.address, 1) is None  # nothing was signed for its nonce

    await core.freeze("operator", "drill")
    frozen = core.freeze_state()
    assert frozen is not None
    with pytest.raises(DomainError) as refused:
        await core.unfreeze("operator", frozen.freeze_id, [])
    assert refused.value.reason == "UNFREEZE_NOT_CONFIGURED"
    assert core.freeze_state() == frozen
    registry = CollectorRegistry()
    assert registry.get_sample_value("signer_signing_frozen") is None
    reopened = SignerCore(core.policy, core.state, keystore, SignerMetrics(registry))
    assert registry.get_sample_value("signer_signing_frozen") == 1  # a restarted signer reports the freeze
    frozen_refusal = await reopened.sign("settlement", "req-frozen", request(hot.key_id))
    assert frozen_refusal.reason == "SIGNING_FROZEN"
    assert (
        registry.get_sample_value("signer_sign_decisions_total", {"decision": DENIED, "reason": "SIGNING_FROZEN"}) == 1
    )
    # Counted as audited: the held request was decided once as held and once as lapsed; the freeze is reported.
    pending = {"decision": PENDING, "reason": "APPROVALS_REQUIRED"}
    assert first_registry.get_sample_value("signer_sign_decisions_total", pending) == 1
    lapsed_count = {"decision": DENIED, "reason": "APPROVAL_EXPIRED"}
    assert first_registry.get_sample_value("signer_sign_decisions_total", lapsed_count) == 1
    assert first_registry.get_sample_value("signer_signing_frozen") == 1
    core.state.close()


async def test_concurrent_calls_with_one_request_id_sign_once_and_count_once(
    keystore: WorkerKeyStore, tmp_path: Path
) -> None:
    hot = await keystore.create_key(KeyPurpose.HOT, "hot-race")
    policy = f"""
version: 1
rules:
  - name: windowed
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    window: {{seconds: 3600, max_amount: {10**7}}}
    action: ALLOW
"""
    core = SignerCore(parse_policy(policy.encode()), SignerState(tmp_path / "state.sqlite3"), keystore)
    results = await asyncio.gather(*(core.sign("settlement", "req-race", request(hot.key_id)) for _ in range(6)))
    assert {r.decision for r in results} == {"ALLOWED"}
    assert len({(r.tx_hash, r.audit_sequence) for r in results}) == 1
    assert core.state.window_spent("windowed", 3600) == 10**6
    core.state.close()
