-- The deliveries' invoice filter (ledger/store/webhooks.py, list_deliveries with invoice_id): the event ids of
-- an endpoint's deliveries ordered by the invoice (order_key), then every delivery of those events, redeliveries
-- included. webhook_deliveries_open_order covers open deliveries only and webhook_deliveries_original originals
-- only, so both halves read every delivery of the endpoint before these.
CREATE INDEX webhook_deliveries_by_order_key ON ledger.webhook_deliveries (endpoint_id, order_key) INCLUDE (event_id)
    WHERE order_key IS NOT NULL;
CREATE INDEX webhook_deliveries_by_event ON ledger.webhook_deliveries (endpoint_id, event_id);
