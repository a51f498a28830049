"""The admin surface apart, on a real Envoy, edge service, ledger, Postgres and Redis.

Admin routes are served on their own listener and nowhere else; admin keys carry the roles `admin`,
`operator` and `viewer`; merchant and admin keys may be tied to client networks (checked by the ledger's one
key verification, whoever asks); every response carries the security headers; and every admin action leaves
a hash-chained audit event, written in the action's own transaction and readable over the admin listener.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from stablegate.merchant.v1 import balance_service_pb2, balance_service_pb2_grpc

from edge.envoy_config import ADMIN_OPENAPI_PATH, OPENAPI_PATH, SECURITY_HEADERS
from ledger.api.auth import CLIENT_ADDRESS_HEADER
from ledger.domain.audit import AuditEvent, chain_hash
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import error_info, mesh_sync_channel
from tests.edge.conftest import Reply, Stack


def reason(reply: Reply) -> str:
    return str(reply.json()["details"][0]["reason"])


def assert_error_shape(reply: Reply, status: int, why: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert isinstance(body["code"], int) and body["message"], body
    assert reason(reply) == why, body


def new_merchant(stack: Stack, key: str | None = None) -> str:
    made = stack.call(
        "POST", "/admin/v1/merchants", {"name": "Shop", "contact_email": "ops@shop.example"}, key or stack.admin_key
    )
    assert made.status == 200, made.body
    return str(made.json()["id"])


def test_admin_routes_live_on_the_admin_listener_only(stack: Stack) -> None:
    on_admin = stack.call("GET", "/admin/v1/merchants", key=stack.admin_key)
    assert on_admin.status == 200, on_admin.body
    # The same request on the public listener: no such path (the public listener routes no admin service).
    for path in ("/admin/v1/merchants", "/admin/v1/audit_events", ADMIN_OPENAPI_PATH):
        assert_error_shape(stack.call("GET", path, key=stack.admin_key, port=stack.port), 404, "NOT_FOUND")
    # And the merchant API is not on the admin listener.
    _, key = stack.merchant_key()
    assert_error_shape(stack.call("GET", "/v1/balance", key=key, port=stack.admin_api_port), 404, "NOT_FOUND")
    # Each listener serves its own document, without a key.
    admin_doc = stack.call("GET", ADMIN_OPENAPI_PATH)
    assert admin_doc.status == 200
    assert all(path.startswith("/admin/v1/") for path in admin_doc.json()["paths"])
    public_doc = stack.call("GET", OPENAPI_PATH)
    assert not any(path.startswith("/admin/") for path in public_doc.json()["paths"])


def test_every_response_carries_the_security_headers(stack: Stack) -> None:
    _, key = stack.merchant_key()
    replies = [
        stack.call("GET", "/v1/balance", key=key),  # 200 from the ledger
        stack.call("GET", "/v1/balance"),  # 401 from ext_authz
        stack.call("GET", "/v1/nope", key=key),  # 404 from the transcoder
        stack.call("PUT", "/v1/balance", key=key),  # 405 from Envoy's route table
        stack.call("GET", "/healthz"),
        stack.call("GET", "/admin/v1/merchants", key=stack.admin_key),  # 200 on the admin listener
        stack.call("GET", "/admin/v1/merchants", key=key),  # 403: a merchant key on the admin listener
        stack.call("GET", "/admin/v1/merchants", key=stack.admin_key, port=stack.port),  # 404 on public
    ]
    assert [r.status for r in replies] == [200, 401, 404, 405, 200, 200, 403, 404]
    for reply in replies:
        for name, value in SECURITY_HEADERS:
            assert reply.headers.get(name) == value, (reply.status, name, reply.headers)
        assert "server" not in reply.headers


def test_admin_roles_admin_operator_viewer(stack: Stack) -> None:
    viewer = stack.admin_key_with("viewer")
    operator = stack.admin_key_with("operator")
    merchant_id = new_merchant(stack)
    issued = stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}/api_keys", {"scopes": ["balance:read"]}, stack.admin_key
    )
    key_id = issued.json()["id"]

    # A viewer reads everything, the audit log included, and changes nothing.
    for path in ("/admin/v1/merchants", f"/admin/v1/merchants/{merchant_id}/api_keys", "/admin/v1/audit_events"):
        assert stack.call("GET", path, key=viewer).status == 200, path
    suspend = f"/admin/v1/merchants/{merchant_id}:suspend"
    assert_error_shape(stack.call("POST", suspend, {"reason": "fraud"}, viewer), 403, "ROLE_MISSING")
    assert (
        stack.call("GET", f"/admin/v1/merchants/{merchant_id}", key=viewer).json()["status"] == "MERCHANT_STATUS_ACTIVE"
    )

    # An operator handles incidents (suspend, reactivate, revoke) but neither onboards nor issues keys.
    assert stack.call("POST", suspend, {"reason": "fraud"}, operator).status == 200
    assert stack.call("POST", f"/admin/v1/merchants/{merchant_id}:reactivate", {}, operator).status == 200
    revoke = f"/admin/v1/merchants/{merchant_id}/api_keys/{key_id}:revoke"
    assert stack.call("POST", revoke, {"reason": "leaked"}, operator).status == 200
    onboard = {"name": "Other", "contact_email": "o@o.example"}
    assert_error_shape(stack.call("POST", "/admin/v1/merchants", onboard, operator), 403, "ROLE_MISSING")
    issue = stack.call("POST", f"/admin/v1/merchants/{merchant_id}/api_keys", {"scopes": ["balance:read"]}, operator)
    assert_error_shape(issue, 403, "ROLE_MISSING")
    # An admin does everything (the stack's own key made the merchant and the key above).
    assert stack.call("POST", "/admin/v1/merchants", onboard, stack.admin_key).status == 200


def test_a_merchant_key_tied_to_a_network_works_only_from_it(stack: Stack) -> None:
    merchant_id = new_merchant(stack)
    issued = stack.call(
        "POST",
        f"/admin/v1/merchants/{merchant_id}/api_keys",
        {"scopes": ["balance:read"], "allowed_ip_ranges": ["127.0.0.1/32", "2001:db8::/32"]},
        stack.admin_key,
    )
    assert issued.status == 200, issued.body
    assert issued.json()["allowed_ip_ranges"] == ["127.0.0.1/32", "2001:db8::/32"]
    key = issued.json()["plaintext_key"]
    assert stack.call("GET", "/v1/balance", key=key).status == 200
    refused = stack.call("GET", "/v1/balance", key=key, source="127.0.0.2")
    assert_error_shape(refused, 403, "CLIENT_ADDRESS_NOT_ALLOWED")
    assert stack.call("GET", "/v1/balance", key=key).status == 200  # the refusal did not stick to the key


def test_a_bad_network_is_refused_and_issues_nothing(stack: Stack) -> None:
    merchant_id = new_merchant(stack)
    path = f"/admin/v1/merchants/{merchant_id}/api_keys"
    events_before = audit_events(stack, subject_prefix=f"merchants/{merchant_id}/")
    for bad in (["10.0.0.1/8"], ["not-an-ip"], ["10.0.0.0/33"], [f"10.0.{n}.0/24" for n in range(33)]):
        reply = stack.call("POST", path, {"scopes": ["balance:read"], "allowed_ip_ranges": bad}, stack.admin_key)
        assert reply.status == 400, (bad, reply.body)
        assert reason(reply) in {"IP_RANGE_INVALID", "IP_RANGES_TOO_MANY"}
    assert stack.call("GET", path, key=stack.admin_key).json().get("api_keys", []) == []
    assert audit_events(stack, subject_prefix=f"merchants/{merchant_id}/") == events_before


def test_an_admin_key_tied_to_a_network_works_only_from_it(stack: Stack) -> None:
    key = stack.admin_key_with("viewer", allow_ip=("127.0.0.2/32",))
    assert_error_shape(stack.call("GET", "/admin/v1/merchants", key=key), 403, "CLIENT_ADDRESS_NOT_ALLOWED")
    assert stack.call("GET", "/admin/v1/merchants", key=key, source="127.0.0.2").status == 200


def test_the_ledger_believes_a_client_address_only_from_envoys_role(stack: Stack, mesh_pki: DevMesh) -> None:
    """Native gRPC to the ledger: the same verification applies, and only the edge role may assert an address."""
    merchant_id = new_merchant(stack)
    issued = stack.call(
        "POST",
        f"/admin/v1/merchants/{merchant_id}/api_keys",
        {"scopes": ["balance:read"], "allowed_ip_ranges": ["192.0.2.0/24"]},
        stack.admin_key,
    )
    key = issued.json()["plaintext_key"]
    request = balance_service_pb2.GetBalanceRequest()
    claimed = (("authorization", f"Bearer {key}"), (CLIENT_ADDRESS_HEADER, "192.0.2.10"))
    with mesh_sync_channel(mesh_pki, Role.EDGE, stack.ledger_port) as channel:
        balance_service_pb2_grpc.BalanceServiceStub(channel).GetBalance(request, metadata=claimed, timeout=5)
    # The dashboard role calls from 127.0.0.1 and its claim is not believed.
    with (
        mesh_sync_channel(mesh_pki, Role.DASHBOARD, stack.ledger_port) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        balance_service_pb2_grpc.BalanceServiceStub(channel).GetBalance(request, metadata=claimed, timeout=5)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(refused.value).reason == "CLIENT_ADDRESS_NOT_ALLOWED"


# --- the audit log --------------------------------------------------------------------------------------------


def audit_events(stack: Stack, *, subject_prefix: str = "", key: str | None = None) -> list[dict[str, Any]]:
    """Every audit event (all pages), oldest first; only those whose subject starts with the prefix."""
    events: list[dict[str, Any]] = []
    token = ""
    while True:
        reply = stack.call("GET", f"/admin/v1/audit_events?page_size=50&page_token={token}", key=key or stack.admin_key)
        assert reply.status == 200, reply.body
        events += reply.json().get("audit_events", [])
        token = reply.json().get("next_page_token", "")
        if not token:
            break
    events.sort(key=lambda e: int(e["sequence"]))
    return [e for e in events if e["subject"].startswith(subject_prefix)]


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 timestamp as the API prints it (0, 3, 6 or 9 fractional digits), to microseconds."""
    stamp, _, fraction = value.rstrip("Z").partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return dt.datetime.fromisoformat(stamp).replace(microsecond=micros, tzinfo=dt.UTC)


def test_every_admin_action_leaves_a_chained_audit_event(stack: Stack) -> None:
    operator = stack.admin_key_with("operator")
    merchant_id = new_merchant(stack)
    key_path = f"/admin/v1/merchants/{merchant_id}/api_keys"
    issued = stack.call("POST", key_path, {"scopes": ["balance:read"]}, stack.admin_key).json()
    key_id, plaintext = issued["id"], issued["plaintext_key"]
    stack.call("POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "chargebacks"}, operator)
    stack.call("POST", f"/admin/v1/merchants/{merchant_id}:reactivate", {}, operator)
    stack.call("POST", f"{key_path}/{key_id}:revoke", {"reason": "rotated"}, stack.admin_key)
    # Refused or failed actions change nothing and record nothing.
    stack.call("POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": ""}, operator)  # 400
    stack.call("POST", f"{key_path}/key_nope:revoke", {}, stack.admin_key)  # 404
    stack.call("POST", key_path, {"scopes": ["balance:read"]}, operator)  # 403

    mine = audit_events(stack, subject_prefix=f"merchants/{merchant_id}")
    assert [(e["action"], e["subject"]) for e in mine] == [
        ("merchant.onboard", f"merchants/{merchant_id}"),
        ("api_key.issue", f"merchants/{merchant_id}/api_keys/{key_id}"),
        ("merchant.suspend", f"merchants/{merchant_id}"),
        ("merchant.reactivate", f"merchants/{merchant_id}"),
        ("api_key.revoke", f"merchants/{merchant_id}/api_keys/{key_id}"),
    ]
    assert mine[0]["actor"].startswith("admin_key:adm_")
    assert mine[2]["actor"] != mine[0]["actor"]  # the operator's own key
    assert mine[2]["details"]["reason"] == "chargebacks"
    assert mine[4]["details"]["reason"] == "rotated"
    assert all(e["request_id"] for e in mine)  # Envoy's x-request-id of the call
    assert plaintext not in str(mine)  # the key's prefix is recorded, never the key

    # The whole log is one unbroken chain: sequences without gaps, each hash recomputable from its event.
    chain = audit_events(stack)
    assert [int(e["sequence"]) for e in chain] == list(range(1, len(chain) + 1))
    previous = "0" * 64
    for e in chain:
        assert e["prev_hash"] == previous
        event = AuditEvent(
            id=e["id"],
            sequence=int(e["sequence"]),
            actor=e["actor"],
            action=e["action"],
            subject=e["subject"],
            event_time=parse_time(e["event_time"]),
            details=e.get("details", {}),
            request_id=e.get("request_id", ""),
        )
        assert e["hash"] == chain_hash(previous, event), e
        previous = e["hash"]
    # The CLI's admin key creations are in it too.
    assert "admin_key.create" in {e["action"] for e in chain}


def test_audit_events_filter_and_page(stack: Stack) -> None:
    merchant_id = new_merchant(stack)
    for _ in range(3):
        stack.call("POST", f"/admin/v1/merchants/{merchant_id}:suspend", {"reason": "x"}, stack.admin_key)
    reply = stack.call(
        "GET",
        f"/admin/v1/audit_events?subject=merchants/{merchant_id}&action=merchant.suspend&page_size=2",
        key=stack.admin_key,
    )
    page = reply.json()
    assert [e["action"] for e in page["audit_events"]] == ["merchant.suspend"] * 2
    assert page["next_page_token"]
    rest = stack.call(
        "GET",
        f"/admin/v1/audit_events?subject=merchants/{merchant_id}&action=merchant.suspend&page_size=2"
        f"&page_token={page['next_page_token']}",
        key=stack.admin_key,
    ).json()
    assert len(rest["audit_events"]) == 1
    # A token from one query is refused for another.
    other = stack.call("GET", f"/admin/v1/audit_events?page_token={page['next_page_token']}", key=stack.admin_key)
    assert_error_shape(other, 400, "PAGE_TOKEN_INVALID")
