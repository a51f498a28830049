-- Webhook endpoints, their deliveries and each delivery's attempts (the Webhooks issue).
-- Signing secrets are stored only encrypted (AES-GCM, key from the ledger's config): never in plaintext.
-- Deliveries are made from the outbox by a leased fan-out; senders claim due ones with FOR UPDATE SKIP LOCKED.

CREATE TABLE ledger.webhook_endpoints (
    id                          text PRIMARY KEY,
    merchant_id                 text NOT NULL REFERENCES ledger.merchants (id),
    request_id                  text NOT NULL,
    request_hash                bytea NOT NULL,
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    description                 text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    enabled_events              text[] NOT NULL DEFAULT '{}',
    api_version                 text NOT NULL,
    disabled                    boolean NOT NULL DEFAULT false,
    disabled_reason             text NOT NULL DEFAULT '',
    secret_sealed               bytea NOT NULL,
    previous_secret_sealed      bytea,
    previous_secret_expire_time timestamptz,
    rotate_request_id           text,
    failing_since               timestamptz,
    create_time                 timestamptz NOT NULL,
    update_time                 timestamptz NOT NULL,
    delete_time                 timestamptz,
    UNIQUE (merchant_id, request_id),
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expire_time IS NULL))
);
CREATE INDEX webhook_endpoints_by_merchant ON ledger.webhook_endpoints (merchant_id, create_time DESC, id DESC)
    WHERE delete_time IS NULL;

CREATE TABLE ledger.webhook_deliveries (
    id                   text PRIMARY KEY,
    seq                  bigserial NOT NULL UNIQUE,
    endpoint_id          text NOT NULL REFERENCES ledger.webhook_endpoints (id),
    merchant_id          text NOT NULL REFERENCES ledger.merchants (id),
    event_id             text NOT NULL,
    event_type           text NOT NULL,
    -- Deliveries with the same (endpoint, order_key) go out one at a time in seq order (the invoice id for
    -- invoice events); NULL for redeliveries and test events, which wait for nothing.
    order_key            text,
    body                 text NOT NULL,
    event_time           timestamptz NOT NULL,
    status               text NOT NULL DEFAULT 'PENDING'
                         CHECK (status IN ('PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED')),
    attempt_count        integer NOT NULL DEFAULT 0,
    next_attempt_time    timestamptz,
    lease_until          timestamptz,
    last_attempt_time    timestamptz,
    last_response_status integer NOT NULL DEFAULT 0,
    last_error           text NOT NULL DEFAULT '',
    test                 boolean NOT NULL DEFAULT false,
    redelivery_of        text REFERENCES ledger.webhook_deliveries (id),
    request_id           text,
    create_time          timestamptz NOT NULL,
    CHECK ((status IN ('PENDING', 'RETRYING')) = (next_attempt_time IS NOT NULL))
);
-- The fan-out makes one original delivery per (endpoint, event), however often it runs.
CREATE UNIQUE INDEX webhook_deliveries_original ON ledger.webhook_deliveries (endpoint_id, event_id)
    WHERE redelivery_of IS NULL AND NOT test;
CREATE UNIQUE INDEX webhook_deliveries_request ON ledger.webhook_deliveries (endpoint_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX webhook_deliveries_due ON ledger.webhook_deliveries (next_attempt_time)
    WHERE status IN ('PENDING', 'RETRYING');
CREATE INDEX webhook_deliveries_open_order ON ledger.webhook_deliveries (endpoint_id, order_key, seq)
    WHERE status IN ('PENDING', 'RETRYING');
CREATE INDEX webhook_deliveries_by_endpoint ON ledger.webhook_deliveries (endpoint_id, create_time DESC, id DESC);

CREATE TABLE ledger.webhook_attempts (
    delivery_id      text NOT NULL REFERENCES ledger.webhook_deliveries (id),
    attempt_number   integer NOT NULL CHECK (attempt_number >= 1),
    attempt_time     timestamptz NOT NULL,
    response_status  integer NOT NULL DEFAULT 0,
    duration_ms      integer NOT NULL DEFAULT 0,
    error            text NOT NULL DEFAULT '',
    response_excerpt text NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt_number)
);

CREATE FUNCTION ledger.notify_webhook_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_webhook_deliveries', '');
    RETURN NULL;
END $$;
-- Per statement: a fan-out of many deliveries wakes the senders once (a notification is only a hint).
CREATE TRIGGER webhook_delivery_notify AFTER INSERT ON ledger.webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.notify_webhook_delivery();
