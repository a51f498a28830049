"""REST through the real edge: Envoy transcoding to a real ledger, keys checked by the real edge service."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

from tests.edge.conftest import MERCHANT_RPS, Reply, Stack


def test_create_get_list_and_cancel_an_invoice_over_rest(stack: Stack) -> None:
    _, key = stack.merchant_key()
    created = stack.call("POST", "/v1/invoices", {"amount": "10.50", "order_id": "A-1"}, key)
    assert created.status == 200, created.body
    invoice = created.json()
    assert invoice["status"] == "INVOICE_STATUS_OPEN"
    assert (invoice["amount"], invoice["amount_base_units"]) == ("10.5", str(105 * 10**17))
    assert invoice["deposit_address"].startswith("0x")
    assert created.headers["content-type"].startswith("application/json")
    assert not {"server", "grpc-status", "grpc-message", "x-envoy-upstream-service-time"} & set(created.headers)

    got = stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key)
    assert got.status == 200
    assert got.json()["id"] == invoice["id"]
    listed = stack.call("GET", "/v1/invoices?order_id=A-1", key=key)
    assert [i["id"] for i in listed.json()["invoices"]] == [invoice["id"]]
    canceled = stack.call("POST", f"/v1/invoices/{invoice['id']}:cancel", {"reason": "changed mind"}, key)
    assert canceled.status == 200, canceled.body
    assert canceled.json()["status"] == "INVOICE_STATUS_CANCELED"
    balance = stack.call("GET", "/v1/balance", key=key)
    assert balance.json()["assets"][0]["available_base_units"] == "0"


def test_missing_malformed_and_revoked_keys_are_401(stack: Stack) -> None:
    merchant_id, key = stack.merchant_key()
    assert stack.call("GET", "/v1/invoices").status == 401
    malformed = stack.call("GET", "/v1/invoices", key="sk_test_nope")
    assert malformed.status == 401
    assert malformed.json()["details"][0]["reason"] == "API_KEY_MALFORMED"
    keys = stack.call("GET", f"/admin/v1/merchants/{merchant_id}/api_keys", key=stack.admin_key).json()["api_keys"]
    revoked = stack.call(
        "POST", f"/admin/v1/merchants/{merchant_id}/api_keys/{keys[0]['id']}:revoke", {}, stack.admin_key
    )
    assert revoked.status == 200
    after = stack.call("GET", "/v1/invoices", key=key)
    assert after.status == 401
    assert after.json()["details"][0]["reason"] == "API_KEY_REVOKED"


def test_scope_other_merchant_bad_field_and_kinds_of_key(stack: Stack) -> None:
    _, reader = stack.merchant_key(scopes=("invoices:read",))
    assert stack.call("POST", "/v1/invoices", {"amount": "1"}, reader).status == 403
    _, key_a = stack.merchant_key()
    _, key_b = stack.merchant_key()
    invoice = stack.call("POST", "/v1/invoices", {"amount": "1"}, key_a).json()
    assert stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key_b).status == 404
    bad = stack.call("POST", "/v1/invoices", {"amount": "1.5e3"}, key_a)
    assert bad.status == 400
    assert bad.json()["details"][0]["metadata"]["field"] == "amount"
    assert stack.call("GET", "/admin/v1/merchants", key=key_a).status == 403
    assert stack.call("GET", "/v1/invoices", key=stack.admin_key).status == 403


def test_a_client_sent_merchant_header_has_no_effect(stack: Stack) -> None:
    victim, victim_key = stack.merchant_key()
    _, key = stack.merchant_key()
    stack.call("POST", "/v1/invoices", {"amount": "3"}, victim_key)
    forged = stack.call("GET", "/v1/invoices", key=key, headers={"x-stablegate-merchant-id": victim})
    assert forged.status == 200
    assert forged.json().get("invoices", []) == []


def test_idempotency_key_replays_and_conflicts(stack: Stack) -> None:
    _, key = stack.merchant_key()
    headers = {"idempotency-key": f"order-{secrets.token_hex(4)}"}
    first = stack.call("POST", "/v1/invoices", {"amount": "4"}, key, headers=headers)
    again = stack.call("POST", "/v1/invoices", {"amount": "4"}, key, headers=headers)
    assert first.status == again.status == 200
    assert first.json()["id"] == again.json()["id"]
    other = stack.call("POST", "/v1/invoices", {"amount": "5"}, key, headers=headers)
    assert other.status == 409
    assert other.json()["details"][0]["reason"] == "REQUEST_ID_REUSED"


def test_oversized_body_is_413_and_a_burst_is_429_with_retry_after(stack: Stack) -> None:
    _, key = stack.merchant_key()
    big = stack.call("POST", "/v1/invoices", key=key, raw=json.dumps({"description": "x" * 20000}).encode())
    assert big.status == 413
    # Concurrent, so the burst outruns the per-merchant limit even on a slow machine (bounded retries).
    limited: list[Reply] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):
            statuses = list(pool.map(lambda _: stack.call("GET", "/v1/balance", key=key), range(MERCHANT_RPS * 3)))
            limited = [r for r in statuses if r.status == 429]
            if limited:
                break
    assert limited, [r.status for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["code"] == 8
    assert limited[0].json()["details"][0]["reason"] == "RATE_LIMITED"
    # The limit is this merchant's: another merchant's key is not refused meanwhile (from another address, whose
    # per-address bucket the burst did not touch).
    _, other_key = stack.merchant_key()
    assert stack.call("GET", "/v1/balance", key=other_key, source="127.0.0.3").status == 200


def test_unknown_body_fields_are_400_naming_the_field_and_create_nothing(stack: Stack) -> None:
    _, key = stack.merchant_key()
    cases = [
        ("POST", "/v1/invoices", {"amount": "1", "ammount": "2"}, "ammount"),
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k": "v"}, "extra": {"nested": 1}}, "extra"),
        ("POST", "/v1/invoices/inv_nope:cancel", {"reason": "x", "why": "y"}, "why"),
        ("POST", "/v1/webhook_endpoints", {"url": "https://example.com/h", "secret": "s"}, "secret"),
        ("PATCH", "/v1/webhook_endpoints/whe_x", {"url": "https://example.com/h", "owner": "me"}, "owner"),
    ]
    for method, path, body, field in cases:
        reply = stack.call(method, path, body, key)
        assert reply.status == 400, (path, reply.body)
        info = reply.json()["details"][0]
        assert (info["reason"], info["metadata"]["field"]) == ("FIELD_UNKNOWN", field)
        assert reply.json()["code"] == 3
    assert stack.call("GET", "/v1/invoices", key=key).json().get("invoices", []) == []
    # Proto names and their lowerCamel JSON names are both fields.
    assert stack.call("POST", "/v1/invoices", {"amount": "1", "orderId": "o-1"}, key).status == 200


def test_undeclared_methods_are_405_with_allow(stack: Stack) -> None:
    _, key = stack.merchant_key()
    for method, path, allow in [
        ("PUT", "/v1/invoices", "GET, POST"),
        ("DELETE", "/v1/invoices/inv_x", "GET"),
        ("GET", "/v1/invoices/inv_x:cancel", "POST"),
        ("QUERY", "/v1/balance", "GET"),
        ("POST", "/v1/openapi.json", "GET"),
    ]:
        reply = stack.call(method, path, key=key)
        assert reply.status == 405, (method, path, reply.body)
        assert reply.headers["allow"] == allow
        assert reply.json()["details"][0]["reason"] == "METHOD_NOT_ALLOWED"
    admin = stack.call("PUT", "/admin/v1/merchants", key=stack.admin_key)
    assert (admin.status, admin.headers["allow"]) == (405, "GET, POST")


def test_values_the_transcoder_would_bend_are_refused(stack: Stack) -> None:
    """Enums by number, objects for scalars or durations, an overlong Idempotency-Key: 400 naming the field."""
    _, key = stack.merchant_key()
    cases: list[tuple[str, str, object, str, str]] = [
        ("GET", "/v1/invoices?status=1", None, "status", "ENUM_VALUE_INVALID"),
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k": {}}}, "metadata.k", "FIELD_INVALID"),
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k": None}}, "metadata.k", "FIELD_INVALID"),
        ("POST", "/v1/invoices", {"amount": "1", "ttl": {}}, "ttl", "FIELD_INVALID"),
        ("POST", "/v1/invoices", {"amount": {"v": 1}}, "amount", "FIELD_INVALID"),
    ]
    for method, path, body, field, reason in cases:
        reply = stack.call(method, path, body, key)
        assert reply.status == 400, (path, body, reply.body)
        info = reply.json()["details"][0]
        assert (info["reason"], info["metadata"]["field"]) == (reason, field), reply.body
    long_key = stack.call("POST", "/v1/invoices", {"amount": "1"}, key, headers={"idempotency-key": "k" * 201})
    assert long_key.status == 400
    assert long_key.json()["details"][0]["reason"] == "FIELD_TOO_LONG"
    assert stack.call("GET", "/v1/invoices", key=key).json().get("invoices", []) == []
    assert stack.call("GET", "/v1/invoices?status=INVOICE_STATUS_OPEN", key=key).status == 200
