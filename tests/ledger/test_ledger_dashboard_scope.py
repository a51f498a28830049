"""The dashboard's certificate reaches exactly the merchant and admin methods the dashboard calls, nothing else.

`ledger/app.py` `DASHBOARD_METHODS` is checked against the dashboard's source (every public method it calls is
listed, every listed one is called), and on a real ledger: with its own certificate and an `admin` key, the
dashboard may suspend a merchant but is refused admin and merchant methods it does not use, which the same keys may
still call through the edge.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import descriptor_pool
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc
from stablegate.admin.v1 import stray_funds_admin_service_pb2 as stray_pb
from stablegate.admin.v1 import stray_funds_admin_service_pb2_grpc as stray_grpc
from stablegate.ledger.v1 import credential_service_pb2 as cred_pb
from stablegate.ledger.v1 import credential_service_pb2_grpc as cred_grpc
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as inv_grpc

from gateway.parts import REPO_ROOT
from ledger.app import DASHBOARD_ADMIN_METHODS, DASHBOARD_METHODS, ROLES, SERVED
from service_runtime import mesh
from service_runtime.mesh import Role, roles_for
from tests.ledger.ledger_harness import running_ledger


def public_methods() -> list[str]:
    """Every merchant and admin method the ledger serves, as full gRPC method names."""
    pool = descriptor_pool.Default()
    return [
        f"/{service}/{method.name}"
        for service in SERVED
        if service.startswith(("stablegate.merchant.", "stablegate.admin."))
        for method in pool.FindServiceByName(service).methods
    ]


def test_the_dashboards_methods_are_the_ones_its_code_calls() -> None:
    source = "\n".join(p.read_text() for p in sorted((REPO_ROOT / "dashboard").rglob("*.py")))
    called = {m for m in public_methods() if re.search(rf"\.{m.rsplit('/', 1)[1]}\b", source)}
    assert called == set(DASHBOARD_METHODS)
    assert set(DASHBOARD_ADMIN_METHODS) == {m for m in called if m.startswith("/stablegate.admin.")}
    for method in public_methods():
        assert Role.EDGE in roles_for(ROLES, method), method
        assert (Role.DASHBOARD in roles_for(ROLES, method)) == (method in DASHBOARD_METHODS), method
    assert len(set(public_methods()) - set(DASHBOARD_METHODS)) >= 20  # most of the public API is not its


async def test_the_dashboard_certificate_is_refused_on_an_admin_method_it_does_not_use(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        merchant_id, merchant_key = await ledger.merchant_with_key()
        admin = ledger.auth(ledger.admin_key)
        invoice = (
            await ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount="1", request_id="i1"), metadata=ledger.auth(merchant_key)
            )
        ).invoice
        audit_rows = await ledger.value("SELECT count(*) FROM ledger.audit_events")
        fee_changes = await ledger.value("SELECT count(*) FROM ledger.fee_plan_changes")
        target = f"127.0.0.1:{ledger.grpc_port}"
        async with mesh.channel(target, ledger.pki.files(Role.DASHBOARD)) as channel:
            merchants = merchants_grpc.MerchantAdminServiceStub(channel)
            # What the dashboard does: allowed (with the full admin key the dashboard holds today).
            await merchants.SuspendMerchant(
                merchants_pb.SuspendMerchantRequest(id=merchant_id, reason="r"), metadata=admin
            )
            await merchants.ReactivateMerchant(
                merchants_pb.ReactivateMerchantRequest(id=merchant_id, reason="r"), metadata=admin
            )
            refusals: list[Awaitable[object]] = [
                merchants.SetMerchantFeePlan(
                    merchants_pb.SetMerchantFeePlanRequest(merchant_id=merchant_id, bps=900, reason="r"), metadata=admin
                ),
                merchants.GetMerchantFeePlan(
                    merchants_pb.GetMerchantFeePlanRequest(merchant_id=merchant_id), metadata=admin
                ),
                stray_grpc.StrayFundsAdminServiceStub(channel).WithdrawPlatformRevenue(
                    stray_pb.WithdrawPlatformRevenueRequest(request_id="w1", amount="1", reason="r"), metadata=admin
                ),
                cred_grpc.CredentialServiceStub(channel).VerifyCredential(
                    cred_pb.VerifyCredentialRequest(credential=merchant_key)
                ),
                # A merchant method the pages do not call, with a merchant key that has the scope for it.
                inv_grpc.InvoiceServiceStub(channel).CancelInvoice(
                    inv_pb.CancelInvoiceRequest(id=invoice.id), metadata=ledger.auth(merchant_key)
                ),
            ]
            for call in refusals:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "the dashboard role may not call this method" in (refused.value.details() or "")
        # Nothing changed; the same key through the edge's certificate still may (it is the role that is narrow).
        assert await ledger.value("SELECT count(*) FROM ledger.fee_plan_changes") == fee_changes
        assert await ledger.value("SELECT count(*) FROM ledger.audit_events") == audit_rows + 2  # suspend, reactivate
        await ledger.merchants.SetMerchantFeePlan(
            merchants_pb.SetMerchantFeePlanRequest(merchant_id=merchant_id, bps=900, reason="r"), metadata=admin
        )
        assert await ledger.value("SELECT count(*) FROM ledger.fee_plan_changes") == fee_changes + 1
        assert await ledger.value("SELECT status FROM ledger.invoices WHERE id = $1", invoice.id) == "OPEN"


def test_a_method_rule_matches_only_that_method() -> None:
    rules = {
        "/pkg.Service/": frozenset({"edge"}),
        "/pkg.Service/GetMerchant": frozenset({"edge", "dashboard"}),
    }
    assert roles_for(rules, "/pkg.Service/GetMerchant") == {"edge", "dashboard"}
    # A method key is not a prefix: the longer method falls back to its service's rule.
    assert roles_for(rules, "/pkg.Service/GetMerchantFeePlan") == {"edge"}
    assert roles_for(rules, "/other.Service/GetMerchant") == frozenset()
