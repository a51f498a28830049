-- The on-chain quarantine of stray tokens: settlement's sweeper moves a requested stray token to the factory's
-- quarantine address with a flush, and marks the row quarantined at finality (docs/payouts.md, "Stray funds").
-- No journal posting: the ledger never booked the stray asset. Self-contained.

ALTER TABLE ledger.stray_deposits
    ADD COLUMN quarantine_tx_hash      text,
    ADD COLUMN quarantine_block_number bigint,
    ADD COLUMN quarantine_moved        NUMERIC(78,0) CHECK (quarantine_moved >= 0),
    ADD COLUMN quarantine_time         timestamptz,
    ADD CONSTRAINT stray_quarantined_after_request
        CHECK (quarantine_tx_hash IS NULL OR quarantine_request_time IS NOT NULL);
CREATE INDEX stray_deposits_quarantine_requested ON ledger.stray_deposits (quarantine_request_time, id)
    WHERE quarantine_request_time IS NOT NULL AND quarantine_tx_hash IS NULL;
