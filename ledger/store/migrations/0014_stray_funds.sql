-- Stray funds and platform revenue (issue #19 items 6 and 7): lookalike tokens and native BNB kept as rows, allocation
-- of unallocated payments, stray refunds and revenue withdrawals. Self-contained.
--
-- 1. Transfers the watcher reported at a deposit address that the ledger never credits (a lookalike token, native
--    BNB) are kept as rows, so operators can list them (before, only a deposit.unexpected_asset event said so).
-- 2. An unallocated payment an admin allocated to an invoice keeps where it came from and who allocated it.
-- 3. ledger.payouts holds two more kinds: STRAY_REFUND (an unallocated payment sent back to its sender, out of
--    `unallocated`) and REVENUE (collected platform fees withdrawn to the platform's address; no merchant).
--    Their reservations sit in two new platform accounts until confirmed or released.

ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN (
    'merchant_available', 'merchant_pending', 'merchant_receivable', 'merchant_reserved', 'chain_clearing',
    'unallocated', 'unallocated_reserved', 'treasury', 'cold_storage', 'platform_fees', 'platform_fees_reserved',
    'gas_expense', 'gas_float', 'platform_capital'));
-- Reservations of stray refunds and revenue withdrawals are taken under a lock after a balance check; this backs
-- the check, as merchant_balance_not_negative backs payouts.
ALTER TABLE ledger.accounts ADD CONSTRAINT reserved_balance_not_negative
    CHECK (kind NOT IN ('unallocated_reserved', 'platform_fees_reserved') OR balance >= 0);

CREATE TABLE ledger.stray_deposits (
    id             text PRIMARY KEY,
    chain_id       bigint NOT NULL,
    tx_hash        text NOT NULL,
    log_index      integer NOT NULL,
    invoice_id     text NOT NULL REFERENCES ledger.invoices (id),
    merchant_id    text NOT NULL REFERENCES ledger.merchants (id),
    asset          text NOT NULL CHECK (asset IN ('TOKEN', 'NATIVE')),
    token_contract text NOT NULL,
    from_address   text NOT NULL,
    to_address     text NOT NULL,
    amount         NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    block_number   bigint NOT NULL,
    observe_time   timestamptz NOT NULL,
    -- An admin's request to move a stray token to quarantine (the on-chain move is not built yet).
    quarantine_request_time timestamptz,
    quarantine_requested_by text NOT NULL DEFAULT '',
    quarantine_reason       text NOT NULL DEFAULT '' CHECK (length(quarantine_reason) <= 500),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX stray_deposits_newest ON ledger.stray_deposits (observe_time DESC, id DESC);

ALTER TABLE ledger.payments
    ADD COLUMN allocated_from_invoice_id text REFERENCES ledger.invoices (id),
    ADD COLUMN allocated_by text NOT NULL DEFAULT '',
    ADD COLUMN allocate_reason text NOT NULL DEFAULT '' CHECK (length(allocate_reason) <= 500),
    ADD COLUMN allocate_time timestamptz;
CREATE INDEX payments_unallocated ON ledger.payments (observe_time DESC, id DESC)
    WHERE status = 'UNALLOCATED' OR allocated_from_invoice_id IS NOT NULL;

ALTER TABLE ledger.payouts DROP CONSTRAINT payouts_kind_check;
ALTER TABLE ledger.payouts DROP CONSTRAINT payouts_kind_links;
ALTER TABLE ledger.payouts
    ALTER COLUMN merchant_id DROP NOT NULL,
    ADD COLUMN payment_id text REFERENCES ledger.payments (id),
    ADD CONSTRAINT payouts_kind_check CHECK (kind IN ('PAYOUT', 'REFUND', 'STRAY_REFUND', 'REVENUE')),
    ADD CONSTRAINT payouts_kind_links CHECK (
        (kind = 'PAYOUT' AND merchant_id IS NOT NULL AND settlement_address_id IS NOT NULL AND invoice_id IS NULL
            AND payment_id IS NULL)
        OR (kind = 'REFUND' AND merchant_id IS NOT NULL AND settlement_address_id IS NULL AND invoice_id IS NOT NULL
            AND fee = 0 AND payment_id IS NULL)
        OR (kind = 'STRAY_REFUND' AND merchant_id IS NOT NULL AND settlement_address_id IS NULL
            AND invoice_id IS NOT NULL AND payment_id IS NOT NULL AND fee = 0)
        OR (kind = 'REVENUE' AND merchant_id IS NULL AND settlement_address_id IS NULL AND invoice_id IS NULL
            AND payment_id IS NULL AND fee = 0));
-- One live refund per stray payment: a second one is refused by the code, and by this index behind it.
CREATE UNIQUE INDEX payouts_one_stray_refund ON ledger.payouts (payment_id)
    WHERE kind = 'STRAY_REFUND' AND status NOT IN ('FAILED', 'CANCELED', 'REJECTED');
-- Revenue withdrawals' request ids are unique too (merchant_id is NULL, so the (merchant, request) key does not bind).
CREATE UNIQUE INDEX payouts_revenue_request ON ledger.payouts (request_id) WHERE kind = 'REVENUE';

-- Backfill: the unexpected assets reported before this migration, from their events.
INSERT INTO ledger.stray_deposits (id, chain_id, tx_hash, log_index, invoice_id, merchant_id, asset, token_contract,
                                   from_address, to_address, amount, block_number, observe_time)
SELECT 'sd_' || substr(md5(o.event_id), 1, 24), i.chain_id, o.payload->'data'->>'tx_hash',
       (o.payload->'data'->>'log_index')::integer, i.id, i.merchant_id, o.payload->'data'->>'asset',
       coalesce(o.payload->'data'->>'token_contract', ''), '', o.payload->'data'->>'to_address',
       (o.payload->'data'->>'amount_base_units')::numeric, 0, o.create_time
FROM ledger.outbox o JOIN ledger.invoices i ON i.id = o.subject_id
WHERE o.event_type = 'deposit.unexpected_asset' AND (o.payload->'data'->>'amount_base_units')::numeric > 0
ON CONFLICT DO NOTHING;
