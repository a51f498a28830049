-- Settlement pays payouts in batches: one payoutBatch transaction carries many payouts (and refunds), so a
-- transaction hash names several payouts. The unique index of 0012 becomes a plain one (lookups by hash).
DROP INDEX ledger.payouts_tx;
CREATE INDEX payouts_tx ON ledger.payouts (tx_hash) WHERE tx_hash IS NOT NULL;

-- The settlement batch a QUEUED payout was claimed by (ClaimPayout) before its batch is signed: a claimed payout
-- can no longer be canceled, so a signed batch never carries a canceled payout.
ALTER TABLE ledger.payouts ADD COLUMN claimed_by_batch text;

-- Who asked: the key a payout or refund was created with, and that key holder's own Ethereum address (optional,
-- set at issue). Settlement names it to the signer as the initiator, whose approval never counts.
ALTER TABLE ledger.payouts ADD COLUMN created_by_key_id text;
ALTER TABLE ledger.api_keys ADD COLUMN owner_address text NOT NULL DEFAULT '';
-- The signer's approval a PENDING_APPROVAL payout waits for (MarkPayoutPendingApproval).
ALTER TABLE ledger.payouts ADD COLUMN approval_id text NOT NULL DEFAULT '';
