"""The signer served by the real runtime with mutual TLS: settlement gets signatures the policy allows, no other
role may ask, every decision is audited, window caps hold across a restart, the nonce guard holds."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from eth_account import Account
from eth_keys.datatypes import PublicKey
from prometheus_client.parser import text_string_to_metric_families
from stablegate.signer.v1 import approval_service_pb2 as approval_pb
from stablegate.signer.v1 import approval_service_pb2_grpc as approval_grpc
from stablegate.signer.v1 import audit_service_pb2 as audit_pb
from stablegate.signer.v1 import audit_service_pb2_grpc as audit_grpc
from stablegate.signer.v1 import key_service_pb2 as key_pb
from stablegate.signer.v1 import key_service_pb2_grpc as key_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.domain.audit import chain_hash
from signer.domain.ethereum import checksum_address
from signer.domain.purpose import KeyPurpose
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import verify_path
from tests.conftest import error_info, mesh_channel

TREASURY, TOKEN, DEST, STRANGER = (checksum_address(os.urandom(20)) for _ in range(4))
GWEI = 10**9


@dataclass
class RunningSigner:
    base: Path
    env: dict[str, str]
    registry: list[parts.RunningProcess]
    pki: DevMesh
    hot: str
    hot_address: str
    port: int = 0
    metrics_port: int = 0
    process: parts.RunningProcess | None = None

    def start(self) -> None:
        spec, ready = parts.prepare_service("signer", self.base, self.env)
        self.process = parts.start(spec)
        self.registry.append(self.process)
        ports = parts.read_ready_file(ready)
        assert ports["grpc_port"] is not None and ports["metrics_port"] is not None
        self.port, self.metrics_port = ports["grpc_port"], ports["metrics_port"]

    def metric(self, name: str, **labels: str) -> float:
        """A sample from the running signer's /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()

    def channel(self, role: str) -> grpc.aio.Channel:
        return mesh_channel(self.pki, role, self.port)


POLICY = f"""
version: 1
rules:
  - name: payouts-to-known-destinations
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{TREASURY}]
    tokens: [{TOKEN}]
    destinations: [{DEST}]
    max_amount: 1000
    window: {{seconds: 3600, max_amount: 1500}}
    max_gas_limit: 500000
    max_fee_per_gas_wei: {100 * GWEI}
    action: ALLOW
"""


@pytest.fixture(scope="module")
async def keys(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[WorkerKeyStore]:
    from tests.signer.conftest import hsm_config

    store = WorkerKeyStore(hsm_config(softhsm_token))
    await store.start()
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def signer(
    keys: WorkerKeyStore,
    softhsm_token: parts.SoftHsmToken,
    mesh_pki: DevMesh,
    process_registry: list[parts.RunningProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningSigner]:
    hot = await keys.create_key(KeyPurpose.HOT, "hot-api")
    base = tmp_path_factory.mktemp("signer")
    (base / "policy.yaml").write_text(POLICY)
    env = {
        **mesh_pki.files(Role.SIGNER).env("signer"),
        **softhsm_token.env,
        "STABLEGATE_SIGNER_PIN": softhsm_token.user_pin,
        "STABLEGATE_SIGNER_TOKEN_LABEL": softhsm_token.label,
        "STABLEGATE_SIGNER_POLICY_PATH": str(base / "policy.yaml"),
        "STABLEGATE_SIGNER_STATE_PATH": str(base / "state.sqlite3"),
        "STABLEGATE_SIGNER_DRAIN_DELAY_SECONDS": "0",
        "STABLEGATE_SIGNER_WORKERS": "2",
    }
    running = RunningSigner(base, env, process_registry, mesh_pki, hot.key_id, hot.address)
    running.start()
    yield running
    running.stop()


_nonce = iter(range(1_000_000))


def payout(
    key_id: str,
    amount: int,
    dest: str = DEST,
    *,
    request_id: str | None = None,
    nonce: int | None = None,
    fee: int = 20 * GWEI,
    gas: int = 200_000,
    chain: int = 97,
) -> pb.SignTransactionRequest:
    return pb.SignTransactionRequest(
        request_id=request_id or os.urandom(8).hex(),
        key_id=key_id,
        chain_id=chain,
        nonce=next(_nonce) if nonce is None else nonce,
        gas_limit=gas,
        eip1559=pb.Eip1559Fee(max_fee_per_gas_wei=str(fee), max_priority_fee_per_gas_wei=str(GWEI)),
        payout=pb.PayoutIntent(
            treasury_address=TREASURY,
            token_contract=TOKEN,
            lines=[pb.PayoutLine(destination_address=dest, amount_base_units=str(amount), payout_id="po_1")],
        ),
    )


async def test_settlement_gets_an_allowed_payout_signed_by_the_hot_key(signer: RunningSigner) -> None:
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        request = payout(signer.hot, 10)
        reply = await stub.SignTransaction(request)
        assert reply.decision == pb.SIGNING_DECISION_ALLOWED, reply.reason
        assert reply.rule == "payouts-to-known-destinations" and reply.audit_sequence > 0
        assert Account.recover_transaction(reply.signed_transaction) == signer.hot_address
        again = await stub.SignTransaction(request)
        assert again == reply  # idempotent by request_id
        policy = await stub.GetPolicy(pb.GetPolicyRequest())
    import hashlib

    assert policy.sha256 == hashlib.sha256(POLICY.encode()).hexdigest()


async def test_off_policy_requests_are_refused_with_a_reason_and_audited(signer: RunningSigner) -> None:
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        cases = {
            "DESTINATION_NOT_ALLOWED": payout(signer.hot, 10, STRANGER),
            "CHAIN_NOT_ALLOWED": payout(signer.hot, 10, chain=56),
            "GAS_LIMIT_EXCEEDED": payout(signer.hot, 10, gas=600_000),
            "FEE_CAP_EXCEEDED": payout(signer.hot, 10, fee=101 * GWEI),
            "AMOUNT_CAP_EXCEEDED": payout(signer.hot, 1001),
            "KEY_NOT_FOUND": payout("key_hot_0000", 10),
        }
        for reason, request in cases.items():
            reply = await stub.SignTransaction(request)
            assert reply.decision == pb.SIGNING_DECISION_DENIED
            assert reply.reason == reason
            assert not reply.signed_transaction and reply.audit_sequence > 0
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.SignTransaction(payout(signer.hot, 10, "0x1234"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert verify_path(signer.base / "state.sqlite3").ok


async def test_refusals_and_signatures_are_counted_on_the_signers_metrics(signer: RunningSigner) -> None:
    denied = {"decision": "DENIED", "reason": "DESTINATION_NOT_ALLOWED"}
    allowed = {"decision": "ALLOWED", "reason": ""}
    before_denied = signer.metric("signer_sign_decisions_total", **denied)
    before_allowed = signer.metric("signer_sign_decisions_total", **allowed)
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        refused = payout(signer.hot, 10, STRANGER)
        for _ in range(2):  # the retry is answered from the stored result: audited and counted once
            assert (await stub.SignTransaction(refused)).decision == pb.SIGNING_DECISION_DENIED
        assert (await stub.SignTransaction(payout(signer.hot, 10))).decision == pb.SIGNING_DECISION_ALLOWED
    assert signer.metric("signer_sign_decisions_total", **denied) == before_denied + 1
    assert signer.metric("signer_sign_decisions_total", **allowed) == before_allowed + 1
    assert signer.metric("signer_signing_frozen") == 0


async def test_only_settlement_may_ask_for_signatures(signer: RunningSigner) -> None:
    for role in (Role.OPERATOR, Role.EDGE, Role.LEDGER, Role.WATCHER, Role.DASHBOARD, Role.SIGNER):
        async with signer.channel(role) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.SigningServiceStub(channel).SignTransaction(payout(signer.hot, 10))
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
    async with signer.channel(Role.OPERATOR) as channel:
        assert (await pb_grpc.SigningServiceStub(channel).GetPolicy(pb.GetPolicyRequest())).sha256
    async with signer.channel(Role.EDGE) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.SigningServiceStub(channel).GetPolicy(pb.GetPolicyRequest())
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Without a client certificate the TLS handshake itself fails.
    ca = signer.pki.files(Role.SETTLEMENT).ca_file.read_bytes()
    async with grpc.aio.secure_channel(f"127.0.0.1:{signer.port}", grpc.ssl_channel_credentials(ca)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.SigningServiceStub(channel).SignTransaction(payout(signer.hot, 10), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_nonce_guard_refuses_a_conflicting_payload_and_signs_a_fee_bump(signer: RunningSigner) -> None:
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        first = await stub.SignTransaction(payout(signer.hot, 5, nonce=900_000))
        assert first.decision == pb.SIGNING_DECISION_ALLOWED
        conflict = await stub.SignTransaction(payout(signer.hot, 6, nonce=900_000))
        assert (conflict.decision, conflict.reason) == (pb.SIGNING_DECISION_DENIED, "NONCE_CONFLICT")
        lower = await stub.SignTransaction(payout(signer.hot, 5, nonce=900_000, fee=10 * GWEI))
        assert lower.reason == "NONCE_CONFLICT"
        bump = payout(signer.hot, 5, nonce=900_000, fee=30 * GWEI)
        bump.eip1559.max_priority_fee_per_gas_wei = str(2 * GWEI)
        bumped = await stub.SignTransaction(bump)
        assert bumped.decision == pb.SIGNING_DECISION_ALLOWED, bumped.reason
        assert bumped.tx_hash != first.tx_hash


async def test_window_caps_hold_across_a_signer_restart(signer: RunningSigner) -> None:
    # 1,500 per hour under the rule; earlier tests in this module signed 10 + 5 + 5.
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        assert (await stub.SignTransaction(payout(signer.hot, 1000))).decision == pb.SIGNING_DECISION_ALLOWED
        assert (await stub.SignTransaction(payout(signer.hot, 400))).decision == pb.SIGNING_DECISION_ALLOWED
    signer.stop()
    signer.start()
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        over = await stub.SignTransaction(payout(signer.hot, 100))
        assert (over.decision, over.reason) == (pb.SIGNING_DECISION_DENIED, "WINDOW_LIMIT_EXCEEDED")
        assert (await stub.SignTransaction(payout(signer.hot, 70))).decision == pb.SIGNING_DECISION_ALLOWED
    assert verify_path(signer.base / "state.sqlite3").ok


async def test_the_operator_lists_keys_and_reads_the_audit_chain_and_no_other_role_may(signer: RunningSigner) -> None:
    async with signer.channel(Role.OPERATOR) as channel:
        keys = key_grpc.KeyServiceStub(channel)
        listed = await keys.ListKeys(key_pb.ListKeysRequest(purpose=key_pb.KEY_PURPOSE_HOT))
        hot = next(k for k in listed.keys if k.id == signer.hot)
        assert hot.address == signer.hot_address and hot.purpose == key_pb.KEY_PURPOSE_HOT
        assert PublicKey(bytes.fromhex(hot.public_key.removeprefix("0x04"))).to_checksum_address() == signer.hot_address
        assert (await keys.GetKey(key_pb.GetKeyRequest(id=signer.hot))).key == hot
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await keys.GetKey(key_pb.GetKeyRequest(id="key_hot_0000"))
        assert (missing.value.code(), error_info(missing.value).reason) == (grpc.StatusCode.NOT_FOUND, "KEY_NOT_FOUND")
        with pytest.raises(grpc.aio.AioRpcError) as ceremony:
            await keys.CreateKey(key_pb.CreateKeyRequest(request_id="k1", label="x", purpose=key_pb.KEY_PURPOSE_HOT))
        assert ceremony.value.code() == grpc.StatusCode.UNIMPLEMENTED

        audit = audit_grpc.AuditServiceStub(channel)
        records: list[audit_pb.AuditRecord] = []
        token = ""
        while True:
            page = await audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(page_size=3, page_token=token))
            records.extend(page.records)
            token = page.next_page_token
            if not token:
                break
        assert [r.sequence for r in records] == list(range(1, len(records) + 1))
        for previous, record in zip([None, *records], records, strict=False):
            assert record.prev_hash == (previous.hash if previous else "0" * 64)
            assert record.hash == chain_hash(record.prev_hash, record.body_json)
        assert any(r.decision == pb.SIGNING_DECISION_ALLOWED and r.tx_hash for r in records)
        signs = await audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(action="sign", key_id=signer.hot))
        assert signs.records and all(r.action == "sign" and r.key_id == signer.hot for r in signs.records)
        later = await audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(after_sequence=records[-2].sequence))
        assert [r.sequence for r in later.records] == [records[-1].sequence]
    for role in (Role.SETTLEMENT, Role.EDGE, Role.DASHBOARD):
        async with signer.channel(role) as channel:
            calls: list[Awaitable[object]] = [key_grpc.KeyServiceStub(channel).ListKeys(key_pb.ListKeysRequest())]
            if role != Role.DASHBOARD:  # the dashboard reads the audit (the next test)
                calls.append(audit_grpc.AuditServiceStub(channel).ListAuditRecords(audit_pb.ListAuditRecordsRequest()))
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role


async def test_the_dashboard_relays_approvals_and_reads_the_audit_and_nothing_more(signer: RunningSigner) -> None:
    async with signer.channel(Role.DASHBOARD) as channel:
        records = await audit_grpc.AuditServiceStub(channel).ListAuditRecords(audit_pb.ListAuditRecordsRequest())
        assert records.records and records.records[0].sequence == 1
        listed = await approval_grpc.ApprovalServiceStub(channel).ListApprovals(approval_pb.ListApprovalsRequest())
        assert listed is not None
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await approval_grpc.ApprovalServiceStub(channel).Approve(
                approval_pb.ApproveRequest(
                    id="apr_none", approval=approval_pb.ApproverSignature(signature="0x" + "00" * 65, deadline=1)
                )
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # admitted: the signer itself answered
        signing = pb_grpc.SigningServiceStub(channel)
        # Unfreeze signatures are relayed too (their authority is the quorum's): admitted, and the signer answers.
        with pytest.raises(grpc.aio.AioRpcError) as not_frozen:
            await signing.UnfreezeSigning(pb.UnfreezeSigningRequest(freeze_id="frz_00"))
        assert not_frozen.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (await signing.GetFreezeState(pb.GetFreezeStateRequest())).state.frozen is False
        for call in (
            signing.SignTransaction(payout(signer.hot, 10)),
            signing.GetPolicy(pb.GetPolicyRequest()),
            signing.FreezeSigning(pb.FreezeSigningRequest(reason="no")),
            key_grpc.KeyServiceStub(channel).ListKeys(key_pb.ListKeysRequest()),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_sweep_whose_stray_names_no_salt_of_the_batch_is_malformed(signer: RunningSigner) -> None:
    def sweep(*strays: pb.SweepStray) -> pb.SignTransactionRequest:
        return pb.SignTransactionRequest(
            request_id=os.urandom(8).hex(),
            key_id=signer.hot,
            chain_id=97,
            nonce=next(_nonce),
            gas_limit=200_000,
            eip1559=pb.Eip1559Fee(max_fee_per_gas_wei=str(20 * GWEI), max_priority_fee_per_gas_wei=str(GWEI)),
            sweep=pb.SweepIntent(
                factory_address=TREASURY, token_contract=TOKEN, salts=["0x" + "11" * 32], strays=list(strays)
            ),
        )

    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        for stray, field in (
            (pb.SweepStray(salt_index=1, token_contract=STRANGER), "strays[0].salt_index"),
            (pb.SweepStray(salt_index=0, token_contract="0x12"), "strays[0].token_contract"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.SignTransaction(sweep(stray))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert (error_info(bad.value).reason, error_info(bad.value).metadata["field"]) == ("INVALID_INTENT", field)
        # Well formed, the request reaches the policy (this module's key is HOT, not SWEEPER).
        reply = await stub.SignTransaction(sweep(pb.SweepStray(salt_index=0, token_contract=STRANGER)))
        assert (reply.decision, reply.reason) == (pb.SIGNING_DECISION_DENIED, "PURPOSE_MISMATCH")
