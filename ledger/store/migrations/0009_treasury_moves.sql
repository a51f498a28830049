-- The platform's own money moves, booked by settlement once final on chain (TreasuryLedgerService): moves between
-- the treasury (hot) and the cold Safe, keyed by settlement's move id and unique per transaction, and BNB top-ups
-- of the signing keys, keyed by the funding transaction. Self-contained: it names only tables of 0001.

CREATE TABLE ledger.cold_moves (
    id                      text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    request_hash            bytea NOT NULL,
    chain_id                bigint NOT NULL,
    direction               text NOT NULL CHECK (direction IN ('INTO_COLD', 'OUT_OF_COLD')),
    tx_hash                 text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    block_number            bigint NOT NULL CHECK (block_number > 0),
    block_hash              text NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    sender_address          text NOT NULL,
    asset                   text NOT NULL,
    amount                  NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    gas_used                NUMERIC(78,0) NOT NULL CHECK (gas_used >= 0),
    effective_gas_price_wei NUMERIC(78,0) NOT NULL CHECK (effective_gas_price_wei >= 0),
    journal_transaction_id  bigint NOT NULL REFERENCES ledger.journal_transactions (id),
    create_time             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain_id, tx_hash)
);

CREATE TABLE ledger.gas_top_ups (
    chain_id                bigint NOT NULL,
    tx_hash                 text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    request_hash            bytea NOT NULL,
    block_number            bigint NOT NULL CHECK (block_number > 0),
    block_hash              text NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    from_address            text NOT NULL,
    key_address             text NOT NULL,
    amount_wei              NUMERIC(78,0) NOT NULL CHECK (amount_wei > 0),
    journal_transaction_id  bigint NOT NULL REFERENCES ledger.journal_transactions (id),
    create_time             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, tx_hash)
);
