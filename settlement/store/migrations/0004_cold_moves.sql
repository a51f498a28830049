-- Moves between the treasury (hot) and the cold Safe: the intent, persisted before the signer is asked, and the
-- chain transactions that carry it (the sweeper's `chain_transactions`, generalized: a version belongs to a sweep
-- or to a cold move). Nonces of the HOT key live in `settlement.nonces` like the SWEEPER key's.

CREATE TABLE settlement.cold_moves (
    id                      text        PRIMARY KEY,
    chain_id                bigint      NOT NULL,
    direction               text        NOT NULL CHECK (direction IN ('INTO_COLD')),
    key_id                  text        NOT NULL,
    sender_address          text        NOT NULL,
    treasury_address        text        NOT NULL,
    token_contract          text        NOT NULL,
    cold_safe_address       text        NOT NULL,
    amount                  numeric(78, 0) NOT NULL CHECK (amount > 0),
    -- The treasury balance the move was planned from (finalized block), for the record.
    planned_from_balance    numeric(78, 0) NOT NULL CHECK (planned_from_balance >= 0),
    initiator_address       text        NOT NULL DEFAULT '',
    -- PLANNED: intent stored, nothing signed; AWAITING_APPROVAL: a version is held by the signer's
    -- REQUIRE_APPROVAL rule (asked again with the same request id every pass); SENT: signed and broadcast;
    -- MINED: a version has a receipt; RECORDED: final and booked; FAILED: refused, or reverted;
    -- DROPPED: its nonce went to another transaction.
    status                  text        NOT NULL CHECK (status IN
                                ('PLANNED', 'AWAITING_APPROVAL', 'SENT', 'MINED', 'RECORDED', 'FAILED', 'DROPPED')),
    approval_id             text,
    nonce                   bigint,
    gas_limit               bigint      CHECK (gas_limit > 0),
    landed_tx_hash          text,
    block_number            bigint,
    block_hash              text,
    gas_used                numeric(78, 0),
    effective_gas_price_wei numeric(78, 0),
    moved_amount            numeric(78, 0),
    journal_transaction_id  text,
    failure_reason          text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- One open move into cold per chain and treasury: two movers leading at once cannot both plan one.
CREATE UNIQUE INDEX cold_moves_one_open ON settlement.cold_moves (chain_id, treasury_address, direction)
    WHERE status IN ('PLANNED', 'AWAITING_APPROVAL', 'SENT', 'MINED');

ALTER TABLE settlement.chain_transactions ADD COLUMN cold_move_id text REFERENCES settlement.cold_moves (id);
ALTER TABLE settlement.chain_transactions ADD CONSTRAINT chain_transactions_one_owner
    CHECK (sweep_id IS NULL OR cold_move_id IS NULL);
