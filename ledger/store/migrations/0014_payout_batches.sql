-- Settlement pays payouts in batches: one payoutBatch transaction carries many payouts (and refunds), so a
-- transaction hash names several payouts. The unique index of 0012 becomes a plain one (lookups by hash).
DROP INDEX ledger.payouts_tx;
CREATE INDEX payouts_tx ON ledger.payouts (tx_hash) WHERE tx_hash IS NOT NULL;

-- The settlement batch a QUEUED payout was claimed by (ClaimPayout) before its batch is signed: a claimed payout
-- can no longer be canceled, so a signed batch never carries a canceled payout.
ALTER TABLE ledger.payouts ADD COLUMN claimed_by_batch text;
