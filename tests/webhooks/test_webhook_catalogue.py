"""The event catalogue: docs/webhooks.md lists every type the ledger emits, with a sample that matches the schema
in docs/webhook-events.schema.json; real deliveries match that schema too."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from stablegate.merchant.v1 import invoice_service_pb2 as inv_pb
from stablegate.merchant.v1 import webhook_service_pb2 as pb

from ledger.domain.webhooks import EVENT_TYPES
from tests.webhooks.conftest import WebhookLedger, receiving

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "webhooks.md"
SCHEMA = ROOT / "docs" / "webhook-events.schema.json"
UNIT = 10**18


def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def catalogue() -> dict[str, Any]:
    """Each `### \\`type\\`` heading of the catalogue and the JSON sample under it."""
    text = DOC.read_text()
    section = text[text.index("## Event catalogue") :]
    section = section[: section.index("\n## ", 5)]
    found = re.findall(r"^### `([a-z_.]+)`\n.*?```json\n(.*?)\n```", section, flags=re.S | re.M)
    return {name: json.loads(sample) for name, sample in found}


def emitted_types() -> set[str]:
    """Every event type the ledger's code writes to the outbox (read from the source, as a reviewer would grep)."""
    found: set[str] = set()
    for path in (ROOT / "ledger").rglob("*.py"):
        source = path.read_text()
        found |= set(re.findall(r'event_type="([a-z_]+\.[a-z_]+)"', source))
        found |= set(re.findall(r'^\s+"[A-Z]+": "(invoice\.[a-z_]+)",$', source, flags=re.M))
        found |= set(re.findall(r'request\.event_type or "([a-z_.]+)"', source))
    return found


def test_the_catalogue_has_every_emitted_type_and_each_sample_matches_the_schema() -> None:
    samples = catalogue()
    assert list(samples) == list(EVENT_TYPES)
    assert emitted_types() == set(EVENT_TYPES)
    check = validator()
    for name, sample in samples.items():
        assert sample["type"] == name
        errors = [e.message for e in check.iter_errors(sample)]
        assert errors == [], (name, errors)
    # The schema is strict enough to catch a changed shape.
    broken = json.loads(json.dumps(samples["invoice.paid"]))
    broken["data"]["amount_paid_base_units"] = 10
    assert not check.is_valid(broken)
    assert not check.is_valid({**samples["webhook.test"], "extra": 1})


async def test_real_deliveries_match_the_schema(wl: WebhookLedger) -> None:
    check = validator()
    async with receiving() as receiver, receiving(default=(410, {}, 0.0)) as gone:
        endpoint = await wl.create(receiver.url)
        receiver.secrets = [endpoint.secret]
        await wl.create(gone.url, enabled_events=["invoice.canceled"])
        invoice = (
            await wl.ledger.invoices.CreateInvoice(
                inv_pb.CreateInvoiceRequest(amount="10", description="Order 1001", order_id="1001"), metadata=wl.auth
            )
        ).invoice
        await wl.ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL")
        second = "0x" + "5e" * 32
        await wl.ledger.observe(invoice.deposit_address, 5 * UNIT, "SEEN", tx=second)
        await wl.ledger.observe(invoice.deposit_address, 1 * UNIT, "FINAL", token="0x" + "ab" * 20)
        await wl.ledger.observe(invoice.deposit_address, 5 * UNIT, "FINAL", tx=second)
        canceled = await wl.invoice("3")
        await wl.ledger.invoices.CancelInvoice(inv_pb.CancelInvoiceRequest(id=canceled), metadata=wl.auth)
        created = await wl.ledger.invoices.CreateInvoice(inv_pb.CreateInvoiceRequest(amount="2"), metadata=wl.auth)
        late = created.invoice
        wl.ledger.clock.advance(hours=25)
        await wl.ledger.core.recorder.expire_due(wl.ledger.clock())
        await wl.ledger.observe(late.deposit_address, 2 * UNIT, "FINAL")
        await wl.endpoints.SendTestWebhook(pb.SendTestWebhookRequest(id=endpoint.id), metadata=wl.auth)
        wanted = {
            "invoice.created",
            "invoice.canceled",
            "invoice.payment_detected",
            "invoice.processing",
            "invoice.updated",
            "invoice.paid",
            "invoice.expired",
            "payment.unallocated",
            "deposit.unexpected_asset",
            "webhook_endpoint.disabled",
            "webhook.test",
        }

        async def all_arrived() -> None:
            while not wanted <= {r.json["type"] for r in receiver.received}:
                receiver.arrived.clear()
                await receiver.arrived.wait()

        try:
            await asyncio.wait_for(all_arrived(), 15)
        except TimeoutError:
            raise AssertionError(f"never arrived: {wanted - {r.json['type'] for r in receiver.received}}") from None
        for item in receiver.received:
            assert item.verified_by == [0]
            errors = [e.message for e in check.iter_errors(item.json)]
            assert errors == [], (item.json["type"], errors)
