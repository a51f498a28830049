"""The deliveries' invoice filter reads indexes (ledger migration 0019), on a real Postgres.

`ledger.store.webhooks.list_deliveries(invoice_id=…)` keeps the deliveries whose event is one an invoice's
deliveries carry: a subquery on `(endpoint_id, order_key)`, then the endpoint's deliveries of those events. The
open-deliveries index on the first is partial (PENDING and RETRYING only) and the originals' index on the second
leaves redeliveries out, so before 0019 Postgres read every delivery of the endpoint, twice (two sequential scans).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from ledger.store import webhooks

ENDPOINT = "we_1"
INVOICES = 400
EVENTS_PER_INVOICE = 5


async def seed(conn: asyncpg.Connection) -> None:
    """One endpoint with 2 000 delivered invoice events (and a redelivery of one invoice's first event)."""
    await conn.execute("INSERT INTO ledger.merchants (id, name) VALUES ('mer_1', 'Shop')")
    await conn.execute(
        "INSERT INTO ledger.webhook_endpoints (id, merchant_id, request_id, request_hash, url, api_version, "
        "secret_sealed, create_time, update_time) VALUES ($1, 'mer_1', 'r1', '\\x00', 'https://shop.example/hook', "
        "'2026-01-01', '\\x00', now(), now())",
        ENDPOINT,
    )
    await conn.execute(
        "INSERT INTO ledger.webhook_deliveries (id, endpoint_id, merchant_id, event_id, event_type, order_key, body, "
        "event_time, status, create_time) "
        "SELECT 'whd_' || i || '_' || e, $1, 'mer_1', 'evt_' || i || '_' || e, 'invoice.updated', 'inv_' || i, '{}', "
        "now(), 'SUCCEEDED', now() - make_interval(secs => i * 10 + e) "
        "FROM generate_series(1, $2::int) i, generate_series(1, $3::int) e",
        ENDPOINT,
        INVOICES,
        EVENTS_PER_INVOICE,
    )
    await conn.execute(
        "INSERT INTO ledger.webhook_deliveries (id, endpoint_id, merchant_id, event_id, event_type, body, event_time, "
        "status, redelivery_of, create_time) VALUES ('whd_again', $1, 'mer_1', 'evt_7_1', 'invoice.updated', '{}', "
        "now(), 'SUCCEEDED', 'whd_7_1', now())",
        ENDPOINT,
    )
    await conn.execute("ANALYZE ledger.webhook_deliveries")


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    return [plan, *(node for child in plan.get("Plans", ()) for node in plan_nodes(child))]


async def test_the_invoice_filter_reads_the_order_key_index_and_finds_the_invoices_deliveries(ledger_db: str) -> None:
    conn = await asyncpg.connect(ledger_db)
    try:
        indexes = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'ledger' AND indexname = ANY($1::text[])",
            ["webhook_deliveries_by_order_key", "webhook_deliveries_by_event"],
        )
        assert len(indexes) == 2, indexes
        await seed(conn)
        found = await webhooks.list_deliveries(
            conn, ENDPOINT, status=None, event_type=None, after=None, limit=50, invoice_id="inv_7"
        )
        assert sorted(d.id for d in found) == sorted(
            ["whd_again", *(f"whd_7_{e}" for e in range(1, EVENTS_PER_INVOICE + 1))]
        )
        # The query list_deliveries sends, planned by the real Postgres.
        raw = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT id FROM ledger.webhook_deliveries WHERE endpoint_id = $1 AND "
            "event_id IN (SELECT event_id FROM ledger.webhook_deliveries WHERE endpoint_id = $1 AND order_key = $3) "
            "ORDER BY create_time DESC, id DESC LIMIT $2",
            ENDPOINT,
            50,
            "inv_7",
        )
        nodes = plan_nodes(json.loads(raw)[0]["Plan"])
        scans = {(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]}
        assert scans == {
            ("Index Only Scan", "webhook_deliveries_by_order_key"),
            ("Index Scan", "webhook_deliveries_by_event"),
        }, scans
    finally:
        await conn.close()
