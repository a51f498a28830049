"""The dashboard's admin key (role `dashboard`) reaches exactly the admin methods the dashboard calls.

On a real Envoy, edge service, ledger and Postgres: the key `up` and the dashboard stack make (`stablegate admin
keys create --role dashboard`) works on every admin method the dashboard calls, through Envoy's admin listener,
and is refused (403 ROLE_MISSING, gRPC PERMISSION_DENIED) on the rest of the admin API, changing nothing.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf import descriptor_pool

from ledger.app import DASHBOARD_ADMIN_METHODS, SERVED
from ledger.auth import DASHBOARD_KEY_METHODS, requirement_for
from ledger.domain.credentials import ADMIN_ROLES
from tests.edge.conftest import Reply, Stack

PERMISSION_DENIED = 7


def admin_methods() -> list[str]:
    """Every admin method the ledger serves, as full gRPC method names."""
    pool = descriptor_pool.Default()
    return [
        f"/{service}/{method.name}"
        for service in SERVED
        if service.startswith("stablegate.admin.")
        for method in pool.FindServiceByName(service).methods
    ]


def test_the_dashboard_role_allows_exactly_the_dashboards_admin_calls() -> None:
    assert "dashboard" in ADMIN_ROLES
    # The dashboard's certificate and its key reach the same admin methods (the certificate's list is checked
    # against dashboard/ by tests/ledger/test_ledger_dashboard_scope.py).
    assert set(DASHBOARD_KEY_METHODS) == set(DASHBOARD_ADMIN_METHODS)
    for method in admin_methods():
        assert ("dashboard" in requirement_for(method).roles) == (method in DASHBOARD_KEY_METHODS), method
    assert len(set(admin_methods()) - DASHBOARD_KEY_METHODS) >= 8


def refused(reply: Reply) -> None:
    assert reply.status == 403, reply.body
    body = reply.json()
    assert body["code"] == PERMISSION_DENIED, body
    assert body["details"][0]["reason"] == "ROLE_MISSING", body


def test_the_dashboards_key_is_refused_outside_its_methods_through_the_edge(stack: Stack) -> None:
    key = stack.admin_key_with("dashboard")
    admin = stack.admin_key
    today = dt.datetime.now(dt.UTC).date()
    days = f"start_date={(today - dt.timedelta(days=7)).isoformat()}&end_date={today.isoformat()}"

    # What the dashboard does, all through the admin listener with its key.
    onboarded = stack.call("POST", "/admin/v1/merchants", {"name": "Dash", "contact_email": "d@shop.example"}, key)
    assert onboarded.status == 200, onboarded.body
    merchant_id = onboarded.json()["id"]
    issued = stack.call("POST", f"/admin/v1/merchants/{merchant_id}/api_keys", {"scopes": ["invoices:read"]}, key)
    assert issued.status == 200, issued.body
    allowed: list[tuple[str, str, object]] = [
        ("GET", f"/admin/v1/merchants/{merchant_id}", None),
        ("GET", "/admin/v1/merchants", None),
        ("POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "review"}),
        ("POST", f"/admin/v1/merchants/{merchant_id}:reactivate", {"reason": "ok"}),
        ("GET", f"/admin/v1/merchants/{merchant_id}/api_keys", None),
        ("POST", f"/admin/v1/merchants/{merchant_id}/api_keys/{issued.json()['id']}:revoke", {"reason": "r"}),
        ("GET", "/admin/v1/audit_events", None),
        ("GET", f"/admin/v1/reports/volume?bucket=REPORT_BUCKET_DAY&{days}", None),
        ("GET", f"/admin/v1/reports/merchant_performance?{days}", None),
    ]
    for method, path, body in allowed:
        reply = stack.call(method, path, body, key)
        assert reply.status == 200, (path, reply.body)

    events_before = stack.call("GET", "/admin/v1/audit_events?page_size=500", key=admin).json()["audit_events"]
    plan_before = stack.call("GET", f"/admin/v1/merchants/{merchant_id}/fee_plan", key=admin)
    assert plan_before.status == 200, plan_before.body
    # The rest of the admin API: fee plans, settlement address approval, stray funds, platform revenue.
    refusals: list[tuple[str, str, object]] = [
        ("GET", f"/admin/v1/merchants/{merchant_id}/fee_plan", None),
        ("POST", f"/admin/v1/merchants/{merchant_id}/fee_plan", {"bps": 900, "reason": "r"}),
        ("POST", f"/admin/v1/merchants/{merchant_id}/settlement_addresses/sa_nope:approve", {}),
        ("GET", "/admin/v1/stray_funds", None),
        ("POST", "/admin/v1/stray_funds/pay_nope:refund", {"reason": "r"}),
        ("GET", "/admin/v1/platform_revenue", None),
        ("POST", "/admin/v1/platform_revenue:withdraw", {"request_id": "w1", "amount": "1", "reason": "r"}),
    ]
    for method, path, body in refusals:
        refused(stack.call(method, path, body, key))
    # Nothing changed: no audit event, the same fee plan.
    assert stack.call("GET", "/admin/v1/audit_events?page_size=500", key=admin).json()["audit_events"] == events_before
    assert stack.call("GET", f"/admin/v1/merchants/{merchant_id}/fee_plan", key=admin).json() == plan_before.json()
    # The same requests with a full `admin` key are not refused for their role (the role is what is narrow).
    assert stack.call("GET", "/admin/v1/stray_funds", key=admin).status == 200
    assert stack.call("GET", "/admin/v1/platform_revenue", key=admin).status == 200
