-- Scheduled settlements (the Payouts issue): one payout schedule per merchant (with its opt-in to automatic
-- overpayment refunds), and which payouts a schedule made.
-- A scheduled payout's request id is `schedule:<merchant>:<period>`, unique per merchant by the payouts table's
-- UNIQUE (merchant_id, request_id), so two ledger replicas (or a rerun) never pay one period twice.
-- Self-contained: numbered 0014 here because migrations may have no gaps; it becomes 0015 at merge (another
-- branch has 0014).

CREATE TABLE ledger.payout_schedules (
    merchant_id              text PRIMARY KEY REFERENCES ledger.merchants (id),
    frequency                text NOT NULL CHECK (frequency IN ('MANUAL', 'DAILY', 'WEEKLY', 'THRESHOLD')),
    weekday                  smallint NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 7),
    hour_utc                 smallint NOT NULL DEFAULT 0 CHECK (hour_utc BETWEEN 0 AND 23),
    threshold                NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (threshold >= 0),
    settlement_address_id    text REFERENCES ledger.settlement_addresses (id),
    minimum_amount           NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (minimum_amount >= 0),
    auto_refund_overpayments boolean NOT NULL DEFAULT false,
    create_time              timestamptz NOT NULL,
    update_time              timestamptz NOT NULL,
    last_run_time            timestamptz,
    last_outcome             text NOT NULL DEFAULT '',
    last_payout_id           text,
    CHECK ((frequency = 'WEEKLY') = (weekday > 0)),
    CHECK ((frequency = 'THRESHOLD') = (threshold > 0)),
    CHECK (frequency = 'MANUAL' OR settlement_address_id IS NOT NULL)
);
CREATE INDEX payout_schedules_due ON ledger.payout_schedules (frequency) WHERE frequency <> 'MANUAL';

ALTER TABLE ledger.payouts ADD COLUMN payout_trigger text NOT NULL DEFAULT 'MANUAL'
    CHECK (payout_trigger IN ('MANUAL', 'SCHEDULED'));
CREATE INDEX payouts_scheduled_open ON ledger.payouts (merchant_id)
    WHERE payout_trigger = 'SCHEDULED' AND status IN ('PENDING_APPROVAL', 'QUEUED', 'BROADCAST');

-- Automatic overpayment refunds: the payer's address an invoice may carry from its creation.
ALTER TABLE ledger.invoices ADD COLUMN refund_address text CHECK (refund_address ~ '^0x[0-9a-fA-F]{40}$');
