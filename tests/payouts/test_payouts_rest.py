"""The new operations over REST through the real Envoy, edge service and ledger: the Idempotency-Key header reaches
the ledger, refusals map to HTTP statuses with their reasons, and admin routes take the admin key only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.conftest import PostgresServer, RedisServer
from tests.edge.conftest import Stack, launch_stack

SCOPES = ("payouts:read", "payouts:write", "invoices:read", "invoices:write", "balance:read")
ADDRESS = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer, redis_server: RedisServer, mesh_pki: DevMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Envoy, the edge service and a ledger (no settlement: these routes are all the ledger's)."""
    started: list[parts.RunningProcess] = []
    try:
        yield launch_stack(postgres, redis_server, mesh_pki, tmp_path_factory.mktemp("stack"), started)[0]
    finally:
        for proc in reversed(started):
            proc.stop()


def test_settlement_addresses_payouts_and_refunds_over_rest(stack: Stack) -> None:
    merchant, key = stack.merchant_key(SCOPES)
    body = {"address": ADDRESS, "label": "Treasury"}
    created = stack.call("POST", "/v1/settlement_addresses", body, key, headers={"Idempotency-Key": "sa-1"})
    assert created.status == 200, created.body
    assert created.json()["status"] == "SETTLEMENT_ADDRESS_STATUS_PENDING_CONFIRMATION"
    again = stack.call("POST", "/v1/settlement_addresses", body, key, headers={"Idempotency-Key": "sa-1"})
    assert again.json()["id"] == created.json()["id"]
    reused = stack.call(
        "POST", "/v1/settlement_addresses", {**body, "label": "other"}, key, headers={"Idempotency-Key": "sa-1"}
    )
    assert (reused.status, reused.json()["details"][0]["reason"]) == (409, "REQUEST_ID_REUSED")
    wrong = stack.call("POST", f"/v1/settlement_addresses/{created.json()['id']}:confirm", {"code": "00000000"}, key)
    assert (wrong.status, wrong.json()["details"][0]["reason"]) == (400, "CONFIRMATION_CODE_WRONG")

    quote = stack.call("GET", "/v1/payouts:quote?amount=1", key=key)
    assert quote.status == 200, quote.body
    # proto3 JSON leaves false out: not covered, nothing available.
    assert (quote.json()["available"], quote.json().get("covered", False), quote.json()["fee"]) == ("0", False, "0")
    not_usable = stack.call("POST", "/v1/payouts", {"destination_address": ADDRESS, "amount": "1"}, key)
    assert (not_usable.status, not_usable.json()["details"][0]["reason"]) == (400, "SETTLEMENT_ADDRESS_NOT_USABLE")
    listed = stack.call("GET", "/v1/payouts", key=key)
    assert (listed.status, listed.json().get("payouts", [])) == (200, [])

    invoice = stack.call("POST", "/v1/invoices", {"amount": "10"}, key).json()
    assert (invoice["fee"], invoice["net_amount"]) == ("0", "0")
    unpaid = stack.call("POST", "/v1/refunds", {"invoice_id": invoice["id"], "refund_address": ADDRESS}, key)
    assert (unpaid.status, unpaid.json()["details"][0]["reason"]) == (400, "REFUND_EXCEEDS_PAID")
    missing = stack.call("POST", "/v1/refunds", {"invoice_id": "inv_nope", "refund_address": ADDRESS}, key)
    assert missing.status == 404

    plan = {"bps": 150, "fixed": "0.1", "reason": "contract"}
    as_merchant = stack.call("POST", f"/admin/v1/merchants/{merchant}/fee_plan", plan, key)
    assert as_merchant.status == 403
    as_admin = stack.call("POST", f"/admin/v1/merchants/{merchant}/fee_plan", plan, stack.admin_key)
    assert as_admin.status == 200, as_admin.body
    assert (as_admin.json()["bps"], as_admin.json()["fixed_base_units"]) == (150, str(10**17))
    read = stack.call("GET", f"/admin/v1/merchants/{merchant}/fee_plan", key=stack.admin_key)
    assert read.json()["updated_by"] == as_admin.json()["updated_by"] != ""
    # The admin routes are on the admin listener only; the change is in the admin audit log.
    public = stack.call("GET", f"/admin/v1/merchants/{merchant}/fee_plan", key=stack.admin_key, port=stack.port)
    assert public.status == 404
    logged = stack.call("GET", "/admin/v1/audit_events?action=merchant.set_fee_plan", key=stack.admin_key)
    assert [e["subject"] for e in logged.json()["audit_events"]] == [f"merchants/{merchant}/fee_plan"]
