"""The OpenAPI document: generated from the protos, served by the edge, and true of the live edge.

The schemathesis run at the end is the acceptance check of the Edge issue: the served document against the real
Envoy + ledger + edge stack with a valid merchant key, no 5xx and every response conforming.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from edge import openapi
from edge.envoy_config import OPENAPI_PATH, REFERENCE_CSP, REFERENCE_PATH
from gateway import codegen
from tests.edge.conftest import MERCHANT_RPS, Stack

DOCUMENT_PATH = codegen.GEN_ROOT / openapi.OPENAPI_NAME
ADMIN_DOCUMENT_PATH = codegen.GEN_ROOT / openapi.ADMIN_OPENAPI_NAME

SCHEMATHESIS_MAX_EXAMPLES = 10
"""The run's size: at most this many generated cases per operation in fuzzing, and 10 stateful scenarios; the
coverage phase adds its own boundary cases. With this seed the merchant run makes about 900 cases."""
SCHEMATHESIS_SEED = 20261125
"""Pinned, though `--generation-deterministic` (derandomized Hypothesis) already fixes the cases it generates."""
SCHEMATHESIS_RATE = f"{MERCHANT_RPS - 5}/s"
"""Under the stack's per-merchant limit, so the run meets the API rather than the rate limiter."""
SCHEMATHESIS_SECONDS = 300
"""Each run's time budget. Each case passes Envoy, the edge's key check and the ledger (Postgres): the merchant
run alone took 83 s on a 2-core machine at load average 6 and past 110 s with two busy loops more, nothing wrong
(the old budgets, 120 s a run and 170 s for both, were set when the merchant run made ~350 requests in 30 s)."""
SCHEMATHESIS_SCOPES = (
    "invoices:read",
    "invoices:write",
    "balance:read",
    "webhooks:read",
    "webhooks:write",
    "payouts:read",
    "payouts:write",
)
"""The run's key may call every merchant operation: webhooks, settlement addresses, payouts and refunds included."""
SCHEMATHESIS_CHECKS = "all"
"""Every check schemathesis has, positive-data acceptance and undeclared methods included; no exclusions."""


def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
    return doc


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(verb.upper(), path) for path, verbs in doc["paths"].items() for verb in verbs}


def response_validator(doc: dict[str, Any], path: str, verb: str) -> jsonschema.Draft4Validator:
    """A validator for the operation's 200 body, resolving $refs against the whole document."""
    schema = doc["paths"][path][verb]["responses"]["200"]["content"]["application/json"]["schema"]
    # OpenAPI 3.0 schemas are a JSON Schema draft 4 dialect; `$ref` siblings are ignored, so the components
    # ride along in the root for the reference to resolve against.
    root = {**schema, "components": doc["components"]}
    return jsonschema.Draft4Validator(root, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def test_document_is_valid_openapi_3() -> None:
    doc = document()
    assert doc["openapi"] == "3.0.3"
    validate_openapi(doc)


def admin_document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ADMIN_DOCUMENT_PATH.read_text())
    return doc


def test_document_lists_exactly_the_built_public_operations() -> None:
    assert openapi.built_public_services() == (
        "stablegate.merchant.v1.InvoiceService",
        "stablegate.merchant.v1.WebhookEndpointService",
        "stablegate.merchant.v1.BalanceService",
        "stablegate.merchant.v1.SettlementAddressService",
        "stablegate.merchant.v1.PayoutService",
        "stablegate.merchant.v1.RefundService",
        "stablegate.merchant.v1.PayoutScheduleService",
        "stablegate.merchant.v1.StatementService",
        "stablegate.admin.v1.MerchantAdminService",
        "stablegate.admin.v1.ApiKeyAdminService",
        "stablegate.admin.v1.AuditLogService",
        "stablegate.admin.v1.StrayFundsAdminService",
        "stablegate.admin.v1.ReportService",
        "stablegate.merchant.v1.FeeService",
    )
    assert operations(document()) == {
        ("POST", "/v1/invoices"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}"),
        ("POST", "/v1/invoices/{id}:cancel"),
        ("GET", "/v1/balance"),
        ("GET", "/v1/fees:estimate"),
        ("POST", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints/{id}"),
        ("PATCH", "/v1/webhook_endpoints/{id}"),
        ("DELETE", "/v1/webhook_endpoints/{id}"),
        ("POST", "/v1/webhook_endpoints/{id}:rotate_secret"),
        ("GET", "/v1/webhook_endpoints/{id}/deliveries"),
        ("POST", "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}:redeliver"),
        ("POST", "/v1/webhook_endpoints/{id}:replay_failed"),
        ("POST", "/v1/webhook_endpoints/{id}:send_test"),
        ("POST", "/v1/settlement_addresses"),
        ("GET", "/v1/settlement_addresses"),
        ("GET", "/v1/settlement_addresses/{id}"),
        ("POST", "/v1/settlement_addresses/{id}:confirm"),
        ("POST", "/v1/settlement_addresses/{id}:revoke"),
        ("GET", "/v1/payouts:quote"),
        ("POST", "/v1/payouts"),
        ("GET", "/v1/payouts"),
        ("GET", "/v1/payouts/{id}"),
        ("POST", "/v1/payouts/{id}:cancel"),
        ("POST", "/v1/refunds"),
        ("GET", "/v1/refunds"),
        ("GET", "/v1/refunds/{id}"),
        ("POST", "/v1/refunds/{id}:cancel"),
        ("GET", "/v1/payout_schedule"),
        ("POST", "/v1/payout_schedule"),
        ("GET", "/v1/statements/{month}"),
    }
    # The admin API has a document of its own, served on the admin listener only.
    assert operations(admin_document()) == {
        ("POST", "/admin/v1/merchants"),
        ("GET", "/admin/v1/reports/volume"),
        ("GET", "/admin/v1/reports/merchant_performance"),
        ("GET", "/admin/v1/merchants"),
        ("GET", "/admin/v1/merchants/{id}"),
        ("POST", "/admin/v1/merchants/{id}:suspend"),
        ("POST", "/admin/v1/merchants/{id}:reactivate"),
        ("POST", "/admin/v1/merchants/{merchant_id}/api_keys"),
        ("GET", "/admin/v1/merchants/{merchant_id}/api_keys"),
        ("POST", "/admin/v1/merchants/{merchant_id}/api_keys/{id}:revoke"),
        ("GET", "/admin/v1/merchants/{merchant_id}/fee_plan"),
        ("POST", "/admin/v1/merchants/{merchant_id}/fee_plan"),
        ("POST", "/admin/v1/merchants/{merchant_id}/settlement_addresses/{id}:approve"),
        ("GET", "/admin/v1/audit_events"),
        ("GET", "/admin/v1/stray_funds"),
        ("POST", "/admin/v1/stray_funds/{payment_id}:allocate"),
        ("POST", "/admin/v1/stray_funds/{payment_id}:refund"),
        ("POST", "/admin/v1/stray_funds/{id}:quarantine"),
        ("GET", "/admin/v1/platform_revenue"),
        ("POST", "/admin/v1/platform_revenue:withdraw"),
    }


def test_document_follows_proto3_json_and_the_protos_comments() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    invoice = schemas["stablegate.merchant.v1.Invoice"]
    assert invoice["properties"]["chain_id"] == {
        "type": "string",
        "format": "uint64",
        "pattern": "^[0-9]+$",
        "description": "EIP-155 chain id (56 for BNB Smart Chain mainnet).",
        "readOnly": True,
        "nullable": True,
    }
    assert invoice["properties"]["create_time"]["format"] == "date-time"
    assert invoice["properties"]["metadata"]["additionalProperties"] == {"type": "string"}
    assert "required" not in invoice
    assert schemas["stablegate.merchant.v1.InvoiceStatus"]["enum"][1] == "INVOICE_STATUS_OPEN"
    create = schemas["stablegate.merchant.v1.CreateInvoiceRequest"]
    assert create["required"] == ["amount"]
    # What the server enforces is in the document: bounds, patterns, enums, one member of a oneof.
    ttl = re.compile(create["properties"]["ttl"]["pattern"])
    assert [bool(ttl.match(v)) for v in ("60s", "900.5s", "604800s", "59s", "604801s", "-60s", "900")] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    amount = re.compile(create["properties"]["amount"]["pattern"])
    accepted = ("10", "10.50", "0.000000000000000001", "0.10", "1" + "0" * 58)
    refused = ("0", "0.0", "01", "1.5e3", "-1", "1.", ".5", "0.0000000000000000001", "1" * 60)
    assert all(amount.match(v) for v in accepted) and not any(amount.match(v) for v in refused)
    assert create["properties"]["asset"]["enum"] == ["", "USDT", None]
    assert {"not": {"required": ["expire_time", "ttl"]}} in create["allOf"]
    assert create["properties"]["metadata"]["maxProperties"] == 20
    page_size = next(p for p in doc["paths"]["/v1/invoices"]["get"]["parameters"] if p["name"] == "page_size")
    assert page_size["schema"]["minimum"] == 0
    assert doc["paths"]["/v1/invoices"]["get"]["x-business-rules"] == ["PAGE_TOKEN_INVALID", "RANGE_INVALID"]
    assert "RANGE_INVALID" in doc["paths"]["/v1/invoices"]["get"]["responses"]["400"]["description"]
    cancel = doc["paths"]["/v1/invoices/{id}:cancel"]["post"]
    assert cancel["summary"] == "Cancels an OPEN invoice; fails with FAILED_PRECONDITION once a payment has been seen"
    assert [(p["name"], p["in"]) for p in cancel["parameters"]] == [("id", "path")]
    assert set(cancel["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"reason"}
    listing = doc["paths"]["/v1/invoices"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "page_size",
        "page_token",
        "status",
        "create_time_start",
        "create_time_end",
        "order_id",
    }
    assert all(op["security"] == [{"bearerAuth": []}] for verbs in doc["paths"].values() for op in verbs.values())
    error = doc["components"]["responses"]["Error404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_document_is_deterministic_and_the_page_escapes_its_text(tmp_path: Path) -> None:
    descriptor = codegen.GEN_ROOT / codegen.DESCRIPTOR_NAME
    first = openapi.render_json(openapi.build_document(descriptor))
    assert first == openapi.render_json(openapi.build_document(descriptor)) == DOCUMENT_PATH.read_text()
    doc = document()
    doc["paths"]["/v1/invoices"]["post"]["summary"] = "<script>alert(1)</script>"
    page = openapi.render_html(doc)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http" not in page.replace('href="/v1/openapi.json"', "")  # self-contained: nothing external


def test_edge_serves_the_document_and_the_reference_page_without_a_key(stack: Stack) -> None:
    served = stack.call("GET", OPENAPI_PATH)
    assert served.status == 200, served.body
    assert served.headers["content-type"] == "application/json"
    assert served.json() == document()
    page = stack.call("GET", REFERENCE_PATH)
    assert page.status == 200, page.body
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == REFERENCE_CSP
    assert page.body.decode() == (codegen.GEN_ROOT / openapi.REFERENCE_NAME).read_text()
    assert "POST</span> <code>/v1/invoices</code>" in page.body.decode()
    # Everything else keeps the API's strict CSP.
    assert "style-src" not in served.headers["content-security-policy"]
    assert stack.call("POST", OPENAPI_PATH, {}).status != 200


def test_invoice_responses_through_the_edge_match_the_document(stack: Stack) -> None:
    doc = document()
    _, key = stack.merchant_key()
    created = stack.call(
        "POST", "/v1/invoices", {"amount": "10.50", "order_id": "oa-1", "metadata": {"k": "v"}, "ttl": "900s"}, key
    )
    assert created.status == 200, created.body
    invoice = created.json()
    response_validator(doc, "/v1/invoices", "post").validate(invoice)
    got = stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key)
    response_validator(doc, "/v1/invoices/{id}", "get").validate(got.json())
    listed = stack.call("GET", "/v1/invoices?order_id=oa-1&page_size=5", key=key)
    response_validator(doc, "/v1/invoices", "get").validate(listed.json())
    assert [i["id"] for i in listed.json()["invoices"]] == [invoice["id"]]
    canceled = stack.call("POST", f"/v1/invoices/{invoice['id']}:cancel", {"reason": "test"}, key)
    response_validator(doc, "/v1/invoices/{id}:cancel", "post").validate(canceled.json())
    assert canceled.json()["status"] == "INVOICE_STATUS_CANCELED"
    balance = stack.call("GET", "/v1/balance", key=key)
    response_validator(doc, "/v1/balance", "get").validate(balance.json())
    missing = stack.call("GET", "/v1/invoices/inv_nope", key=key)
    assert missing.status == 404
    error = {"$ref": "#/components/schemas/Error", "components": doc["components"]}
    jsonschema.Draft4Validator(error).validate(missing.json())
    # The schemas are strict: a field the document does not know would fail validation.
    with pytest.raises(jsonschema.ValidationError):
        response_validator(doc, "/v1/invoices/{id}", "get").validate({**invoice, "surprise": 1})


def test_inputs_schemathesis_found_are_400_not_500(stack: Stack) -> None:
    """Strings Postgres cannot hold (NUL), percent-encoded bytes that are not UTF-8, and JSON the transcoder turns
    into a body that is not valid protobuf (an object as a map's value) are the caller's error."""
    _, key = stack.merchant_key()
    cases: list[tuple[str, str, object]] = [
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k": {}}}),
        ("POST", "/v1/invoices", {"amount": "1", "request_id": "a\u0000b"}),
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k": "a\u0000"}}),
        ("POST", "/v1/invoices", {"amount": "1", "metadata": {"k\u0000": "a"}}),
        ("GET", "/v1/invoices?order_id=a%00b", None),
        ("GET", "/v1/invoices/%ff", None),
        ("GET", "/v1/invoices?order_id=%C0%AF", None),
        ("GET", "/v1/invoices/a%5Cb", None),  # an escaped backslash or slash in a path parameter: the
        ("GET", "/v1/invoices/a%2Fb", None),  # documents' PATH_SEGMENT pattern refuses them
    ]
    for method, path, body in cases:
        reply = stack.call(method, path, body, key)
        assert reply.status == 400, (method, path, body, reply.body)
        assert reply.json()["code"] == 3
    assert stack.call("GET", "/v1/invoices/%F0%9F%98%80", key=key).status == 404  # valid UTF-8 passes


def schemathesis_config(doc: dict[str, Any], dictionaries: str = "") -> str:
    """The run's configuration: dictionaries, and per operation the business-rule 400s its document declares.

    An operation's `x-business-rules` are refusals no JSON Schema can state (relative to now, across fields,
    about stored state); a schema-valid request refused by one of them is conforming, so for those operations
    positive-data acceptance also takes 400. Nothing else is relaxed.
    """
    accepted = ["2xx", "401", "403", "404", "409", "429"]
    parts = [dictionaries]
    for verbs in doc["paths"].values():
        for operation in verbs.values():
            if operation.get("x-business-rules"):
                parts.append(
                    "[[operations]]\n"
                    f'include-operation-id = "{operation["operationId"]}"\n'
                    f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*accepted, '400'])}\n"
                )
    return "\n".join(parts)


def run_schemathesis(port: int, document_path: str, key: str, config_text: str, tmp_path: Path) -> str:
    """One schemathesis run with every check; returns its output, failing the test on any failure."""
    config = tmp_path / f"schemathesis-{port}.toml"
    config.write_text(config_text)
    report = tmp_path / f"report-{port}.ndjson"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"http://127.0.0.1:{port}{document_path}",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        SCHEMATHESIS_CHECKS,
        "--phases",
        "coverage,fuzzing,stateful",
        "--mode",
        "all",
        "--max-examples",
        str(SCHEMATHESIS_MAX_EXAMPLES),
        "--seed",
        str(SCHEMATHESIS_SEED),
        "--generation-deterministic",
        "--workers",
        "1",
        "--rate-limit",
        SCHEMATHESIS_RATE,
        "--request-timeout",
        "10",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=SCHEMATHESIS_SECONDS, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    return output


@pytest.mark.timeout(2 * SCHEMATHESIS_SECONDS + 60)  # two runs, the stack and the keys
def test_schemathesis_finds_no_server_error_and_every_response_conforms(stack: Stack, tmp_path: Path) -> None:
    """Every operation of both documents, each with a key of its kind, every check, no exclusions.

    Size: `--max-examples 10` per operation and phase (coverage and fuzzing; mode `all`, positive and negative
    data), fixed seed, deterministic generation, one worker, rate-limited under the stack's per-merchant limit.
    """
    _, key = stack.merchant_key(SCHEMATHESIS_SCOPES)
    invoices = [stack.call("POST", "/v1/invoices", {"amount": str(n)}, key).json()["id"] for n in (1, 2)]
    # Half the generated invoice ids are real ones, so the API's core runs too, not only its 404s.
    dictionaries = (
        "[dictionaries.invoice_ids]\n"
        f"values = {json.dumps(invoices)}\n"
        "[parameters]\n"
        '"path.id" = { dictionary = "invoice_ids", probability = 0.5 }\n'
    )
    started = time.monotonic()
    merchant = run_schemathesis(stack.port, OPENAPI_PATH, key, schemathesis_config(document(), dictionaries), tmp_path)
    assert "Tested: 33" in merchant, merchant[-5000:]  # the thirty-three merchant operations, each of them run
    admin = run_schemathesis(
        stack.admin_api_port,
        openapi.ADMIN_OPENAPI_PATH,
        stack.admin_key,
        schemathesis_config(admin_document()),
        tmp_path,
    )
    assert "Tested: 20" in admin, admin[-5000:]  # the twenty admin operations
    print(f"schemathesis: {time.monotonic() - started:.1f} s\n{merchant[-3000:]}\n{admin[-3000:]}")
