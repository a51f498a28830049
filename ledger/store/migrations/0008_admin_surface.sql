-- The admin surface apart (the Edge issue): admin key roles (admin, operator, viewer), per-key client address
-- allow-lists for merchant and admin keys, and the admin audit log every admin action writes in its own
-- transaction. Self-contained: it touches only the key tables and adds one table.

ALTER TABLE ledger.api_keys ADD COLUMN allowed_ip_ranges cidr[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(allowed_ip_ranges) <= 32);
ALTER TABLE ledger.admin_keys ADD COLUMN allowed_ip_ranges cidr[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(allowed_ip_ranges) <= 32);
ALTER TABLE ledger.admin_keys ADD CONSTRAINT admin_keys_roles_known
    CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['admin', 'operator', 'viewer']::text[]);

-- Append-only and hash-chained: each row's hash covers the previous row's hash and its own canonical
-- encoding (ledger/domain/audit.py). Writers serialise on a transaction-scoped advisory lock, so `sequence`
-- has no gaps and the chain no forks.
CREATE TABLE ledger.audit_events (
    sequence   bigint PRIMARY KEY CHECK (sequence > 0),
    id         text NOT NULL UNIQUE,
    actor      text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    event_time timestamptz NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    request_id text NOT NULL DEFAULT '',
    prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_events_actor ON ledger.audit_events (actor, sequence DESC);
CREATE INDEX audit_events_subject ON ledger.audit_events (subject, sequence DESC);

CREATE FUNCTION ledger.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON ledger.audit_events
    FOR EACH ROW EXECUTE FUNCTION ledger.audit_events_append_only();
