-- Consumers must never skip an event. Ids are handed out at insert but transactions commit in any order, so
-- "id > cursor" can pass over an event whose transaction commits later. Each event now records the id of the
-- transaction that wrote it; a consumer reads only events whose transactions are all settled (older than the
-- oldest transaction still running), in (transaction id, id) order, and keeps that pair as its cursor.

ALTER TABLE ledger.outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_commit_order ON ledger.outbox (txid, id);

ALTER TABLE ledger.outbox_cursors ADD COLUMN last_txid xid8 NOT NULL DEFAULT '0'::xid8;
