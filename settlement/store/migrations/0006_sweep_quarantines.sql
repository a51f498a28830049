-- Stray tokens a sweep moves to the factory's quarantine address (flushBatch's stray entries), persisted with the
-- sweep before anything is signed. A stray deposit is in at most one open sweep; a sweep that fails or is dropped
-- frees it (it is planned again), one that failed
-- keeps it out of later sweeps (failed), and one that is final marks it quarantined in the ledger. Self-contained.

CREATE TABLE settlement.sweep_quarantines (
    sweep_id        text        NOT NULL REFERENCES settlement.sweeps (id),
    chain_id        bigint      NOT NULL,
    stray_id        text        NOT NULL,
    deposit_address text        NOT NULL,
    salt            text        NOT NULL,
    invoice_id      text        NOT NULL,
    token_contract  text        NOT NULL,
    amount          numeric(78, 0) NOT NULL CHECK (amount > 0),
    -- What the final flush's Quarantined log moved for this address and token (set at finality).
    moved_amount    numeric(78, 0),
    open            boolean     NOT NULL DEFAULT true,
    -- The sweep failed (reverted, would revert, refused): the stray is not planned again automatically (a token
    -- whose transfer reverts would otherwise fail every flush of its address).
    failed          boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (sweep_id, stray_id)
);
CREATE UNIQUE INDEX sweep_quarantines_one_open_sweep_per_stray
    ON settlement.sweep_quarantines (chain_id, stray_id) WHERE open;
