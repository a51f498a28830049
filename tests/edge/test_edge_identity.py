"""The ledger trusts the merchant identity Envoy's ext_authz asserted, from the `edge` mesh role only.

Native gRPC to the real ledger behind the real edge stack: the `edge` role's asserted identity is believed (no key
needed, scopes still enforced); any other role's identity metadata is ignored and its key verified as always.
"""

from __future__ import annotations

import grpc
import pytest
from stablegate.merchant.v1 import invoice_service_pb2 as pb
from stablegate.merchant.v1 import invoice_service_pb2_grpc as pb_grpc

from ledger.api.auth import KEY_ID_HEADER, MERCHANT_ID_HEADER, SCOPES_HEADER
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import error_info, mesh_sync_channel
from tests.edge.conftest import Stack


def asserted(merchant_id: str, scopes: str = "invoices:read") -> tuple[tuple[str, str], ...]:
    """Identity metadata as Envoy sets it after ext_authz (the key id is made up: nothing looks it up)."""
    return ((MERCHANT_ID_HEADER, merchant_id), (KEY_ID_HEADER, "key_asserted"), (SCOPES_HEADER, scopes))


def test_the_edge_role_s_asserted_merchant_is_believed_with_its_scopes(stack: Stack, mesh_pki: DevMesh) -> None:
    victim, victim_key = stack.merchant_key()
    invoice = stack.call("POST", "/v1/invoices", {"amount": "2"}, victim_key).json()
    with mesh_sync_channel(mesh_pki, Role.EDGE, stack.ledger_port) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        found = stub.GetInvoice(pb.GetInvoiceRequest(id=invoice["id"]), metadata=asserted(victim), timeout=10)
        assert found.invoice.id == invoice["id"]
        # The asserted scopes are what authorize() checks: a write needs invoices:write.
        with pytest.raises(grpc.RpcError) as unscoped:
            stub.CreateInvoice(pb.CreateInvoiceRequest(amount="1"), metadata=asserted(victim), timeout=10)
        assert unscoped.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(unscoped.value).reason == "SCOPE_MISSING"
        # Without an asserted merchant the edge role's call carries a key like anyone's, or is refused.
        with pytest.raises(grpc.RpcError) as anonymous:
            stub.GetInvoice(pb.GetInvoiceRequest(id=invoice["id"]), metadata=((KEY_ID_HEADER, "k"),), timeout=10)
        assert error_info(anonymous.value).reason == "API_KEY_MISSING"


def test_another_role_s_forged_identity_is_refused_and_its_key_decides(stack: Stack, mesh_pki: DevMesh) -> None:
    victim, victim_key = stack.merchant_key()
    _, own_key = stack.merchant_key()
    invoice = stack.call("POST", "/v1/invoices", {"amount": "3"}, victim_key).json()
    request = pb.GetInvoiceRequest(id=invoice["id"])
    with mesh_sync_channel(mesh_pki, Role.DASHBOARD, stack.ledger_port) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        # Forged identity without a key: refused, not believed.
        with pytest.raises(grpc.RpcError) as keyless:
            stub.GetInvoice(request, metadata=asserted(victim), timeout=10)
        assert keyless.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error_info(keyless.value).reason == "API_KEY_MISSING"
        # Forged identity with a made-up key: the key is verified, and is not valid.
        with pytest.raises(grpc.RpcError) as bogus:
            stub.GetInvoice(request, metadata=(*asserted(victim), ("authorization", "Bearer sk_test_x")), timeout=10)
        assert bogus.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Forged identity of the victim with the caller's own valid key: the key's merchant counts, so the
        # victim's invoice is not found.
        with pytest.raises(grpc.RpcError) as other:
            stub.GetInvoice(request, metadata=(*asserted(victim), ("authorization", f"Bearer {own_key}")), timeout=10)
        assert other.value.code() == grpc.StatusCode.NOT_FOUND
        # The victim's own key still works from this role.
        mine = stub.GetInvoice(request, metadata=(("authorization", f"Bearer {victim_key}"),), timeout=10)
        assert mine.invoice.id == invoice["id"]


def test_a_client_cannot_assert_an_identity_through_envoy(stack: Stack) -> None:
    """Envoy strips the identity headers a client sends; ext_authz's answer is what the ledger sees."""
    victim, victim_key = stack.merchant_key()
    _, key = stack.merchant_key()
    invoice = stack.call("POST", "/v1/invoices", {"amount": "4"}, victim_key).json()
    forged = dict(asserted(victim, "invoices:read,invoices:write"))
    assert stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key, headers=forged).status == 404
    # Without any key, the forged headers get nowhere either.
    assert stack.call("GET", f"/v1/invoices/{invoice['id']}", headers=forged).status == 401
