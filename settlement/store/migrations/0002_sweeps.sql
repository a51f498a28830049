-- The sweeper's state: sweeps (the intent, persisted before the signer is asked), the deposit addresses each one
-- flushes, the chain transactions it signs (every version of a nonce, raw bytes persisted before broadcast), and
-- the next nonce of each signing key. Self-contained: it names no table of another migration.

CREATE TABLE settlement.sweeps (
    id                      text        PRIMARY KEY,
    chain_id                bigint      NOT NULL,
    key_id                  text        NOT NULL,
    sweeper_address         text        NOT NULL,
    factory_address         text        NOT NULL,
    token_contract          text        NOT NULL,
    -- PLANNED: intent stored, nothing signed; HELD: waiting (fee over its cap); SENT: a version is signed and
    -- broadcast; MINED: one version has a receipt; RECORDED: final and booked; FAILED: reverted or refused (its
    -- deposits are free to be swept again); DROPPED: its nonce was taken by a transaction not of this sweep.
    status                  text        NOT NULL CHECK (status IN
                                ('PLANNED', 'HELD', 'SENT', 'MINED', 'RECORDED', 'FAILED', 'DROPPED')),
    hold_reason             text,
    nonce                   bigint,
    gas_limit               bigint      CHECK (gas_limit > 0),
    landed_tx_hash          text,
    block_number            bigint,
    block_hash              text,
    gas_used                numeric(78, 0),
    effective_gas_price_wei numeric(78, 0),
    swept_total             numeric(78, 0),
    journal_transaction_id  text,
    failure_reason          text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sweeps_open ON settlement.sweeps (chain_id, status) WHERE status IN ('PLANNED', 'HELD', 'SENT', 'MINED');

CREATE TABLE settlement.sweep_items (
    sweep_id                text        NOT NULL REFERENCES settlement.sweeps (id),
    chain_id                bigint      NOT NULL,
    position                integer     NOT NULL CHECK (position >= 0),
    deposit_address         text        NOT NULL,
    salt                    text        NOT NULL,
    invoice_id              text        NOT NULL,
    expected_amount         numeric(78, 0) NOT NULL CHECK (expected_amount >= 0),
    payment_ids             text[]      NOT NULL DEFAULT '{}',
    swept_amount            numeric(78, 0),
    -- True while the sweep is not over: an address is in at most one open sweep.
    open                    boolean     NOT NULL DEFAULT true,
    PRIMARY KEY (sweep_id, position)
);
CREATE UNIQUE INDEX sweep_items_one_open_sweep_per_address
    ON settlement.sweep_items (chain_id, deposit_address) WHERE open;

CREATE TABLE settlement.chain_transactions (
    id                       bigserial   PRIMARY KEY,
    -- The signer's idempotency key: asking again with it returns the same signed bytes.
    request_id               text        NOT NULL UNIQUE,
    chain_id                 bigint      NOT NULL,
    from_address             text        NOT NULL,
    nonce                    bigint      NOT NULL CHECK (nonce >= 0),
    -- 0 for the first signature of a nonce, 1, 2, ... for each fee-bumped replacement.
    version                  integer     NOT NULL CHECK (version >= 0),
    sweep_id                 text        REFERENCES settlement.sweeps (id),
    gas_limit                bigint      NOT NULL CHECK (gas_limit > 0),
    max_fee_per_gas_wei      numeric(78, 0) NOT NULL CHECK (max_fee_per_gas_wei > 0),
    max_priority_fee_wei     numeric(78, 0) NOT NULL CHECK (max_priority_fee_wei >= 0),
    legacy                   boolean     NOT NULL DEFAULT false,
    -- SIGNING: asked for, not yet stored signed; SIGNED: raw bytes stored, maybe not broadcast; BROADCAST: sent
    -- to at least one provider; MINED: this version has a receipt; REPLACED: another version of the nonce
    -- landed; DENIED: the signer refused (the nonce is free again); DROPPED: the nonce went to another transaction.
    status                   text        NOT NULL CHECK (status IN
                                 ('SIGNING', 'SIGNED', 'BROADCAST', 'MINED', 'REPLACED', 'DENIED', 'DROPPED')),
    raw_transaction          text,
    tx_hash                  text        UNIQUE,
    denial_reason            text,
    broadcast_count          integer     NOT NULL DEFAULT 0,
    first_broadcast_at       timestamptz,
    last_broadcast_at        timestamptz,
    block_number             bigint,
    block_hash               text,
    receipt_status           smallint,
    gas_used                 numeric(78, 0),
    effective_gas_price_wei  numeric(78, 0),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (status IN ('SIGNING', 'DENIED') OR (raw_transaction IS NOT NULL AND tx_hash IS NOT NULL))
);
-- One signed version per (key, nonce, version); a refused request signed nothing, so its nonce may be used again.
CREATE UNIQUE INDEX chain_transactions_one_per_version ON settlement.chain_transactions
    (chain_id, from_address, nonce, version) WHERE status <> 'DENIED';
CREATE INDEX chain_transactions_live ON settlement.chain_transactions (chain_id, from_address, nonce)
    WHERE status IN ('SIGNING', 'SIGNED', 'BROADCAST', 'MINED');

CREATE TABLE settlement.nonces (
    chain_id        bigint      NOT NULL,
    address         text        NOT NULL,
    -- The nonce the next new transaction of this key gets.
    next_nonce      bigint      NOT NULL CHECK (next_nonce >= 0),
    -- What the chain said at the last recovery (eth_getTransactionCount latest / pending).
    chain_latest    bigint,
    chain_pending   bigint,
    recovered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, address)
);
