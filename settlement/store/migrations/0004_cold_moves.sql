-- Moves between the treasury (hot) and the cold Safe: the intent, persisted before the signer is asked, and the
-- chain transactions that carry it (the sweeper's `chain_transactions`, generalized: a version belongs to a sweep
-- or to a cold move). Nonces of the HOT key live in `settlement.nonces` like the SWEEPER key's.

CREATE TABLE settlement.cold_moves (
    id                      text        PRIMARY KEY,
    chain_id                bigint      NOT NULL,
    -- INTO_COLD: moveToCold on the treasury (HOT key); OUT_OF_COLD: a SafeTx out of the cold Safe to the treasury,
    -- signed by COLD_OWNER keys and relayed by execTransaction from the HOT key.
    direction               text        NOT NULL CHECK (direction IN ('INTO_COLD', 'OUT_OF_COLD')),
    -- An operator's idempotency key (moves out of cold); NULL for automatic moves into cold.
    request_id              text        UNIQUE,
    destination_address     text        NOT NULL,
    -- The Safe's nonce the owners sign for (moves out of cold), read when the owners are first asked.
    safe_nonce              bigint,
    key_id                  text        NOT NULL,
    sender_address          text        NOT NULL,
    treasury_address        text        NOT NULL,
    token_contract          text        NOT NULL,
    cold_safe_address       text        NOT NULL,
    amount                  numeric(78, 0) NOT NULL CHECK (amount > 0),
    -- The treasury balance the move was planned from (finalized block), for the record.
    planned_from_balance    numeric(78, 0) NOT NULL CHECK (planned_from_balance >= 0),
    initiator_address       text        NOT NULL DEFAULT '',
    -- PLANNED: intent stored, nothing signed; AWAITING_APPROVAL: a version (or an owner's signature) is held by the signer's
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

-- Owners' signatures of a move out of cold: one signer request per COLD_OWNER key, asked again with the same
-- request id while the signer holds it for the approvers; the signature is stored before anything is relayed.
CREATE TABLE settlement.cold_move_owner_signatures (
    move_id         text        NOT NULL REFERENCES settlement.cold_moves (id),
    key_id          text        NOT NULL,
    owner_address   text        NOT NULL,
    request_id      text        NOT NULL UNIQUE,
    -- SIGNING: asked, no answer yet or held (approval_id set); SIGNED: signature stored; DENIED: refused.
    status          text        NOT NULL CHECK (status IN ('SIGNING', 'SIGNED', 'DENIED')),
    approval_id     text,
    signature       text,
    safe_tx_hash    text,
    denial_reason   text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (move_id, key_id),
    CHECK (status <> 'SIGNED' OR signature IS NOT NULL)
);
