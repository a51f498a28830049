"""The dashboard's certificate reaches exactly the settlement methods the dashboard calls, nothing else.

`settlement/app.py` `DASHBOARD_METHODS` is checked against the dashboard's clients (every settlement method they
call is listed, every listed one is called), and on a real settlement service (reading the session's anvil): the
dashboard's certificate reads the status and the reconciliation runs, and is refused the merchant fee estimate,
the admin approvals and the operators' methods, which the edge and operator certificates still reach.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import descriptor_pool
from stablegate.admin.v1 import approval_admin_service_pb2 as approvals_pb
from stablegate.admin.v1 import approval_admin_service_pb2_grpc as approvals_grpc
from stablegate.merchant.v1 import fee_service_pb2 as fee_pb
from stablegate.merchant.v1 import fee_service_pb2_grpc as fee_grpc
from stablegate.settlement.v1 import reconciliation_service_pb2 as recon_pb
from stablegate.settlement.v1 import reconciliation_service_pb2_grpc as recon_grpc
from stablegate.settlement.v1 import settlement_status_service_pb2 as status_pb
from stablegate.settlement.v1 import settlement_status_service_pb2_grpc as status_grpc
from stablegate.settlement.v1 import sweep_service_pb2 as sweep_pb
from stablegate.settlement.v1 import sweep_service_pb2_grpc as sweep_grpc

from gateway.parts import REPO_ROOT
from service_runtime import mesh
from service_runtime.mesh import Role, roles_for
from settlement.app import DASHBOARD_METHODS, ROLES, SERVED
from tests.conftest import AnvilNode
from tests.edge.test_edge_fees import FORGED, running_settlement


def served_methods() -> list[str]:
    """Every method settlement serves (built or not), as full gRPC method names."""
    pool = descriptor_pool.Default()
    return [f"/{service}/{m.name}" for service in SERVED for m in pool.FindServiceByName(service).methods]


async def answer_code(call: Awaitable[object]) -> grpc.StatusCode:
    """The status a call ends with."""
    try:
        await call
    except grpc.aio.AioRpcError as answered:
        return answered.code()
    return grpc.StatusCode.OK


def test_the_dashboards_settlement_methods_are_the_ones_its_clients_call() -> None:
    # A method is called when a client file makes its service's stub and calls a method of that name (the signer's
    # ApprovalService has methods named like settlement's ApprovalAdminService: the stub tells them apart).
    sources = [p.read_text() for p in sorted((REPO_ROOT / "dashboard").glob("*_client.py"))]
    called = set()
    for method in served_methods():
        service, name = method.strip("/").split("/")
        stub = service.rsplit(".", 1)[1] + "Stub"
        if any(re.search(rf"\b{stub}\(", src) and re.search(rf"\.{name}\b", src) for src in sources):
            called.add(method)
    assert called == set(DASHBOARD_METHODS)
    for method in served_methods():
        assert (Role.DASHBOARD in roles_for(ROLES, method)) == (method in DASHBOARD_METHODS), method
    assert len(set(served_methods()) - set(DASHBOARD_METHODS)) >= 8  # most of settlement is not its


async def test_the_dashboard_certificate_is_refused_on_settlement_methods_it_does_not_use(anvil: AnvilNode) -> None:
    async with running_settlement(anvil.url) as (pki, port):
        target = f"127.0.0.1:{port}"
        async with mesh.channel(target, pki.files(Role.DASHBOARD)) as channel:
            # What the dashboard reads: allowed.
            await status_grpc.SettlementStatusServiceStub(channel).GetSettlementStatus(
                status_pb.GetSettlementStatusRequest(), timeout=30
            )
            recon = recon_grpc.ReconciliationServiceStub(channel)
            for read in (
                recon.ListReconciliationReports(recon_pb.ListReconciliationReportsRequest(page_size=5), timeout=30),
                recon.GetReconciliationReport(recon_pb.GetReconciliationReportRequest(id="rec_nope"), timeout=30),
            ):
                assert await answer_code(read) != grpc.StatusCode.PERMISSION_DENIED  # no database here: not a refusal
            refusals: list[Awaitable[object]] = [
                fee_grpc.FeeServiceStub(channel).EstimateFee(fee_pb.EstimateFeeRequest(), metadata=FORGED),
                approvals_grpc.ApprovalAdminServiceStub(channel).ListApprovals(approvals_pb.ListApprovalsRequest()),
                recon.RunReconciliation(recon_pb.RunReconciliationRequest()),
                sweep_grpc.SweepServiceStub(channel).ListSweeps(sweep_pb.ListSweepsRequest()),
            ]
            for call in refusals:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "the dashboard role may not call this method" in (refused.value.details() or "")
        # The edge still reaches the merchant fee estimate (the role is what is narrow).
        async with mesh.channel(target, pki.files(Role.EDGE)) as channel:
            reply = await fee_grpc.FeeServiceStub(channel).EstimateFee(fee_pb.EstimateFeeRequest(), metadata=FORGED)
            assert reply.fee_estimate.gas_limit > 0
