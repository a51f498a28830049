-- Platform fee plans (the Payouts issue): a plan per merchant (basis points, fixed part, minimum; base units), the
-- history of every change with who made it (the audit trail of an admin action), and on each invoice the plan it
-- was created under and the fee charged so far; on each payment the fee it paid when it was credited.
-- Self-contained: it may be renumbered at merge.

CREATE TABLE ledger.fee_plans (
    merchant_id   text PRIMARY KEY REFERENCES ledger.merchants (id),
    bps           integer NOT NULL CHECK (bps BETWEEN 0 AND 10000),
    fixed         NUMERIC(78,0) NOT NULL CHECK (fixed >= 0),
    minimum       NUMERIC(78,0) NOT NULL CHECK (minimum >= 0),
    update_time   timestamptz NOT NULL,
    updated_by    text NOT NULL
);

-- Append-only: one row per change of a merchant's plan.
CREATE TABLE ledger.fee_plan_changes (
    id            bigserial PRIMARY KEY,
    merchant_id   text NOT NULL REFERENCES ledger.merchants (id),
    bps           integer NOT NULL,
    fixed         NUMERIC(78,0) NOT NULL,
    minimum       NUMERIC(78,0) NOT NULL,
    reason        text NOT NULL DEFAULT '',
    actor         text NOT NULL,
    create_time   timestamptz NOT NULL
);
CREATE INDEX fee_plan_changes_merchant ON ledger.fee_plan_changes (merchant_id, id);
CREATE TRIGGER fee_plan_changes_immutable BEFORE UPDATE OR DELETE ON ledger.fee_plan_changes
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_journal_change();

-- Invoices made before this migration keep a free plan (all zeros): their terms never change afterwards.
ALTER TABLE ledger.invoices
    ADD COLUMN fee_bps     integer NOT NULL DEFAULT 0 CHECK (fee_bps BETWEEN 0 AND 10000),
    ADD COLUMN fee_fixed   NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (fee_fixed >= 0),
    ADD COLUMN fee_minimum NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (fee_minimum >= 0),
    ADD COLUMN fee_charged NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (fee_charged >= 0);

ALTER TABLE ledger.payments
    ADD COLUMN fee NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (fee >= 0 AND fee <= amount);
