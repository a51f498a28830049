-- Sweeps (the Settlement issue): settlement's sweeper flushes deposit forwarders into the treasury and, once the
-- sweep transaction is final, tells the ledger what moved (SweepLedgerService.RecordSweep). One row per sweep,
-- keyed by settlement's sweep id (the idempotency key) and unique per transaction, with what it moved from each
-- deposit address; the payments it moved point at it, so a payment is swept at most once.

-- Gas: BNB held by the signing keys (gas_float, debit-normal) and what the operator put in (platform_capital,
-- credit-normal: BNB top-ups of the signing keys are Dr gas_float / Cr platform_capital).
ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN (
    'merchant_available', 'merchant_pending', 'merchant_receivable', 'chain_clearing',
    'unallocated', 'treasury', 'cold_storage', 'platform_fees', 'gas_expense', 'gas_float', 'platform_capital'));

CREATE TABLE ledger.sweeps (
    id                      text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    request_hash            bytea NOT NULL,
    chain_id                bigint NOT NULL,
    tx_hash                 text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    block_number            bigint NOT NULL CHECK (block_number > 0),
    block_hash              text NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    sweeper_address         text NOT NULL,
    gas_used                NUMERIC(78,0) NOT NULL CHECK (gas_used >= 0),
    effective_gas_price_wei NUMERIC(78,0) NOT NULL CHECK (effective_gas_price_wei >= 0),
    amount                  NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    journal_transaction_id  bigint NOT NULL REFERENCES ledger.journal_transactions (id),
    payment_ids             text[] NOT NULL,
    create_time             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain_id, tx_hash)
);

CREATE TABLE ledger.sweep_deposits (
    sweep_id        text NOT NULL REFERENCES ledger.sweeps (id),
    deposit_address text NOT NULL,
    amount          NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (sweep_id, deposit_address)
);
CREATE INDEX sweep_deposits_address ON ledger.sweep_deposits (deposit_address);

-- The sweep that moved a payment's tokens to the treasury; NULL while they sit at the deposit address. A flush
-- moves a forwarder's whole balance, so a payment recorded (or moved by a reorg) into a block at or below an
-- already recorded sweep of its address is marked with that sweep when it is stored.
ALTER TABLE ledger.payments ADD COLUMN sweep_id text REFERENCES ledger.sweeps (id);
CREATE INDEX payments_sweepable ON ledger.payments (to_address, block_number)
    WHERE status = 'FINAL' AND sweep_id IS NULL;
