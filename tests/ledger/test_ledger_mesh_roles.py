"""The ledger's methods answer only the mesh roles docs/security.md names: money-moving internal RPCs the
watcher, public ones the edge (with a key on top)."""

from __future__ import annotations

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc
from stablegate.ledger.v1 import credential_service_pb2 as cred_pb
from stablegate.ledger.v1 import credential_service_pb2_grpc as cred_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as inv_grpc

from service_runtime import mesh
from service_runtime.mesh import Role
from tests.ledger.ledger_harness import running_ledger

FINALITY = obs_pb.RecordFinalityRequest(chain_id=97, finalized_block_number=5, finalized_block_hash="0x" + "a" * 64)


async def test_only_the_watcher_may_record_chain_facts_and_only_edge_or_dashboard_call_public_methods(
    ledger_db: str,
) -> None:
    async with running_ledger(ledger_db) as ledger:
        _, key = await ledger.merchant_with_key()
        target = f"127.0.0.1:{ledger.grpc_port}"
        assert (await ledger.observations.RecordFinality(FINALITY)).finalized_block_number == 5

        for role in (Role.EDGE, Role.SETTLEMENT, Role.DASHBOARD, Role.OPERATOR, Role.SIGNER):
            async with mesh.channel(target, ledger.pki.files(role)) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await obs_grpc.ChainObservationServiceStub(channel).RecordFinality(FINALITY)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role

        listing = inv_pb.ListInvoicesRequest()
        for role in (Role.EDGE, Role.DASHBOARD):
            async with mesh.channel(target, ledger.pki.files(role)) as channel:
                await inv_grpc.InvoiceServiceStub(channel).ListInvoices(listing, metadata=ledger.auth(key))
        for role in (Role.WATCHER, Role.SETTLEMENT, Role.OPERATOR):
            async with mesh.channel(target, ledger.pki.files(role)) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    # A valid merchant key does not make up for a role that may not call the public API.
                    await inv_grpc.InvoiceServiceStub(channel).ListInvoices(listing, metadata=ledger.auth(key))
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role

        # The watcher may not verify API keys (that is the edge's job; tests/ledger/test_ledger_dashboard_scope.py).
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await cred_grpc.CredentialServiceStub(ledger.watcher_channel).VerifyCredential(
                cred_pb.VerifyCredentialRequest(credential=key)
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0
