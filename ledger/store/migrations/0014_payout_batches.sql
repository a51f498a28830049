-- Settlement pays payouts in batches: one payoutBatch transaction carries many payouts (and refunds), so a
-- transaction hash names several payouts. The unique index of 0012 becomes a plain one (lookups by hash).
DROP INDEX ledger.payouts_tx;
CREATE INDEX payouts_tx ON ledger.payouts (tx_hash) WHERE tx_hash IS NOT NULL;
