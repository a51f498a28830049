-- A payment's journal postings and per-payment outbox events are keyed by its generation, not by its block hash
-- alone: a transfer seen in block A, moved to B by a reorg and then reported in A again (a lagging provider
-- after a failover) is a third appearance whose postings must not be mistaken for the first one's. The
-- generation counts the payment's moves to another block; it only ever grows.
ALTER TABLE ledger.payments
    ADD COLUMN generation integer NOT NULL DEFAULT 0 CONSTRAINT payment_generation_not_negative CHECK (generation >= 0);
