"""Safe transactions out of cold storage: the signer builds the SafeTx, hashes it as the Safe does and signs it as
one COLD_OWNER owner. Two owners' signatures execute on a Safe 1.4.1 (the npm package's build artifacts, never
recompiled) deployed on anvil; one does not (GS020). Delegate calls and refund parameters are refused, audited."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from eth_account import Account
from stablegate.signer.v1 import audit_service_pb2 as audit_pb
from stablegate.signer.v1 import audit_service_pb2_grpc as audit_grpc
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from chain.contracts import Chain, ChainError, Contract, TransactionReverted, load_artifact
from chain.rpc import JsonRpc
from chain.safe import deploy_safe, pack_signatures, read_safe
from chain.safe import execute as safe_execute
from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.domain.ethereum import checksum_address
from signer.domain.intents import SafeTransactionIntent
from signer.domain.purpose import KeyPurpose
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import verify_path
from tests.conftest import AnvilNode, mesh_channel

ROOT = Path(__file__).resolve().parents[2]
ZERO = "0x" + "00" * 20
DEST = checksum_address(os.urandom(20))
STRANGER = checksum_address(os.urandom(20))


@dataclass
class SafeSetup:
    chain: Chain
    chain_id: int
    safe: Contract
    token: Contract
    owners: list[tuple[str, str]]  # (key id, address)
    deployer: str


@dataclass
class RunningSigner:
    port: int
    base: Path
    pki: DevMesh

    def channel(self, role: str) -> grpc.aio.Channel:
        return mesh_channel(self.pki, role, self.port)


@pytest.fixture(scope="module")
async def keys(softhsm_token: parts.SoftHsmToken) -> AsyncIterator[WorkerKeyStore]:
    from tests.signer.conftest import hsm_config

    store = WorkerKeyStore(hsm_config(softhsm_token), workers=1)
    await store.start()
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def setup(keys: WorkerKeyStore, anvil: AnvilNode) -> SafeSetup:
    owners = [await keys.create_key(KeyPurpose.COLD_OWNER, f"cold-owner-{i}") for i in (1, 2)]
    chain = Chain(JsonRpc(anvil.url))
    deployer = chain.accounts()[0]
    with pytest.raises(ValueError, match="threshold must be between 1 and the number of owners"):
        deploy_safe(chain, deployer, [o.address for o in owners], 3)
    safe = deploy_safe(chain, deployer, [o.address for o in owners], 2)
    state = read_safe(chain, safe.address)
    assert (set(state.owners), state.threshold, state.nonce) == ({o.address for o in owners}, 2, 0)
    with pytest.raises(ChainError, match="no contract at"):
        read_safe(chain, STRANGER)
    token = chain.deploy(load_artifact("StablegateTestToken"), "Stablegate Test USD", "tUSDT", sender=deployer)
    token.transact("mint", safe.address, 5_000, sender=deployer)
    chain.send(deployer, safe.address, b"", value=10**18, what="funding the Safe")
    return SafeSetup(chain, chain.chain_id(), safe, token, [(o.key_id, o.address) for o in owners], deployer)


@pytest.fixture(scope="module")
async def signer(
    setup: SafeSetup,
    softhsm_token: parts.SoftHsmToken,
    mesh_pki: DevMesh,
    process_registry: list[parts.RunningProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningSigner]:
    base = tmp_path_factory.mktemp("signer-safe")
    (base / "policy.yaml").write_text(
        f"""
version: 1
rules:
  - name: cold-out
    purposes: [COLD_OWNER]
    intents: [safe_transaction]
    chain_ids: [{setup.chain_id}]
    contracts: [{setup.safe.address}]
    tokens: [{setup.token.address}, "{ZERO}"]
    destinations: [{DEST}]
    max_amount: {10**18}
    action: ALLOW
"""
    )
    env = {
        **mesh_pki.files(Role.SIGNER).env("signer"),
        **softhsm_token.env,
        "STABLEGATE_SIGNER_PIN": softhsm_token.user_pin,
        "STABLEGATE_SIGNER_TOKEN_LABEL": softhsm_token.label,
        "STABLEGATE_SIGNER_POLICY_PATH": str(base / "policy.yaml"),
        "STABLEGATE_SIGNER_STATE_PATH": str(base / "state.sqlite3"),
        "STABLEGATE_SIGNER_DRAIN_DELAY_SECONDS": "0",
        "STABLEGATE_SIGNER_WORKERS": "1",
    }
    spec, ready = parts.prepare_service("signer", base, env)
    process = parts.start(spec)
    process_registry.append(process)
    port = parts.read_ready_file(ready)["grpc_port"]
    assert port is not None
    yield RunningSigner(port, base, mesh_pki)
    process.stop()


def safe_request(setup: SafeSetup, key_id: str, nonce: int, **intent: object) -> pb.SignTransactionRequest:
    fields: dict[str, object] = {
        "safe_address": setup.safe.address,
        "token_contract": setup.token.address,
        "destination_address": DEST,
        "amount_base_units": "1200",
        **intent,
    }
    return pb.SignTransactionRequest(
        request_id=os.urandom(8).hex(),
        key_id=key_id,
        chain_id=setup.chain_id,
        nonce=nonce,
        safe_transaction=pb.SafeTransactionIntent(**fields),  # type: ignore[arg-type]
    )


async def owner_signatures(
    signer: RunningSigner, setup: SafeSetup, nonce: int, **intent: object
) -> list[tuple[str, bytes, str]]:
    """(owner address, 65-byte signature, safeTxHash) from each owner key."""
    found = []
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        for key_id, address in setup.owners:
            reply = await stub.SignTransaction(safe_request(setup, key_id, nonce, **intent))
            assert reply.decision == pb.SIGNING_DECISION_ALLOWED, reply.reason
            signature = bytes.fromhex(reply.signed_transaction[2:])
            assert len(signature) == 65 and signature[64] in (27, 28)
            found.append((address, signature, reply.tx_hash))
    return found


def execute(setup: SafeSetup, to: str, value: int, data: bytes, signatures: bytes) -> None:
    safe_execute(setup.safe, setup.deployer, to, value, data, signatures=signatures)


async def test_two_cold_owner_signatures_execute_a_token_transfer_from_the_safe_and_one_does_not(
    signer: RunningSigner, setup: SafeSetup
) -> None:
    nonce = int(setup.safe.call1("nonce"))
    signed = await owner_signatures(signer, setup, nonce)
    intent = SafeTransactionIntent(
        bytes.fromhex(setup.safe.address[2:]), bytes.fromhex(setup.token.address[2:]), bytes.fromhex(DEST[2:]), 1200
    )
    data = intent.calldata()
    on_chain = setup.safe.call1("getTransactionHash", setup.token.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, nonce)
    assert {h for _, _, h in signed} == {"0x" + bytes(on_chain).hex()}  # the signer's hash is the Safe's
    for address, signature, tx_hash in signed:
        assert Account._recover_hash(bytes.fromhex(tx_hash[2:]), signature=signature) == address

    with pytest.raises(TransactionReverted) as one:
        execute(setup, setup.token.address, 0, data, signed[0][1])
    assert "GS020" in str(one.value)

    ordered = pack_signatures({address: sig for address, sig, _ in signed})
    unordered = b"".join(sig for _, sig, _ in sorted(signed, key=lambda s: -int(s[0], 16)))
    with pytest.raises(TransactionReverted) as wrong_order:
        execute(setup, setup.token.address, 0, data, unordered)
    assert "GS026" in str(wrong_order.value)  # the Safe wants owners in ascending order: pack_signatures sorts
    execute(setup, setup.token.address, 0, data, ordered)
    assert setup.token.call1("balanceOf", DEST) == 1200
    assert setup.token.call1("balanceOf", setup.safe.address) == 3_800
    assert read_safe(setup.chain, setup.safe.address).nonce == nonce + 1


async def test_two_cold_owner_signatures_execute_a_native_transfer_from_the_safe(
    signer: RunningSigner, setup: SafeSetup
) -> None:
    nonce = int(setup.safe.call1("nonce"))
    before = setup.chain.balance(DEST)
    signed = await owner_signatures(signer, setup, nonce, token_contract="", amount_base_units=str(10**17))
    execute(setup, DEST, 10**17, b"", pack_signatures({address: sig for address, sig, _ in signed}))
    assert setup.chain.balance(DEST) == before + 10**17


async def test_delegate_calls_refunds_off_policy_destinations_and_a_second_safetx_per_nonce_are_refused_and_audited(
    signer: RunningSigner, setup: SafeSetup
) -> None:
    key_id = setup.owners[0][0]
    cases: dict[str, dict[str, object]] = {
        "SAFE_DELEGATE_CALL": {"operation": 1},
        "SAFE_REFUND_NOT_ALLOWED": {"gas_price_wei": "1"},
        "DESTINATION_NOT_ALLOWED": {"destination_address": STRANGER},
    }
    refunds: list[dict[str, object]] = [{"gas_token": setup.token.address}, {"refund_receiver": STRANGER}]
    sequences: dict[int, str] = {}
    async with signer.channel(Role.SETTLEMENT) as channel:
        stub = pb_grpc.SigningServiceStub(channel)
        for reason, intent in [*cases.items(), *(("SAFE_REFUND_NOT_ALLOWED", r) for r in refunds)]:
            reply = await stub.SignTransaction(safe_request(setup, key_id, 1000, **intent))
            assert reply.decision == pb.SIGNING_DECISION_DENIED
            assert reply.reason == reason
            assert not reply.signed_transaction and not reply.tx_hash
            sequences[reply.audit_sequence] = reason
        # One Safe nonce gets one SafeTx, whichever owner key asks.
        first = await stub.SignTransaction(safe_request(setup, key_id, 2000, amount_base_units="1"))
        assert first.decision == pb.SIGNING_DECISION_ALLOWED
        other = await stub.SignTransaction(safe_request(setup, setup.owners[1][0], 2000, amount_base_units="2"))
        assert (other.decision, other.reason) == (pb.SIGNING_DECISION_DENIED, "NONCE_CONFLICT")
        # A Safe transaction carries no gas limit or fee of its own (the executor pays).
        malformed = safe_request(setup, key_id, 3000)
        malformed.gas_limit = 100_000
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.SignTransaction(malformed)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with signer.channel(Role.OPERATOR) as channel:
        audit = audit_grpc.AuditServiceStub(channel)
        page = await audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(action="sign", key_id=key_id))
    bodies = {r.sequence: json.loads(r.body_json) for r in page.records}
    for sequence, reason in sequences.items():
        assert bodies[sequence]["decision"] == "DENIED" and bodies[sequence]["reason"] == reason
        assert bodies[sequence]["request"]["intent"]["kind"] == "safe_transaction"
    assert verify_path(signer.base / "state.sqlite3").ok
