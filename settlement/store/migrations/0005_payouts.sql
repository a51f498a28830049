-- Payout batches: merchants' payouts and refunds (the ledger's QUEUED payouts) paid by the treasury's
-- payoutBatch from the HOT key. The batch (its lines, its nonce) is persisted before the signer is asked; its chain
-- transactions are rows of `chain_transactions` (with `payout_batch_id` set), like sweeps' and cold moves'.

CREATE TABLE settlement.payout_batches (
    id                      text        PRIMARY KEY,
    chain_id                bigint      NOT NULL,
    key_id                  text        NOT NULL,
    sender_address          text        NOT NULL,
    treasury_address        text        NOT NULL,
    token_contract          text        NOT NULL,
    -- The treasury's replay guard: keccak256("stablegate.payout-batch:" + payout ids joined by "|"), as the signer
    -- derives it; a batch re-sent with the same payouts carries the same id and is paid at most once.
    batch_id                text        NOT NULL,
    initiator_address       text        NOT NULL DEFAULT '',
    -- The finalized block when the batch's payouts were first planned (carried into re-planned batches): no
    -- transaction paying this batch id can be older, so the search for its PayoutBatch event starts there.
    planned_block           bigint      NOT NULL CHECK (planned_block >= 0),
    -- PLANNED: lines and nonce stored, version 0 asked of the signer; AWAITING_APPROVAL: held by the signer's
    -- REQUIRE_APPROVAL rule (asked again with the same request id every pass); SIGNED: bytes stored, the ledger
    -- being told (MarkPayoutBroadcast) before anything is sent; SENT: every payout marked, broadcast; MINED: a
    -- version has a receipt; CONFIRMED: final, every payout confirmed at the ledger; FAILED: refused by the signer
    -- or reverted (payouts failed at the ledger); REPLANNED: not sent, its payouts carried into a newer batch.
    status                  text        NOT NULL CHECK (status IN
                                ('PLANNED', 'AWAITING_APPROVAL', 'SIGNED', 'SENT', 'MINED', 'CONFIRMED', 'FAILED',
                                 'REPLANNED')),
    approval_id             text,
    replanned_into          text        REFERENCES settlement.payout_batches (id),
    nonce                   bigint,
    gas_limit               bigint      CHECK (gas_limit > 0),
    landed_tx_hash          text,
    block_number            bigint,
    block_hash              text,
    gas_used                numeric(78, 0),
    effective_gas_price_wei numeric(78, 0),
    failure_reason          text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_batches_open ON settlement.payout_batches (chain_id, status)
    WHERE status IN ('PLANNED', 'AWAITING_APPROVAL', 'SIGNED', 'SENT', 'MINED');

CREATE TABLE settlement.payout_batch_lines (
    batch_ref           text           NOT NULL REFERENCES settlement.payout_batches (id),
    position            integer        NOT NULL CHECK (position >= 0),
    payout_id           text           NOT NULL,
    destination_address text           NOT NULL,
    amount              numeric(78, 0) NOT NULL CHECK (amount > 0),
    -- Whether the line's batch is still open: a payout is in one open batch at most.
    open                boolean        NOT NULL DEFAULT true,
    PRIMARY KEY (batch_ref, position)
);
CREATE UNIQUE INDEX payout_batch_lines_one_open_batch ON settlement.payout_batch_lines (payout_id) WHERE open;

ALTER TABLE settlement.chain_transactions ADD COLUMN payout_batch_id text REFERENCES settlement.payout_batches (id);
ALTER TABLE settlement.chain_transactions DROP CONSTRAINT chain_transactions_one_owner;
ALTER TABLE settlement.chain_transactions ADD CONSTRAINT chain_transactions_one_owner
    CHECK (num_nonnulls(sweep_id, cold_move_id, payout_batch_id) <= 1);
