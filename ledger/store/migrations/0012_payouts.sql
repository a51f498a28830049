-- On-demand payouts, ledger side (the Payouts issue): the payout records, and the merchant_reserved account kind
-- that holds a payout's amount plus fee from acceptance until it is confirmed (paid out of the treasury) or
-- released (canceled, failed). Merchant balances, reserved included, can never go negative: a constraint, so a
-- payout can never overdraw. Self-contained: it may be renumbered at merge.

ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN (
    'merchant_available', 'merchant_pending', 'merchant_receivable', 'merchant_reserved', 'chain_clearing',
    'unallocated', 'treasury', 'cold_storage', 'platform_fees', 'gas_expense', 'gas_float', 'platform_capital'));
ALTER TABLE ledger.accounts DROP CONSTRAINT merchant_balance_not_negative;
ALTER TABLE ledger.accounts ADD CONSTRAINT merchant_balance_not_negative
    CHECK (kind NOT IN ('merchant_available', 'merchant_pending', 'merchant_reserved') OR balance >= 0);

CREATE TABLE ledger.payouts (
    id                    text PRIMARY KEY,
    merchant_id           text NOT NULL REFERENCES ledger.merchants (id),
    settlement_address_id text NOT NULL REFERENCES ledger.settlement_addresses (id),
    destination_address   text NOT NULL CHECK (destination_address ~ '^0x[0-9a-fA-F]{40}$'),
    asset                 text NOT NULL,
    chain_id              bigint NOT NULL,
    token_contract        text NOT NULL,
    amount                NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    fee                   NUMERIC(78,0) NOT NULL CHECK (fee >= 0),
    status                text NOT NULL CHECK (status IN (
                              'PENDING_APPROVAL', 'QUEUED', 'BROADCAST', 'CONFIRMED', 'FAILED', 'CANCELED', 'REJECTED')),
    description           text NOT NULL DEFAULT '',
    metadata              jsonb NOT NULL DEFAULT '{}',
    tx_hash               text CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    block_number          bigint,
    failure_reason        text NOT NULL DEFAULT '',
    cancel_reason         text NOT NULL DEFAULT '',
    request_id            text NOT NULL,
    request_hash          bytea NOT NULL,
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    broadcast_time        timestamptz,
    confirm_time          timestamptz,
    cancel_time           timestamptz,
    UNIQUE (merchant_id, request_id),
    CHECK ((status IN ('BROADCAST', 'CONFIRMED')) <= (tx_hash IS NOT NULL))
);
CREATE INDEX payouts_merchant_created ON ledger.payouts (merchant_id, create_time DESC, id DESC);
CREATE INDEX payouts_queued ON ledger.payouts (create_time, id) WHERE status = 'QUEUED';
CREATE UNIQUE INDEX payouts_tx ON ledger.payouts (tx_hash) WHERE tx_hash IS NOT NULL AND status <> 'FAILED';
