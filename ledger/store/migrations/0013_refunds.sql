-- Refunds, ledger side (the Payouts issue): a refund is a transfer out of the merchant's balance like a payout, to
-- the refund address the merchant gives, for an invoice's credited money. It is kept in ledger.payouts (kind
-- REFUND, with its invoice; no settlement address), so settlement executes both through the same calls.
-- Self-contained on top of 0012_payouts: it may be renumbered at merge.

ALTER TABLE ledger.payouts
    ADD COLUMN kind text NOT NULL DEFAULT 'PAYOUT' CHECK (kind IN ('PAYOUT', 'REFUND')),
    ADD COLUMN invoice_id text REFERENCES ledger.invoices (id),
    ADD COLUMN reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    ALTER COLUMN settlement_address_id DROP NOT NULL,
    ADD CONSTRAINT payouts_kind_links CHECK (
        (kind = 'PAYOUT' AND settlement_address_id IS NOT NULL AND invoice_id IS NULL)
        OR (kind = 'REFUND' AND settlement_address_id IS NULL AND invoice_id IS NOT NULL AND fee = 0));
CREATE INDEX payouts_invoice ON ledger.payouts (invoice_id) WHERE invoice_id IS NOT NULL;
