"""Many clients at once through the served signer: no crash, every signature valid, the audit chain intact."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from eth_account import Account
from stablegate.signer.v1 import signing_service_pb2 as pb
from stablegate.signer.v1 import signing_service_pb2_grpc as pb_grpc

from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.domain.ethereum import checksum_address
from signer.domain.purpose import KeyPurpose
from signer.keystore.workers import WorkerKeyStore
from signer.store.state import verify_path
from tests.signer.test_signer_api import RunningSigner

TREASURY, TOKEN, DEST = (checksum_address(os.urandom(20)) for _ in range(3))
GWEI = 10**9
CLIENTS = 8
PER_CLIENT = 500

POLICY = f"""
version: 1
rules:
  - name: payouts
    purposes: [HOT]
    intents: [payout]
    chain_ids: [97]
    contracts: [{TREASURY}]
    tokens: [{TOKEN}]
    destinations: [{DEST}]
    action: ALLOW
"""


@pytest.fixture(scope="module")
async def signer(
    softhsm_token: parts.SoftHsmToken,
    mesh_pki: DevMesh,
    process_registry: list[parts.RunningProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningSigner]:
    from tests.signer.conftest import hsm_config

    keys = WorkerKeyStore(hsm_config(softhsm_token))
    await keys.start()
    hot = await keys.create_key(KeyPurpose.HOT, "hot-load")
    await keys.close()
    base = tmp_path_factory.mktemp("signer-load")
    (base / "policy.yaml").write_text(POLICY)
    env = {
        **mesh_pki.files(Role.SIGNER).env("signer"),
        **softhsm_token.env,
        "STABLEGATE_SIGNER_PIN": softhsm_token.user_pin,
        "STABLEGATE_SIGNER_TOKEN_LABEL": softhsm_token.label,
        "STABLEGATE_SIGNER_POLICY_PATH": str(base / "policy.yaml"),
        "STABLEGATE_SIGNER_STATE_PATH": str(base / "state.sqlite3"),
        "STABLEGATE_SIGNER_DRAIN_DELAY_SECONDS": "0",
    }
    running = RunningSigner(base, env, process_registry, mesh_pki, hot.key_id, hot.address)
    running.start()
    yield running
    running.stop()


def request(signer: RunningSigner, client: int, i: int) -> pb.SignTransactionRequest:
    return pb.SignTransactionRequest(
        request_id=f"load-{client}-{i}",
        key_id=signer.hot,
        chain_id=97,
        nonce=client * PER_CLIENT + i,
        gas_limit=200_000,
        eip1559=pb.Eip1559Fee(max_fee_per_gas_wei=str(20 * GWEI), max_priority_fee_per_gas_wei=str(GWEI)),
        payout=pb.PayoutIntent(
            treasury_address=TREASURY,
            token_contract=TOKEN,
            lines=[pb.PayoutLine(destination_address=DEST, amount_base_units=str(i + 1), payout_id=f"po_{client}_{i}")],
        ),
    )


async def test_eight_concurrent_clients_times_five_hundred_signatures_all_valid(signer: RunningSigner) -> None:
    """8 clients, each on its own mTLS channel, 500 signatures each, with the default worker count."""

    async def client(n: int) -> list[pb.SignTransactionResponse]:
        async with signer.channel(Role.SETTLEMENT) as channel:
            stub = pb_grpc.SigningServiceStub(channel)
            return [await stub.SignTransaction(request(signer, n, i)) for i in range(PER_CLIENT)]

    replies = [r for batch in await asyncio.gather(*(client(n) for n in range(CLIENTS))) for r in batch]
    assert len(replies) == CLIENTS * PER_CLIENT
    assert all(r.decision == pb.SIGNING_DECISION_ALLOWED for r in replies), {r.reason for r in replies}
    assert len({r.tx_hash for r in replies}) == CLIENTS * PER_CLIENT
    for reply in replies:
        assert Account.recover_transaction(reply.signed_transaction) == signer.hot_address
    assert signer.process is not None and signer.process.group_alive()
    verdict = verify_path(signer.base / "state.sqlite3")
    assert verdict.ok
    assert verdict.records > CLIENTS * PER_CLIENT  # one record per signature, and the start
